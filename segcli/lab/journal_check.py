"""Is this a journal?  SETD's check of what arrives at an intake address.

A journal copy carries the original message as a message/rfc822 part (SPEC.md §4 ruling 6).
The simulator finds that part by walking the MIME structure on the raw bytes -- never by
re-serialising a parsed message -- so the digest it records is of exactly the bytes the
gateway attached, and a test can compare it with the sha256 of what it sent.  Any gateway's
journal format passes, not only ours: the boundary and the part's position do not matter.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import hashlib
import quopri
import re
from dataclasses import dataclass
from email.message import Message
from email.utils import format_datetime, getaddresses, parsedate_to_datetime
from typing import NamedTuple

from engine.mail.listener import header_section

_MAX_DEPTH = 8  # multipart nesting we follow before giving up
#: The fields the walk reads of each part (by lower-case name).
_CONTENT_FIELDS = ("content-type", "content-transfer-encoding")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
#: Line ends inside a folded field (what ``email.policy.default`` removes before parsing).
_LINE_ENDS = re.compile(r"\r\n|\r|\n")
#: A value whose reading by the header registry is known without it: printable ASCII and
#: blanks, no encoded word (``=?``) to decode.
_PLAIN = re.compile(r"[\x20-\x7e\t]*")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_ADDR_SPEC = rf"{_DOT_ATOM}@{_DOT_ATOM}"
_MSG_ID = re.compile(rf"[ \t]*(<{_ADDR_SPEC}>)[ \t]*")
#: One address of a plain list: ``a@b``, ``<a@b>`` or ``Some Name <a@b>`` (atoms only).
_MAILBOX = re.compile(rf"[ \t]*(?:((?:{_ATOM}[ \t]+)*?{_ATOM})?[ \t]*<({_ADDR_SPEC})>|({_ADDR_SPEC}))[ \t]*")
_ADDRESS_FIELDS = frozenset({"from", "to", "cc", "bcc", "sender", "reply-to"})
#: A Content-Type value whose reading is known without the email package: ``type/subtype``
#: and ``; name=token`` or ``; name="quoted"`` parameters, blanks and line ends around them
#: (what ``str.strip`` removes there), nothing the package reads in a way of its own
#: (comments, RFC 2231 ``*`` names, ``<...>``, backslashes, blanks inside a type).
_BLANKS = r"[ \t\r\n]*"
_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
_VALUE = r"[A-Za-z0-9!#$&^_.+=-]+"  # a boundary may hold "=" unquoted: split at the first
_PARAMETER = rf";{_BLANKS}([A-Za-z0-9_-]+)=(?:({_VALUE})|\"([^\"\\\r\n]*)\"){_BLANKS}"
_PLAIN_CONTENT_TYPE = re.compile(rf"{_BLANKS}({_TOKEN}/{_TOKEN}){_BLANKS}((?:{_PARAMETER})*)")
_PARAMETERS = re.compile(_PARAMETER)


class NotAJournal(ValueError):
    """The message is not a journal; the text says why (it goes into the 550 reply)."""


@dataclass(frozen=True)
class AttachedOriginal:
    """What the simulator records of the original inside a journal."""

    raw: bytes
    message_id: str
    subject: str
    sender: str  # the From header
    date: str
    recipients: tuple[str, ...] = ()  # the addresses of To, Cc and Bcc
    #: The Message-ID of the journal it came in (read with the journal's other fields:
    #: :func:`journal_message_id` would read them again).
    journal_message_id: str = ""


    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def check_journal(data: bytes) -> AttachedOriginal:
    """The original attached to the journal *data*; NotAJournal when there is none."""
    head, body = _split(data)
    fields = _fields(head)[0]
    raw = _rfc822_in(_content(fields), body, depth=0)
    if raw is None:
        raise NotAJournal("no message/rfc822 part: not a journal report")
    original = _parse(raw)
    if original is None:
        raise NotAJournal("the message/rfc822 part does not hold a message")
    return AttachedOriginal(raw=raw, message_id=_header(original, "Message-ID"),
                            subject=_header(original, "Subject"),
                            sender=_header(original, "From"), date=_header(original, "Date"),
                            recipients=_recipients(original),
                            journal_message_id=_header(fields, "Message-ID"))


def journal_message_id(data: bytes) -> str:
    """The journal's own Message-ID (empty when it has none)."""
    head, _body = _split(data)
    return _header(_fields(head)[0], "Message-ID")


