"""What the SETD intake simulator knows and decides, without any listener: the intake
accounts (intake.py), what arrived per address, the faults in force (setd_faults.py),
the events, and replies held back by a slow fault.

It also keeps what the SETD portal would show a troubleshooter, since start and never
capped: totals per intake address and outcome (:meth:`SetdState.totals`), every
transmission of an original Message-ID (:meth:`SetdState.transactions`, the drills'
independent witness) and what the connections to each intake host did
(:meth:`SetdState.connections`).  The per-address message lists (``keep``) are only the
latest, for the dashboard.

The SMTP side (setd_smtp.py) and the dashboard (setd_dashboard.py) read and change this
state; :class:`segcli.lab.setd_simulator.SetdSimulator` extends it with the listeners
that serve them.  So both depend on this module and the simulator on them, never the
other way round.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.smtp import tls
from engine.smtp.server import Envelope, Outcome
from segcli.lab.intake import (
    DEFAULT_DOMAIN,
    Direction,
    IntakeAccount,
    IntakeRegistry,
    SegType,
    Verification,
)
from segcli.lab.journal_check import AttachedOriginal, journal_message_id
from segcli.lab.setd_faults import Fault, FaultBook, FaultError, FaultKind

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort

    from engine.smtp.server import SmtpServerFactory

#: How many messages the simulator remembers per intake address, and events in all.
DEFAULT_KEEP = 1000
_EVENTS_KEPT = 500
#: How many original Message-IDs ``transactions()`` can answer for (the oldest go first),
#: and how many transmissions it keeps for one of them.
MESSAGE_IDS_KEPT = 200_000
TRANSMISSIONS_PER_ID = 1000

#: The keys of ``totals()``: what happened to transactions for an intake address.
TOTAL_KEYS = ("accepted", "rejected", "deferred", "dropped_after_dot", "tls_failed",
              "foreign_domain", "duplicate")
#: The keys of ``connections()``: what the connections to an intake host did.
CONNECTION_KEYS = ("connections", "ehlo", "starttls", "tls_ok", "tls_failed", "mail")

#: ReceivedMessage.outcome -> the transaction's status.
_STATUS_OF_OUTCOME = {"accepted": "accepted", "disconnected": "dropped_after_dot",
                      "hung": "dropped_after_dot"}


@dataclass(frozen=True)
class Transaction:
    """One transmission of an original to an intake address, as SETD saw it after DATA.

    ``status`` is ``accepted``, ``rejected`` (5xx), ``deferred`` (4xx) or
    ``dropped_after_dot`` (the message arrived complete and was never acknowledged:
    the connection was closed, or no reply came); ``code`` the reply code (None when no
    reply was sent).  ``duplicate``: an accepted transmission of a Message-ID the address
    already holds (accepted, or dropped after the dot: it arrived complete);
    ``foreign_domain``: none of the original's recipients is in the account's domains.
    """

    time: float  # time.time()
    address: str
    status: str
    code: int | None
    text: str
    duplicate: bool
    foreign_domain: bool

    @property
    def label(self) -> str:
        """As the dashboard shows it: ``rejected 550``, ``accepted, duplicate``."""
        return status_label(self.status, self.code, duplicate=self.duplicate,
                            foreign_domain=self.foreign_domain)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


def status_label(status: str, code: int | None, *, duplicate: bool = False,
                 foreign_domain: bool = False) -> str:
    """``accepted``, ``rejected 550``, ``deferred 451``, ``dropped-after-dot``, ``TLS
    failed``, with ``, foreign-domain`` and ``, duplicate`` when flagged."""
    words = {"dropped_after_dot": "dropped-after-dot", "tls_failed": "TLS failed"}
    label = words.get(status, status)
    if status in ("rejected", "deferred") and code is not None:
        label += f" {code}"
    flags = [name for name, on in (("foreign-domain", foreign_domain),
                                   ("duplicate", duplicate)) if on]
    return ", ".join([label, *flags])


@dataclass
class ReceivedMessage:
    """What arrived at an intake address, and what SETD did with it.

    ``outcome`` is ``accepted`` (250), ``refused`` (a 4xx/5xx: a fault or not a journal),
    ``disconnected`` (closed after the final dot) or ``hung`` (never answered).  The
    ``original_*`` fields and ``sha256`` describe the attached original (empty when the
    message was not a journal).
    """

    id: int
    queue_id: str
    intake: str
    received: str
    outcome: str
    reply: str
    peer: str
    helo: str
    mail_from: str
    recipients: list[str]
    tls: str
    size: int
    journal_message_id: str
    original_message_id: str = ""
    subject: str = ""
    original_from: str = ""
    original_size: int = 0
    sha256: str = ""
    problem: str = ""
    status: str = ""  # the Transaction status: accepted, rejected, deferred, dropped_after_dot
    code: int | None = None
    duplicate: bool = False
    foreign_domain: bool = False

    @property
    def label(self) -> str:
        return status_label(self.status, self.code, duplicate=self.duplicate,
                            foreign_domain=self.foreign_domain)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


@dataclass
class IntakeHost:
    """The SMTP host of one intake domain: ``mx.<domain>`` on a loopback port."""

    domain: str
    mx_host: str
    port: int = 0
    material: tls.TlsMaterial | None = field(default=None, repr=False)
    untrusted: tls.TlsMaterial | None = field(default=None, repr=False)
    factory: SmtpServerFactory | None = None
    listening: IListeningPort | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"domain": self.domain, "mx_host": self.mx_host, "port": self.port,
                "running": self.listening is not None}


class SetdState:
    """The simulated SETD's accounts, received mail, faults and events.

    *state_dir* holds the intake accounts (``setd_state.json``) and the TLS material
    (``tls/``: the CA the gateway must trust).  *accept_non_journal* makes an intake
    address take mail that is not a journal (recorded as accepted, with the problem
    noted) instead of refusing it with 550 5.6.0.  ``totals()`` counts every outcome since
    start, however few messages ``keep`` remembers.
    """

    def __init__(self, state_dir: Path, *, domain: str = DEFAULT_DOMAIN, host: str = "127.0.0.1",
                 keep: int = DEFAULT_KEEP, accept_non_journal: bool = False) -> None:
        self.state_dir = state_dir
        self.domain = domain.lower()
        self.host = host
        self.keep = keep
        self.accept_non_journal = accept_non_journal
        self._totals: dict[str, Counter[str]] = {}  # address ("" for none known) -> counts
        self._connections: dict[str, Counter[str]] = {}  # intake domain -> counts
        self._transactions: OrderedDict[str, deque[Transaction]] = OrderedDict()
        self.registry = IntakeRegistry(state_dir, domain=self.domain)
        self.faults = FaultBook(on_spent=lambda f: self.event(f"fault #{f.id} spent"))
        self._hosts: dict[str, IntakeHost] = {}
        self._messages: dict[str, deque[ReceivedMessage]] = {}
        self._events: deque[dict[str, str]] = deque(maxlen=_EVENTS_KEPT)
        self._ids = itertools.count(1)
        self._waiters: list[tuple[str, int, asyncio.Future[list[ReceivedMessage]]]] = []
        self._timers: set[tuple[asyncio.TimerHandle, asyncio.Future[Any]]] = set()

    # -- setup (SPEC.md §1.1) -----------------------------------------------------------

    def setup_intake(self, *, seg_present: bool = True, seg_type: SegType | str = SegType.CISCO,
                     direction: Direction | str = Direction.INCOMING,
                     verification: Verification | str = Verification.NONE,
                     name: str | None = None, domain: str | None = None,
                     domains: Iterable[str] = ()) -> IntakeAccount:
        """SETD's setup questions -> a new account with a generated Message Intake Address.

        *domains* are the mail domains the account protects (none: it claims every domain,
        so nothing is flagged foreign-domain).  A running simulator starts serving the
        address's domain at once (and registers it in the DNS zone).  Raises
        intake.SetupError for answers SETD does not take.
        """
        account = self.registry.setup(seg_present=seg_present, seg_type=seg_type,
                                      direction=direction, verification=verification, name=name,
                                      domain=domain, domains=domains)
        self.event(f"intake address {account.address} set up ({account.name})")
        self._intake_set_up(account)
        return account

    def _intake_set_up(self, account: IntakeAccount) -> None:
        """A new account exists: the running simulator serves its domain (nothing here)."""

    def ensure_default_intake(self) -> IntakeAccount:
        """The default account, set up with the §1.1 answers the first time."""
        return self.registry.default() or self.setup_intake(name="default")

    def intake_accounts(self) -> list[IntakeAccount]:
        return self.registry.accounts()

    def find_intake(self, name_or_address: str) -> IntakeAccount | None:
        """Look an intake address up again (SETD's policy menu), by address or name."""
        return self.registry.find(name_or_address)

    def set_domains(self, name_or_address: str, domains: Iterable[str]) -> IntakeAccount:
        """Change the mail domains an account protects (the foreign-domain check's list);
        SetupError for an unknown account or a bad domain, and nothing changes."""
        account = self.registry.set_domains(name_or_address, domains)
        self.event(f"intake address {account.address} protects "
                   f"{', '.join(account.domains) or 'every domain'}")
        return account

    # -- what SETD saw since start (never capped) ---------------------------------------

    def totals(self, address: str | None = None) -> dict[str, int]:
        """Counts since start of what happened to transactions for *address* (an intake
        address or account name; any address a RCPT named) or for all: the keys of
        TOTAL_KEYS.  ``foreign_domain`` and ``duplicate`` flag accepted messages (they
        are in ``accepted`` too); a TLS failure is counted for the address of the fault
        that caused it, and only in the overall totals when no fault did."""
        if address is None:
            counters: Iterable[Counter[str]] = self._totals.values()
        else:
            counters = [self._totals.get(self._address_key(address), Counter())]
        result = dict.fromkeys(TOTAL_KEYS, 0)
        for counter in counters:
            for key in TOTAL_KEYS:
                result[key] += counter[key]
        return result

    def transactions(self, message_id: str) -> list[Transaction]:
        """Every transmission of the original *message_id* (``<...>``, as the gateway's
        ``TDC: MID n with Message-ID '<...>'`` line shows it; the angle brackets may be
        left out) that got past DATA, oldest first, at any intake address."""
        wanted = message_id.strip()
        found = self._transactions.get(wanted)
        if found is None and not wanted.startswith("<"):
            found = self._transactions.get(f"<{wanted}>")
        return list(found or ())

    def connections(self, domain: str | None = None) -> dict[str, int]:
        """What the connections to the intake host of *domain* (or its MX host name, or
        an intake address) did since start, or to every host: the keys of
        CONNECTION_KEYS (``ehlo``, ``starttls``, ``mail`` count those commands)."""
        if domain is None:
            counters: Iterable[Counter[str]] = self._connections.values()
        else:
            key = domain.strip().strip("<>").lower().rpartition("@")[2]
            if key not in self._connections and key.startswith("mx."):
                key = key[3:]
            counters = [self._connections.get(key, Counter())]
        result = dict.fromkeys(CONNECTION_KEYS, 0)
        for counter in counters:
            for name in CONNECTION_KEYS:
                result[name] += counter[name]
        return result

    def note_connection(self, domain: str, what: str) -> None:
        """Count one *what* (a CONNECTION_KEYS name) on the host of *domain*."""
        self._connections.setdefault(domain.lower(), Counter())[what] += 1

    def record_refusal(self, address: str, code: int, text: str, *, stage: str,
                       host: str = "") -> None:
        """A 4xx (deferred) or 5xx (rejected) at MAIL, RCPT or DATA -- or for the whole
        message before the handler saw it -- for *address*: counted in the totals only,
        since no Message-ID is known."""
        status = "deferred" if 400 <= code < 500 else "rejected"
        self._count(address, status)
        self.event(f"{stage.upper()} for {address} {status}: {code} {text}".rstrip(), host=host)

    def record_tls_failure(self, address: str, reason: str, *, host: str = "") -> None:
        """A TLS handshake that did not complete (aborted, or the client refused the
        certificate); *address* is the fault's, or "" when no fault caused it."""
        self._count(address, "tls_failed")
        self.event(f"TLS handshake failed: {reason}", host=host)

    def _address_key(self, address: str) -> str:
        account = self.find_intake(address)
        return account.address if account is not None else address.strip().strip("<>").lower()

    def _count(self, address: str, key: str) -> None:
        self._totals.setdefault(address.lower(), Counter())[key] += 1

    # -- what arrived -------------------------------------------------------------------

    def messages(self, address: str | None = None) -> list[ReceivedMessage]:
        """What arrived at *address* (or anywhere), oldest first."""
        if address is not None:
            return list(self._messages.get(address.lower(), ()))
        return sorted((m for box in self._messages.values() for m in box), key=lambda m: m.id)

    def accepted(self, address: str | None = None) -> list[ReceivedMessage]:
        return [m for m in self.messages(address) if m.outcome == "accepted"]

    def clear_messages(self, address: str | None = None) -> int:
        if address is not None:
            box = self._messages.pop(address.lower(), deque())
            return len(box)
        count = sum(len(box) for box in self._messages.values())
        self._messages.clear()
        return count

    async def wait_for_messages(self, address: str, count: int = 1, *, timeout: float = 10.0
                                ) -> list[ReceivedMessage]:
        """Wait until *count* messages were accepted for *address*; return them."""
        accepted = self.accepted(address)
        if len(accepted) >= count:
            return accepted
        future: asyncio.Future[list[ReceivedMessage]] = asyncio.get_running_loop().create_future()
        waiter = (address.lower(), count, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def record_message(self, intakes: Iterable[str], *, envelope: Envelope, data: bytes,
                       outcome: str, reply: str, peer: str, tls: str,
                       original: AttachedOriginal | None = None, problem: str = "",
                       host: str = "", code: int | None = None) -> list[ReceivedMessage]:
        """Note one message for each intake address it was for (the SMTP side calls this):
        in the latest messages, the totals and the transactions of its Message-ID.

        *outcome* is ``accepted``, ``refused`` (with the reply's *code*), ``disconnected``
        or ``hung``.
        """
        records = []
        if original is not None:
            journal_id, message_id = original.journal_message_id, original.message_id
        else:  # not a journal: its own Message-ID is all there is
            journal_id = message_id = journal_message_id(data)
        for intake in intakes:
            status = _status(outcome, code)
            duplicate = status == "accepted" and self._accepted_before(message_id, intake)
            foreign = status == "accepted" and self._foreign(intake, original)
            record = ReceivedMessage(
                id=next(self._ids), queue_id=secrets.token_hex(5).upper(), intake=intake,
                received=_now(), outcome=outcome, reply=reply, peer=peer, helo=envelope.helo,
                mail_from=envelope.sender, recipients=list(envelope.recipients), tls=tls,
                size=len(data), journal_message_id=journal_id, problem=problem,
                status=status, code=code, duplicate=duplicate, foreign_domain=foreign,
                **_original_fields(original),
            )
            self._messages.setdefault(intake, deque(maxlen=self.keep)).append(record)
            self._count(intake, status)
            for flag, on in (("duplicate", duplicate), ("foreign_domain", foreign)):
                if on:
                    self._count(intake, flag)
            self._index(message_id, Transaction(time.time(), intake, status, code, reply,
                                                duplicate, foreign))
            self.event(f"message {record.id} for {intake} {record.label}"
                       + (f": {reply}" if reply else f" (queued as {record.queue_id})"), host=host)
            records.append(record)
        self._wake_waiters()
        return records

    def _accepted_before(self, message_id: str, intake: str) -> bool:
        """Did *intake* take this Message-ID before?  A transmission dropped after the dot
        arrived complete: SETD has it although the gateway never heard so (drill 15)."""
        return any(t.status in _COMPLETE and t.address == intake
                   for t in self._transactions.get(message_id, ()))

    def _foreign(self, intake: str, original: AttachedOriginal | None) -> bool:
        """Is none of the original's recipients in the domains *intake*'s account protects?
        (An account without a domain list claims every domain.)"""
        account = self.registry.get(intake)
        if account is None or not account.domains or original is None:
            return False
        domains = {r.rpartition("@")[2].lower() for r in original.recipients}
        return bool(domains) and not domains & set(account.domains)

    def _index(self, message_id: str, transaction: Transaction) -> None:
        """Keep *transaction* under its Message-ID (bounded: the oldest IDs go first)."""
        if not message_id:
            return
        kept = self._transactions.get(message_id)
        if kept is None:
            kept = self._transactions[message_id] = deque(maxlen=TRANSMISSIONS_PER_ID)
            while len(self._transactions) > MESSAGE_IDS_KEPT:
                self._transactions.popitem(last=False)
        kept.append(transaction)

    def _wake_waiters(self) -> None:
        for address, count, future in list(self._waiters):
            accepted = self.accepted(address)
            if len(accepted) >= count and not future.done():
                future.set_result(accepted)

    # -- faults -------------------------------------------------------------------------

    def add_fault(self, address: str, kind: FaultKind | str, **settings: Any) -> Fault:
        """Inject a fault for an intake address (see setd_faults.make_fault for *settings*:
        stage, code, text, delay, times).  FaultError for an unknown address or bad settings."""
        account = self.registry.get(address)
        if account is None:
            raise FaultError(f"{address} is not an intake address of this SETD")
        fault = self.faults.add(account.address, kind, **settings)
        self.event(f"fault {fault.describe()} set")
        return fault

    def remove_fault(self, fault_id: int) -> bool:
        removed = self.faults.remove(fault_id)
        if removed:
            self.event(f"fault #{fault_id} removed")
        return removed

    def clear_faults(self, address: str | None = None) -> int:
        count = self.faults.clear(address)
        if count:
            self.event(f"{count} fault(s) cleared" + (f" for {address}" if address else ""))
        return count

    def list_faults(self, address: str | None = None) -> list[Fault]:
        return self.faults.list(address)

    # -- events -------------------------------------------------------------------------

    def event(self, text: str, *, host: str = "") -> None:
        """Note what happened (connections, faults striking, messages) for the dashboard."""
        self._events.append({"time": _now(), "host": host, "text": text})

    def events(self, limit: int = 100) -> list[dict[str, str]]:
        """The latest *limit* events, oldest first."""
        return list(self._events)[-limit:] if limit > 0 else []

    # -- slow replies -------------------------------------------------------------------

    def later(self, delay: float, outcome: Outcome | None) -> asyncio.Future[Any]:
        """*outcome* after *delay* seconds; ``stop()`` settles what is still pending."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        handle = loop.call_later(delay, _settle, future, outcome)
        entry = (handle, future)
        self._timers.add(entry)
        future.add_done_callback(lambda _f: self._timers.discard(entry))
        return future

    def _settle_later_replies(self) -> None:
        """Answer every reply still held back, with nothing (the simulator is stopping)."""
        for handle, future in list(self._timers):
            handle.cancel()
            _settle(future, None)

    # -- hosts and certificates ---------------------------------------------------------

    @property
    def hosts(self) -> list[IntakeHost]:
        return list(self._hosts.values())

    def host_for(self, domain: str | None = None) -> IntakeHost | None:
        return self._hosts.get((domain or self.domain).lower())

    def host_ports(self) -> dict[str, int]:
        """MX host name -> loopback port, for the gateway's lab addressing (ruling 7)."""
        return {h.mx_host: h.port for h in self._hosts.values() if h.listening is not None}

    @staticmethod
    def mx_host_of(domain: str) -> str:
        return f"mx.{domain.lower()}"

    @property
    def ca_path(self) -> Path:
        """The CA certificate (PEM file) the gateway must trust to deliver here."""
        return self.state_dir / "tls" / tls.CA_CERT

    def ca_pem(self) -> str:
        """The CA certificate as PEM text (the gateway's ``trusted_cas`` takes it)."""
        return self.ca_path.read_text(encoding="ascii")

    def _host(self, domain: str) -> IntakeHost:
        host = self._hosts.get(domain)
        if host is None:
            host = self._hosts[domain] = IntakeHost(domain=domain, mx_host=self.mx_host_of(domain))
        return host

    # -- a summary for the dashboard ----------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Accounts with their counts, hosts, faults: the dashboard's front page."""
        accounts = []
        for account in self.intake_accounts():
            box = self.messages(account.address)
            totals = self.totals(account.address)
            accounts.append({
                **account.to_json(),
                "mx_host": self.mx_host_of(account.domain),
                "received": sum(totals[k] for k in _RECEIVED),
                "accepted": totals["accepted"],
                "totals": totals,
                "last": box[-1].received if box else None,
                "faults": len(self.list_faults(account.address)),
            })
        return {
            "accounts": accounts,
            "hosts": [h.to_json() for h in self.hosts],
            "faults": [f.to_json() for f in self.list_faults()],
            "totals": self.totals(),
            "connections": {h.domain: self.connections(h.domain) for h in self.hosts},
            "ca": str(self.ca_path),
        }


#: Transmissions after which SETD holds the message (the next accepted one is a duplicate).
_COMPLETE = ("accepted", "dropped_after_dot")
#: The outcomes of a message that got past DATA: the dashboard's "received".
_RECEIVED = ("accepted", "rejected", "deferred", "dropped_after_dot")


def _status(outcome: str, code: int | None) -> str:
    if outcome in _STATUS_OF_OUTCOME:
        return _STATUS_OF_OUTCOME[outcome]
    return "deferred" if code is not None and 400 <= code < 500 else "rejected"


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if not future.done():
        future.set_result(outcome)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _original_fields(original: AttachedOriginal | None) -> dict[str, Any]:
    if original is None:
        return {}
    return {"original_message_id": original.message_id, "subject": original.subject,
            "original_from": original.sender, "original_size": original.size,
            "sha256": original.sha256}
