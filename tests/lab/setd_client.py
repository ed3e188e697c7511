"""The gateway's side of the wire, played by Python's smtplib, for the simulator's tests.

smtplib blocks: tests call these helpers with ``asyncio.to_thread`` so the simulator keeps
running on the loop meanwhile.  Every helper closes its socket, whatever happens.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.mail.journal import journal_copy

GATEWAY = "mail1.example.com"
SENDER = f"tdc@{GATEWAY}"


@dataclass(frozen=True)
class Target:
    """Where an intake host listens, its name, and the CA to verify it with."""

    port: int
    mx_host: str
    ca: Path

    @classmethod
    def of(cls, simulator, domain: str | None = None) -> Target:
        host = simulator.host_for(domain)
        return cls(host.port, host.mx_host, simulator.ca_path)


@dataclass(frozen=True)
class Attempt:
    """How one delivery attempt ended: the stage of the first refusal (``done`` when the
    message was accepted), its reply code and text, and how long it took."""

    stage: str
    code: int
    text: str
    seconds: float


def original(subject: str = "Quarterly report", n: int = 1) -> bytes:
    return (f"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <m{n}@example.org>\r\nDate: Fri, 16 Feb 2024 21:19:22 -0600\r\n\r\n"
            f"Hello Bob,\r\n.leading dot\r\n").encode()


def journal(intake: str, message: bytes) -> bytes:
    return journal_copy(message, gateway=GATEWAY, intake=intake, mid=2, original_mid=1,
                        original_message_id="<m1@example.org>", when=datetime.now(UTC))


def tls_context(ca: Path) -> ssl.SSLContext:
    """Verify the chain against *ca* and the name, TLS 1.2 or newer (SPEC.md ruling 4)."""
    context = ssl.create_default_context(cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def attempt(target: Target, recipients: str | list[str], data: bytes, *,
            timeout: float = 5.0, ca: Path | None = None) -> Attempt:
    """One delivery as the connector makes it: EHLO, STARTTLS (verified), EHLO, MAIL, RCPT,
    DATA.  Stops at the first refusal; TLS failures, timeouts and disconnects raise."""
    started = time.monotonic()
    client = smtplib.SMTP(timeout=timeout)
    try:
        stage, code, text = _dialogue(client, target, recipients, data, ca or target.ca)
    finally:
        client.close()
    return Attempt(stage, code, text, time.monotonic() - started)


def attempt_after(target: Target, recipients: str | list[str], data: bytes, *,
                  between: Callable[[], None], timeout: float = 5.0,
                  then_timeout: float = 5.0) -> Attempt:
    """Like :func:`attempt`, on one connection in two parts: the connection is opened and
    secured (EHLO, STARTTLS, EHLO; each reply within *timeout*), *between* is called, then
    the transaction follows with every reply due within *then_timeout* (its ``seconds`` are
    the transaction's).  A reply later than that raises TimeoutError."""
    client = smtplib.SMTP(timeout=timeout)
    try:
        stage, code, text = _opened(client, target, target.ca)
        if stage != "open":
            return Attempt(stage, code, text, 0.0)
        between()
        assert client.sock is not None
        client.sock.settimeout(then_timeout)
        started = time.monotonic()
        stage, code, text = _transaction(client, recipients, data)
    finally:
        client.close()
    return Attempt(stage, code, text, time.monotonic() - started)


def _opened(client: smtplib.SMTP, target: Target, ca: Path) -> tuple[str, int, str]:
    """Connect, EHLO, STARTTLS (verified), EHLO: stage ``open`` when it all worked."""
    code, text = client.connect("127.0.0.1", target.port)
    if code != 220:
        return "connect", code, text.decode()
    client._host = target.mx_host  # verify the certificate against the MX host name
    code, text = client.ehlo(GATEWAY)
    if code != 250:
        return "ehlo", code, text.decode()
    if not client.has_extn("starttls"):
        return "ehlo", 0, "STARTTLS not offered"
    try:
        client.starttls(context=tls_context(ca))
    except smtplib.SMTPResponseException as refused:
        return "starttls", refused.smtp_code, refused.smtp_error.decode()
    client.ehlo(GATEWAY)
    return "open", 0, ""


def _dialogue(client: smtplib.SMTP, target: Target, recipients: str | list[str], data: bytes,
              ca: Path) -> tuple[str, int, str]:
    stage, code, text = _opened(client, target, ca)
    if stage != "open":
        return stage, code, text
    return _transaction(client, recipients, data)


def _transaction(client: smtplib.SMTP, recipients: str | list[str], data: bytes
                 ) -> tuple[str, int, str]:
    """MAIL, RCPT, DATA and QUIT on a connection already greeted after STARTTLS."""
    code, text = client.mail(SENDER)
    if code != 250:
        return "mail", code, text.decode()
    for recipient in [recipients] if isinstance(recipients, str) else recipients:
        code, text = client.rcpt(recipient)
        if code != 250:
            return "rcpt", code, text.decode()
    try:
        code, text = client.data(data)
    except smtplib.SMTPDataError as refused:
        return "data", refused.smtp_code, refused.smtp_error.decode()
    if code != 250:
        return "eom", code, text.decode()
    client.quit()
    return "done", code, text.decode()
