"""The inputs of the fuzz and soak harness (``benchmarks/fuzz.py``): three seeded generators.

* :class:`SmtpGenerator`: one SMTP session over a real socket, as steps (bytes to send,
  whether to wait for a reply, STARTTLS, an abrupt end): EHLO/HELO/MAIL/RCPT/DATA/RSET/
  NOOP/QUIT/STARTTLS and commands nobody asked for, garbage, long lines, control
  characters, NUL, bare CR and LF, huge addresses, pipelining bursts, binary bodies.
* :class:`CliGenerator`: one SSH exec request for one registered command (sometimes two,
  separated by ``;``), built from the command registry: the one-line forms of its help
  text (``<placeholders>``, ``[options]``, ``a|b`` alternatives, ``<x>[,<x>...]`` lists),
  the words of its completion grammar, the menu keywords of its dialogs as answers on
  stdin, then mutated (words dropped, doubled, swapped, quoted, control characters,
  invalid UTF-8, long arguments).
* :class:`XmlGenerator`: one configuration document, ``showconfig``'s output mutated
  (elements dropped, doubled, nested, renamed; text replaced by control characters,
  entities, huge values; the bytes truncated or flipped; DOCTYPEs with entities).

Every input is made from ``random.Random(f"{seed}/{generator}/{index}")``, so a seed and an
index give the same input again (with this run's ports and names, which :class:`Lab`
carries); the harness also saves the exact bytes of every failing input.

Nothing here does I/O.  Everything the inputs could make the appliance connect to stays on
loopback: :func:`loopback_guard` rewrites any other IP literal to a 127.0.0.0/8 (or
``::1``) one, :func:`guard_document` keeps a document's DNS servers on the lab's zone, and
the harness itself re-points the DNS servers at the lab's zone before every commit that
follows a command able to change them (``dnsconfig``, ``loadconfig``, ``rollbackconfig``):
the host's own resolvers (``dnsconfig system``, the factory configuration) are never used.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

# ------------------------------------------------------------------------------------------
# What the generators know about the appliance under test


#: The harness's own accounts: the fuzzed lines never name them (nor ``admin``, the checker),
#: so that no input can lock the harness out.
FUZZ_PASSWORD = "fuzz-Pass-2026"
ACCOUNTS = {"fuzzadmin": "admin", "fuzzop": "operator", "fuzzro": "readonly"}
PROTECTED_USERS = ("admin", *ACCOUNTS)


@dataclass
class Lab:
    """This run's ports and names, as the running lab printed them."""

    smtp_port: int = 2525
    ssh_port: int = 2222
    dns: str = "127.0.0.1:10053"
    sink_port: int = 2727
    intake_port: int = 2626
    dashboard_port: int = 8025
    intakes: list[str] = field(default_factory=lambda: ["e8338d-jhoid-cf70d3@beta.cmd.cisco.com"])
    #: Files the harness uploaded to /configuration (loadconfig may name them).
    files: list[str] = field(default_factory=list)

    @property
    def ports(self) -> list[int]:
        return [self.smtp_port, self.ssh_port, self.sink_port, self.intake_port,
                self.dashboard_port, int(self.dns.rpartition(":")[2])]


def rng_for(seed: int, generator: str, index: int) -> random.Random:
    return random.Random(f"{seed}/{generator}/{index}")


# ------------------------------------------------------------------------------------------
# Inputs, and their JSON form (bytes as base64, with a readable copy beside)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


@dataclass
class SmtpStep:
    #: ``send`` (data; wait for a reply or not), ``starttls`` (data is the mode: handshake,
    #: garbage, abort), ``pause`` (data is milliseconds), ``close`` (data: fin or rst).
    kind: str
    data: bytes = b""
    wait: bool = False


