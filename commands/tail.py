"""``tail``: the end of a log, then every new line as it is written, until Ctrl-C.

The follow loop is nothing but ``poll, print, sleep``: Ctrl-C cancels the command's task
(CliSession.interrupt) wherever it waits.  Reads happen in a thread (engine/observe/log_files.py);
a roll of the log to ``mail.@<timestamp>.s`` is followed into the new ``mail.current``.
"""

from __future__ import annotations

import asyncio

from commands.diagnosis import LOGS, check_log_name, choose_log, mail_log_dir
from commands.errors import UsageError
from commands.registry import command
from commands.session import CliSession
from engine.config.text import is_digits
from engine.observe.log_files import LogFollower

#: Lines shown before following (as Unix tail).
LAST_LINES = 10
#: How often the file is looked at while following.
POLL_SECONDS = 0.25

USAGE = "Invalid arguments when processing: usage is tail [-n <lines>] [mail_logs]"


@command(
    "tail",
    summary="Continuously display the end of a log file",
    help="""
tail                       lists the logs and asks which one to follow
tail mail_logs             the last 10 lines of the mail log, then every new line
tail -n <lines> mail_logs  start with that many lines (0: only new lines)

Follows the log across a roll to a new file; press Ctrl-C to stop.
""",
    grammar={name: None for name, _ in LOGS} | {"-n": None},
)
async def tail(session: CliSession, args: list[str]) -> None:
    count, name = _parse(args)
    if name is None:
        name = await choose_log(session, "tail")
        if name is None:
            return
    await follow(session, count)


def _parse(args: list[str]) -> tuple[int, str | None]:
    count, name = LAST_LINES, None
    words = list(args)
    while words:
        word = words.pop(0)
        if word == "-n":
            if not words or not is_digits(words[0]):
                raise UsageError(USAGE)
            count = int(words.pop(0))
        elif name is None and not word.startswith("-"):
            name = check_log_name(word, "tail")
        else:
            raise UsageError(USAGE)
    return count, name


async def follow(session: CliSession, count: int) -> None:
    """Print the last *count* lines of the mail log, then follow it until cancelled."""
    follower = LogFollower(mail_log_dir(session))
    say = session.dialog.say
    try:
        last = await asyncio.to_thread(follower.open_at_end, count)
        say()
        say("Press Ctrl-C to stop.")
        for line in last:
            say(line)
        while True:
            for line in await asyncio.to_thread(follower.poll):
                say(line)
            await asyncio.sleep(POLL_SECONDS)
    finally:
        follower.close()
