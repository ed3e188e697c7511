"""Message tracking from the mail log and the store: what ``findevent`` shows.

A message's history is spread over the log: the lines that name its MID, the lines of the
connection it came in on (its ICID) and of the connections that delivered it (its DCIDs),
and the same again for the messages made from it -- the parts it was split into (one per
mail policy) and the journal copies the Threat Defense Connector sent to SETD.  The store
links those to their original (``origin_mid``); the log lines alone would not always (a
journal copy's log lines never name its original's DCIDs).  Message tracking's single
TDC line (SPEC.md §1, Verification) is kept in the store, on the original's MID.

The search functions read files and the store: call them through ``asyncio.to_thread``.

Tests: tests/engine/observe/test_log_tools_live.py, tests/engine/mail/test_bounces.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from sqlalchemy import Engine, Row, select

from engine.observe.log_files import read_lines, split_line
from engine.store import queue_store
from engine.store.models import MessageRow

MESSAGES = MessageRow.__table__

#: ``MID 12``, and the forms that name a message without the word MID.
_MID = re.compile(r"\bMID (\d+)|\bMessage (\d+) to RID\b")
_ICID = re.compile(r"\bICID (\d+)")
_DCID = re.compile(r"\bDCID (\d+)")


class SearchBy(Enum):
    """findevent's four searches (ASYNCOS.md §6), in menu order."""

    FROM = "Search by envelope FROM"
    MID = "Search by Message ID"
    SUBJECT = "Search by Subject"
    TO = "Search by envelope TO"


#: What a search by value looks for: a predicate on the value (a person's regular
#: expression, in findevent: commands/user_regex.py), or the MID searched for.
Wanted = Callable[[str], object] | int

#: Where each search looks: the log line that carries the value, the MID in group 1.
_SEARCH_LINES = {
    SearchBy.FROM: [re.compile(r"\bMID (\d+) ICID \d+ From: <(.*)>")],
    SearchBy.SUBJECT: [re.compile(r"\bMID (\d+) Subject \"(.*)\"$"),
                       re.compile(r"\bMID (\d+) Subject '(.*)'$")],
    SearchBy.TO: [re.compile(r"\bMID (\d+) ICID \d+ RID \d+ To: <(.*)>"),
                  # a journal copy's envelope recipient is its intake address
                  re.compile(r"\bTDC: MID (\d+) with Message-ID .* to the message intake address "
                             r"(\S+)$")],
}


@dataclass(frozen=True)
class Hit:
    """One message found: its MID, when the line was written, and what matched."""

    mid: int
    when: str
    value: str


@dataclass(frozen=True)
class References:
    mids: frozenset[int]
    icids: frozenset[int]
    dcids: frozenset[int]


def references(line: str) -> References:
    """The message and connection IDs a log line names (``DCID 0``, no connection, is left out)."""
    mids = {int(a or b) for a, b in _MID.findall(line)}
    return References(frozenset(mids), frozenset(int(n) for n in _ICID.findall(line)),
                      frozenset(int(n) for n in _DCID.findall(line) if n != "0"))


# -- searching ---------------------------------------------------------------------------
def search_file(path: Path, by: SearchBy, wanted: Wanted) -> list[Hit]:
    """The messages of *path* that match: by MID (*wanted* is the number) or by a
    predicate (*wanted* is true for the sender, subject or recipient searched for)."""
    hits: dict[int, Hit] = {}
    for line in read_lines(path):
        for mid, value in _candidates(line, by, wanted):
            if mid not in hits:
                hits[mid] = Hit(mid, split_line(line)[0], value)
    return list(hits.values())


def _candidates(line: str, by: SearchBy, wanted: Wanted) -> Iterable[tuple[int, str]]:
    if by is SearchBy.MID:
        assert isinstance(wanted, int)
        if wanted in references(line).mids:
            yield wanted, split_line(line)[1].partition(": ")[2]
        return
    assert callable(wanted)
    for shape in _SEARCH_LINES[by]:
        match = shape.search(line)
        if match and wanted(match.group(2)):
            yield int(match.group(1)), match.group(2)


# -- a message's family: its splits, journal copies and bounce messages --------------------------
@dataclass(frozen=True)
class Member:
    """A message of a family: ``kind`` is ``inbound``, ``split``, ``journal`` or ``bounce``."""

    mid: int
    kind: str
    origin_mid: int | None
    subject: str = ""
    recipients: str = ""


