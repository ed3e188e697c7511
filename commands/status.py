"""``status``, ``status detail`` and ``resetcounters`` (ASYNCOS.md §3).

Every figure is read from the live engine (counters, IDs, gauges, rates), the store
(queue size, oldest message), the data directory's disk and this process.  The layout
follows the appliance: values start after a label column of 26 characters (indented
4), as the IAF status parser expects; counters in Reset / Uptime / Lifetime columns
with thousands separators.  The emulator has no quarantine, so its gauges are 0.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from commands.errors import UsageError
from commands.monitor import at, duration, live_engine
from commands.registry import command
from commands.session import CliSession
from engine.mail.mail_engine import MailEngine
from engine.observe.counters import Column
from engine.observe.stats import CPU, QueueUsage, human_bytes, memory_percent, read_queue_usage
from engine.observe.timestamps import cli_time, now
from engine.store.users import Role

LABEL = 30  # values start here: 4 columns of indent and a label padded to 26
COUNTER_ENDS = (36, 47, 60)  # right edges of the three value columns (wider when needed)
GAUGE_ENDS = (38,)

#: A table row: label, indent, values (None for a heading)
Row = tuple[str, int, "Sequence[str] | None"]

#: (label, counter key, indent, only in ``status detail``); None: a heading
COUNTER_ROWS: list[tuple[str, str | None, int, bool]] = [
    ("Receiving", None, 2, False),
    ("Messages Received", "messages_received", 4, False),
    ("Recipients Received", "recipients_received", 4, False),
    ("Gen. Bounce Recipients", "generated_bounces", 4, True),
    ("Gen. Journal Recipients", "generated_journals", 4, True),
    ("Rejection", None, 2, False),
    ("Rejected Recipients", "rejected_recipients", 4, False),
    ("Dropped Messages", "dropped_messages", 4, False),
    ("Queue", None, 2, False),
    ("Soft Bounced Events", "soft_bounced_events", 4, False),
    ("Completion", None, 2, False),
    ("Completed Recipients", "completed", 4, False),
    ("Hard Bounced Recipients", "hard_bounced", 6, True),
    ("DNS Hard Bounces", "hard_dns", 8, True),
    ("5XX Hard Bounces", "hard_5xx", 8, True),
    ("Expired Hard Bounces", "hard_expired", 8, True),
    ("Filter Hard Bounces", "hard_filter", 8, True),
    ("Other Hard Bounces", "hard_other", 8, True),
    ("Delivered Recipients", "delivered", 6, True),
    ("Deleted Recipients", "deleted", 6, True),
]

#: (label, name in engine.observe.rates.Rates, indent); None: a heading
RATE_ROWS: list[tuple[str, str | None, int]] = [
    ("Receiving", None, 2),
    ("Messages Received", "messages_received", 4),
    ("Recipients Received", "recipients_received", 4),
    ("Queue", None, 2),
    ("Soft Bounced Events", "soft_bounced", 4),
    ("Completion", None, 2),
    ("Completed Recipients", "completed", 4),
    ("Hard Bounced Recipients", "hard_bounced", 6),
    ("Delivered Recipients", "delivered", 6),
]


@command(
    "status",
    summary="System status",
    help="""
status            the appliance's state, counters (Reset / Uptime / Lifetime), current IDs
                  (MID, ICID, DCID) and gauges (connections, queue, disk)
status detail     adds the hard bounces by cause, delivered and deleted recipients, rates
                  in events per hour over 1, 5 and 15 minutes, this process's RAM and CPU,
                  attempted/unattempted recipients and destinations in memory

Reset counts since resetcounters, Uptime since this segcli process started, Lifetime
since the data directory was created (both Reset and Lifetime survive restarts).
Every recipient the gateway takes on ends up completed or is still active: Recipients
Received + Gen. Bounce Recipients + Gen. Journal Recipients = Completed Recipients +
Active Recipients.  A journal copy for the.tdc.queue is a recipient the gateway
generated, as a bounce message is: it counts under Gen. Journal Recipients when made and
under Completed (Delivered, Hard Bounced or Deleted) when done, as tophosts counts it.
""",
    grammar={"detail": None},
)
async def status(session: CliSession, args: list[str]) -> None:
    mail = live_engine(session, "status")
    if args and [a.lower() for a in args] != ["detail"]:
        raise UsageError("Invalid arguments when processing: usage is status [detail]")
    detail = bool(args)
    usage = await read_queue_usage(mail.store.engine, mail.data_dir)
    for line in report(mail, usage, detail=detail):
        session.dialog.say(line)


@command(
    "resetcounters",
    summary="Reset the counters",
    help="""
resetcounters     sets the Reset column of status (and the counters of tophosts and
                  hoststatus) to zero; Uptime and Lifetime keep counting (operators and
                  administrators)
