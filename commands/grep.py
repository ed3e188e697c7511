"""``grep``: search the mail log files, the rolled ones included, for a regular expression.

Interactive, it asks what AsyncOS asks (ASYNCOS.md §6): the log, the expression, case
sensitivity, whether to keep following the log, paging, and a file-name pattern.  Paging is
the interactive renderer's business (it pages whenever a window is too small and never in
scripts), so the paging answer is accepted and changes nothing.  Files are read one at a
time in a thread: a log can be large and the event loop carries mail.  The expression is
RE2's (commands/user_regex.py): no pattern can backtrack for hours, and a search that takes
too long stops with a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from commands.diagnosis import LOGS, check_log_name, choose_log, mail_log_dir
from commands.errors import CommandError, UsageError
from commands.registry import command
from commands.session import CliSession
from commands.tail import POLL_SECONDS
from commands.user_regex import Search, TooSlow, UserRegex
from engine.config.addresses import InvalidValue
from engine.observe.log_files import LogFollower, count_file, grep_file, log_files
from engine.observe.mail_log import CURRENT

USAGE = ("Invalid arguments when processing: usage is grep -e <regex> [-i] [-c] [-t] [-p] "
         "[-f <file pattern>] mail_logs")
NO_RESULTS = "No results were found."


@dataclass(frozen=True)
class GrepRequest:
    pattern: UserRegex
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
Regular expressions are RE2's: Python's syntax without backreferences or look-around.
A search that spends more than a minute matching stops with an error.
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
    """Asked before case sensitivity is: the expression must compile both ways (ignoring
    case makes some programs larger than MAX_PROGRAM)."""
    compile_regex(text, ignore_case=False)
    compile_regex(text, ignore_case=True)
    return text


def compile_regex(text: str, *, ignore_case: bool) -> UserRegex:
    """The regular expression *text* (RE2); InvalidValue if malformed or too complex."""
    return UserRegex(text, ignore_case=ignore_case)


@contextlib.contextmanager
def searching(pattern: UserRegex, what: str) -> Iterator[Search]:
    """One search with *pattern*, for the threads that read the log files: if it takes too
    long it ends the command with a message (``Unable to <what>: ...``); however it ends
    (done, failed, cancelled by Ctrl-C or a closed channel), its threads stop matching."""
    search = pattern.search()
    try:
        yield search
    except TooSlow as exc:
        raise CommandError(f"Unable to {what}: {exc}") from None
    finally:
        search.stop()


# -- searching ------------------------------------------------------------------------------------
async def run_grep(session: CliSession, request: GrepRequest) -> None:
    directory = mail_log_dir(session)
    paths = [p for p in await asyncio.to_thread(log_files, directory)
             if not request.files or fnmatch.fnmatch(p.name, request.files)]
    say = session.dialog.say
    if request.count:
        with searching(request.pattern, "grep") as matches:
            counts = [await asyncio.to_thread(count_file, path, matches) for path in paths]
        say(str(sum(counts)))
        return
    searched = [p for p in paths if not (request.follow and p.name == CURRENT)]
    found = 0
    with searching(request.pattern, "grep") as matches:
        for path in searched:
            for line in await asyncio.to_thread(grep_file, path, matches):
                say(line)
                found += 1
    if request.follow:
        await _follow(session, directory, request.pattern)
    elif not found:
        say(NO_RESULTS)


async def _follow(session: CliSession, directory: Path, pattern: UserRegex) -> None:
    """``mail.current`` from its start, then every new matching line until Ctrl-C.  Each
    batch of new lines is searched with a budget of its own: following runs for days."""
    follower = LogFollower(directory)
    try:
        await asyncio.to_thread(follower.open_at_start)
        while True:
            with searching(pattern, "grep") as matches:
                lines = await asyncio.to_thread(_matching, follower, matches)
            for line in lines:
                session.dialog.say(line)
            if await asyncio.to_thread(lambda: follower.caught_up):
                await asyncio.sleep(POLL_SECONDS)
    finally:
        follower.close()


def _matching(follower: LogFollower, matches: Callable[[str], object]) -> list[str]:
    """The next new lines that match (in the reading thread, like the search itself)."""
    return [line for line in follower.poll() if matches(line)]
