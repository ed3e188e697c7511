"""The simulator reads plain header values without the email package's header registry
(segcli/lab/journal_check.py, ``_plain_reading``): whatever it reads must be exactly what
``email.policy.default`` reads, and what it cannot read it leaves to the registry.

Held against the email package on generated values: plausible ones (which the fast path
reads) and values built from the pieces that make header parsing hard (which it mostly
declines).  The same for a part's Content-Type (``_content``: its type, boundary and
transfer encoding), and for whole journals."""

from __future__ import annotations

import email.policy
import random

import pytest

from segcli.lab.journal_check import (
    _PLAIN_CONTENT_TYPE,
    NotAJournal,
    _content,
    _content_by_message,
    _plain_reading,
    check_journal,
)

NAMES = ("Subject", "Message-ID", "Date", "From", "To", "Cc", "Bcc")
PIECES = ("alice", "Bob", "x.y", "a@b", "@", ".", "..", " ", "  ", "\t", "\r\n ", "\r\n\t",
          '"', '"q u"', "(c)", "(", ")", "<", ">", ",", ";", ":", "[", "]", "\\", "=?",
          "=?utf-8?q?caf=C3=A9?=", "é", "\x01", "\x7f", "Thu,", "01", "Jan", "2026", "00:00:00",
          "+0000", "-0000", "GMT", "0", "99", "example.org", "mail.example.com", "~", "!", "#")


def registry(name: str, raw: str) -> str | None:
    """What the simulator got before: the default policy's reading, blanks collapsed."""
    try:
        value = email.policy.default.header_fetch_parse(name, raw)
    except Exception:
        return None
    return " ".join(str(value).split())


def plausible(rng: random.Random) -> dict[str, str]:
    def atom() -> str:
        return rng.choice(["alice", "bob", "Q", "x-y", "o'neil", "a+b", "z9", "jörg"])

    def addr() -> str:
        return f"{'.'.join(atom() for _ in range(rng.randint(1, 2)))}@" \
               f"{rng.choice(['example.org', 'mail.example.com', 'b'])}"

    def mailbox() -> str:
        form = rng.randrange(4)
        if form == 0:
            return addr()
        if form == 1:
            return f"<{addr()}>"
        name = rng.choice([" ", "  ", "\t", "\r\n "]).join(atom() for _ in range(rng.randint(1, 3)))
        return f"{name}{rng.choice(['', ' ', '  '])}<{addr()}>"

    stamp = rng.choice(["Thu, 01 Jan 2026 00:00:00 +0000", "1 Jan 2026 10:00:00 -0500",
                        "Mon, 7 Dec 2026 23:59:59 -0000", "Sun, 06 Dec 2026 12:00 GMT",
                        "not a date", "Thu, 32 Jan 2026 00:00:00 +0000", "2026-01-01"])
    return {
        "Subject": rng.choice(["hello", "  spaced   out ", "a\r\n folded subject",
                               "journal benchmark message 7", "tab\tin", "x =?", "50% off!"]),
        "Message-ID": rng.choice([f"<{addr()}>", f" <{addr()}> ", f"<{atom()}>",
                                  f"<bench.{rng.randint(0, 9)}.{rng.randint(0, 10**9)}@example.org>",
                                  f"<{addr()}> (comment)", f"<a..b@{atom()}>"]),
        "Date": stamp,
        **{name: (rng.choice([",", ", ", " ,\r\n "])).join(mailbox() for _ in range(rng.randint(1, 3)))
           for name in ("From", "To", "Cc", "Bcc")},
    }


@pytest.mark.parametrize("seed", range(40))
def test_plain_readings_equal_the_registrys(seed):
    rng = random.Random(seed)
    read = 0
    for _ in range(50):
        for name, raw in plausible(rng).items():
            fast = _plain_reading(name, raw)
            if fast is not None:
                read += 1
                assert " ".join(fast.split()) == registry(name, raw), (name, raw)
    assert read > 100  # the fast path does read the plausible values


@pytest.mark.parametrize("seed", range(40))
def test_hard_values_are_read_alike_or_left_to_the_registry(seed):
    rng = random.Random(1000 + seed)
    for _ in range(200):
        raw = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))
        for name in NAMES:
            fast = _plain_reading(name, raw)
            if fast is not None:
                assert " ".join(fast.split()) == registry(name, raw), (name, raw)


# -- a part's Content-Type: read directly when plain, as the email package reads it -------

