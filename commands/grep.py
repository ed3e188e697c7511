"""``grep``: search the mail log files, the rolled ones included, for a regular expression.

Interactive, it asks what AsyncOS asks (ASYNCOS.md §6): the log, the expression, case
sensitivity, whether to keep following the log, paging, and a file-name pattern.  Paging is
the interactive renderer's business (it pages whenever a window is too small and never in
scripts), so the paging answer is accepted and changes nothing.  Files are read one at a
time in a thread: a log can be large and the event loop carries mail.
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from commands.diagnosis import LOGS, check_log_name, choose_log, mail_log_dir
from commands.errors import CommandError, UsageError
from commands.registry import command
from commands.session import CliSession
from commands.tail import POLL_SECONDS
from engine.config.addresses import InvalidValue
from engine.observe.log_files import LogFollower, count_file, grep_file, log_files
from engine.observe.mail_log import CURRENT

USAGE = ("Invalid arguments when processing: usage is grep -e <regex> [-i] [-c] [-t] [-p] "
         "[-f <file pattern>] mail_logs")
NO_RESULTS = "No results were found."


@dataclass(frozen=True)
class GrepRequest:
    pattern: re.Pattern[str]
    count: bool = False
    follow: bool = False
    files: str = ""  # a file-name pattern (fnmatch), empty for all files


@command(
    "grep",
    summary="Search for text in a log file",
    help="""
grep                          asks for the log, the regular expression and the options
grep -e <regex> mail_logs     the matching lines of every mail log file, rolled ones included
  -i                          case-insensitive
  -c                          print only the number of matching lines
  -t                          then keep following the log for new matching lines (Ctrl-C stops)
  -f <pattern>                only the files whose names match (e.g. 'mail.@2026*', mail.current)
  -p                          paginate (accepted: a terminal pages by itself when the window
                              is too small; scripts never page)

"No results were found." when nothing matches; an invalid regular expression fails.
""",
    grammar={"-e": None, "-i": None, "-c": None, "-t": None, "-p": None, "-f": None}
    | {name: None for name, _ in LOGS},
)
async def grep(session: CliSession, args: list[str]) -> None:
    request = _parse(args) if args else await _ask(session)
    if request is None:
        return
    await run_grep(session, request)


# -- the two ways of asking ------------------------------------------------------------------
def _parse(args: list[str]) -> GrepRequest:
    regex: str | None = None
    flags = {"-i": False, "-c": False, "-t": False, "-p": False}
    files, name = "", None
    words = list(args)
    while words:
        word = words.pop(0)
        if word in ("-e", "-f"):
            if not words:
                raise UsageError(USAGE)
            value = words.pop(0)
            regex, files = (value, files) if word == "-e" else (regex, value)
        elif word in flags:
            flags[word] = True
        elif not word.startswith("-") and name is None:
            name = check_log_name(word, "grep")
        else:
            raise UsageError(USAGE)
    if regex is None or name is None:
        raise UsageError(USAGE)
    if flags["-c"] and flags["-t"]:
        raise UsageError("Invalid arguments when processing: -c (count) and -t (tail) cannot be "
                         "used together")
    try:
        pattern = compile_regex(regex, ignore_case=flags["-i"])
    except InvalidValue as exc:
        raise CommandError(f"Unable to grep: {exc}") from None
    return GrepRequest(pattern, count=flags["-c"], follow=flags["-t"], files=files)


async def _ask(session: CliSession) -> GrepRequest | None:
    if await choose_log(session, "grep") is None:
        return None
    dialog = session.dialog
    regex = await dialog.ask_required("Enter the regular expression to grep.",
                                      validate=_valid_regex)
    ignore_case = await dialog.confirm("Do you want this search to be case insensitive?",
                                       default=True)
    follow = await dialog.confirm("Do you want to tail the logs?", default=False)
    await dialog.confirm("Do you want to paginate the output?", default=False)
    files = await dialog.ask("Enter the file name pattern to search (for example mail.@2026*), "
                             "or leave blank for all files.", default="")
    return GrepRequest(compile_regex(regex, ignore_case=ignore_case), follow=follow,
                       files=str(files))


def _valid_regex(text: str) -> str:
    compile_regex(text, ignore_case=False)
    return text


def compile_regex(text: str, *, ignore_case: bool) -> re.Pattern[str]:
    """Python's regular expressions (close to the appliance's); InvalidValue if malformed."""
    try:
        return re.compile(text, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise InvalidValue(f"Invalid regular expression {text!r}: {exc}.") from None


# -- searching ------------------------------------------------------------------------------------
async def run_grep(session: CliSession, request: GrepRequest) -> None:
    directory = mail_log_dir(session)
    paths = [p for p in await asyncio.to_thread(log_files, directory)
             if not request.files or fnmatch.fnmatch(p.name, request.files)]
    matches = request.pattern.search
    say = session.dialog.say
    if request.count:
        counts = [await asyncio.to_thread(count_file, path, matches) for path in paths]
        say(str(sum(counts)))
        return
    searched = [p for p in paths if not (request.follow and p.name == CURRENT)]
    found = 0
    for path in searched:
        for line in await asyncio.to_thread(grep_file, path, matches):
            say(line)
            found += 1
    if request.follow:
        await _follow(session, directory, matches)
    elif not found:
        say(NO_RESULTS)


async def _follow(session: CliSession, directory: Path, matches: Callable[[str], object]) -> None:
    """``mail.current`` from its start, then every new matching line until Ctrl-C."""
    follower = LogFollower(directory)
    try:
        await asyncio.to_thread(follower.open_at_start)
        while True:
            for line in await asyncio.to_thread(_matching, follower, matches):
                session.dialog.say(line)
            if await asyncio.to_thread(lambda: follower.caught_up):
                await asyncio.sleep(POLL_SECONDS)
    finally:
        follower.close()


def _matching(follower: LogFollower, matches: Callable[[str], object]) -> list[str]:
    """The next new lines that match (in the reading thread, like the search itself)."""
    return [line for line in follower.poll() if matches(line)]
