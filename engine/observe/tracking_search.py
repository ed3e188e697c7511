"""Message tracking from the store: the search and the message details of the web interface's
Monitor > Message Tracking (ASYNCOS.md §7: a summary per MID with its last state, and the
message's events; SPEC.md §1: the single TDC line of a journaled message).

``findevent`` (commands/findevent.py) reads the mail log files with a person's regular
expression; this reads the store, where every accepted message keeps its envelope, subject
and tracking events after it is done (only the body goes), so a search costs one query and
never reads a log file.  Text is matched as the appliance's tracking page does: *Begins
With*, *Is* or *Contains*, case-insensitively, literally (no pattern characters).

Journal copies are not results of their own: a journaled message shows its copy in its
details (the family of :func:`engine.observe.tracking.family`) and the TDC line.  The search
reads the store: call it through ``asyncio.to_thread``.

Tests: tests/engine/observe/test_tracking_search.py (live engine).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import Connection, Engine, Select, select

from engine.observe.tracking import Family, family, tracking_lines
from engine.store import queue_store
from engine.store.models import DeliveryRow, MessageRow

MESSAGES = MessageRow.__table__
DELIVERIES = DeliveryRow.__table__

#: The kinds a search finds: messages received, the parts a policy split them into and the
#: bounce messages the appliance sent (journal copies show in their original's details).
SEARCHED_KINDS = ("inbound", "split", "bounce")
#: At most this many results, newest first, whatever a query asks for.
MOST = 1000
#: Rows read from the store at a time while results are filtered.
_BATCH = 500

_SUMMARY = (MESSAGES.c.mid, MESSAGES.c.kind, MESSAGES.c.state, MESSAGES.c.origin_mid,
            MESSAGES.c.policy, MESSAGES.c.sender, MESSAGES.c.envelope, MESSAGES.c.received_at,
            MESSAGES.c.subject, MESSAGES.c.message_id, MESSAGES.c.size)


class Match(Enum):
    """How a text field matches, as the tracking page's menus offer it."""

    BEGINS = "Begins With"
    IS = "Is"
    CONTAINS = "Contains"


@dataclass(frozen=True)
class TextFilter:
    """A field's wanted text; matches case-insensitively (``str.casefold``)."""

    text: str
    match: Match = Match.CONTAINS

    def matches(self, value: str) -> bool:
        wanted, value = self.text.casefold(), value.casefold()
        if self.match is Match.IS:
            return value == wanted
        if self.match is Match.BEGINS:
            return value.startswith(wanted)
        return wanted in value

    def like(self, *, anywhere: bool = False) -> str | None:
        """A LIKE pattern (escape ``\\``) that keeps every match, to pre-filter in the store;
        *anywhere*: the text may be anywhere (in a JSON list of addresses).  None: no
        pre-filter (SQLite's LIKE ignores case for ASCII only, and JSON escapes quotes and
        backslashes), :meth:`matches` alone decides."""
        if not self.text.isascii() or (anywhere and ('"' in self.text or "\\" in self.text)):
            return None
        escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{escaped}%" if self.match is not Match.CONTAINS and not anywhere else f"%{escaped}%"


@dataclass(frozen=True)
class Query:
    """A search; every field given must match.  ``since``/``until`` bound the time the
    message was received (epoch seconds, ``until`` excluded)."""

    sender: TextFilter | None = None
    recipient: TextFilter | None = None
    subject: TextFilter | None = None
    mid: int | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100


@dataclass(frozen=True)
class Found:
    """One message's summary line."""

    mid: int
    kind: str
    received_at: float
    sender: str
    recipients: tuple[str, ...]
    subject: str
    policy: str | None
    origin_mid: int | None
    message_id: str
    size: int
    #: The last state of its recipients: Queued, Delivered, Bounced, ... (see _last_state)
    state: str


@dataclass(frozen=True)
class Results:
    messages: list[Found]
    #: More messages matched than the limit let through (the newest are shown).
    truncated: bool


@dataclass(frozen=True)
class Event:
    """A tracking event of a message of the family, as recorded."""

    at: float
    mid: int
    text: str


@dataclass(frozen=True)
class Recipient:
    mid: int
    recipient: str
    destination: str
    state: str
    attempts: int
    last_error: str


@dataclass(frozen=True)
class Details:
    message: Found
    family: Family
    events: list[Event]
    recipients: list[Recipient]
    #: Message tracking's TDC line(s), dated (``16 Feb 2024 21:19:24 (GMT +00:00)  TDC: ...``):
    #: one for a journaled message, none for a message that was not journaled.
    tdc: list[str]


# -- searching -----------------------------------------------------------------------------
def search(engine: Engine, query: Query) -> Results:
    """The messages *query* finds, newest first, at most ``query.limit`` (and :data:`MOST`)."""
    limit = max(1, min(query.limit, MOST))
    found: list[Found] = []
    with engine.connect() as connection:
        rows = _matching(connection, query)
        for row in rows:
            if len(found) == limit:
                return Results(_with_states(connection, found), truncated=True)
            found.append(row)
        return Results(_with_states(connection, found), truncated=False)


