"""``findevent``: message tracking from the mail log -- a message's whole history.

Search by envelope sender, MID, subject or envelope recipient (ASYNCOS.md §6), in all log
files, a chosen few (by date) or the current one.  The history of the message found is every
log line of it, of the connections that carried it, and of the messages made from it: its
split parts and its TDC journal copies, linked in the store (engine/observe/tracking.py).
Message tracking's single TDC line (SPEC.md §1) follows the log lines.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from commands.diagnosis import choose_log, mail_log_dir, store_engine
from commands.errors import CommandError, UsageError
from commands.grep import compile_regex, searching
from commands.registry import command
from commands.session import CliSession
from commands.user_regex import UserRegex
from engine.config.addresses import InvalidValue
from engine.config.text import is_digits
from engine.observe.log_files import FileSpan, file_span, log_files
from engine.observe.mail_log import CURRENT
from engine.observe.tracking import (
    Family,
    Hit,
    SearchBy,
    Wanted,
    family,
    history,
    search_file,
    tracking_lines,
)

USAGE = ("Invalid arguments when processing: usage is findevent -m <MID> | -f <regex> | "
         "-s <regex> | -t <regex> [-l all|current|<file numbers>]")
NOTHING = "No matching message IDs"
MANY = ("The following matching message IDs were found. Please choose one to show additional "
        "log information:")
LOG_SETS = ["Search all available log files", "Select log files by date list",
            "Search current log file"]
_FLAGS = {"-f": SearchBy.FROM, "-m": SearchBy.MID, "-s": SearchBy.SUBJECT, "-t": SearchBy.TO}


@dataclass(frozen=True)
class Query:
    by: SearchBy
    pattern: UserRegex | int
    log_set: str = "all"  # "all", "current", or file numbers as the date list shows them


@command(
    "findevent",
    summary="Find events in mail log files",
    help="""
findevent                 asks how to search, what for, and which log files
findevent -m <MID>        the history of that message
findevent -f <regex>      messages whose envelope sender matches
findevent -s <regex>      messages whose subject matches
findevent -t <regex>      messages whose envelope recipient (or TDC intake address) matches
  -l all                  search every log file (the default)
  -l current              only mail.current
  -l <numbers>            the files numbered as the interactive date list shows them,
                          oldest first, e.g. -l 1,3-4