# -- walking the MIME structure on raw bytes ------------------------------------------------


def _find_rfc822(entity: bytes, *, depth: int) -> bytes | None:
    """The raw content of the first message/rfc822 part of *entity*, depth first."""
    head, body = _split(entity)
    return _rfc822_in(_content(_fields(head)[0]), body, depth=depth)


def _rfc822_in(content: Content, body: bytes, *, depth: int) -> bytes | None:
    """:func:`_find_rfc822` of the entity with this *content* (its fields' reading) and
    *body*."""
    if content.type == "message/rfc822" and depth > 0:
        return _decoded(body, content.encoding)
    if not content.type.startswith("multipart/") or depth >= _MAX_DEPTH:
        return None
    if not content.boundary:
        return None
    for part in _parts(body, content.boundary.encode("ascii", "replace")):
        found = _find_rfc822(part, depth=depth + 1)
        if found is not None:
            return found
    return None


def _split(entity: bytes) -> tuple[bytes, bytes]:
    """Header block and body: the body starts after the first empty line."""
    if entity.startswith((b"\r\n", b"\n")):  # no header fields at all
        return b"", entity[2 if entity.startswith(b"\r\n") else 1:]
    match = _HEAD_END.search(entity)
    if match is None:
        return entity, b""
    return entity[:match.start()], entity[match.end():]


def _fields(head: bytes) -> tuple[dict[str, str], bool]:
    """The fields of a header block as the email package's parser reads bytes (ASCII, other
    bytes as surrogate escapes): the first of each name, raw, by lower-case name; and
    whether the block ends cleanly (:func:`engine.mail.listener.header_section`, held
    against the parser there and in tests/lab/test_journal_check_headers.py).  The feed
    parser took a third of the simulator's CPU per journal."""
    return header_section(head.decode("ascii", "surrogateescape"))


class Content(NamedTuple):
    """What the walk reads of a part's header fields, as the email package (compat32) reads
    them: ``get_content_type()``, ``get_param("boundary")`` and the
    Content-Transfer-Encoding."""

    type: str
    boundary: str | None
    encoding: str


def _content(fields: dict[str, str]) -> Content:
    """The :class:`Content` of a part's header *fields*: read directly when its
    Content-Type is plain (``_PLAIN_CONTENT_TYPE``: our journals' parts, most mail's), else by the
    email package.  Building a ``Message`` and asking it was a tenth of the journal check's
    CPU (benchmarks/README.md, seventh round); tests/lab/test_journal_check_headers.py
    holds both readings against each other."""
    value = fields.get("content-type")
    encoding = fields.get("content-transfer-encoding", "")
    match = _PLAIN_CONTENT_TYPE.fullmatch(value) if value is not None else None
    if (value is not None and match is None) or not encoding.isascii():
        return _content_by_message(fields)
    if match is None:  # no Content-Type: the default
        return Content("text/plain", None, encoding)
    boundary = next((token or quoted for name, token, quoted in _PARAMETERS.findall(match[2])
                     if name.lower() == "boundary"), None)
    return Content(match[1].lower(), boundary, encoding)


def _content_by_message(fields: dict[str, str]) -> Content:
    """:func:`_content` the email package's way, for any value."""
    message = _message(fields)
    boundary = message.get_param("boundary")
    return Content(message.get_content_type(), boundary if isinstance(boundary, str) else None,
                   message.get("Content-Transfer-Encoding", ""))


def _message(fields: dict[str, str]) -> Message:
    """A part's content fields (of its header *fields*) as a (compat32) message, for its
    content type, the type's parameters and its transfer encoding.  The part's other
    fields are left out: nothing reads them, and setting them was most of the cost."""
    message = Message()
    for name in _CONTENT_FIELDS:
        if (value := fields.get(name)) is not None:
            message[name] = value
    return message


