"""Shared pieces of the monitoring commands (``status``, ``rate``, ``workqueue``, ``topin``):
the live engine or AsyncOS's "Couldn't obtain mail stats", durations and times as
AsyncOS writes them, and displays that run until Ctrl-C.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from commands.errors import CommandError, UsageError
from commands.session import CliSession
from engine.config.text import is_digits
from engine.mail.mail_engine import MailEngine
from engine.observe.timestamps import cli_time


def live_engine(session: CliSession, command: str) -> MailEngine:
    """The mail engine of this process; an attached console has none to read."""
    mail = session.appliance.mail
    if mail is None:
        raise CommandError("Couldn't obtain mail stats: the mail engine runs in another segcli "
                           f"process; use {command} there.")
    return mail


def duration(seconds: float) -> str:
    """``4d 12h 19m 21s``, leading zero units left out (``Up since: ... (22h 45m 29s)``)."""
    left = max(0, int(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        value, left = divmod(left, size)
        if value or parts:
            parts.append(f"{value}{unit}")
    parts.append(f"{left}s")
    return " ".join(parts)


def at(timestamp: float) -> str:
    """A Unix time as the CLI writes it: ``Fri Feb 16 21:19:22 2024 GMT``."""
    return cli_time(datetime.fromtimestamp(timestamp, UTC))


def interval_args(args: list[str], usage: str) -> tuple[int | None, int | None]:
    """``[seconds [count]]`` of a streaming one-line form; None where not given."""
    if len(args) > 2 or not all(is_digits(a) and int(a) > 0 for a in args):
        raise UsageError(f"Invalid arguments when processing: usage is {usage}")
    seconds = int(args[0]) if args else None
    count = int(args[1]) if len(args) == 2 else None
    return seconds, count


async def ask_interval(session: CliSession, default: int = 10) -> int:
    return await session.dialog.ask_number("Enter the number of seconds between displays.",
                                           low=1, high=3600, default=default)


async def every(session: CliSession, seconds: int, count: int | None,
                show: Callable[[], Awaitable[None]]) -> None:
    """Call *show* now and every *seconds* seconds, *count* times or until Ctrl-C.

    Ctrl-C (the session cancels the command) ends the display and the command goes on,
    as on the appliance (``workqueue`` > RATE returns to its menu); when the session
    itself is ending, the cancellation is passed on.
    """
    shown = 0
    try:
        while count is None or shown < count:
            if shown:
                await asyncio.sleep(seconds)
            await show()
            shown += 1
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if session.finished or task is None:
            raise
        task.uncancel()
        session.terminal.write("\n")
