"""``workqueue``: the work queue's status, pause and resume with a reason, and its rate
(ASYNCOS.md §3).

A pause really stops the engine's work queue (:meth:`MailEngine.pause_work`): mail is
still accepted and stored, and waits unprocessed -- not delivered, not journaled --
until ``resume``.  RATE shows every N seconds how many messages wait, came in and went
out, until Ctrl-C returns to the menu.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from commands.errors import CommandError, UsageError
from commands.monitor import ask_interval, every, interval_args, live_engine
from commands.registry import command
from commands.session import ACCESS_DENIED, CliSession
from engine.mail.mail_engine import MailEngine
from engine.store.users import Role

USAGE = "workqueue status | pause <reason> | resume | rate [<seconds> [<count>]]"
RATE_HEADER = "  Time     Pending       In      Out"


@command(
    "workqueue",
    summary="Display and/or alter work queue pause status",
    help="""
workqueue                          the status, then a menu: STATUS, PAUSE (asks to confirm,
                                   then for a reason) or RESUME, RATE
workqueue status                   "Status: Operating normally" or "Paused by <user>:
                                   <reason>", and the messages waiting in the work queue
workqueue pause <reason>           pause it: mail is still accepted and waits, stored,
                                   neither delivered nor journaled
workqueue resume                   process what waited, oldest first
workqueue rate [<seconds> [<count>]]
                                   every N seconds (default 10): messages pending, in and
                                   out; until Ctrl-C, or <count> rows (for scripts)

Pausing and resuming needs an operator or administrator; anyone may watch.
""",
    grammar={"status": None, "pause": None, "resume": None, "rate": None},
)
async def workqueue(session: CliSession, args: list[str]) -> None:
    mail = live_engine(session, "workqueue")
    if args:
        await _one_line(session, mail, args)
        return
    _status(session, mail)
    while True:
        options = [("STATUS", "Display work queue status")]
        if session.role.includes(Role.OPERATOR):
            options.append(("RESUME", "Resume the work queue") if mail.work_pause
                           else ("PAUSE", "Pause the work queue"))
        options.append(("RATE", "Display work queue statistics"))
        choice = await session.dialog.menu(options)
        if choice is None:
            return
        if choice == "STATUS":
            _status(session, mail)
        elif choice == "PAUSE":
            await _pause_dialog(session, mail)
        elif choice == "RESUME":
            _resume(session, mail)
        else:
            await _rate(session, mail, await ask_interval(session), None)


async def _one_line(session: CliSession, mail: MailEngine, args: list[str]) -> None:
    action, rest = args[0].lower(), args[1:]
    if action in ("pause", "resume") and not session.role.includes(Role.OPERATOR):
        raise CommandError(ACCESS_DENIED)
    if action == "status" and not rest:
        _status(session, mail)
    elif action == "pause" and rest:
        _pause(session, mail, " ".join(rest))
    elif action == "resume" and not rest:
        if mail.work_pause is None:
            raise CommandError("The work queue is not paused.")
        _resume(session, mail)
    elif action == "rate":
        seconds, count = interval_args(rest, USAGE)
        await _rate(session, mail, seconds or 10, count)
    else:
        raise UsageError(f"Invalid arguments when processing: usage is {USAGE}")


def _status(session: CliSession, mail: MailEngine) -> None:
    pause = mail.work_pause
    state = f"Paused by {pause.user}: {pause.reason}" if pause else "Operating normally"
    session.dialog.say()
    session.dialog.say(f"Status: {state}")
    session.dialog.say(f"Messages: {mail.counters.system.messages_in_work_queue}")


async def _pause_dialog(session: CliSession, mail: MailEngine) -> None:
    if not await session.dialog.confirm(
            "Manually pause work queue?  This will only affect unprocessed messages.",
            default=False):
        return
    reason = await session.dialog.ask_required("Enter a reason for pausing the work queue:")
    _pause(session, mail, str(reason))


def _pause(session: CliSession, mail: MailEngine, reason: str) -> None:
    if not mail.pause_work(session.user, reason):
        pause = mail.work_pause
        assert pause is not None
        raise CommandError(f"The work queue is already paused by {pause.user}: {pause.reason}")
    _status(session, mail)


def _resume(session: CliSession, mail: MailEngine) -> None:
    mail.resume_work()
    _status(session, mail)


@dataclass
class _Flow:
    received: int  # messages received since start: each enters the work queue
    pending: int


def _flow(mail: MailEngine) -> _Flow:
    system = mail.counters.system
    return _Flow(system.uptime_counts()["messages_received"], system.messages_in_work_queue)


async def _rate(session: CliSession, mail: MailEngine, seconds: int, count: int | None) -> None:
    """Rows ``hh:mm:ss pending in out``: out is what came in less what the queue grew."""
    say = session.dialog.say
    say()
    say("Type Ctrl-C to return to the main menu.")
    say()
    say(RATE_HEADER)
    last = [_flow(mail)]

    async def show() -> None:
        now = _flow(mail)
        came_in = now.received - last[0].received
        went_out = came_in - (now.pending - last[0].pending)
        last[0] = now
        say(f"{datetime.now(UTC):%H:%M:%S}{now.pending:>10}{came_in:>9}{went_out:>9}")

    await every(session, seconds, count, show)
