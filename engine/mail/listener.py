"""The gateway's side of an inbound SMTP connection: the listener's handler.

It writes the AsyncOS injection lines (``New SMTP ICID``, ``Start MID``, ``From``,
``To``, ``ready``), adds a ``Message-ID`` to mail that has none (as the appliance does),
refuses recipients outside the recipient access table (never an open relay) unless the
host is in the host access table's RELAYLIST (its mail is outgoing and may be for any
domain), and answers ``250`` only once the message is durable in the store; a storage
failure answers ``451`` so the client tries again (DESIGN.md, "Durability").

Tests: tests/engine/mail/test_listener.py, test_relay.py,
tests/engine/test_listener_move.py.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from engine.config.model import Config, Direction
from engine.observe import log_lines as lines
from engine.observe.counters import Counters
from engine.observe.timestamps import now
from engine.smtp.server import BaseSmtpHandler, Envelope, Reply, join_pieces
from engine.store.queue_store import NewMessage

log = logging.getLogger(__name__)

RAT_REJECT = Reply(550, "5.1.0 Address rejected.")
NOT_STORED = Reply(451, "4.3.0 The message could not be stored; try again later.")
#: A line as the email package's parser splits text: its end is CRLF, CR or LF.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
#: What ends a line for ``str.splitlines`` besides CR and LF (not for the email package).
_OTHER_LINE_ENDS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
#: What the email package's parser takes for a header line (``email.feedparser.headerRE``).
_HEADER_LINE = re.compile(r"From |[\041-\071\073-\176]*:|[\t ]")


@dataclass(frozen=True)
class Intake:
    """What an inbound connection uses of the gateway, and nothing more: the running
    configuration (a getter: a commit applies to the next command), the mail log, ICIDs
    and MIDs, the counters, and ``accept`` (store a message durably, then process it)."""

    config: Callable[[], Config]
    log: Callable[[str], None]
    next_id: Callable[[str], int]
    counters: Counters
    accept: Callable[[NewMessage], Awaitable[None]]


class GatewaySmtpHandler(BaseSmtpHandler):
    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.icid = 0
        self.peer = ("", 0)
        self.mid: int | None = None
        self.rid = 0
        #: the RELAYLIST entry this host matched when it connected (None: not a relay host)
        self.relay_entry: str | None = None

    def connected(self, peer: tuple[str, int], local: tuple[str, int]) -> Reply:
        intake = self.intake
        self.icid = intake.next_id("icid")
        self.peer = peer
        intake.counters.system.connections_in += 1
        config = intake.config()
        listener = config.listener
        intake.log(lines.new_icid(self.icid, listener.name, local[0], peer[0], "(unknown)"))
        self.relay_entry = listener.relay_entry(peer[0])
        if self.relay_entry is None:
            intake.log(lines.icid_accept(self.icid, peer[0]))
        else:
            intake.log(lines.icid_relay(self.icid, self.relay_entry, peer[0]))
        return Reply(220, f"{config.hostname} ESMTP")

    def tls_started(self, protocol: str, cipher: str) -> None:
        self.intake.log(lines.icid_tls(self.icid, protocol, cipher))

    def extensions(self, in_tls: bool) -> list[str]:
        offered = super().extensions(in_tls)
        if not self.intake.config().listener.offer_tls:
            offered = [e for e in offered if e != "STARTTLS"]
        return offered

    def mail_from(self, sender: str, params: dict[str, str]) -> None:
        self.mid = self.intake.next_id("mid")
        self.rid = 0
        self.intake.log(lines.start_mid(self.mid, self.icid))
        self.intake.log(lines.mail_from(self.mid, self.icid, sender))

    def rcpt_to(self, recipient: str, params: dict[str, str]) -> Reply | None:
        assert self.mid is not None
        intake = self.intake
        if self.relay_entry is None and not intake.config().listener.accepts(recipient):
            intake.counters.system.rejected_recipients += 1
            intake.log(lines.rcpt_rejected(self.mid, self.icid, recipient))
            return RAT_REJECT
        intake.log(lines.rcpt_to(self.mid, self.icid, self.rid, recipient))
        self.rid += 1
        return None

    async def message(self, envelope: Envelope, data: bytes) -> Reply:
        intake, mid = self.intake, self.mid
        assert mid is not None
        headers = header_fields(_header_text(data))
        added = b""
        if "message-id" not in headers:  # the appliance adds the one that is missing
            message_id = _new_message_id(mid, intake.config().hostname)
            added = f"Message-ID: {message_id}\r\n".encode()
        else:
            message_id = _header(headers, "Message-ID")
        pieces = [self._received_header(envelope), added, data]
        del data
        body = await join_pieces(pieces)  # a big one off the loop
        del pieces  # the server's copy goes now: a big message is not held twice while stored
        message = NewMessage(
            mid=mid, icid=self.icid, sender=envelope.sender, recipients=tuple(envelope.recipients),
            body=body, received_at=time.time(), message_id=message_id,
            subject=_header(headers, "Subject"), direction=self.direction.value,
        )
        try:
            await intake.accept(message)
        except Exception as exc:  # the store failed: the client must try again
            log.exception("could not store MID %s", mid)
            intake.log(lines.receiving_aborted(mid, f"storage error: {exc}"))
            return NOT_STORED
        finally:
            self.mid = None
        return Reply(250, f"2.0.0 Ok: Message {mid} accepted")

    @property
    def direction(self) -> Direction:
        """Relayed mail is outgoing (outgoing mail policies, never journaled)."""
        return Direction.INCOMING if self.relay_entry is None else Direction.OUTGOING

    def _received_header(self, envelope: Envelope) -> bytes:
        """The trace header the gateway adds, as any MTA does (RFC 5321 §4.4)."""
        protocol = "ESMTPS" if envelope.tls else "ESMTP"
        stamp = _received_stamp(now())
        return (f"Received: from {envelope.helo} ([{envelope.peer[0]}])\r\n"
                f" by {self.intake.config().hostname} with {protocol}; {stamp}\r\n").encode()

    def refused(self, reply: Reply) -> None:
        """The server refused the message after DATA: its MID ends in the log, as one
        aborted while it was received (nothing was stored)."""
        if self.mid is not None:
            self.intake.log(lines.receiving_aborted(self.mid, f"{reply.code} {reply.text}"))
            self.intake.log(lines.message_finished(self.mid, "aborted"))
            self.mid = None

    def reset(self) -> None:
        self.mid = None

    def closed(self, reason: str) -> None:
        self.intake.counters.system.connections_in -= 1
        self.intake.log(lines.icid_close(self.icid))


_stamped: tuple[datetime | None, str] = (None, "")


def _received_stamp(moment: datetime) -> str:
    """The ``Received`` field's date (UTC), formatted once per second: a busy listener
    stamps many messages in each."""
    global _stamped
    second = moment.replace(microsecond=0)
    if _stamped[0] != second:
        _stamped = (second, second.strftime("%a, %d %b %Y %H:%M:%S +0000"))
    return _stamped[1]


def _header_block(data: bytes) -> bytes:
    """The header fields and the blank line after them: all a headers-only parse reads,
    without handing the body to the parser line by line."""
    end = data.find(b"\r\n\r\n")
    return data if end < 0 else data[: end + 4]


def _header_text(data: bytes) -> str:
    """The header block as text.  Raw UTF-8 (RFC 6532, as many clients send a Subject) is
    read as UTF-8, so the mail log and tracking show ``Grüße``; a byte that is not UTF-8
    becomes U+FFFD when the field is read.  Encoded words (``=?utf-8?q?...?=``) stay as
    they were sent."""
    return _header_block(data).decode("utf-8", "replace")


def _new_message_id(mid: int, hostname: str) -> str:
    """A Message-ID for mail that came without one, in the appliance's ``<...@host>``
    form: unique across restarts (random) and MIDs (the MID, in hex)."""
    return f"<{secrets.token_hex(4)}${mid:x}@{hostname}>"


def _header(headers: dict[str, str], name: str) -> str:
    value = headers.get(name.lower())
    if value is None:
        return ""
    return " ".join(value.split())


def header_fields(text: str) -> dict[str, str]:
    """The header fields of *text*: :func:`header_section`'s fields."""
    return header_section(text)[0]