def _statement(query: Query) -> Select:
    statement = select(*_SUMMARY).order_by(MESSAGES.c.mid.desc())
    if query.mid is not None:
        statement = statement.where(MESSAGES.c.mid == query.mid)
    else:
        statement = statement.where(MESSAGES.c.kind.in_(SEARCHED_KINDS))
    if query.since is not None:
        statement = statement.where(MESSAGES.c.received_at >= query.since)
    if query.until is not None:
        statement = statement.where(MESSAGES.c.received_at < query.until)
    for column, wanted, anywhere in ((MESSAGES.c.sender, query.sender, False),
                                     (MESSAGES.c.subject, query.subject, False),
                                     (MESSAGES.c.envelope, query.recipient, True)):
        pattern = wanted.like(anywhere=anywhere) if wanted is not None else None
        if pattern is not None:
            statement = statement.where(column.like(pattern, escape="\\"))
    return statement


def _matching(connection: Connection, query: Query) -> Iterator[Found]:
    """Every message that matches, newest first, read in batches (the store pre-filters
    with LIKE; the exact rule is :meth:`TextFilter.matches`)."""
    result = connection.execute(_statement(query))
    while batch := result.fetchmany(_BATCH):
        for row in batch:
            found = _found(row)
            if _accepts(query, found):
                yield found


def _accepts(query: Query, found: Found) -> bool:
    if query.sender is not None and not query.sender.matches(found.sender):
        return False
    if query.subject is not None and not query.subject.matches(found.subject):
        return False
    return query.recipient is None or any(query.recipient.matches(r) for r in found.recipients)


def _found(row: object, state: str = "") -> Found:
    mapping = row._mapping  # type: ignore[attr-defined]
    return Found(mid=mapping["mid"], kind=mapping["kind"], received_at=mapping["received_at"],
                 sender=mapping["sender"], recipients=_recipients(mapping["envelope"]),
                 subject=mapping["subject"] or "", policy=mapping["policy"],
                 origin_mid=mapping["origin_mid"], message_id=mapping["message_id"] or "",
                 size=mapping["size"], state=state or mapping["state"])


def _recipients(envelope: str) -> tuple[str, ...]:
    try:
        recipients = json.loads(envelope)
    except (TypeError, ValueError):
        return ()
    return tuple(str(r) for r in recipients) if isinstance(recipients, list) else ()


# -- the last state ------------------------------------------------------------------------
#: A recipient's stored state as the tracking page names it.
_STATE_NAMES = {queue_store.ACTIVE: "Queued", queue_store.DELIVERED: "Delivered",
                "bounced": "Bounced", "expired": "Bounced", "deleted": "Deleted"}


def _with_states(connection: Connection, found: list[Found]) -> list[Found]:
    """*found* with each message's last state, read for all of them in one query."""
    if not found:
        return found
    counts: dict[int, set[str]] = {}
    rows = connection.execute(select(DELIVERIES.c.mid, DELIVERIES.c.state)
                              .where(DELIVERIES.c.mid.in_([f.mid for f in found]))
                              .group_by(DELIVERIES.c.mid, DELIVERIES.c.state))
    for mid, state in rows:
        counts.setdefault(mid, set()).add(state)
    return [_replace_state(f, _last_state(f.state, counts.get(f.mid, set()))) for f in found]


def _replace_state(found: Found, state: str) -> Found:
    return Found(**{**found.__dict__, "state": state})


def _last_state(message_state: str, delivery_states: Iterable[str]) -> str:
    """``Queued`` while any recipient is; else the outcomes, e.g. ``Delivered, Bounced``;
    a message with no delivery was dropped or bounced by a verdict (``Completed``)."""
    if message_state == "work":
        return "In Work Queue"
    names = {_STATE_NAMES.get(state, state.title()) for state in delivery_states}
    if "Queued" in names:
        return "Queued"
    order = ["Delivered", "Bounced", "Deleted"]
    return ", ".join(sorted(names, key=lambda n: (order.index(n) if n in order else 9, n))) \
        or "Completed"


# -- a message's details -------------------------------------------------------------------
def details(engine: Engine, mid: int) -> Details | None:
    """Everything the details page shows of *mid*; None when the store does not know it."""
    with engine.connect() as connection:
        row = connection.execute(select(*_SUMMARY).where(MESSAGES.c.mid == mid)).first()
        if row is None:
            return None
        [message] = _with_states(connection, [_found(row)])
        members = family(engine, mid)
        mids = [m.mid for m in members.members]
        events = [Event(e.at, e.mid, e.text) for e in connection.execute(
            select(queue_store.TRACKING).where(queue_store.TRACKING.c.mid.in_(mids))
            .order_by(queue_store.TRACKING.c.at, queue_store.TRACKING.c.id))]
        recipients = [Recipient(r.mid, r.recipient, r.destination, r.state, r.attempts,
                                r.last_error or "") for r in connection.execute(
            select(DELIVERIES).where(DELIVERIES.c.mid.in_(mids))
            .order_by(DELIVERIES.c.mid, DELIVERIES.c.rid))]
    return Details(message, members, events, recipients, tracking_lines(engine, mids))
