"""What the mail engine writes to and reads from the store, as group-commit jobs.

Each function returns a job for :class:`engine.group_commit.GroupCommitWriter`
(a callable taking a Connection), so the caller decides whether to wait for it to be
durable (accepting a message: yes, before ``250``) or not (a delivery's outcome:
at-least-once delivery tolerates replaying it after a crash).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update

from engine.models import DeliveryRow, MessageRow, TrackingEventRow

MESSAGES = MessageRow.__table__
DELIVERIES = DeliveryRow.__table__
TRACKING = TrackingEventRow.__table__

ACTIVE = "active"


@dataclass(frozen=True)
class NewMessage:
    mid: int
    icid: int
    sender: str
    recipients: Sequence[str]
    body: bytes
    received_at: float
    message_id: str
    subject: str
    direction: str
    kind: str = "inbound"
    origin_mid: int | None = None
    policy: str | None = None
    state: str = "work"


@dataclass(frozen=True)
class NewDelivery:
    mid: int
    rid: int
    recipient: str
    destination: str
    next_attempt: float
    expires_at: float


def _message_values(message: NewMessage) -> dict:
    return {
        "mid": message.mid, "icid": message.icid, "origin_mid": message.origin_mid,
        "kind": message.kind, "state": message.state, "direction": message.direction,
        "policy": message.policy, "sender": message.sender,
        "envelope": json.dumps(list(message.recipients)), "received_at": message.received_at,
        "size": len(message.body), "message_id": message.message_id,
        "subject": message.subject, "body": message.body,
    }


def insert_message(message: NewMessage):
    """The accept transaction: the message and its envelope, in state ``work``."""
    def job(connection: Connection) -> int:
        connection.execute(insert(MESSAGES), [_message_values(message)])
        return message.mid
    return job


def record_work(mid: int, policy: str | None, state: str, new_messages: Sequence[NewMessage],
                deliveries: Sequence[NewDelivery]):
    """The work queue's outcome in one transaction: the message leaves ``work``, split parts
    and journal copies are stored, and their deliveries are queued.  Returns the row id
    of each delivery, in order."""
    def job(connection: Connection) -> list[int]:
        connection.execute(update(MESSAGES).where(MESSAGES.c.mid == mid)
                           .values(state=state, policy=policy))
        if new_messages:
            connection.execute(insert(MESSAGES), [_message_values(m) for m in new_messages])
        if not deliveries:
            return []
        rows = connection.execute(
            insert(DELIVERIES).returning(DELIVERIES.c.id, sort_by_parameter_order=True),
            [{"mid": d.mid, "rid": d.rid, "recipient": d.recipient,
              "destination": d.destination, "state": ACTIVE, "attempts": 0,
              "next_attempt": d.next_attempt, "expires_at": d.expires_at, "last_error": ""}
             for d in deliveries])
        return list(rows.scalars())
    return job


def finish_deliveries(row_ids: Iterable[int], state: str, error: str = ""):
    """Deliveries done (``delivered``, ``bounced``, ``expired``, ``deleted``); a message
    whose deliveries are all done is ``done`` too (its body can go)."""
    ids = list(row_ids)

    def job(connection: Connection) -> None:
        connection.execute(
            update(DELIVERIES).where(DELIVERIES.c.id == bindparam("row_id"))
            .values(state=state, last_error=error),
            [{"row_id": i} for i in ids])
        mids = connection.execute(select(DELIVERIES.c.mid).where(DELIVERIES.c.id.in_(ids))
                                  .distinct()).scalars().all()
        for mid in mids:
            left = connection.execute(select(DELIVERIES.c.id).where(
                DELIVERIES.c.mid == mid, DELIVERIES.c.state == ACTIVE).limit(1)).first()
            if left is None:
                connection.execute(update(MESSAGES).where(MESSAGES.c.mid == mid)
                                   .values(state="done", body=b""))
    return job


def reschedule(row_ids: Iterable[int], attempts: int, next_attempt: float, error: str):
    ids = list(row_ids)

    def job(connection: Connection) -> None:
        connection.execute(
            update(DELIVERIES).where(DELIVERIES.c.id == bindparam("row_id"))
            .values(attempts=attempts, next_attempt=next_attempt, last_error=error),
            [{"row_id": i} for i in ids])
    return job


def add_tracking(events: Sequence[tuple[int, float, str]]):
    def job(connection: Connection) -> None:
        connection.execute(insert(TRACKING), [
            {"mid": mid, "at": at, "text": text} for mid, at, text in events])
    return job


# -- reads (recovery after a restart; message tracking) -----------------------------------
def unprocessed_messages(engine: Engine) -> list[dict]:
    """Messages accepted but not through the work queue (a crash came in between)."""
    with engine.connect() as connection:
        rows = connection.execute(select(MESSAGES).where(MESSAGES.c.state == "work")
                                  .order_by(MESSAGES.c.mid))
        return [dict(row._mapping) for row in rows]


def active_deliveries(engine: Engine) -> list[dict]:
    """Every queued delivery with its message's envelope and body, oldest first."""
    query = (
        select(DELIVERIES, MESSAGES.c.sender, MESSAGES.c.body, MESSAGES.c.message_id,
               MESSAGES.c.origin_mid, MESSAGES.c.received_at, MESSAGES.c.kind)
        .join(MESSAGES, MESSAGES.c.mid == DELIVERIES.c.mid)
        .where(DELIVERIES.c.state == ACTIVE)
        .order_by(DELIVERIES.c.mid, DELIVERIES.c.rid)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def tracking_events(engine: Engine, mid: int) -> list[tuple[float, str]]:
    with engine.connect() as connection:
        rows = connection.execute(select(TRACKING.c.at, TRACKING.c.text)
                                  .where(TRACKING.c.mid == mid).order_by(TRACKING.c.id))
        return [(row.at, row.text) for row in rows]


def oldest_active(engine: Engine, destination: str) -> float | None:
    """When the oldest message still queued for *destination* was received (``hoststatus``)."""
    query = (select(func.min(MESSAGES.c.received_at))
             .join(DELIVERIES, DELIVERIES.c.mid == MESSAGES.c.mid)
             .where(DELIVERIES.c.destination == destination, DELIVERIES.c.state == ACTIVE))
    with engine.connect() as connection:
        return connection.execute(query).scalar()