#: What Content-Type values are made of, the awkward pieces included (RFC 2231 names,
#: comments, ``<...>``, backslashes, blanks where they change the reading, 8-bit bytes).
TYPE_PIECES = ("multipart/mixed", "MULTIPART/Report", "message/rfc822", "Message/RFC822",
               "text/plain", "text", "a/b/c", "multipart / mixed", "", "; boundary=b",
               ';boundary="x y"', "; BOUNDARY=B2", '; boundary=""', "; boundary=<b>",
               '; boundary="a;b"', '; boundary="a\\"b"', "; boundary*=utf-8''b",
               "; boundary*0=b", "; boundary = b", "; charset=us-ascii", "; x=y", ";",
               "(comment)", "\r\n ", "\r\n\t", " ", "\t", "=", '"', "\udcff", "----=_SEG_1")


def plain_content_type(rng: random.Random) -> str:
    kind = rng.choice(["multipart/mixed", "Multipart/Report", "message/rfc822", "text/plain",
                       "application/octet-stream"])
    blank = lambda: rng.choice(["", " ", "\t", "\r\n ", "\r\n\t", "  "])  # noqa: E731
    params = []
    for _ in range(rng.randint(0, 3)):
        name = rng.choice(["boundary", "Boundary", "charset", "report-type", "x_y"])
        value = rng.choice(["b", "----=_SEG_TDC_0001", "us-ascii", "a.b+c"])
        quoted = rng.choice([f'"{value}"', f'"{value} two;three=4"', '""', value])
        params.append(f";{blank()}{name}={quoted}{blank()}")
    return f"{blank()}{kind}{blank()}{''.join(params)}"


def content_reading(fields: dict[str, str]):
    try:
        return _content(fields)
    except Exception as failed:  # the email package's reading may fail too: alike
        return type(failed)


def message_reading(fields: dict[str, str]):
    try:
        return _content_by_message(fields)
    except Exception as failed:
        return type(failed)


@pytest.mark.parametrize("seed", range(20))
def test_plain_content_types_are_read_as_the_email_package_reads_them(seed):
    rng = random.Random(7000 + seed)
    for _ in range(100):
        value = plain_content_type(rng)
        assert _PLAIN_CONTENT_TYPE.fullmatch(value), value  # read directly, not by the package
        fields = {"content-type": value, "content-transfer-encoding": rng.choice(["7bit", " Base64"])}
        assert _content(fields) == _content_by_message(fields), value


@pytest.mark.parametrize("seed", range(20))
def test_any_content_type_is_read_as_the_email_package_reads_it(seed):
    rng = random.Random(8000 + seed)
    for _ in range(200):
        fields = {"content-type": "".join(rng.choice(TYPE_PIECES) for _ in range(rng.randint(0, 6))),
                  "content-transfer-encoding": rng.choice(["7bit", "base64", "\udcff", ""])}
        if rng.random() < 0.1:
            del fields["content-type"]
        assert content_reading(fields) == message_reading(fields), fields


def test_the_attached_original_is_read_as_before():
    original = (b"From: Benchmark <sender@example.org>\r\nTo: <user1@example.com>,\r\n"
                b" Carol  Ann <carol@example.com>\r\nCc: =?utf-8?q?J=C3=B6rg?= <j@example.com>\r\n"
                b"Subject: journal benchmark message 1\r\n"
                b"Message-ID: <bench.1.2@example.org>\r\nDate: 1 Jan 2026 10:00:00 -0500\r\n\r\nbody\r\n")
    journal = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
               b"Content-Type: message/rfc822\r\n\r\n" + original + b"\r\n--b--\r\n")
    found = check_journal(journal)
    assert found.sender == "Benchmark <sender@example.org>"
    assert found.recipients == ("user1@example.com", "carol@example.com", "j@example.com")
    assert found.subject == "journal benchmark message 1"
    assert found.message_id == "<bench.1.2@example.org>"
    assert found.date == "Thu, 01 Jan 2026 10:00:00 -0500"


# -- the header sections: read without the feed parser, as the feed parser reads them ------