def _parts(body: bytes, boundary: bytes) -> list[bytes]:
    """The body parts between the delimiter lines (RFC 2046 §5.1.1).

    A delimiter is CRLF ``--boundary`` (the CRLF belongs to it, not to the part before);
    the first one may open the body without a CRLF.  Nothing after the close delimiter is
    a part.
    """
    text = b"\r\n" + body
    delimiter = b"\r\n--" + boundary
    parts: list[bytes] = []
    start: int | None = None  # where the current part began
    position = text.find(delimiter)
    while position >= 0:
        if start is not None:
            parts.append(text[start:position])
        after = position + len(delimiter)
        line_end = text.find(b"\n", after)
        if text.startswith(b"--", after) or line_end < 0:
            return parts
        start = line_end + 1
        position = text.find(delimiter, start)
    return parts  # no close delimiter: the last part is incomplete, leave it out


def _decoded(body: bytes, encoding: str) -> bytes:
    """A message/rfc822 part should be 7bit/8bit/binary; some gateways encode it anyway."""
    encoding = encoding.strip().lower()
    try:
        if encoding == "base64":
            return base64.b64decode(body, validate=False)
        if encoding == "quoted-printable":
            return quopri.decodestring(body)
    except (binascii.Error, ValueError):
        return body
    return body


def _parse(raw: bytes) -> dict[str, str] | None:
    """The original's header fields (raw, by lower-case name), or None when it has none to
    speak of or its header section does not end at a blank line.

    Only the header section (up to the first blank line) is read: the fields and the
    defect that matters are all there, and the body is never looked at.
    """
    if not raw.strip():
        return None
    end = _HEAD_END.search(raw)
    fields, clean = _fields(raw if end is None else raw[: end.end()])
    return fields if clean and fields else None


def _recipients(message: dict[str, str]) -> tuple[str, ...]:
    """The addresses the original's To, Cc and Bcc fields name (those that parse)."""
    fields = [_header(message, name) for name in ("To", "Cc", "Bcc")]
    return tuple(address for _name, address in getaddresses([f for f in fields if f])
                 if "@" in address)


def _header(fields: dict[str, str], name: str) -> str:
    """A header's value, decoded (RFC 2047) where it can be, raw where it cannot.

    As ``email.policy.default`` reads it (``Message.get``), but a plain value (see
    :func:`_plain_reading`) is read without the header registry, whose parsers were a third
    of the simulator's CPU per journal."""
    raw = fields.get(name.lower())
    if raw is None:
        return ""
    value: object = _plain_reading(name, raw)
    if value is None:
        try:
            value = email.policy.default.header_fetch_parse(name, raw)
        except Exception:  # a malformed header the policy chokes on (AttributeError too,
            value = raw      # for some address groups): its raw value, not a failed check
    return " ".join(str(value).split())


def _plain_reading(name: str, raw: str) -> str | None:
    """``str(email.policy.default.header_fetch_parse(name, raw))`` for the values whose
    reading is known without the header registry; None for any other (the caller asks the
    registry).  tests/lab/test_journal_check_headers.py holds it against the email package.

    Known: an unstructured field (Subject, ...) of printable ASCII without an encoded word
    is itself; a Message-ID ``<left@right>`` of dot-atoms is itself; a Date is what
    ``format_datetime`` makes of it (or itself when it is no date); an address field listing
    plain mailboxes (atoms and dot-atoms, no quotes, comments or groups) is each as
    ``Name <a@b>`` or ``a@b``, joined by ``, ``."""
    value = "".join(_LINE_ENDS.split(raw))
    if not value.strip() or not _PLAIN.fullmatch(value) or "=?" in value:
        return None
    kind = name.lower()
    if kind == "message-id":
        match = _MSG_ID.fullmatch(value)
        return match[1] if match else None
    if kind == "date":
        try:
            return format_datetime(parsedate_to_datetime(value))
        except ValueError:
            return None
    if kind in _ADDRESS_FIELDS:
        return _plain_addresses(value)
    if kind in ("subject", "comments", "content-description"):
        return value
    return None


def _plain_addresses(value: str) -> str | None:
    rendered = []
    for item in value.split(","):
        match = _MAILBOX.fullmatch(item)
        if match is None:
            return None
        phrase, bracketed, bare = match.groups()
        if bare is not None:
            rendered.append(bare)
        elif phrase:
            rendered.append(f"{' '.join(phrase.split())} <{bracketed}>")
        else:
            rendered.append(bracketed)
    return ", ".join(rendered)
