"""Test mail from the lab itself: what ``segcli lab send`` and the drills send to the gateway.

Four kinds of message, each chosen to take one path through the gateway
(engine/mail/verdicts.py decides the verdicts from the industry's test strings):

``clean``  plain text: scanned, delivered and journaled;
``gtube``  carries the GTUBE string: spam-positive;
``eicar``  carries the EICAR test file as an attachment: virus-positive;
``large``  about ``size`` bytes (1 MB unless told) of plain text: for size limits and slow links.

:func:`send` speaks real SMTP to the gateway with the project's own async client
(engine/smtp/client.py), so it never blocks the event loop: the appliance may run in the same
loop (the drills do).  It needs Twisted's asyncio reactor on the running loop, as ``segcli``
and the tests install it.

Tests: tests/lab/test_traffic.py.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate

from engine.smtp.client import SmtpClient, SmtpError, SmtpReplyError
from engine.smtp.server import Reply

__all__ = ["TRAFFIC_KINDS", "SentMessage", "TrafficError", "compose", "send"]

TRAFFIC_KINDS = ("clean", "gtube", "eicar", "large")

#: The default size of a ``large`` message.
LARGE_SIZE = 1_000_000
#: How long any one SMTP step may take before the send fails.
REPLY_TIMEOUT = 60.0

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
#: The EICAR test file, kept base64-encoded so that this source file is not flagged itself.
_EICAR_B64 = ("WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJ"
              "TEUhJEgrSCo=")

_BODIES = {
    "clean": "Nothing to see here: a clean test message from the segcli lab.\n",
    "gtube": f"Spam test string:\n{GTUBE}\n",
    "eicar": "Please see the attachment (the EICAR anti-virus test file).\n",
}
#: CRLF line ends; header fields are not folded below the RFC 5322 limit (a folded
#: Message-ID would read back with a leading space).
_POLICY = SMTP_POLICY.clone(max_line_length=998)
_LINE = "The quick brown fox jumps over the lazy dog; a large test message from segcli.\n"


@dataclass(frozen=True)
class SentMessage:
    """One message the gateway accepted."""

    message_id: str  # as in the header, with angle brackets: "<...>"
    subject: str
    sender: str
    recipients: tuple[str, ...]
    reply: str  # the gateway's reply to the final dot, e.g. "250 ok ..."


class TrafficError(Exception):
    """A message was refused (or could not be sent at all); the text names the reply.

    ``sent`` holds the messages that did get through before or beside the failure.
    """

    def __init__(self, text: str, sent: Sequence[SentMessage] = ()) -> None:
        super().__init__(text)
        self.sent = list(sent)


def compose(kind: str, *, sender: str, to: Sequence[str], subject: str,
            message_id: str | None = None, size: int = 0) -> tuple[str, bytes]:
    """The message as RFC 5322 bytes (CRLF line ends) and the Message-ID it carries."""
    if kind not in TRAFFIC_KINDS:
        raise ValueError(f"unknown kind of message {kind!r}; choose from "
                         f"{', '.join(TRAFFIC_KINDS)}")
    if not to:
        raise ValueError("a message needs at least one recipient")
    if size < 0:
        raise ValueError(f"the size must not be negative (got {size})")
    message_id = message_id or f"<{kind}.{secrets.token_hex(8)}@{_domain_of(sender)}>"
    message = EmailMessage(policy=_POLICY)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = message_id
    if kind == "large":
        message.set_content(_large_body(size or LARGE_SIZE))
    else:
        message.set_content(_BODIES[kind])
    if kind == "eicar":
        message.add_attachment(base64.b64decode(_EICAR_B64), maintype="application",
                               subtype="octet-stream", filename="eicar.com")
    return message_id, message.as_bytes()


def _large_body(size: int) -> str:
    """About *size* bytes of short text lines (with CRLF ends, as sent)."""
    wire = len(_LINE) + 1
    return _LINE * max(1, size // wire)


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2] or "lab.example.org"


@dataclass(frozen=True)
class _Planned:
    """One message of a send: its place, when it is due and what it is."""

    index: int
    due: float  # seconds after the start
    subject: str
    message_id: str
    data: bytes


async def send(host: str, port: int, *, kind: str = "clean", sender: str = "alice@example.org",
               to: str | Sequence[str] = "bob@example.com", subject: str = "", count: int = 1,
               sessions: int = 1, over_s: float = 0.0, helo: str = "lab.example.org",
               size: int = 0) -> list[SentMessage]:
    """Send *count* messages to the gateway at *host*:*port*; return them in order.

    Message *i* (from 0) goes on connection ``i % sessions`` and is due ``i * over_s / count``
    seconds after the start, so the messages are spread evenly over *over_s*.  Each connection
    opens just before its first message and is reopened if the gateway closed it meanwhile.
    Every session runs to its end or its first failure; then the first failure (in message
    order) is raised as :class:`TrafficError`, carrying the messages that were accepted.
    """
    recipients = (to,) if isinstance(to, str) else tuple(to)
    _check_request(kind, recipients, count, sessions, over_s)
    sessions = min(sessions, count)
    plan = [_plan(i, kind, sender, recipients, subject, count, over_s, size)
            for i in range(count)]
    start = asyncio.get_running_loop().time()
    outcomes: dict[int, SentMessage | TrafficError] = {}
    await asyncio.gather(*(
        _session(host, port, helo, sender, recipients, plan[s::sessions], start, outcomes)
        for s in range(sessions)))
    sent = [o for _, o in sorted(outcomes.items()) if isinstance(o, SentMessage)]
    failures = [o for _, o in sorted(outcomes.items()) if isinstance(o, TrafficError)]
    if failures:
        raise TrafficError(str(failures[0]), sent)
    return sent


def _check_request(kind: str, recipients: Sequence[str], count: int, sessions: int,
                   over_s: float) -> None:
    if kind not in TRAFFIC_KINDS:
        raise ValueError(f"unknown kind of message {kind!r}; choose from "
                         f"{', '.join(TRAFFIC_KINDS)}")
    if not recipients or not all(recipients):
        raise ValueError("a message needs at least one recipient")
    if count < 1:
        raise ValueError(f"the count must be at least 1 (got {count})")
    if sessions < 1:
        raise ValueError(f"the number of sessions must be at least 1 (got {sessions})")
    if over_s < 0:
        raise ValueError(f"the time to spread the messages over must not be negative "
                         f"(got {over_s})")


def _plan(index: int, kind: str, sender: str, recipients: Sequence[str], subject: str,
          count: int, over_s: float, size: int) -> _Planned:
    subject = subject or f"segcli lab {kind} test {index + 1}/{count}"
    message_id, data = compose(kind, sender=sender, to=recipients, subject=subject, size=size)
    return _Planned(index, index * over_s / count, subject, message_id, data)


async def _session(host: str, port: int, helo: str, sender: str, recipients: tuple[str, ...],
                   plan: Sequence[_Planned], start: float,
                   outcomes: dict[int, SentMessage | TrafficError]) -> None:
    """One connection's share of the messages, in order; stops at its first failure."""
    loop = asyncio.get_running_loop()
    client: SmtpClient | None = None
    try:
        for message in plan:
            if (wait := start + message.due - loop.time()) > 0:
                await asyncio.sleep(wait)
            try:
                if client is None or client.closed:
                    client = await SmtpClient.connect(host, port, local_name=helo,
                                                      timeout=REPLY_TIMEOUT)
                    await client.ehlo()
                result = await client.send(sender, recipients, message.data)
            except SmtpError as exc:
                outcomes[message.index] = TrafficError(_refusal(message, host, port, exc))
                return
            refused = result.refused
            if refused:
                outcomes[message.index] = TrafficError(
                    f"message {message.message_id}: recipient {refused[0].recipient} refused: "
                    f"{refused[0].code} {refused[0].text}".rstrip())
                return
            outcomes[message.index] = SentMessage(
                message.message_id, message.subject, sender, recipients, _text(result.reply))
    finally:
        if client is not None:
            await client.quit()


def _text(reply: Reply | None) -> str:
    """A reply in one line, as an SMTP client shows it: ``250 2.0.0 Ok: queued``."""
    if reply is None:
        return ""
    return f"{reply.code} {' '.join(line.strip() for line in reply.lines)}".rstrip()


def _refusal(message: _Planned, host: str, port: int, exc: SmtpError) -> str:
    """The failure in words: which message, where, and the gateway's reply."""
    if isinstance(exc, SmtpReplyError):
        enhanced = f"{exc.enhanced} " if exc.enhanced else ""
        return (f"message {message.message_id} refused at {exc.stage}: "
                f"{exc.code} {enhanced}{exc.text}".rstrip())
    return f"message {message.message_id} not sent to {host}:{port}: {exc}"