Regular expressions are case-insensitive.  A history shows the log lines of the message,
of its connections (ICID, DCIDs), of its split parts, of its TDC journal copies and of
the bounce messages sent for it, then message tracking's TDC line.  With several matches,
the interactive form asks which one; a one-line form lists them and shows each history.
""",
    grammar={flag: None for flag in _FLAGS} | {"-l": {"all": None, "current": None}},
)
async def findevent(session: CliSession, args: list[str]) -> None:
    query = _parse(args) if args else await _ask(session)
    if query is None:
        return
    spans = await asyncio.to_thread(_spans, mail_log_dir(session))
    if query.log_set == "ask":
        paths = await _choose_files(session, spans)
    else:
        paths = _files(spans, query.log_set)
    hits = await _search(paths, query)
    if not hits:
        session.dialog.say()
        session.dialog.say(NOTHING)
        return
    if args:
        await _show_all(session, paths, hits)
    else:
        await _show(session, paths, await _choose_hit(session, hits))


# -- what to search for ------------------------------------------------------------------------------
def _parse(args: list[str]) -> Query:
    words = list(args)
    found: tuple[SearchBy, str] | None = None
    log_set = "all"
    while words:
        word = words.pop(0)
        if word not in (*_FLAGS, "-l") or not words:
            raise UsageError(USAGE)
        value = words.pop(0)
        if word == "-l":
            log_set = value.lower()
        elif found is None:
            found = (_FLAGS[word], value)
        else:
            raise UsageError(USAGE)
    if found is None:
        raise UsageError(USAGE)
    by, text = found
    try:
        return Query(by, _pattern(by, text), log_set)
    except InvalidValue as exc:
        raise CommandError(f"Unable to search: {exc}") from None


def _pattern(by: SearchBy, text: str) -> UserRegex | int:
    if by is SearchBy.MID:
        if not is_digits(text.strip()):
            raise InvalidValue("A Message ID (MID) is a number.")
        return int(text)
    return compile_regex(text, ignore_case=True)


async def _ask(session: CliSession) -> Query | None:
    dialog = session.dialog
    index = await dialog.choose([by.value for by in SearchBy], "", default=0,
                                heading="Please choose which type of search you want to perform:")
    assert index is not None
    by = list(SearchBy)[index]
    if by is SearchBy.MID:
        question = "Enter the Message ID (MID) you want to find."
    else:
        question = "Enter the regular expression to search for."
    pattern = await dialog.ask_required(question, validate=lambda text: _pattern(by, text))
    if await choose_log(session, "use for message tracking") is None:
        return None
    log_set = await dialog.choose(LOG_SETS, "", default=0,
                                  heading="Please choose which set of log files to search:")
    return Query(by, pattern, ["all", "ask", "current"][log_set or 0])


# -- which files -----------------------------------------------------------------------------------------
def _spans(directory: Path) -> list[FileSpan]:
    return [file_span(path) for path in log_files(directory)]


def _files(spans: list[FileSpan], log_set: str) -> list[Path]:
    if log_set == "all":
        return [span.path for span in spans]
    if log_set == "current":
        return [span.path for span in spans if span.path.name == CURRENT]
    try:
        numbers = number_list(log_set, len(spans))
    except InvalidValue as exc:
        raise CommandError(f"Unable to search: {exc}") from None
    return [spans[n - 1].path for n in numbers]


async def _choose_files(session: CliSession, spans: list[FileSpan]) -> list[Path]:
    dialog = session.dialog
    dialog.say()
    dialog.say("Available log files:")
    width = max((len(span.path.name) for span in spans), default=0)
    for number, span in enumerate(spans, 1):
        dialog.say(f"{number}. {span.path.name:<{width}}  {_when(span)}")
    numbers = await dialog.ask_required(
        "Enter the numbers of the log files to search, separated by commas (ranges like 1-3 "
        "are allowed).", validate=lambda text: number_list(text, len(spans)))
    return [spans[n - 1].path for n in numbers]


def _when(span: FileSpan) -> str:
    def text(moment: datetime | None) -> str:
        return moment.strftime("%a %b %d %H:%M:%S %Y") if moment else "?"
    return f"{text(span.first)} - {text(span.last)}"


def number_list(text: str, highest: int) -> list[int]:
    """``1,3-4`` -> ``[1, 3, 4]``; every number from 1 to *highest*, else InvalidValue."""
    numbers: list[int] = []
    for part in text.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not is_digits(low) or (dash and not is_digits(high)):
            raise InvalidValue(f"{text!r} is not a list of file numbers (e.g. 1,3-4).")
        first, last = int(low), int(high) if dash else int(low)
        if not 1 <= first <= last <= highest:
            raise InvalidValue(f"The file numbers must be from 1 to {highest}.")
        numbers += [n for n in range(first, last + 1) if n not in numbers]
    return numbers


# -- searching and showing ---------------------------------------------------------------------------------
async def _search(paths: list[Path], query: Query) -> list[Hit]:
    if isinstance(query.pattern, int):
        return await _search_files(paths, query.by, query.pattern)
    with searching(query.pattern, "search") as matches:
        return await _search_files(paths, query.by, matches)


async def _search_files(paths: list[Path], by: SearchBy, wanted: Wanted) -> list[Hit]:
    """The messages found in *paths*, each once, each file read in a thread."""
    hits: dict[int, Hit] = {}
    for path in paths:
        for hit in await asyncio.to_thread(search_file, path, by, wanted):
            hits.setdefault(hit.mid, hit)
    return list(hits.values())


def _hit_text(hit: Hit) -> str:
    return f"MID {hit.mid} ({hit.when}) {hit.value}"


async def _choose_hit(session: CliSession, hits: list[Hit]) -> Hit:
    if len(hits) == 1:
        return hits[0]
    index = await session.dialog.choose([_hit_text(hit) for hit in hits], "", default=0,
                                        heading=MANY)
    return hits[index or 0]


async def _show_all(session: CliSession, paths: list[Path], hits: list[Hit]) -> None:
    """A one-line form cannot ask which: list the matches, then each message's history
    once (matches of one family share it)."""
    if len(hits) > 1:
        session.dialog.say()
        session.dialog.say("The following matching message IDs were found:")
        for number, hit in enumerate(hits, 1):
            session.dialog.say(f"{number}. {_hit_text(hit)}")
    shown: set[int] = set()
    for hit in hits:
        if hit.mid not in shown:
            shown |= await _show(session, paths, hit)


async def _show(session: CliSession, paths: list[Path], hit: Hit) -> frozenset[int]:
    """Print the history of *hit*'s family; return the family's MIDs."""
    engine = store_engine(session)
    members: Family = await asyncio.to_thread(family, engine, hit.mid)
    lines = await asyncio.to_thread(history, paths, members.mids)
    tracking = await asyncio.to_thread(tracking_lines, engine, [m.mid for m in members.members])
    say = session.dialog.say
    say()
    say(f"Message history of MID {members.root}:")
    for line in members.describe():
        say(line)
    say()
    for line in lines:
        say(line)
    if tracking:
        say()
        say("Message tracking:")
        for line in tracking:
            say(line)
    return members.mids


