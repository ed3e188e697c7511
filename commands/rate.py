"""``rate``: mail flow every N seconds until Ctrl-C (ASYNCOS.md §3).

Each row: inbound and outbound connections now, recipients received and completed
(the Reset column of ``status``) with the change since the previous row, and the
kilobytes the queue holds.  The changes are taken from the Uptime column, so a
``resetcounters`` meanwhile never makes them negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from commands.monitor import ask_interval, every, interval_args, live_engine
from commands.registry import command
from commands.session import CliSession
from engine.mail.mail_engine import MailEngine
from engine.observe.stats import read_queue_usage

HEADER = (
    "  Time    Connections Recipients          Recipients            Queue",
    "           In   Out   Received    Delta   Completed    Delta    K-Used",
)


@dataclass(frozen=True)
class Sample:
    time: str
    connections_in: int
    connections_out: int
    received: int  # since resetcounters
    completed: int
    received_uptime: int  # since start: the deltas
    completed_uptime: int
    kilobytes_used: int


@command(
    "rate",
    summary="Monitor message throughput",
    help="""
rate                      asks for the seconds between rows (default 10), then prints a row
                          every N seconds until Ctrl-C
rate <seconds>            the same without the question
rate <seconds> <count>    stops by itself after <count> rows (for scripts)

Columns: connections in and out, recipients received and completed (since resetcounters)
with the change since the previous row, kilobytes used by the queue.
""",
)
async def rate(session: CliSession, args: list[str]) -> None:
    mail = live_engine(session, "rate")
    seconds, count = interval_args(args, "rate [<seconds> [<count>]]")
    if seconds is None:
        seconds = await ask_interval(session)
    say = session.dialog.say
    say()
    say("Type Ctrl-C to return to the main prompt.")
    say()
    for line in HEADER:
        say(line)
    previous: list[Sample] = []

    async def show() -> None:
        current = await sample(mail)
        say(format_row(current, previous[-1] if previous else None))
        previous[:] = [current]

    await every(session, seconds, count, show)


async def sample(mail: MailEngine) -> Sample:
    usage = await read_queue_usage(mail.store.engine, mail.data_dir)
    totals = mail.counters.totals()
    hosts = mail.counters.hosts.values()
    return Sample(
        time=datetime.now(UTC).strftime("%H:%M:%S"),
        connections_in=mail.counters.system.connections_in,
        connections_out=sum(h.connections_out + h.pending_connections for h in hosts),
        received=totals["recipients_received"].reset, completed=totals["completed"].reset,
        received_uptime=totals["recipients_received"].uptime,
        completed_uptime=totals["completed"].uptime, kilobytes_used=usage.kilobytes_used)


def format_row(now: Sample, before: Sample | None) -> str:
    received_delta = now.received_uptime - before.received_uptime if before else 0
    completed_delta = now.completed_uptime - before.completed_uptime if before else 0
    return (f"{now.time}{now.connections_in:>5}{now.connections_out:>6}{now.received:>11}"
            f"{received_delta:>9}{now.completed:>12}{completed_delta:>9}{now.kilobytes_used:>10}")
