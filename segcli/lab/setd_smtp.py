"""The SMTP side of the SETD intake simulator: one handler per connection.

The wire protocol is engine/smtp/server.py's; this module only decides, per command, what
SETD answers -- refuse unknown intake addresses (550 5.1.1), refuse what is not a journal
(550 5.6.0), record what arrived and how each transaction ended (a refusal at MAIL, RCPT or
DATA, a TLS handshake that failed, what the connection did) -- and where the drills'
faults strike (setd_faults.py).
TLS faults need a say in the handshake itself, so the listener's TLS setting is a
connection creator (:class:`IntakeTls`) that asks the connection's handler which
certificate to serve, or whether to drop the handshake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from enum import Enum
from typing import TYPE_CHECKING, Any

from OpenSSL import SSL
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from zope.interface import implementer

from engine.smtp.server import (
    DEFAULT_EXTENSIONS,
    DISCONNECT,
    HANG,
    Answer,
    BaseSmtpHandler,
    Envelope,
    Outcome,
    Reply,
)
from engine.smtp.tls import ServerTls
from segcli.lab.journal_check import NotAJournal, check_journal
from segcli.lab.setd_faults import Fault, FaultKind, Stage

if TYPE_CHECKING:
    from segcli.lab.setd_state import IntakeHost, SetdState

_REPLYING = frozenset({FaultKind.REPLY, FaultKind.HANG})
_TLS_FAULTS = frozenset({FaultKind.TLS_ABORT, FaultKind.UNTRUSTED_CERT})


class TlsMode(Enum):
    """What the next handshake of a connection does."""

    NORMAL = "normal"  # the host's certificate, signed by the lab CA the gateway trusts
    UNTRUSTED = "untrusted"  # a certificate for the same name from a CA nobody trusts
    ABORT = "abort"  # the connection drops as soon as the ClientHello arrives


class IntakeSession(BaseSmtpHandler):
    """SETD's answers on one connection to one intake host."""

    def __init__(self, simulator: SetdState, host: IntakeHost) -> None:
        self.simulator = simulator
        self.host = host
        self.peer = ""
        self.helo = ""
        self.tls_mode = TlsMode.NORMAL
        self.tls = ""  # "TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384" once the handshake is done
        # a slow fault without stage that took this connection: it delays every reply for
        # as long as it is in force (clearing it must not leave the connection slow)
        self.slow: Fault | None = None
        self.withhold_starttls = False
        self.sender = ""
        self.intakes: list[str] = []  # the intake addresses accepted in this transaction
        self.handshaking = False  # 220 sent to STARTTLS, handshake not completed yet
        self.tls_fault_address = ""  # the address of the TLS fault taking this connection

    # -- the dialogue ---------------------------------------------------------------------

    def connected(self, peer: tuple[str, int], local: tuple[str, int]) -> Answer:
        self.peer = f"{peer[0]}:{peer[1]}"
        self._note("connections")
        self._event(f"connection from {self.peer} to {self.host.mx_host} port {local[1]}")
        self.slow = self._take({FaultKind.SLOW}, None)
        return self._answer(Stage.CONNECT, self._fault_outcome(Stage.CONNECT))

    def ehlo(self, name: str, extended: bool) -> Answer:
        self.helo = name
        self._note("ehlo")
        return self._answer(Stage.EHLO, self._fault_outcome(Stage.EHLO))

    def extensions(self, in_tls: bool) -> list[str]:
        """STARTTLS is offered unless a no-STARTTLS fault takes this connection."""
        if not in_tls and not self.withhold_starttls:
            self.withhold_starttls = self._take({FaultKind.NO_STARTTLS}, Stage.EHLO) is not None
        if self.withhold_starttls and not in_tls:
            return [e for e in DEFAULT_EXTENSIONS if e != "STARTTLS"]
        return list(DEFAULT_EXTENSIONS)

    def starttls(self) -> Answer:
        self._note("starttls")
        outcome = self._fault_outcome(Stage.STARTTLS)
        if outcome is None:
            self.handshaking = True  # the standard 220: the handshake follows
            fault = self._take(_TLS_FAULTS, Stage.STARTTLS)
            if fault is not None:
                self.tls_mode = (TlsMode.ABORT if fault.kind is FaultKind.TLS_ABORT
                                 else TlsMode.UNTRUSTED)
                self.tls_fault_address = fault.address
        return self._answer(Stage.STARTTLS, outcome)

    def tls_started(self, protocol: str, cipher: str) -> None:
        self.handshaking = False
        self.tls = f"{protocol} {cipher}"
        self._note("tls_ok")
        self._event(f"{self.peer} TLS success protocol {protocol} cipher {cipher}")

    def mail_from(self, sender: str, params: dict[str, str]) -> Answer:
        self.sender = sender
        self.intakes = []
        self._note("mail")
        outcome, fault = self._reply_fault(Stage.MAIL)
        if fault is not None:
            self._refused(fault.address, outcome, Stage.MAIL)
        return self._answer(Stage.MAIL, outcome)

    def rcpt_to(self, recipient: str, params: dict[str, str]) -> Answer:
        account = self.simulator.registry.get(recipient)
        if account is None or account.domain != self.host.domain:
            refusal = Reply(550, f"5.1.1 <{recipient}>: Recipient address rejected: "
                                 "not a message intake address")
            self._refused(recipient.strip().strip("<>").lower(), refusal, Stage.RCPT,
                          why="not an intake address")
            return self._answer(Stage.RCPT, refusal)
        outcome = self._fault_outcome(Stage.RCPT, [account.address])
        accepted = outcome is None or (isinstance(outcome, Reply) and outcome.positive)
        if accepted and account.address not in self.intakes:
            self.intakes.append(account.address)
        self._refused(account.address, outcome, Stage.RCPT)
        return self._answer(Stage.RCPT, outcome, [account.address])

    def data(self) -> Answer:
        outcome = self._fault_outcome(Stage.DATA, self.intakes)
        for address in self.intakes:
            self._refused(address, outcome, Stage.DATA)
        return self._answer(Stage.DATA, outcome, self.intakes)

    def message(self, envelope: Envelope, data: bytes) -> Answer:
        """The final dot: a fault, or SETD's verdict on the journal; recorded either way
        (with the attached original's digest whenever there is one)."""
        intakes, self.intakes = self.intakes, []
        original, problem = None, ""
        try:
            original = check_journal(data)
        except NotAJournal as refused:
            problem = str(refused)

        def record(outcome: str, reply: str, code: int | None = None) -> list[Any]:
            return self.simulator.record_message(
                intakes, envelope=envelope, data=data, outcome=outcome, reply=reply,
                peer=self.peer, tls=self.tls, original=original, problem=problem,
                host=self.host.mx_host, code=code)

        fault = self._take(_REPLYING | {FaultKind.DISCONNECT_AFTER_DOT}, Stage.EOM, intakes)
        if fault is not None and fault.kind is FaultKind.DISCONNECT_AFTER_DOT:
            record("disconnected", "(connection closed, no reply)")
            return DISCONNECT
        if fault is not None and fault.kind is FaultKind.HANG:
            record("hung", "(no reply)")
            return HANG
        if fault is not None:
            reply = Reply(fault.code or 451, fault.text)
            record("refused", str(reply), reply.code)
        elif problem and not self.simulator.accept_non_journal:
            reply = Reply(550, f"5.6.0 Message refused: {problem}")
            record("refused", str(reply), reply.code)
        else:
            [first, *_] = record("accepted", "", 250)
            reply = Reply(250, f"2.0.0 Ok: queued as {first.queue_id}")
        return self._answer(Stage.EOM, reply, intakes)

    def refused(self, reply: Reply) -> None:
        """The wire refused the whole message before it reached message() (bare CR or LF,
        too big): a refusal for each intake address of the transaction."""
        for address in self.intakes:
            self._refused(address, reply, Stage.EOM)

    def reset(self) -> None:
        self.intakes = []

    def closed(self, reason: str) -> None:
        if self.handshaking:  # STARTTLS was accepted, the handshake never completed
            self.handshaking = False
            self._note("tls_failed")
            self.simulator.record_tls_failure(self.tls_fault_address,
                                              f"{self.peer or 'connection'}: {reason}",
                                              host=self.host.mx_host)
        self._event(f"{self.peer or 'connection'} closed: {reason}")

    # -- helpers ------------------------------------------------------------------------

    def _take(self, kinds: Collection[FaultKind], stage: Stage | None,
              addresses: Collection[str] = ()) -> Fault | None:
        fault = self.simulator.faults.take(kinds, stage, domain=self.host.domain,
                                           addresses=addresses)
        if fault is not None:
            self._event(f"{self.peer} fault {fault.describe()} strikes")
        return fault

    def _fault_outcome(self, stage: Stage, addresses: Collection[str] = ()) -> Outcome | None:
        """A reply or hang fault due at *stage*, as the answer to send (None: none due)."""
        return self._reply_fault(stage, addresses)[0]

    def _reply_fault(self, stage: Stage, addresses: Collection[str] = ()
                     ) -> tuple[Outcome | None, Fault | None]:
        """A reply or hang fault due at *stage*: the answer to send, and the fault."""
        fault = self._take(_REPLYING, stage, addresses)
        if fault is None:
            return None, None
        if fault.kind is FaultKind.HANG:
            return HANG, fault
        return Reply(fault.code or 451, fault.text), fault

    def _refused(self, address: str, outcome: Outcome | None, stage: Stage, *,
                 why: str = "") -> None:
        """Count a 4xx/5xx answer at MAIL, RCPT or DATA for *address* (nothing else)."""
        if isinstance(outcome, Reply) and outcome.code >= 400:
            text = " ".join(line.strip() for line in outcome.lines) + (f" ({why})" if why else "")
            self.simulator.record_refusal(address, outcome.code, text, stage=stage.value,
                                          host=self.host.mx_host)

    def _note(self, what: str) -> None:
        self.simulator.note_connection(self.host.domain, what)

    def _answer(self, stage: Stage, outcome: Outcome | None,
                addresses: Collection[str] = ()) -> Answer:
        """*outcome*, late if a slow fault says so (a hang needs no delay)."""
        if outcome is HANG or outcome is DISCONNECT:
            return outcome
        delay = self.slow.slows() if self.slow is not None else 0.0
        slow = self._take({FaultKind.SLOW}, stage, addresses)
        if slow is not None:
            delay += slow.delay
        if delay <= 0:
            return outcome
        return self.simulator.later(delay, outcome)

    def _event(self, text: str) -> None:
        self.simulator.event(text, host=self.host.mx_host)