@dataclass(frozen=True)
class Family:
    """The original message (``root``) and every message made from it, root first."""

    root: int
    members: tuple[Member, ...]

    @property
    def mids(self) -> frozenset[int]:
        return frozenset(m.mid for m in self.members)

    def describe(self) -> list[str]:
        """One line per linked message, e.g. ``MID 5: TDC journal copy of MID 3``."""
        out = []
        for member in self.members:
            if member.kind == "split":
                out.append(f"MID {member.mid}: split part of MID {member.origin_mid} "
                           f"(recipients {member.recipients})")
            elif member.kind == "journal":
                out.append(f"MID {member.mid}: TDC journal copy of MID {member.origin_mid} "
                           f"(to {member.recipients})")
            elif member.kind == "bounce":
                out.append(f"MID {member.mid}: bounce message for MID {member.origin_mid} "
                           f"(to {member.recipients})")
        return out


_COLUMNS = (MESSAGES.c.mid, MESSAGES.c.kind, MESSAGES.c.origin_mid, MESSAGES.c.subject,
            MESSAGES.c.envelope)


def family(engine: Engine, mid: int) -> Family:
    """*mid*'s family: up to the original through ``origin_mid``, then everything made from it.

    A MID the store does not know (pruned, or from another appliance's log) is a family of one.
    """
    with engine.connect() as connection:
        def one(wanted: int) -> Row | None:
            return connection.execute(select(*_COLUMNS).where(MESSAGES.c.mid == wanted)).first()

        row = one(mid)
        if row is None:
            return Family(mid, (Member(mid, "inbound", None),))
        climbed = {row.mid}  # a loop in origin_mid (never written, but) must not hang us
        while row.origin_mid is not None and row.origin_mid not in climbed:
            parent = one(row.origin_mid)
            if parent is None:
                break
            climbed.add(parent.mid)
            row = parent
        members, frontier = [row], [row.mid]
        seen = {row.mid}
        while frontier:
            children = [c for c in connection.execute(
                select(*_COLUMNS).where(MESSAGES.c.origin_mid.in_(frontier)).order_by(MESSAGES.c.mid))
                if c.mid not in seen]
            seen.update(c.mid for c in children)
            members += children
            frontier = [c.mid for c in children]
    return Family(members[0].mid, tuple(_member(m) for m in members))


def _member(row: Row) -> Member:
    try:
        recipients = ", ".join(json.loads(row.envelope))
    except (TypeError, ValueError):
        recipients = ""
    return Member(row.mid, row.kind, row.origin_mid, row.subject or "", recipients)


# -- the history ---------------------------------------------------------------------------------
@dataclass
class _Connections:
    icids: set[int] = field(default_factory=set)
    dcids: set[int] = field(default_factory=set)


def history(paths: Sequence[Path], mids: frozenset[int]) -> list[str]:
    """Every log line of the messages *mids*, in log order.

    First pass: the lines naming one of the MIDs, and the connections they name.  Second
    pass: those connections' own lines (``New SMTP ICID``, ``DCID 4 close``, TLS), as long
    as they name no other message -- a delivery connection carries several messages, and
    another message's ``Delivery start`` is not part of this one's history.
    """
    connections = _Connections()
    for path in paths:
        for line in read_lines(path):
            refs = references(line)
            if refs.mids & mids:
                connections.icids |= refs.icids
                connections.dcids |= refs.dcids
    found = []
    for path in paths:
        for line in read_lines(path):
            refs = references(line)
            if refs.mids & mids or (not refs.mids and (refs.icids & connections.icids
                                                       or refs.dcids & connections.dcids)):
                found.append(line)
    return found


def tracking_lines(engine: Engine, mids: Iterable[int]) -> list[str]:
    """Message tracking's own events of *mids* (the single TDC line among them), dated
    like the tracking page: ``16 Feb 2024 21:19:24 (GMT +00:00)  TDC: Message ...``."""
    events = []
    for mid in mids:
        events += queue_store.tracking_events(engine, mid)
    return [f"{tracking_time(at)}  {text}" for at, text in sorted(events)
            if text.startswith("TDC:")]


def tracking_time(at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%d %b %Y %H:%M:%S") + " (GMT +00:00)"
