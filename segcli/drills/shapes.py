"""The log shapes drills match, by name (DRILLS.md §3, as this product writes them).

A drill check may say ``shape = "T-ENQ"`` instead of writing the regex: the regex then comes
from here, and ``fields = { intake = "${lab.default_intake}" }`` pins named groups to values.
Each regex matches the whole *text* of a mail log line (after ``<date> Info: ``) as
:mod:`engine.observe.log_lines` formats it -- the only place log lines are written.  The
tests format every line with those functions and match it here, so a change of wording in
the product breaks a test, not a trainer's drill at run time.

Where this product differs from DRILLS.md §3 the product wins: its delay, TLS-failure and
give-up lines carry ``TDC:``, and a copy that runs out of time or retries ends with
``TDC: MID n delivery failed ...: Expired.`` / ``Retries Exhausted.`` (no ``Bounced:`` line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from segcli.drills.expressions import PLACEHOLDER

_SETD = r"Cisco Secure Email Threat Defense"
_REPLY = r"\('(?P<code>\d{3})', \[.*\]\)"  # ('550', ['5.1.1 ...']): the reply as AsyncOS quotes it


@dataclass(frozen=True)
class Shape:
    """One kind of log line: its id, the regex of its text, and what it means."""

    id: str
    regex: str
    description: str


_SHAPES = (
    # -- the journal copy, in the order a healthy one goes (SPEC.md §2)
    Shape("T-GEN", r"TDC: MID (?P<jmid>\d+) was generated based on MID (?P<mid>\d+) by threat "
          r"defense connector",
          "the journal copy jmid is made from the original mid (links the two MIDs)"),
    Shape("T-ENQ", r"TDC: MID (?P<jmid>\d+) with Message-ID '(?P<msgid>[^']*)' enqueued for "
          rf"forwarding to {_SETD} to the message intake address (?P<intake>\S+)",
          "the journal copy is on the.tdc.queue, bound for an intake address"),
    Shape("T-NEWDCID", r"TDC: New SMTP DCID (?P<dcid>\d+) interface (?P<iface>\S+) address "
          r"(?P<addr>\S+) port (?P<port>\d+)",
          "a connection toward SETD is opened (it names no MID)"),
    Shape("G-TLSOK", r"DCID (?P<dcid>\d+) TLS success protocol (?P<proto>TLSv1\.[23]) cipher "
          r"(?P<cipher>\S+)",
          "TLS 1.2 or 1.3 on a delivery connection (SETD needs TLS 1.2 or later)"),
    Shape("T-START", r"TDC: Delivery start DCID (?P<dcid>\d+) MID (?P<jmid>\d+)",
          "a copy is handed to a connection: one attempt"),
    Shape("T-OK", rf"TDC: MID (?P<jmid>\d+) successfully delivered for scanning with {_SETD}\.",
          "SETD answered 250: the copy is delivered"),
    Shape("G-FIN", r"Message finished MID (?P<jmid>\d+) done", "the MID is done (delivered)"),
    Shape("G-FIN-ABORT", r"Message finished MID (?P<jmid>\d+) aborted",
          "the MID ended without delivery (bounced, expired, TLS error, deleted)"),
    Shape("G-CLOSE", r"DCID (?P<dcid>\d+) close", "a delivery connection is closed"),
    Shape("TRK-OK", rf"TDC: Message (?P<jmid>\d+) was delivered for scanning with {_SETD}\.",
          "message tracking (not the mail log): the copy was delivered"),
    # -- failures
    Shape("T-CONNERR-TO", r"TDC: Connection Error: DCID (?P<dcid>\d+) domain: the\.tdc\.queue "
          r"IP: (?P<addr>\S+) port: (?P<port>\d+) details: timeout interface: (?P<iface>\S+) "
          r"reason: connection timed out",
          "a connection toward SETD timed out (connect, greeting or a reply), or was cut at "
          "the queue's time limit"),
    Shape("T-CONNERR-NET", r"TDC: Connection Error: DCID (?P<dcid>\d+) domain: the\.tdc\.queue "
          r"IP: (?P<addr>\S+) port: (?P<port>\d+) details: (?P<details>.+) interface: "
          r"(?P<iface>\S+) reason: network error",
          "a network error toward SETD (details: [Errno 111] Connection refused, EOF, ...)"),
    Shape("G-TLSFAIL", r"TDC: DCID (?P<dcid>\d+) TLS failed: (?P<why>.+)",
          "TLS could not be had on a connection toward SETD (the line before T-TLSERR)"),
    Shape("T-TLSERR", rf"TDC: MID (?P<jmid>\d+) delivery failed to {_SETD}:TLS Error\.",
          "the copy is gone after a TLS error: no retry, never clear text"),
    Shape("G-DELAYED", r"TDC: Delayed: DCID (?P<dcid>\d+) MID (?P<jmid>\d+) From: <> To: "
          r"<(?P<intake>[^>]*)> RID 0 - (?P<dsn>[45]\.\d+\.\d+) - (?P<why>.+) " + _REPLY,
          "a retryable SMTP reply (4xx, 503, 552): the copy waits for its one retry"),
    Shape("T-HARD-SMTP", r"TDC: Hard bounced - (?P<dsn>5\.\d+\.\d+) - (?P<why>.+) "
          r"\('(?P<code>5\d\d)', \[.*\]\)",
          "a permanent SMTP reply from SETD: no retry"),
    Shape("G-BNC-SMTP", r"Bounced: DCID (?P<dcid>\d+) MID (?P<jmid>\d+) to RID 0 - Bounced by "
          r"destination server with response: (?P<dsn>5\.\d+\.\d+) - (?P<why>.+) "
          r"\('(?P<code>5\d\d)', \[.*\]\)",
          "the bounce line after T-HARD-SMTP and T-FAILHARD"),
    Shape("G-DNSNX", r"DNS Error (?P<domain>\S+) MX - NXDomain",
          "the intake domain does not exist (a hard error)"),
    Shape("G-DNSTEMP", r"DNS Temporary Failure (?P<domain>\S+) (?P<rdtype>[A-Z]+) - "
          r"(?P<why>[A-Za-z]+)",
          "a temporary DNS failure (why: ServFail, Refused, Timeout, NoNameservers): retried once"),
    Shape("T-HARD-DNS", r"TDC: Hard bounced - 5\.1\.2 - Bad destination host \('000', \['DNS "
          r"Hard Error looking up (?P<domain>\S+) \(MX\) : NXDomain'\]\)",
          "the seed's DNS hard bounce of the copy"),
    Shape("T-FAILHARD", rf"TDC: MID (?P<jmid>\d+) delivery failed to {_SETD}: Hard Bounced\.",
          "the copy is gone after a permanent failure (DNS or SMTP)"),
    Shape("T-FAIL-RETRIES", rf"TDC: MID (?P<jmid>\d+) delivery failed to {_SETD}: Retries "
          r"Exhausted\.",
          "the copy is gone: its retry failed too"),
    Shape("T-FAIL-EXPIRED", rf"TDC: MID (?P<jmid>\d+) delivery failed to {_SETD}: Expired\.",
          "the copy is gone: it reached the queue's time limit L"),
    Shape("T-FAIL", rf"TDC: MID (?P<jmid>\d+) delivery failed to {_SETD}: (?P<why>[^.]+)\.",
          "the copy is gone, for any reason (Hard Bounced, Retries Exhausted, Expired, ...)"),
    Shape("G-BNC-DNS", r"Bounced: DCID 0 MID (?P<jmid>\d+) to RID 0 - Bounced by destination "
          r"server with response: 5\.1\.2 - Bad destination host \('000', \['DNS Hard Error "
          r"looking up (?P<domain>\S+) \(MX\) : NXDomain'\]\)",
          "the last of the seed's five NXDOMAIN lines"),
    # -- ordinary AsyncOS lines, used as context
    Shape("G-MSGID", r"MID (?P<mid>\d+) Message-ID '(?P<msgid>[^']*)'",
          "a message's Message-ID header (the original's MID for a traffic message)"),
    Shape("G-POLICY", r"MID (?P<mid>\d+) matched all recipients for per-recipient policy "
          r"(?P<policy>\S+) in the (?P<table>inbound|outbound) table",
          "the mail policy that matched"),
    Shape("G-SPAM+", r"MID (?P<mid>\d+) using engine: CASE spam positive", "spam verdict"),
    Shape("G-AV+", r"MID (?P<mid>\d+) antivirus positive '(?P<virus>[^']+)'", "virus verdict"),
    Shape("G-DONE", r"Message done DCID (?P<dcid>\d+) MID (?P<mid>\d+) to RID \[(?P<rids>[\d, ]+)\]",
          "ordinary delivery: the message reached its destination (the sink)"),
)

SHAPES: dict[str, Shape] = {shape.id: shape for shape in _SHAPES}

#: Shapes of DRILLS.md §3 this product does not write, and what to use instead.
NOT_WRITTEN = {
    "G-BNC-EXP": "this product writes no Bounced: line when a copy expires or runs out of "
                 "retries: use T-FAIL-EXPIRED or T-FAIL-RETRIES",
}

_GROUP = re.compile(r"\(\?P<(?P<name>[A-Za-z_]\w*)>")


class UnknownShape(KeyError):
    """A shape id that is not in :data:`SHAPES`."""

    def __str__(self) -> str:
        shape = self.args[0]
        return NOT_WRITTEN.get(shape, f"unknown shape {shape!r}")


def groups(regex: str) -> list[str]:
    """The named groups of *regex*, in order."""
    return _GROUP.findall(regex)


def shape_regex(shape_id: str, fields: dict[str, str]) -> str:
    """The regex of shape *shape_id* with each named group of *fields* pinned to its value.

    A value is text, not a regex: ``{"intake": "a@b.test"}`` matches that address only.
    ``${name}`` placeholders in it are kept (they are regex-escaped when the runner puts
    their values in), so ``{"jmid": "${jmid}"}`` ties the line to a MID found earlier.
    The group keeps its name, so the check still binds it.
    """
    if shape_id not in SHAPES:
        raise UnknownShape(shape_id)
    regex = SHAPES[shape_id].regex
    for name, value in fields.items():
        regex = _pin(regex, shape_id, name, value)
    return regex


def _pin(regex: str, shape_id: str, name: str, value: str) -> str:
    start = regex.find(f"(?P<{name}>")
    if start < 0:
        raise KeyError(f"shape {shape_id} has no field {name!r} (fields: "
                       f"{', '.join(groups(regex))})")
    end = _group_end(regex, start)
    return f"{regex[:start]}(?P<{name}>{escape_text(value)}){regex[end:]}"


def _group_end(regex: str, start: int) -> int:
    """The index just after the bracket that closes the group opening at *start*."""
    depth = 0
    index = start
    while index < len(regex):
        char = regex[index]
        if char == "\\":
            index += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    raise ValueError(f"unbalanced group in {regex!r}")


def escape_text(value: str) -> str:
    """*value* as a regex that matches it literally, its ``${name}`` placeholders kept."""
    out: list[str] = []
    last = 0
    for match in PLACEHOLDER.finditer(value):
        out.append(re.escape(value[last:match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(re.escape(value[last:]))
    return "".join(out)