@implementer(IOpenSSLServerConnectionCreator)
class IntakeTls:
    """The TLS of one intake host: its own certificate, or a fault's choice per connection.

    ``trusted`` serves the certificate the gateway's trusted CA signed; ``untrusted`` one
    for the same host name from another CA; ``aborting`` is a copy of ``trusted`` whose
    connections are dropped as soon as the ClientHello arrives.  Each is an
    engine.smtp.tls.ServerTls; the listener's connection asks its handler which one applies.
    """

    def __init__(self, trusted: ServerTls, untrusted: ServerTls, aborting: ServerTls) -> None:
        self.trusted = trusted
        self.untrusted = untrusted
        self.aborting = aborting
        aborting.context.set_info_callback(_abort_on_client_hello)

    def serverConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:  # Twisted's name
        session = getattr(getattr(tlsProtocol, "wrappedProtocol", None), "handler", None)
        mode = getattr(session, "tls_mode", TlsMode.NORMAL)
        if mode is TlsMode.UNTRUSTED:
            return self.untrusted.serverConnectionForTLS(tlsProtocol)
        if mode is TlsMode.ABORT:
            connection = self.aborting.serverConnectionForTLS(tlsProtocol)
            connection.set_app_data(tlsProtocol)  # for the info callback
            return connection
        return self.trusted.serverConnectionForTLS(tlsProtocol)


def _abort_on_client_hello(connection: SSL.Connection, where: int, ret: int) -> None:
    """The ClientHello arrived: drop the TCP connection (once OpenSSL has returned)."""
    if where & SSL.SSL_CB_HANDSHAKE_START:
        tls_protocol = connection.get_app_data()
        transport = getattr(tls_protocol, "transport", None)
        if transport is not None:
            asyncio.get_running_loop().call_soon(transport.abortConnection)