def header_section(text: str) -> tuple[dict[str, str], bool]:
    """The header fields of *text* (a header block), and whether the section ends as it
    should: at a blank line or at the end of the text (the email package notes a
    ``MissingHeaderBodySeparatorDefect`` when another line ends it).

    The fields: by lower-case name, the first of each
    name kept: what ``email.parser.HeaderParser(policy=compat32)`` and ``Message.get``
    give, read in one pass.  The email package builds a Message through its feed parser,
    which cost a fifth of the listener's work per message.  Same rules: the fields end at
    the first line that is not a header line; a line starting with blank space continues
    the field before it (or is dropped if there is none); ``From `` lines (an mbox
    envelope) and lines starting with a colon are no fields; the value is what follows the
    colon, blanks at its start and line ends at its end removed, continuation lines
    included as they were.  tests/engine/mail/test_header_fields.py holds it against the email
    package on generated header blocks."""
    lines, clean, split_elsewhere = _header_lines(text.splitlines(keepends=True),
                                                  _OTHER_LINE_ENDS)
    if split_elsewhere:  # at a line end the email package does not split at
        lines, clean, _ = _header_lines(_LINE.findall(text), "")
    fields: dict[str, str] = {}
    name, value = "", ""
    for number, line in enumerate(lines):
        if line[0] in " \t":
            if name:
                value += line
            continue
        if name:
            fields.setdefault(name.lower(), value.rstrip("\r\n"))
            name = ""
        if line.startswith("From "):
            if number == len(lines) - 1:
                break  # the first line of a body, for the email package too
            continue
        colon = line.find(":")
        if colon == 0:
            continue
        name, value = line[:colon], line[colon + 1:].lstrip(" \t")
    if name:
        fields.setdefault(name.lower(), value.rstrip("\r\n"))
    return fields, clean


def _header_lines(lines: list[str], stop_at: str) -> tuple[list[str], bool, bool]:
    """The header lines at the start of *lines*; whether the line after them is blank (or
    there is none); and whether reading stopped at a line ending in one of *stop_at*.
    ``str.splitlines`` also splits at the line ends of ``_OTHER_LINE_ENDS``, the email
    package does not: lines split so are read again as ``_LINE`` splits the text, which
    takes ten times as long."""
    header: list[str] = []
    for line in lines:
        if line[-1] in stop_at:
            return header, False, True
        if not _HEADER_LINE.match(line):
            return header, line[0] in "\r\n", False  # the blank line after the fields, or a body's first
        header.append(line)
    return header, True, False
