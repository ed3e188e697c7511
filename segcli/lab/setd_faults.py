"""Faults the SETD intake simulator injects on demand, for troubleshooting drills.

Every row of the connector's retry table (SPEC.md §1, "Connection behaviour") needs a way to
happen: a given 4xx/5xx reply at a given SMTP stage (503 and 552 included, which the gateway
retries although they are 5xx), TLS failures (STARTTLS not offered, the handshake aborted,
a certificate the gateway does not trust), a server that accepts and then never answers,
one that drops the connection after the final dot, and slow replies.

A fault is set for an intake address.  The SMTP stages before RCPT -- and the TLS faults --
happen before the gateway has named any address, so such a fault hits the next connections
to the address's host (every intake address of that domain shares them); RCPT, DATA and
end-of-message faults hit only transactions for that address.  A fault may be limited to
the next N attempts (connections, or transactions), after which it is spent and removed.

A slow fault without a stage slows every reply of the connections it took, for as long as it
is in force: once it is removed or cleared (SETD's capacity is back) those connections answer
at once, as new ones do.  A spent fault (its N connections taken) still slows the connections
it took: they are the N that were meant.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Stage(StrEnum):
    """Where in the SMTP dialogue a fault strikes."""

    CONNECT = "connect"  # the greeting
    EHLO = "ehlo"
    STARTTLS = "starttls"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    EOM = "eom"  # the reply to the final dot


#: Stages reached before the intake address is known: they belong to the host.
CONNECTION_STAGES = frozenset({Stage.CONNECT, Stage.EHLO, Stage.STARTTLS, Stage.MAIL})


class FaultKind(StrEnum):
    REPLY = "reply"  # answer `code text` at `stage`
    NO_STARTTLS = "no_starttls"  # EHLO does not offer STARTTLS (and STARTTLS gets 502)
    TLS_ABORT = "tls_abort"  # 220 to STARTTLS, then the connection drops mid-handshake
    UNTRUSTED_CERT = "untrusted_cert"  # a certificate from a CA the gateway does not trust
    HANG = "hang"  # never answer at `stage` (at CONNECT: accept, then say nothing)
    DISCONNECT_AFTER_DOT = "disconnect_after_dot"  # the message arrives, no reply: close
    SLOW = "slow"  # every reply (or the one at `stage`) waits `delay` seconds


#: Kinds that happen at one fixed stage.
_FIXED_STAGE = {
    FaultKind.NO_STARTTLS: Stage.EHLO,
    FaultKind.TLS_ABORT: Stage.STARTTLS,
    FaultKind.UNTRUSTED_CERT: Stage.STARTTLS,
    FaultKind.DISCONNECT_AFTER_DOT: Stage.EOM,
}

#: Reply texts when a drill gives only the code (enhanced status code first, as SMTP has it).
DEFAULT_TEXTS = {
    421: "4.3.2 Service not available, closing transmission channel",
    450: "4.2.1 Mailbox temporarily unavailable",
    451: "4.3.0 Temporary server error, please try again later",
    452: "4.3.1 Insufficient system storage",
    454: "4.7.0 TLS not available due to temporary reason",
    503: "5.5.1 Bad sequence of commands",
    550: "5.7.1 Message rejected",
    552: "5.3.4 Message size exceeds fixed maximum message size",
    553: "5.1.3 Mailbox name not allowed",
    554: "5.7.1 Transaction failed",
}


class FaultError(ValueError):
    """A fault that cannot be set; the message is for a person."""


@dataclass
class Fault:
    """One injected fault.  ``times`` is how many more attempts it hits (None: until
    removed); ``hits`` how many it has hit so far."""

    id: int
    address: str
    domain: str
    kind: FaultKind
    stage: Stage | None = None  # SLOW without a stage slows every reply
    code: int | None = None
    text: str = ""
    delay: float = 0.0
    times: int | None = None
    hits: int = 0
    created: str = ""
    lifted: bool = False  # removed or cleared (not merely spent): it strikes no more

    def slows(self) -> float:
        """The delay this fault still puts on a connection it took (0 once lifted)."""
        return 0.0 if self.lifted else self.delay

    @property
    def connection_level(self) -> bool:
        """Does it strike before the intake address is named (so: the host's connections)?"""
        return self.stage is None or self.stage in CONNECTION_STAGES

    def describe(self) -> str:
        """One line for a dashboard or an event log."""
        where = f" at {self.stage}" if self.stage else ""
        what = {
            FaultKind.REPLY: f"reply {self.code} {self.text}{where}",
            FaultKind.HANG: f"hang{where}",
            FaultKind.SLOW: f"slow replies ({self.delay:g} s){where}",
        }.get(self.kind, self.kind.value.replace("_", " "))
        limit = "until removed" if self.times is None else f"{self.times - self.hits} more"
        return f"#{self.id} {self.address}: {what} ({limit})"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["connection_level"] = self.connection_level
        data["description"] = self.describe()
        return data


def make_fault(fault_id: int, address: str, kind: FaultKind | str, *,
               stage: Stage | str | None = None, code: int | None = None, text: str = "",
               delay: float = 0.0, times: int | None = None) -> Fault:
    """Check a fault's settings and fill in what is implied; FaultError when they do not fit."""
    try:
        kind = FaultKind(kind)
        stage = Stage(stage) if stage not in (None, "") else None
    except ValueError as exc:
        raise FaultError(f"{exc}; kinds: {', '.join(FaultKind)}; stages: {', '.join(Stage)}"
                         ) from None
    if times is not None and times < 1:
        raise FaultError("times must be at least 1 (or left out: until removed)")
    stage = _stage_for(kind, stage)
    code, text = _reply_for(kind, code, text)
    if kind is FaultKind.SLOW and not delay > 0:
        raise FaultError("a slow fault needs a delay in seconds")
    return Fault(id=fault_id, address=address.lower(), domain=address.rpartition("@")[2].lower(),
                 kind=kind, stage=stage, code=code, text=text, delay=float(delay), times=times,
                 created=datetime.now(UTC).isoformat(timespec="seconds"))


def _stage_for(kind: FaultKind, stage: Stage | None) -> Stage | None:
    fixed = _FIXED_STAGE.get(kind)
    if fixed is not None:
        if stage not in (None, fixed):
            raise FaultError(f"a {kind} fault happens at {fixed}, not at {stage}")
        return fixed
    if kind is FaultKind.REPLY and stage is None:
        raise FaultError("a reply fault needs a stage")
    if kind is FaultKind.HANG:
        return stage or Stage.CONNECT
    return stage


def _reply_for(kind: FaultKind, code: int | None, text: str) -> tuple[int | None, str]:
    if kind is not FaultKind.REPLY:
        return None, ""
    if code is None or not 400 <= int(code) <= 599:
        raise FaultError("a reply fault needs a 4xx or 5xx code")
    code = int(code)
    if not text:
        text = DEFAULT_TEXTS.get(code, f"{code // 100}.0.0 Error injected by the SETD simulator")
    return code, text


class FaultBook:
    """The faults in force, oldest first; taking one counts a hit and retires it when spent."""

    def __init__(self, on_spent: Callable[[Fault], None] | None = None) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._on_spent = on_spent

    def add(self, address: str, kind: FaultKind | str, **settings: Any) -> Fault:
        fault = make_fault(next(self._ids), address, kind, **settings)
        self._faults.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        return self._lift(lambda f: f.id == fault_id) > 0

    def clear(self, address: str | None = None) -> int:
        """Remove every fault (of *address*); return how many."""
        return self._lift(lambda f: address is None or f.address == address.lower())

    def _lift(self, chosen: Callable[[Fault], bool]) -> int:
        """Remove the *chosen* faults and mark them lifted, so that connections they took
        (a slow fault's) stop feeling them at once; return how many."""
        lifted = [f for f in self._faults if chosen(f)]
        for fault in lifted:
            fault.lifted = True
        self._faults = [f for f in self._faults if not f.lifted]
        return len(lifted)

    def list(self, address: str | None = None) -> list[Fault]:
        return [f for f in self._faults if address is None or f.address == address.lower()]

    def take(self, kinds: Collection[FaultKind], stage: Stage | None, *,
             domain: str | None = None, addresses: Collection[str] = ()) -> Fault | None:
        """The oldest fault of one of *kinds* due at *stage*, counting the hit.

        Connection-level faults match by *domain* (the host being talked to), the others by
        *addresses* (the intake addresses of the transaction).  *stage* None takes the
        faults that have no stage (slow replies throughout a connection).
        """
        wanted = {a.lower() for a in addresses}
        for fault in self._faults:
            if fault.kind in kinds and fault.stage == stage and _aims_at(fault, domain, wanted):
                self._hit(fault)
                return fault
        return None

    def _hit(self, fault: Fault) -> None:
        fault.hits += 1
        if fault.times is not None and fault.hits >= fault.times:
            self._faults.remove(fault)
            if self._on_spent is not None:
                self._on_spent(fault)


def _aims_at(fault: Fault, domain: str | None, addresses: Collection[str]) -> bool:
    if fault.connection_level:
        return fault.domain == domain
    return fault.address in addresses