@dataclass
class SmtpInput:
    steps: list[SmtpStep]
    #: Talk before the greeting (an early talker) instead of waiting for it.
    early: bool = False
    what: str = ""
    generator: str = "smtp"

    def to_json(self) -> dict[str, Any]:
        return {"generator": "smtp", "early": self.early, "what": self.what,
                "steps": [{"kind": s.kind, "data": _b64(s.data), "wait": s.wait,
                           "text": s.data[:300].decode("latin-1")} for s in self.steps]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SmtpInput:
        return cls([SmtpStep(s["kind"], _unb64(s["data"]), s["wait"]) for s in data["steps"]],
                   data["early"], data.get("what", ""))

    def describe(self) -> str:
        return self.what

    def readable(self) -> bytes:
        out = []
        for step in self.steps:
            if step.kind == "send":
                out.append(step.data)
            else:
                out.append(f"<<{step.kind} {step.data.decode('latin-1')}>>\r\n".encode())
        return b"".join(out)


@dataclass
class CliInput:
    account: str
    command: bytes
    stdin: bytes = b""
    #: Runs until interrupted (``tail``, ``grep -t``, ``rate`` without a count): the
    #: harness closes the channel after a short while, and that is no finding.
    follows: bool = False
    commands: list[str] = field(default_factory=list)
    generator: str = "cli"

    def to_json(self) -> dict[str, Any]:
        return {"generator": "cli", "account": self.account, "command": _b64(self.command),
                "stdin": _b64(self.stdin), "follows": self.follows, "commands": self.commands,
                "text": self.command.decode("utf-8", "backslashreplace")[:2000],
                "stdin_text": self.stdin.decode("utf-8", "backslashreplace")[:2000]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CliInput:
        return cls(data["account"], _unb64(data["command"]), _unb64(data["stdin"]),
                   data["follows"], data.get("commands", []))

    def describe(self) -> str:
        text = self.command.decode("utf-8", "backslashreplace")
        text = text if len(text) <= 160 else f"{text[:120]}... ({len(text)} characters)"
        answers = f" (stdin {len(self.stdin.splitlines())} lines)" if self.stdin else ""
        return f"{self.account}: {text!r}{answers}"

    def readable(self) -> bytes:
        return (b"# account: " + self.account.encode() + b"\n# command:\n" + self.command
                + b"\n# stdin:\n" + self.stdin)


@dataclass
class XmlInput:
    document: bytes
    #: ``sftp`` (upload, then ``loadconfig <file>``) or ``paste`` (``loadconfig`` dialog).
    how: str
    commit: bool
    mutations: list[str]
    name: str = ""
    generator: str = "xml"

    def to_json(self) -> dict[str, Any]:
        return {"generator": "xml", "how": self.how, "commit": self.commit, "name": self.name,
                "mutations": self.mutations, "document": _b64(self.document)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> XmlInput:
        return cls(_unb64(data["document"]), data["how"], data["commit"], data["mutations"],
                   data.get("name", ""))

    def describe(self) -> str:
        return (f"{self.how}{' + commit' if self.commit else ''}, {len(self.document)} bytes: "
                + "; ".join(self.mutations)[:300])

    def readable(self) -> bytes:
        return self.document


Input = SmtpInput | CliInput | XmlInput


def input_from_json(data: dict[str, Any]) -> Input:
    kind = data["generator"]
    if kind == "smtp":
        return SmtpInput.from_json(data)
    if kind == "cli":
        return CliInput.from_json(data)
    return XmlInput.from_json(data)


# ------------------------------------------------------------------------------------------
# Nasty values, shared by the generators

CONTROL = [bytes([c]) for c in (*range(0, 9), 11, 12, *range(14, 32), 127)]
NASTY_TEXT = [
    "", " ", "  ", "\t", "x" * 300, "A" * 5000, "%s%n%x", "{0}{1}", "'", '"', "\\", ";", "|",
    "$(id)", "`id`", "../../etc/passwd", "/etc/passwd", "*", "?", "[", "(", ".*", "\\x00",
    "-1", "0", "00", "-0", "1e309", "nan", "inf", "99999999999999999999", "2147483648",
    "0x10", "1_000", " 5", "5 ", "+5", "0.0000001", "3.", ".5",
    "²", "١٢", "０", "Ⅻ", "é", "ß", "İ", "ﬃ", "💥", "\u200b", "\u202e", "\u2028", "\ufeff",
    "a\u0301", "<b>", "&amp;", "]]>", "<!--", "--", "-", "--help", "-n", "DEFAULT",
    "default", "the.tdc.queue", "ALL", "all", "none", "null", "None", "true", "y", "n",
]
NASTY_BYTES = [b"\x00", b"\r", b"\n", b"\r\n", b"\x1b[2J", b"\x1b]0;x\x07", b"\x7f", b"\x08",
               b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
               b"\x85", b"\xe2\x80\xa8"]


def nasty_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(NASTY_TEXT)
    if roll < 0.8:
        odd = [*range(1, 32), 127, 0x85, 0xA0, 0x2028]
        return "".join(chr(rng.choice(odd)) for _ in range(rng.randint(1, 4)))
    if roll < 0.95:
        return rng.choice(["a", "x", "9", "é", ".", "@"]) * rng.choice([256, 1024, 4096, 20000, 70000])
    return "".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(rng.randint(1, 40)))


def random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


# ------------------------------------------------------------------------------------------
# Loopback only

_IPV4 = re.compile(rb"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d])")
_IPV6 = re.compile(rb"(?<![0-9A-Za-z:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Za-z:])")


def loopback_guard(data: bytes) -> bytes:
    """Every IPv4 literal outside 127.0.0.0/8 becomes one inside it (``10.1.2.3`` ->
    ``127.1.2.3``), every IPv6 literal but ``::1`` becomes ``::1``: nothing an input names
    can make the appliance connect beyond loopback."""

    def v4(match: re.Match[bytes]) -> bytes:
        if match[1] == b"127":
            return match[0]
        return b"127." + b".".join(match.group(2, 3, 4))

    def v6(match: re.Match[bytes]) -> bytes:
        try:
            address = ipaddress.IPv6Address(match[0].decode("ascii"))
        except ValueError:
            return match[0]
        if address.is_loopback or (address.ipv4_mapped and address.ipv4_mapped.is_loopback):
            return match[0]
        return b"::1"

    return _IPV6.sub(v6, _IPV4.sub(v4, data))


def _safe_dns_server(text: str) -> bool:
    host, _, port = (text or "").strip().rpartition(":")
    if not host:
        host, port = (text or "").strip(), "53"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback and port.isdigit() and int(port) != 53
    except ValueError:
        return False


def guard_document(document: bytes, base: ET.Element, lab_dns: str) -> tuple[bytes, bool]:
    """The document with loopback literals only and, if it parses, DNS servers on
    loopback (never none, which means the host's resolvers): a root-level ``<dns>`` that
    would leave loopback is replaced by the base document's.  Returns (document, changed)."""
    document = loopback_guard(document)
    try:
        root = ET.fromstring(document)
    except (ET.ParseError, ValueError, LookupError):  # LookupError: an unknown encoding
        return document, False  # the appliance refuses it too (the same parser)
    dns = root.find("dns")
    servers = dns.findall("dns_servers/server") if dns is not None else []
    if servers and all(_safe_dns_server(s.text or "") for s in servers):
        return document, False
    for element in root.findall("dns"):
        root.remove(element)
    safe = ET.SubElement(root, "dns")
    ET.SubElement(ET.SubElement(safe, "dns_servers"), "server").text = lab_dns
    timeout = base.find("dns/dns_timeout")
    ET.SubElement(safe, "dns_timeout").text = timeout.text if timeout is not None else "5"
    return ET.tostring(root, encoding="utf-8", xml_declaration=True), True


# ------------------------------------------------------------------------------------------
# SMTP sessions

GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
VERBS = [b"EHLO", b"HELO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"RSET", b"NOOP", b"QUIT",
         b"STARTTLS", b"VRFY", b"EXPN", b"HELP", b"ETRN", b"AUTH PLAIN", b"AUTH LOGIN",
         b"BDAT 10", b"BDAT 0 LAST", b"TURN", b"XCLIENT ADDR=1.2.3.4", b"SEND FROM:", b"SAML",
         b"GET / HTTP/1.1", b"\x16\x03\x01\x00\xa5\x01", b"LHLO", b"XEXCH50", b"CHUNKING"]


GOOD_LOCALS = [b"alice", b"bob", b"user1", b"a.b+tag", b"postmaster", b"UPPER", b"x"]
GOOD_DOMAINS = [b"example.com", b"sub.example.com", b"partners.example.com", b"deep.sub.example.com",
                b"EXAMPLE.COM"]


def email_address(rng: random.Random, lab: Lab | None = None, *, nasty: float = 0.5) -> bytes:
    """An address: one the listener accepts mail for, or (with probability *nasty*) one
    of the odd kinds."""
    if rng.random() >= nasty:
        if lab is not None and rng.random() < 0.05:
            return rng.choice(lab.intakes).encode()
        return rng.choice(GOOD_LOCALS) + b"@" + rng.choice(GOOD_DOMAINS)
    roll = rng.random()
    local = rng.choice([*GOOD_LOCALS, b"\"quoted local\"", b"\"a@b\"", b"\xc3\xa9l\xc3\xa8ve"])
    domain = rng.choice([*GOOD_DOMAINS, b"example.org", b"nowhere.example.com", b"example.com.",
                         b"[127.0.0.1]", b"[IPv6:::1]", b"localhost", b"xn--bcher-kva.example",
                         b"b\xc3\xbccher.example.com"])
    if roll < 0.45:
        return local + b"@" + domain
    if roll < 0.55:
        return b""  # the null sender / recipient
    if roll < 0.60:
        return rng.choice([b"a", b"x", b"\xff"]) * rng.choice([65, 255, 1000, 5000, 70000]) + b"@" + domain
    if roll < 0.65:
        labels = [b"label" * rng.randint(1, 13)] * rng.randint(2, 60)
        return local + b"@" + b".".join(labels) + b".example.com"
    if roll < 0.72:
        return b"@a,@b:" + local + b"@" + domain  # a source route
    if roll < 0.80:
        return local  # no domain
    pieces = [local, b"@", domain]
    spot = rng.randrange(len(pieces) + 1)
    pieces.insert(spot, rng.choice(CONTROL + NASTY_BYTES + [b" ", b"<", b">", b"@@", b",", b";"]))
    return b"".join(pieces)


def mail_body(rng: random.Random, recipient: bytes, nasty: float = 0.4) -> bytes:
    """A message (headers and body, CRLF line ends unless mutated), without the final dot."""
    roll = rng.random()
    if not nasty:  # a message as mail clients write them
        roll = rng.choice([0.0, 0.0, 0.0, 0.4, 0.75, 0.75])
        if rng.random() < 0.1:
            return (b"From: Fuzz <fuzz@example.org>\r\nTo: <" + recipient + b">\r\nSubject: long\r\n\r\n"
                    + (b"a line of text\r\n" * rng.choice([100, 5000])))
    head = (b"From: Fuzz <fuzz@example.org>\r\nTo: <" + recipient + b">\r\n"
            b"Subject: fuzz " + str(rng.getrandbits(32)).encode() + b"\r\n"
            b"Message-ID: <" + str(rng.getrandbits(64)).encode() + b"@fuzz.example.org>\r\n")
    if roll < 0.35:
        return head + b"\r\nhello\r\n"
    if roll < 0.45:
        return head + b"\r\n" + rng.choice([GTUBE, EICAR, base64.b64encode(EICAR)]) + b"\r\n"
    if roll < 0.55:
        size = rng.choice([1000, 8000, 65536, 300_000, 1_000_000])
        data = random_bytes(rng, size)
        return head + b"Content-Type: application/octet-stream\r\n\r\n" + data.replace(b"\r\n.", b"\r\n..")
    if roll < 0.65:  # long lines, bare CR and LF, dots
        lines = [rng.choice([b"a" * rng.choice([998, 999, 1000, 2000, 100_000]), b"bare\rcr",
                             b"bare\nlf", b".", b"..", b". ", b".\r", b"\x00nul", b"\x1b[0m"])
                 for _ in range(rng.randint(1, 8))]
        return head + b"\r\n" + b"\r\n".join(lines) + b"\r\n"
    if roll < 0.72:  # headers only, or none at all
        return rng.choice([head, b"", b"\r\n", b"no headers at all\r\n", b"X" * 50 + b":\r\n"])
    if roll < 0.80:  # MIME
        boundary = b"b" + str(rng.getrandbits(20)).encode()
        return (head + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" + boundary
                + b"\"\r\n\r\n--" + boundary + b"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--" + boundary
                + b"\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                + rng.choice([base64.b64encode(EICAR), b"!!!notbase64!!!", b"QUJD\r\n=="])
                + b"\r\n--" + boundary + rng.choice([b"--\r\n", b"\r\n", b""]))
    if roll < 0.82:  # bigger than the default maximum message size
        return head + b"\r\n" + (b"y" * 998 + b"\r\n") * 10_600
    return head + b"\r\n" + random_bytes(rng, rng.randint(1, 4000))


class SmtpGenerator:
    name = "smtp"

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def make(self, rng: random.Random) -> SmtpInput:
        if rng.random() < 0.4:
            return self._clean(rng)
        steps: list[SmtpStep] = []
        what: list[str] = []
        early = rng.random() < 0.04
        if early:
            early_bytes = rng.choice([b"EHLO early\r\n", b"\x00" * 10, random_bytes(rng, 50)])
            steps.append(SmtpStep("send", early_bytes))
            what.append("early talker")

        def line(data: bytes, wait: bool = True) -> None:
            steps.append(SmtpStep("send", data, wait))

        hello = rng.random()
        if hello < 0.75:
            line(rng.choice([b"EHLO ", b"HELO ", b"ehlo ", b"EhLo "]) + rng.choice(
                [b"client.example.org", b"[127.0.0.1]", b"", b"x" * 3000, b"a b c", b"\xff\xfe",
                 b"client.example.org\x00", b"127.0.0.1"]) + b"\r\n")
        elif hello < 0.85:
            line(rng.choice(VERBS) + b"\r\n")
        transactions = rng.choice([0, 1, 1, 1, 2, 3])
        for _ in range(transactions):
            self._transaction(rng, steps, what)
            if rng.random() < 0.2:
                line(rng.choice([b"RSET\r\n", b"NOOP\r\n", b"NOOP x\r\n", b"RSET junk\r\n"]))
        for _ in range(rng.choice([0, 0, 1, 2, 5])):
            self._noise(rng, steps, what)
        if rng.random() < 0.12:
            mode = rng.choice([b"handshake", b"handshake", b"garbage", b"abort"])
            steps.append(SmtpStep("starttls", mode))
            what.append(f"STARTTLS {mode.decode()}")
            if mode == b"handshake":
                line(b"EHLO tls.example.org\r\n")
                self._transaction(rng, steps, what)
        ending = rng.random()
        if ending < 0.15:
            how = rng.choice([b"fin", b"rst"])
            steps.append(SmtpStep("close", how))
            what.append(f"abrupt close ({how.decode()})")
        elif ending < 0.5:
            line(rng.choice([b"QUIT\r\n", b"quit\r\n", b"QUIT now\r\n"]))
        if rng.random() < 0.15:
            self._mutate(rng, steps)
            what.append("mutated")
        return SmtpInput(steps, early, ", ".join(what) or "plain session")

    def _clean(self, rng: random.Random) -> SmtpInput:
        """A well-formed session whose mail is accepted (the engine's paths behind DATA)."""
        hello = rng.choice([b"EHLO client.example.org\r\n", b"HELO client.example.org\r\n"])
        steps = [SmtpStep("send", hello, True)]
        what = ["well-formed"]
        if hello.startswith(b"EHLO") and rng.random() < 0.3:  # as most clients do
            steps += [SmtpStep("starttls", b"handshake"), SmtpStep("send", hello, True)]
            what.append("STARTTLS")
        for _ in range(rng.choice([1, 1, 2, 3])):
            self._transaction(rng, steps, what, nasty=0.0)
        steps.append(SmtpStep("send", b"QUIT\r\n", True))
        return SmtpInput(steps, False, ", ".join(what))

    def _transaction(self, rng: random.Random, steps: list[SmtpStep], what: list[str],
                     nasty: float = 0.4) -> None:
        sender = b"fuzz@example.org" if rng.random() >= nasty else email_address(rng, self.lab)
        params = b""
        if rng.random() < 0.3:
            params = rng.choice([b" SIZE=1000", b" BODY=8BITMIME", b" BODY=7BIT"] if not nasty else [
                b" SIZE=99999999999", b" SIZE=-1", b" BODY=BINARYMIME", b" SMTPUTF8", b" X=Y", b" SIZE=abc"])
        opening = b"MAIL FROM:<" if rng.random() >= nasty else rng.choice(
            [b"mail from:<", b"MAIL FROM: <", b"MAIL FROM:", b"MAIL FROM:<<"])
        mail = opening + sender + (b">" if rng.random() >= nasty / 5 else b"") + params + b"\r\n"
        count = 1 if rng.random() >= nasty else rng.choice([1, 2, 3, 120])
        recipients = [email_address(rng, self.lab, nasty=nasty / 2) for _ in range(count)]
        odd_rcpt = [b"rcpt to:<", b"RCPT TO: <", b"RCPT TO:"]
        rcpts = [(b"RCPT TO:<" if rng.random() >= nasty else rng.choice(odd_rcpt))
                 + r + (b">" if rng.random() >= nasty / 5 else b"") + b"\r\n" for r in recipients]
        pipelined = rng.random() < 0.35
        if pipelined:  # RFC 2920: MAIL, RCPTs and DATA in one burst
            steps.append(SmtpStep("send", mail + b"".join(rcpts) + b"DATA\r\n", True))
            what.append(f"pipelined {len(rcpts)} rcpt")
        else:
            steps.append(SmtpStep("send", mail, True))
            steps.extend(SmtpStep("send", r, True) for r in rcpts)
            data = (b"DATA\r\n" if rng.random() >= nasty else
                    rng.choice([b"data\r\n", b"DATA x\r\n", b"DATA \r\n"]))
            steps.append(SmtpStep("send", data, True))
        if len(rcpts) > 100:
            what.append("many recipients")
        body = mail_body(rng, recipients[0], nasty=nasty)
        if len(body) > 100_000:
            what.append(f"{len(body)} byte body")
        end = b"\r\n.\r\n"
        if rng.random() < nasty / 2:
            end = rng.choice([b"\n.\n", b"\r\n.\n", b"\r.\r", b"", b".\r\n"])
        if rng.random() < 0.2:  # the message in pieces
            cut = rng.randrange(len(body) + 1)
            steps.append(SmtpStep("send", body[:cut]))
            steps.append(SmtpStep("pause", b"20"))
            steps.append(SmtpStep("send", body[cut:] + end, True))
        else:
            steps.append(SmtpStep("send", body + end, True))

    def _noise(self, rng: random.Random, steps: list[SmtpStep], what: list[str]) -> None:
        roll = rng.random()
        if roll < 0.3:
            verb = rng.choice(VERBS) + rng.choice([b"", b" ", b" x", b" <>"])
            steps.append(SmtpStep("send", verb + b"\r\n", True))
        elif roll < 0.45:
            steps.append(SmtpStep("send", random_bytes(rng, rng.randint(1, 600))))
            what.append("garbage")
        elif roll < 0.6:
            steps.append(SmtpStep("send", rng.choice([b"NOOP", b"x", b"MAIL FROM:<"]) * rng.choice(
                [600, 3000, 30000]) + rng.choice([b"\r\n", b""]), True))
            what.append("long line")
        elif roll < 0.7:
            steps.append(SmtpStep("send", rng.choice([b"NOOP\n", b"NOOP\r", b"RSET\rNOOP\n", b"\r\n\r\n",
                                                       b"\n\n\n", b"\r\r\r\r\n"]), True))
            what.append("bare CR/LF")
        elif roll < 0.8:
            steps.append(SmtpStep("send", b"".join(rng.choice(CONTROL) for _ in range(rng.randint(1, 20)))
                                  + b"NOOP\r\n", True))
            what.append("control characters")
        elif roll < 0.9:
            burst = b"".join(rng.choice([b"NOOP\r\n", b"RSET\r\n", b"HELP\r\n", b"VRFY x\r\n", b"BAD\r\n"])
                             for _ in range(rng.choice([10, 50, 200])))
            steps.append(SmtpStep("send", burst, True))
            what.append("burst")
        else:
            steps.append(SmtpStep("send", b"MAIL FROM:<" + b"a" * 100_000 + b"@example.org>\r\n", True))
            what.append("huge address")

    def _mutate(self, rng: random.Random, steps: list[SmtpStep]) -> None:
        sends = [s for s in steps if s.kind == "send" and s.data]
        if not sends:
            return
        step = rng.choice(sends)
        data = bytearray(step.data)
        for _ in range(rng.randint(1, 5)):
            spot = rng.randrange(len(data) + 1)
            roll = rng.random()
            if roll < 0.4:
                data[spot:spot] = rng.choice(CONTROL + NASTY_BYTES)
            elif roll < 0.7 and data:
                del data[spot:spot + rng.randint(1, 10)]
            elif data:
                data[min(spot, len(data) - 1)] = rng.getrandbits(8)
        step.data = bytes(data)


# ------------------------------------------------------------------------------------------
# CLI lines, from the command registry


@dataclass
class CommandInfo:
    """What the registry says about one command: names, forms, vocabulary."""

    name: str
    aliases: tuple[str, ...]
    changes_config: bool
    least_role: str
    forms: list[str]
    options: list[str]
    menu_words: list[str]
    grammar_paths: list[list[str]]


def commands_from_registry() -> list[CommandInfo]:
    """Every registered command, with the one-line forms of its help text."""
    from commands import load_all
    from commands.registry import REGISTRY, Names

    load_all()
    infos = []
    for spec in REGISTRY:
        paths: list[list[str]] = []

        _walk(spec.grammar, [], paths, Names)
        forms, options = parse_help(spec.help, (spec.name, *spec.aliases))
        infos.append(CommandInfo(
            spec.name, spec.aliases, spec.changes_config, spec.least_role.value, forms, options,
            sorted(set(re.findall(r"\b[A-Z]{3,}\b", spec.help)) - {"TDC", "SMTP", "DNS", "MX", "TLS",
                                                                  "SETD", "PEM", "MID", "UTC", "CLI",
                                                                  "SEG", "IPV", "NXDOMAIN"}),
            paths))
    return infos


def _walk(node: Any, prefix: list[str], paths: list[list[str]], names: type, depth: int = 0) -> None:
    """Every word path of a completion grammar; live names (``Names``) as ``<name>``."""
    if depth > 5:
        return
    if isinstance(node, names):
        paths.append([*prefix, "<name>"])
        _walk(node.then, [*prefix, "<name>"], paths, names, depth + 1)  # type: ignore[attr-defined]
    elif isinstance(node, dict):
        for key, value in node.items():
            paths.append([*prefix, key])
            _walk(value, [*prefix, key], paths, names, depth + 1)


def parse_help(text: str, names: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The one-line forms (lines starting with the command's name, continuation lines
    starting with ``[`` folded in, the description column cut off) and the options
    (indented lines starting with ``-``)."""
    forms: list[str] = []
    options: list[str] = []
    lines = text.splitlines()
    for number, raw in enumerate(lines):
        stripped = raw.strip()
        first = stripped.split(" ", 1)[0] if stripped else ""
        if first in names:
            form = re.split(r"\s{2,}", stripped, maxsplit=1)[0]
            if re.search(r"[;.]$|; ", form):  # prose that starts with the name, not a form
                continue
            following = lines[number + 1] if number + 1 < len(lines) else ""
            if following.startswith(" ") and following.strip().startswith("["):
                form += " " + re.split(r"\s{2,}", following.strip(), maxsplit=1)[0]
            forms.append(form)
        elif raw.startswith("  ") and stripped.startswith("-") and not stripped.startswith("--"):
            options.append(re.split(r"\s{2,}", stripped, maxsplit=1)[0])
    return forms, options


def split_top(text: str, separator: str) -> list[str]:
    """Split at *separator* outside ``[...]``, ``<...>`` and double quotes."""
    parts: list[str] = []
    current: list[str] = []
    square = angle = 0
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            square += (char == "[") - (char == "]")
            angle += (char == "<") - (char == ">")
        if char == separator and square == 0 and angle == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part] if separator == " " else parts


def _whole_group(token: str) -> bool:
    if not (token.startswith("[") and token.endswith("]")):
        return False
    depth = 0
    for position, char in enumerate(token):
        depth += (char == "[") - (char == "]")
        if depth == 0 and position < len(token) - 1:
            return False
    return True


USERS = ["alice", "bob", "carol", "dave2", "op-two", "ro.three", "Alice", "x" * 40, "new_user"]
POLICY_NAMES = ["DEFAULT", "partners", "sales", "pol1", "Pol1", "a", "x" * 60, "two words", "déjà"]
DOMAINS = ["example.com", ".example.com", "partners.example.com", "sub.example.com", "example.org",
           "ALL", "default", "the.tdc.queue", "nowhere.example.com", "beta.cmd.cisco.com",
           "mail.eu.cmd.cisco.com", "EXAMPLE.COM", "example.com.", "-bad-.com", "a..b",
           "xn--bcher-kva.example",
           "bücher.example", "localhost", "*.example.com", "[127.0.0.1]"]
REGEXES = [".*", "MID", "^Info", "TDC:", "a|b", "[", "(", "*", "(?i)mid", "\\d+", "(a+)+$", "(x*)*y",
           "((a|aa)+)+b", ".{1000}", "\\", "[^\\x00]", "(?P<n>x)(?P=n)", "\x00", "é", "$^"]
PASSWORDS = [FUZZ_PASSWORD, "ironport1", "short", "12345678", "pass word 1", "p" * 72, "p" * 73,
             "é" * 40, "pässwörd1", "\x01password", "password\x7f"]


def public_keys() -> list[str]:
    return [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl fuzz@example",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJ",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 short",
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
        "ecdsa-sha2-nistp256 AAAA",
        "ssh-ed25519 !!!!",
        "ssh-ed25519",
        "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        'command="rm -rf /" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
    ]


#: What the live names of a command's completion grammar (``Names``) are.
NAMES_OF = {"hoststatus": "host", "loadconfig": "file", "labconfig": "host", "destconfig": "domain",
            "smtproutes": "domain", "help": "command", "listenerconfig": "domain",
            "nslookup": "domain"}


class CliGenerator:
    name = "cli"

    def __init__(self, lab: Lab, commands: list[CommandInfo]) -> None:
        self.lab = lab
        self.commands = commands
        self.vocabulary = sorted({word for info in commands for path in info.grammar_paths
                                  for word in path if not word.startswith("<")}
                                 | {info.name for info in commands})

    # -- values for placeholders ------------------------------------------------------
    def value(self, rng: random.Random, name: str) -> str:
        if rng.random() < 0.12:
            return nasty_text(rng)
        key = name.lower()
        lab = self.lab
        port = rng.choice([*lab.ports, 1, 25, 65535, 65536, 0, 40000])
        if "intake" in key:
            return rng.choice([*lab.intakes, "a1b2c3-d4e5f-a6b7c8@beta.cmd.cisco.com",
                               email_address(rng).decode("latin-1")])
        if "network" in key:
            return rng.choice(["127.0.0.2", "127.0.0.0/24", "10.1.1.0/24", "::1", "127.0.0.1/33",
                               "127.0.0.999", "fe80::/10", "127.0.0.0/8", "127.1"])
        if "ip[" in key or key == "ip":
            return rng.choice([lab.dns, f"127.0.0.1:{port}", "127.0.0.1", "[::1]:53", "::1",
                               f"{lab.dns},{lab.dns}", "127.0.0.1:abc", "localhost:53"])
        if "host:port" in key:
            return rng.choice([f"127.0.0.1:{port}", "127.0.0.1:2525", "0.0.0.0:25", "[::1]:25",
                               "127.0.0.1", ":25", "127.0.0.1:-1"])
        if key in ("host", "hostname") or "host>" in key:
            if key == "hostname":
                return rng.choice(["gw1.example.com", "mail1.example.com", "a", "-a.example.com",
                                   "x" * 64 + ".example.com", "a_b.example.com", "ünï.example.com"])
            return rng.choice(["mx.example.com", "127.0.0.1", f"127.0.0.1:{port}", "USEDNS", "/dev/null",
                               f"[::1]:{port}", "the.tdc.queue", "mx.beta.cmd.cisco.com",
                               "nohost.example.com",
                               "example.com", "127.0.0.1:", "usedns", "[::1]"])
        if key == "port":
            return str(port)
        if "address" in key or "member" in key:
            if "member" in key or rng.random() < 0.3:
                return rng.choice(["user@example.com", "user@", "@example.com", "@.example.com",
                                   "@partners.example.com", "@", "@@", "a@b@c", "@.", "*@example.com"])
            return email_address(rng, lab).decode("utf-8", "replace")
        if "domain" in key:
            return rng.choice(DOMAINS)
        if "regex" in key or "pattern" in key:
            return rng.choice([*REGEXES, "mail.current", "mail.@2026*", "*"])
        if key in ("user",) or "user" in key:
            return rng.choice(USERS)
        if "name" in key and "full" not in key and "file" not in key:
            return rng.choice(POLICY_NAMES)
        if "file" in key:
            return rng.choice([*lab.files[-5:], "missing.xml", "../segcli.db", "/etc/passwd", ".",
                               "..", "a" * 300 + ".xml", "C100V-*.xml", "", "x.xml\x00"])
        if "group" in key:
            return rng.choice(["admin", "operator", "readonly", "Admin", "guest", "admins"])
        if "password" in key:
            return rng.choice(PASSWORDS)
        if "key" in key:
            return rng.choice(public_keys())
        if "tag" in key:
            return rng.choice(["[SPAM]", "", "***", "[" + "x" * 300 + "]", "tag\twith tab"])
        if "command" in key:
            return rng.choice(self.vocabulary)
        if "size" in key:
            return rng.choice(["10M", "512k", "1", "0", "1G", "10485760", "-5", "1.5M", "10MB", "k"])
        if key == "f" or "scale" in key:
            return rng.choice(["1", "0.01", "0", "-1", "100", "1e-9", "1e9"])
        if "numbers" in key:
            return rng.choice(["1", "1,3-4", "2-1", "0", "1-", "99", "1,1,1"])
        if key in ("comment", "reason", "full name", "new name") or " " in key:
            return rng.choice(["fuzz", "a comment", "Ünïcödé", "x" * 500, "semi;colon", "quote\"d"])
        if key == "mid":
            return str(rng.choice([1, 2, 10, 0, -1, 10**12]))
        # numbers: n, s, seconds, count, lines, number, position, 1-5
        return str(rng.choice([1, 2, 3, 5, 10, 60, 0, -1, 120, 3600, 1000, 1001, 10000, 10**9]))

    # -- forms ----------------------------------------------------------------------------
    def render_form(self, rng: random.Random, form: str) -> list[str]:
        words: list[str] = []
        for token in split_top(form, " "):
            if _whole_group(token):
                if rng.random() < 0.55:
                    words.extend(self.render_form(rng, token[1:-1]))
                continue
            words.append(self.render_word(rng, rng.choice(split_top(token, "|"))))
        return words

    def render_word(self, rng: random.Random, word: str) -> str:
        listed = re.search(r"\[,(<[^<>]*>)?(?:\.\.\.)?\]$", word)
        if listed:
            base = word[:listed.start()]
            item = listed.group(1) or base
            word = base + "".join("," + item for _ in range(rng.choice([0, 0, 1, 2, 4])))
        word = re.sub(r"\[(:<[^<>]+>)\]", lambda m: m.group(1) if rng.random() < 0.5 else "", word)
        return re.sub(r"<([^<>]+)>", lambda m: self.value(rng, m.group(1)), word)

    # -- one command ------------------------------------------------------------------------
    def words_for(self, rng: random.Random, info: CommandInfo) -> tuple[list[str], bool]:
        """Words of one command (name first), and whether it is the dialog form."""
        name = info.name if rng.random() < 0.9 or not info.aliases else rng.choice(info.aliases)
        if rng.random() < 0.08:
            name = rng.choice([name.upper(), name.capitalize(), name[:-1], name + "x"])
        roll = rng.random()
        if roll < 0.6 and info.forms:
            form = rng.choice(info.forms)
            if info.name == "nslookup":
                form = form.replace("<name>", "<domain>")
            words = self.render_form(rng, form)[1:]
        elif roll < 0.85 and info.grammar_paths:
            path = rng.choice(info.grammar_paths)
            live = NAMES_OF.get(info.name, "name")
            words = [self.value(rng, live) if w == "<name>" else w for w in path]
            words += [self.value(rng, rng.choice(["n", "domain", "host", "address", "name", "seconds"]))
                      for _ in range(rng.choice([0, 0, 1, 2]))]
        else:
            words = []
        for option in info.options:
            if rng.random() < 0.15:
                words[0:0] = self.render_form(rng, option)
        return [name, *words], not words

    def quote(self, rng: random.Random, word: str) -> str:
        if word == "" or any(c in word for c in " \t\"';\\"):
            roll = rng.random()
            if roll < 0.65:
                return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
            if roll < 0.85 and "'" not in word:
                return "'" + word + "'"
            if roll < 0.92:
                return '"' + word  # unbalanced
            return word
        if rng.random() < 0.03:
            return rng.choice(['"', "'"]) + word + rng.choice(['"', "'", ""])
        return word

    def mutate(self, rng: random.Random, words: list[str]) -> list[str]:
        words = list(words)
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            spot = rng.randrange(len(words) + 1)
            if roll < 0.2 and len(words) > 1:
                del words[rng.randrange(1, len(words))]
            elif roll < 0.35 and words:
                item = rng.choice(words)
                words.insert(spot, item)
            elif roll < 0.5 and len(words) > 2:
                a, b = rng.sample(range(1, len(words)), 2)
                words[a], words[b] = words[b], words[a]
            elif roll < 0.7:
                words.insert(max(1, spot), rng.choice(self.vocabulary))
            elif roll < 0.9 and len(words) > 1:
                words[rng.randrange(1, len(words))] = nasty_text(rng)
            else:
                words.append(nasty_text(rng))
        return words

    def answers(self, rng: random.Random, info: CommandInfo, words: list[str]) -> list[str]:
        """Lines for a command's questions: its menu keywords, numbers, yes/no, values."""
        answers = []
        for _ in range(rng.choice([0, 1, 2, 3, 4, 6, 10])):
            roll = rng.random()
            if roll < 0.3 and info.menu_words:
                word = rng.choice(info.menu_words)
                answers.append(rng.choice([word, word.lower(), word.capitalize()]))
            elif roll < 0.5:
                answers.append(str(rng.choice([1, 1, 2, 3, 4, 5, 9, 0, -1])))
            elif roll < 0.6:
                answers.append("")
            elif roll < 0.7:
                answers.append(rng.choice(["y", "n", "Y", "N", "yes", "no", "maybe"]))
            elif roll < 0.92:
                answers.append(self.value(rng, rng.choice(["domain", "host", "address", "name", "n",
                                                           "seconds", "regex", "member", "ip[:port]"])))
            else:
                answers.append(nasty_text(rng).replace("\n", " "))
        if info.name == "passwd":
            # The harness's own password never changes: after the right old password comes
            # the same password as the new one.
            new = rng.choice(PASSWORDS)
            again = new if rng.random() < 0.8 else rng.choice(PASSWORDS)
            if len(words) > 1:  # another user's: the new password twice
                answers = [new, again, *answers[:2]]
            elif rng.random() < 0.5:
                answers = [FUZZ_PASSWORD, FUZZ_PASSWORD, FUZZ_PASSWORD]
            else:
                answers = [rng.choice(PASSWORDS[1:]), new, again]
        if info.name == "rollbackconfig":  # never "commit now": the harness commits
            answers = [a for a in answers if a.strip().lower() not in ("y", "yes")]
        return answers

    def make(self, rng: random.Random) -> CliInput:
        account = rng.choices(list(ACCOUNTS), weights=[7, 2, 1])[0]
        chosen = [rng.choice(self.commands)]
        if rng.random() < 0.1:
            chosen.append(rng.choice(self.commands))
        if any(info.name == "passwd" for info in chosen):  # its answers must be its own
            chosen = [info for info in chosen if info.name == "passwd"][:1]
        parts: list[bytes] = []
        stdin_lines: list[str] = []
        follows = False
        for info in chosen:
            words, dialog = self.words_for(rng, info)
            if rng.random() < 0.25 and info.name != "passwd":
                words = self.mutate(rng, words)
            line = " ".join(self.quote(rng, w) for w in words).encode("utf-8", "surrogatepass")
            if rng.random() < 0.08 and info.name != "passwd":
                spot = rng.randrange(len(line) + 1)
                line = line[:spot] + rng.choice(CONTROL + NASTY_BYTES) + line[spot:]
            if rng.random() < 0.02:
                line += b" " + rng.choice([b"x", b"\"", b"a b "]) * rng.choice([2000, 20000, 70000])
            parts.append(line)
            if dialog or rng.random() < 0.2 or info.name == "passwd":
                stdin_lines += self.answers(rng, info, words)
            follows = follows or self._follows(info.name, words, dialog)
        command = b"; ".join(parts)
        changes = any(info.changes_config for info in chosen)
        names = [info.name for info in chosen]
        commit = changes and rng.random() < 0.35
        # An interactive userconfig answering with numbers might have picked a harness
        # account: nothing of that request is committed.
        risky = b"userconfig" in command.lower() and any(
            a.strip().isdigit() or a in PROTECTED_USERS for a in stdin_lines)
        commit = commit and not risky
        if commit:
            comment = self.quote(rng, rng.choice(["fuzz", "fuzz commit", nasty_text(rng)[:200]]))
            command += b"; commit " + comment.encode("utf-8", "surrogatepass")
        command = self.fence(command, drop_commits=risky)
        if b"suspendlistener" in command.lower():
            command += b"; resumelistener"
        stdin = "".join(a + "\n" for a in stdin_lines).encode("utf-8", "surrogatepass")
        return CliInput(account, loopback_guard(command), loopback_guard(stdin), follows,
                        names + (["commit"] if commit else []))

    def fence(self, command: bytes, *, drop_commits: bool = False) -> bytes:
        """Before every ``commit`` of a request that may have changed the DNS servers
        (``dnsconfig``, ``loadconfig``, ``rollbackconfig``: the host's resolvers, the
        factory configuration), point them back at the lab's zone; with *drop_commits*,
        leave the commits out.  The request is split into commands exactly as the
        appliance splits it."""
        import shlex

        from segcli.ssh.lines import split_commands

        lowered = command.lower()
        dns = any(word in lowered for word in (b"dnsconfig", b"loadconfig", b"rollbackconfig"))
        if not dns and not drop_commits:
            return command
        pieces = split_commands(command.decode("utf-8", "replace"))

        def commits(piece: str) -> bool:
            try:
                words = shlex.split(piece)
            except ValueError:
                return False
            return bool(words) and words[0].lower() == "commit"

        if not any(commits(piece) for piece in pieces):
            return command
        fenced: list[str] = []
        for piece in pieces:
            if commits(piece):
                if drop_commits:
                    continue
                fenced.append(f"dnsconfig servers {self.lab.dns}")
            fenced.append(piece)
        return "; ".join(fenced).encode("utf-8", "surrogatepass")

    @staticmethod
    def _follows(name: str, words: list[str], dialog: bool) -> bool:
        if name == "tail":
            return True
        if name == "grep":
            return dialog or "-t" in words
        if name in ("rate", "workqueue"):
            if name == "workqueue" and "rate" not in [w.lower() for w in words]:
                return dialog
            # rows every N seconds until Ctrl-C, or COUNT rows: short only when N x COUNT is
            numbers = [int(w) for w in words
                       if w.strip().isdigit() and w.isascii() and len(w.strip()) <= 18]
            return dialog or len(numbers) < 2 or numbers[0] * numbers[1] > 5
        return dialog and name in ("telnet",)


# ------------------------------------------------------------------------------------------
# Configuration documents

KNOWN_TAGS = ["hostname", "listener", "listener_address", "rcpt_access", "domain", "relay_list",
              "max_message_size", "offer_tls", "ssh_address", "relay_host", "route", "route_domain",
              "destination_domain", "destination_controls", "delivery", "dns", "threat_defense_connector",
              "tdc_enabled", "tdc_intake_address", "tdc_timers", "retry_delay", "smtp_routes",
              "destination", "max_concurrency", "tls", "dns_servers", "server", "dns_timeout",
              "trusted_cas", "certificate", "lab_host_ports", "host_port", "host", "port",
              "incoming_policies", "outgoing_policies", "policy", "policy_name", "member",
              "threat_defense", "antispam", "scan_enabled", "scan_action", "subject_tag", "config"]
#: Placeholders replaced after serialisation by what ElementTree would escape or refuse.
_RAW = "\ue000RAW{}\ue001"


class XmlGenerator:
    name = "xml"

    def __init__(self, lab: Lab, base_document: bytes) -> None:
        self.lab = lab
        self.base_document = base_document
        self.base = ET.fromstring(base_document)

    def make(self, rng: random.Random, index: int) -> XmlInput:
        root = copy.deepcopy(self.base)
        mutations: list[str] = []
        raw: list[bytes] = []
        gentle = rng.random() < 0.4
        if gentle:  # edits a person could make: the document should load
            for _ in range(rng.choice([1, 2, 3, 6])):
                mutations.append(self._edit(rng, root))
        if not gentle or rng.random() < 0.25:
            for _ in range(rng.choice([1, 1, 2, 3, 5])):
                mutations.append(self._mutate_tree(rng, root, raw))
        document = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        for number, piece in enumerate(raw):
            document = document.replace(_RAW.format(number).encode(), piece)
        if not gentle and rng.random() < 0.2:
            document, what = self._mutate_bytes(rng, document)
            mutations.append(what)
        document, guarded = guard_document(document, self.base, self.lab.dns)
        if guarded:
            mutations.append("DNS kept on the lab's zone")
        how = "paste" if rng.random() < 0.2 else "sftp"
        return XmlInput(document, how, rng.random() < 0.5, mutations, f"fuzz-{index:06d}.xml")

    def _edit(self, rng: random.Random, root: ET.Element) -> str:
        """One change of a value for another valid one (or one the rules may refuse)."""

        def set_text(path: str, text: str) -> str:
            element = root.find(path)
            if element is None:
                return f"no <{path}>"
            element.text = text
            return f"<{path}> = {text[:60]!r}"

        def add(path: str, tag: str, text: str) -> str:
            parent = root.find(path)
            if parent is None:
                return f"no <{path}>"
            ET.SubElement(parent, tag).text = text
            return f"<{path}> + <{tag}>{text[:60]}"

        number = str(rng.choice([1, 2, 5, 10, 30, 60, 100, 600, 1000, 3600]))
        choice = rng.randrange(14)
        if choice == 0:
            return set_text("hostname", rng.choice(["gw1.example.com", "mail2.example.com", "a.b",
                                                    "x" * 63 + ".com"]))
        if choice == 1:
            return add("listener/rcpt_access", "domain", rng.choice(["example.net", ".example.net",
                                                                    "partners.example.org", "ünï.example"]))
        if choice == 2:
            return add("listener/relay_list", "relay_host",
                       rng.choice(["127.0.0.2", "127.0.0.0/24", "::1"]))
        if choice == 3:
            return set_text("listener/max_message_size", rng.choice(["1000", "1048576", "52428800", "100"]))
        if choice == 4:
            return set_text("listener/offer_tls", rng.choice(["0", "1"]))
        if choice == 5:
            timer = rng.choice(["retry_delay", "attempt_timeout", "idle_timeout", "queue_limit",
                                "min_connections", "max_connections"])
            return set_text(f"threat_defense_connector/tdc_timers/{timer}", number)
        if choice == 6:
            return set_text("threat_defense_connector/tdc_enabled", rng.choice(["0", "1"]))
        if choice == 7:
            policies = root.find("incoming_policies")
            if policies is None or not len(policies):
                return "no policies"
            policy = copy.deepcopy(policies[0])
            name = policy.find("policy_name")
            if name is not None:
                name.text = rng.choice(["sales", "copy", "p" + number])
            members = policy.find("policy_recipients")
            if members is not None:
                for old in list(members):
                    members.remove(old)
                member = rng.choice(["@sales.example.com", "joe@", "@.example.net"])
                ET.SubElement(members, "member").text = member
            policies.insert(0, policy)
            return "a policy added on top"
        if choice == 8:
            for scan in root.iter("scan_action"):
                scan.text = rng.choice(["deliver", "drop", "bounce"])
            return "scan actions changed"
        if choice == 9:
            setting = rng.choice(["max_concurrency", "initial_retry", "max_retry", "max_queue_time"])
            return set_text(f"delivery/{setting}", number)
        if choice == 10:
            routes = root.find("smtp_routes")
            if routes is None:
                return "no routes"
            route = ET.SubElement(routes, "route")
            ET.SubElement(route, "route_domain").text = rng.choice(["example.net", ".example.com", "ALL"])
            ET.SubElement(route, "destination").text = rng.choice(["mx.example.com", "USEDNS", "/dev/null",
                                                                  "127.0.0.1:2727"])
            return "a route added"
        if choice == 11:
            for tag in root.iter("subject_tag"):
                tag.text = rng.choice(["[SPAM?]", "", "***SPAM***", "[" + "x" * 200 + "]"])
            return "subject tags changed"
        if choice == 12:
            for policy in root.iter("policy"):
                mode = policy.find("threat_defense")
                if mode is not None and rng.random() < 0.5:
                    mode.text = rng.choice(["disabled", "default"])
            return "threat defense modes changed"
        return set_text("dns/dns_timeout", rng.choice(["1", "0.5", "30", "300"]))

    def _mutate_tree(self, rng: random.Random, root: ET.Element, raw: list[bytes]) -> str:
        elements = [(parent, child) for parent in root.iter() for child in parent]
        parent, element = rng.choice(elements)
        roll = rng.random()
        if roll < 0.14:
            parent.remove(element)
            return f"dropped <{element.tag}>"
        if roll < 0.26:
            parent.insert(list(parent).index(element), copy.deepcopy(element))
            return f"doubled <{element.tag}>"
        if roll < 0.34:
            _, host = rng.choice(elements)
            if host is not element and element not in list(host.iter()):
                host.append(copy.deepcopy(element))
            else:
                element.append(copy.deepcopy(element))
            return f"nested <{element.tag}> in <{host.tag}>"
        if roll < 0.40:
            element.tag = rng.choice([*KNOWN_TAGS, "unknown", "x", "Hostname", "hostname_", "a-b", "é"])
            return f"renamed to <{element.tag}>"
        if roll < 0.45:
            value = nasty_text(rng)[:50].replace("\x00", "")
            element.set(rng.choice(["x", "id", "xmlns", "encoding"]), value)
            return f"attribute on <{element.tag}>"
        if roll < 0.50:
            for child in list(element):
                element.remove(child)
            element.text = None
            return f"emptied <{element.tag}>"
        if roll < 0.55:
            children = list(element)
            rng.shuffle(children)
            for child in list(element):
                element.remove(child)
            element.extend(children)
            return f"reordered <{element.tag}>"
        if roll < 0.60:
            extra = ET.SubElement(element, rng.choice([*KNOWN_TAGS, "extra"]))
            extra.text = self._text(rng, raw)
            return f"added <{extra.tag}> to <{element.tag}>"
        leaves = [e for e in root.iter() if len(e) == 0]
        leaf = rng.choice(leaves)
        old = leaf.text or ""
        leaf.text = self._text(rng, raw, old)
        return f"<{leaf.tag}> text {len(leaf.text)} characters"

    def _text(self, rng: random.Random, raw: list[bytes], old: str = "") -> str:
        roll = rng.random()
        if roll < 0.25:
            return nasty_text(rng)
        if roll < 0.45:  # what ElementTree would not write: control characters, references
            raw.append(rng.choice([b"\x01", b"\x00", b"\x1b", b"&#1;", b"&#0;", b"&#xD800;", b"&#x1F;",
                                   b"&undefined;", b"&amp;amp;", b"&lt;x&gt;", b"<![CDATA[x]]>",
                                   b"<!-- c -->", b"<?pi x?>", b"&#65;&#66;", b"\xff", b"&#x10FFFF;",
                                   b"&#xFFFE;", b"]]>", b"&#9;&#10;&#13;"]))
            return old[: rng.randint(0, len(old))] + _RAW.format(len(raw) - 1)
        if roll < 0.6:
            return rng.choice(["0", "-1", "1", "2", "99999999999999999999", "1e309", "0.5", "nan",
                               "yes", "true", "", " ", "10M", "1.0"])
        if roll < 0.7:
            return rng.choice(["x", "é", "1", "@"]) * rng.choice([1000, 50_000, 200_000])
        if roll < 0.8 and old:  # a small change to the old value
            position = rng.randrange(len(old))
            return old[:position] + rng.choice(["", "x", " ", ".", "@", "9", ":", "\t"]) + old[position + 1:]
        return rng.choice([*DOMAINS, *POLICY_NAMES, *USERS, "@example.com", "127.0.0.1:2525",
                           email_address(rng, self.lab).decode("latin-1")])

    def _mutate_bytes(self, rng: random.Random, document: bytes) -> tuple[bytes, str]:
        roll = rng.random()
        if roll < 0.25:
            cut = rng.randrange(len(document))
            return document[:cut], f"truncated at {cut}"
        if roll < 0.45:
            data = bytearray(document)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.getrandbits(8)
            return bytes(data), "bytes flipped"
        body = document.split(b"?>", 1)[1] if document.startswith(b"<?xml") else document
        if roll < 0.6:
            doctype = rng.choice([
                b'<!DOCTYPE config [<!ENTITY h "gw.example.com">]>',
                b'<!DOCTYPE config [<!ENTITY h SYSTEM "file:///etc/hostname">]>',
                b'<!DOCTYPE config [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY h "&c;&c;&c;&c;&c;&c;&c;&c;">]>',
                b'<!DOCTYPE config SYSTEM "http://127.0.0.1:9/x.dtd">',
                b'<!DOCTYPE config [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
            ])
            body = body.replace(b"<hostname>mail1.example.com</hostname>", b"<hostname>&h;</hostname>", 1)
            return b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype + body, "DOCTYPE with entities"
        if roll < 0.75:
            head = rng.choice([b"\xef\xbb\xbf<?xml version=\"1.0\"?>", b"<?xml version=\"1.1\"?>",
                               b"<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
                               b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
                               b"<?xml version=\"1.0\" encoding=\"bogus\"?>", b"", b"\n\n  "])
            return head + body, "XML declaration changed"
        if roll < 0.85:
            return document.replace(b"\n", rng.choice([b"\r\n", b"\r", b""])), "line ends changed"
        if roll < 0.92:
            trailing = rng.choice([b"<config/>", b"trailing", b"\x00", b"<!-- -->"])
            return document + trailing, "trailing content"
        return random_bytes(rng, rng.randint(0, 3000)), "random bytes"