""",
    role=Role.OPERATOR,
)
async def resetcounters(session: CliSession, args: list[str]) -> None:
    mail = live_engine(session, "resetcounters")
    if args:
        raise UsageError("Invalid arguments when processing: usage is resetcounters")
    reset_at = await mail.counter_store.reset()
    mail.reset_dns_counts()
    session.dialog.say()
    session.dialog.say(f"Counters reset: {at(reset_at)}")


# -- the report ------------------------------------------------------------------------
def report(mail: MailEngine, usage: QueueUsage, *, detail: bool) -> list[str]:
    lines = [""]
    if not detail:
        lines += ['Enter "status detail" for more information.', ""]
    lines += _system(mail, usage)
    lines += ["", *_counters(mail, detail)]
    if detail:
        lines += ["", *_rates(mail)]
    lines += ["", *_gauges(mail, usage, detail)]
    return lines


def _system(mail: MailEngine, usage: QueueUsage) -> list[str]:
    started = mail.counters.started_at
    reset_at = mail.counters.reset_at
    oldest = usage.oldest_received_at
    return [
        f"{'Status as of:':<31}{cli_time(now())}",
        f"{'Up since:':<31}{at(started)} ({duration(time.time() - started)})",
        f"{'Last counter reset:':<31}{at(reset_at) if reset_at else 'Never'}",
        f"{'System status:':<31}{system_status(mail)}",
        f"{'Oldest Message:':<31}{duration(time.time() - oldest) if oldest else 'No Messages'}",
    ]


def system_status(mail: MailEngine) -> str:
    """``Online``, or what is suspended (the XML status page shows it too)."""
    receiving, delivering = not mail.listener_suspended, not mail.delivery_suspended
    if receiving and delivering:
        return "Online"
    if not receiving and not delivering:
        return "Receiving and delivery suspended"
    return "Receiving suspended" if not receiving else "Delivery suspended"


def _counters(mail: MailEngine, detail: bool) -> list[str]:
    totals = mail.counters.totals()
    rows: list[Row] = [(label, indent, None if key is None else _column_values(totals[key]))
                       for label, key, indent, detail_only in COUNTER_ROWS
                       if detail or not detail_only]
    rows.append(("Current IDs", 2, None))
    for label, kind in (("Message ID (MID)", "mid"), ("Injection Conn. ID (ICID)", "icid"),
                        ("Delivery Conn. ID (DCID)", "dcid")):
        rows.append((label, 4, ["", "", str(max(0, mail.ids.current(kind)))]))
    return table("Counters:", ("Reset", "Uptime", "Lifetime"), rows, COUNTER_ENDS)


def _column_values(column: Column) -> list[str]:
    return [f"{column.reset:,}", f"{column.uptime:,}", f"{column.lifetime:,}"]


def _rates(mail: MailEngine) -> list[str]:
    rates = mail.counters.rates
    rows: list[Row] = [
        (label, indent,
         None if name is None else [f"{v:,}" for v in getattr(rates, name).per_hour_windows()])
        for label, name, indent in RATE_ROWS]
    return table("Rates (Events Per Hour):", ("1-Minute", "5-Minutes", "15-Minutes"), rows,
                 COUNTER_ENDS)


def _gauges(mail: MailEngine, usage: QueueUsage, detail: bool) -> list[str]:
    hosts = mail.counters.hosts.values()
    outbound = sum(h.connections_out + h.pending_connections for h in hosts)
    unattempted = sum(h.unattempted for h in hosts)
    attempted = sum(h.attempted for h in hosts)
    rows: list[tuple[str, str | None, int]] = []  # label, value, indent
    if detail:
        rows += [("System", None, 2),
                 ("RAM Utilization", f"{memory_percent()}%", 4),
                 ("Overall CPU load average", f"{CPU.percent()}%", 4),
                 ("Logging Disk Usage", f"{usage.logging_disk_percent}%", 4),
                 ("Logging Disk Available", human_bytes(usage.logging_available), 4)]
    rows += [("Connections", None, 2),
             ("Current Inbound Conn.", f"{mail.counters.system.connections_in:,}", 4),
             ("Current Outbound Conn.", f"{outbound:,}", 4),
             ("Queue", None, 2),
             ("Active Recipients", f"{unattempted + attempted:,}", 4)]
    if detail:
        rows += [("Unattempted Recipients", f"{unattempted:,}", 6),
                 ("Attempted Recipients", f"{attempted:,}", 6)]
    rows += [("Messages In Work Queue", f"{mail.counters.system.messages_in_work_queue:,}", 4)]
    if detail:
        rows += [("Destinations In Memory", f"{len(mail.counters.hosts):,}", 4)]
    rows += [("Kilobytes Used", f"{usage.kilobytes_used:,}", 4),
             ("Kilobytes Free", f"{usage.kilobytes_free:,}", 4),
             ("Quarantine", None, 2),
             ("Messages In Quarantine", None, 4), ("Policy, Virus and Outbreak", "0", 6),
             ("Kilobytes In Quarantine", None, 4), ("Policy, Virus and Outbreak", "0", 6)]
    return table("Gauges:", ("Current",),
                 [(label, indent, None if value is None else [value])
                  for label, value, indent in rows], GAUGE_ENDS)


def table(title: str, headings: Sequence[str], rows: Sequence[Row],
          ends: Sequence[int]) -> list[str]:
    """The title with its column headings, then the rows: each label at its indent, its
    values right-aligned under the headings.  A column widens when a value needs it
    (lifetime counters grow large), so values never run into each other or the label."""
    edges: list[int] = []
    for k, default in enumerate(ends):
        needed = [len(_label(text)) + len(values[k]) if k == 0 else len(values[k])
                  for text, values in _value_rows(rows)]
        if k == 0:
            edges.append(max([default, *needed]))
        else:
            edges.append(max([default, *(edges[-1] + 1 + n for n in needed)]))
    lines = [_place(title, list(headings), edges)]
    for text, values in ((" " * indent + label, values) for label, indent, values in rows):
        lines.append(text if values is None else _place(_label(text), list(values), edges))
    return lines


def _value_rows(rows: Sequence[Row]) -> list[tuple[str, Sequence[str]]]:
    return [(" " * indent + label, values) for label, indent, values in rows if values is not None]


def _label(text: str) -> str:
    """A label padded to the label column; one too wide for it keeps two spaces."""
    return text.ljust(LABEL) if len(text) < LABEL else text + "  "


def _place(text: str, values: list[str], edges: list[int]) -> str:
    """*values* right-aligned to *edges* after *text*, always a space apart."""
    line = text
    for value, edge in zip(values, edges, strict=True):
        line += value.rjust(max(edge - len(line), len(value) + 1))
    return line.rstrip()