#: Lines a header section is made of, the awkward ones included (continuations, an mbox
#: ``From `` line, a colon first, names that are no names, 8-bit bytes, encoded words).
LINES = (b"From: Alice <alice@example.org>", b"To: <bob@example.com>, carol@example.com",
         b"Cc: =?utf-8?q?J=C3=B6rg?= <j@example.com>", b"Subject: hello", b"Subject: again",
         b"SUBJECT:  two  words ", b"Message-ID: <m.1@example.org>", b"message-id:<x@y>",
         b"Date: Thu, 01 Jan 2026 00:00:00 +0000", b"Date: yesterday", b" folded", b"\tfolded",
         b"From someone@example.org", b": no name", b"Bad Name: v", b"Subject: Gr\xc3\xbc\xc3\x9fe",
         b"X-Bin: \xff\xfe", b"plain text", b"To: Undisclosed:;", b"From: \"Q, Uoted\" <q@x.y>")


def reference(data: bytes) -> tuple[str, ...] | str:
    """What the simulator recorded before: the email package's parsers throughout."""
    import email.errors
    import email.parser

    from segcli.lab import journal_check as check

    def headers(head: bytes):
        return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            head + b"\r\n\r\n")

    def find(entity: bytes, depth: int) -> bytes | None:
        head, body = check._split(entity)
        message = headers(head)
        kind = message.get_content_type()
        if kind == "message/rfc822" and depth > 0:
            return check._decoded(body, message.get("Content-Transfer-Encoding", ""))
        boundary = message.get_param("boundary")
        if not kind.startswith("multipart/") or depth >= 8 or not isinstance(boundary, str) \
                or not boundary:
            return None
        for part in check._parts(body, boundary.encode("ascii", "replace")):
            found = find(part, depth + 1)
            if found is not None:
                return found
        return None

    def get(message, name: str) -> str:
        try:
            value = message.get(name)
        except Exception:  # before: not AttributeError, which some groups raise (a 451)
            value = next((raw for key, raw in message.raw_items() if key.lower() == name.lower()),
                         None)
        return " ".join(str(value).split()) if value is not None else ""

    raw = find(data, 0)
    if raw is None:
        return "no part"
    if not raw.strip():
        return "no message"
    end = check._HEAD_END.search(raw)
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        raw if end is None else raw[: end.end()], headersonly=True)
    if any(isinstance(d, email.errors.MissingHeaderBodySeparatorDefect) for d in message.defects) \
            or not message.keys():
        return "no message"
    recipients = tuple(a for _n, a in check.getaddresses(
        [f for f in (get(message, n) for n in ("To", "Cc", "Bcc")) if f]) if "@" in a)
    return (get(message, "Message-ID"), get(message, "Subject"), get(message, "From"),
            get(message, "Date"), *recipients)


def now_read(data: bytes) -> tuple[str, ...] | str:
    try:
        found = check_journal(data)
    except NotAJournal as refused:
        return "no part" if "no message/rfc822" in str(refused) else "no message"
    return (found.message_id, found.subject, found.sender, found.date, *found.recipients)


@pytest.mark.parametrize("seed", range(20))
def test_journals_are_read_as_the_email_package_reads_them(seed):
    rng = random.Random(5000 + seed)
    for _ in range(60):
        ends = [b"\r\n", b"\n", b"\r"]
        original = b"".join(rng.choice(LINES) + rng.choice(ends) for _ in range(rng.randint(0, 7)))
        original += rng.choice([b"\r\n", b"", b"body line\r\n", b"\r\nbody\r\n"])
        kind = rng.choice([b"multipart/mixed; boundary=\"b\"", b"MULTIPART/Report;\r\n boundary=b"] * 3
                          + [b"multipart/mixed", b"text/plain; boundary=b"])
        part_type = rng.choice([b"message/rfc822", b"Message/RFC822; x=y"] * 3 + [b"text/plain"])
        data = (b"From: journal@gw\r\nContent-Type: " + kind + b"\r\n\r\n--b\r\n"
                b"Content-Type: " + part_type + b"\r\n\r\n" + original + b"\r\n--b--\r\n")
        assert now_read(data) == reference(data), data


def test_a_header_the_registry_chokes_on_is_recorded_raw():
    """``To: Undisclosed:; <a@b>`` makes the header registry raise AttributeError: the
    simulator used to fail the whole check (a 451 to the gateway) instead of reading the
    field raw as it does for the registry's other failures."""
    original = b"From: a@example.org\r\nTo: Undisclosed:; <b@example.com>\r\nSubject: s\r\n\r\nx\r\n"
    journal = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
               b"Content-Type: message/rfc822\r\n\r\n" + original + b"\r\n--b--\r\n")
    found = check_journal(journal)
    assert found.raw == original and found.recipients == ("b@example.com",)
