"""The drill file as data: schema 1 of the public drill format (README, "Drill file format").

Everything here is plain, frozen data as the file says it: placeholders (``${m1.message_id}``)
and timer formulas (``"${r} + 20"``) are kept as text and resolved while a drill runs
(:mod:`segcli.drills.expressions`), because their values exist only then.  Each part keeps
the line of the file it came from, so that a run can point at the check that failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SCHEMA = 1

CATEGORIES = ("baseline", "config", "by-design", "smtp", "tls", "network", "dns", "capacity")

#: The kinds of check: each ``[[phase.expect]]`` names exactly one of them as a key.
CHECK_KINDS = (
    "log",  # one regex (named groups bind variables)
    "sequence",  # ordered regexes; ``span_s`` bounds first-to-last
    "absent",  # regexes that must not appear during ``watch_s``
    "count",  # { re, equal | min | max }
    "hoststatus",  # host name; with ``delta`` / ``equal`` maps of hoststatus labels
    "tophosts",  # host name; with ``delta`` / ``equal`` maps of tophosts column keys
    "sample",  # { command, host, field, every_s, for_s, max_at_least, final }
    "timing",  # { from, to, between = [expr, expr] }
    "findevent",  # { mid | message_id, contains = [regex, ...] }
    "config",  # { command, contains = [...], lacks = [...] }
    "setd",  # { account, message_id, delta, transactions, statuses }
    "dns",  # { name, type, rcode, count } of the lab zone, or { server = "blackhole", count }
    "sink",  # { to, message_id, count, within_s }
    "invariant",  # "the.tdc.queue": Active 0 and Completed = Delivered + Hard Bounced
)

#: Fault targets and the actions each takes (the simulator's fault kinds; the DNS zone's).
FAULT_ACTIONS = {
    "setd": ("reply", "hang", "disconnect_after_dot", "slow", "no_starttls", "tls_abort",
             "untrusted_cert"),
    "dns": ("nxdomain", "servfail", "refused", "timeout", "nodata", "records"),
    "lab": ("dns_blackhole",),
}
#: What a ``records`` fault can put in the lab zone (its ``type``); the values are bare.
RECORD_TYPES = ("A", "AAAA", "MX")
#: The DNS servers a ``dns`` check counts the queries of: the lab zone (by name, type and
#: rcode) or the DNS black hole (datagrams read, never parsed).
DNS_CHECK_SERVERS = ("zone", "blackhole")
#: Counter figures that are text, not numbers: only ``equal`` takes them, with these values.
TEXT_FIGURES: dict[str, dict[str, tuple[str, ...]]] = {
    "hoststatus": {"Host up/down": ("up", "down")},
}
#: The lab configurations a drill may start from (``[lab] profile``): ``segcli lab``'s.
LAB_PROFILES = ("default",)
SMTP_STAGES = ("connect", "ehlo", "starttls", "mail", "rcpt", "data", "eom")
TRAFFIC_KINDS = ("clean", "gtube", "eicar", "large")

#: A number, or a formula over timers and variables kept as text: ``"${r} + 20"``.
Expr = float | str
Severity = Literal["fail", "warn"]


@dataclass(frozen=True)
class Check:
    """One ``[[phase.expect]]`` / ``[[solved.expect]]``.

    ``kind`` is one of :data:`CHECK_KINDS`; ``spec`` is that key's value as written
    (a regex string, a list of them, a table, or a host name).  The other keys of the
    table are the common options below; ``delta``/``equal`` belong to ``hoststatus`` and
    ``tophosts``, ``shape``/``fields`` stand in for a regex of ``log``.
    """

    kind: str
    spec: Any
    desc: str
    severity: Severity = "fail"
    spoiler: bool = False
    within_s: Expr | None = None
    watch_s: Expr | None = None
    span_s: Expr | None = None
    delta: dict[str, Expr] = field(default_factory=dict)
    equal: dict[str, Expr] = field(default_factory=dict)
    shape: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class FaultSpec:
    """One ``[[phase.fault]]``: armed on the simulator (``setd``), the DNS zone (``dns``) or
    the lab's network (``lab``).  ``times`` None: until cleared."""

    id: str
    target: Literal["setd", "dns", "lab"]
    action: str
    intake: str = ""  # setd: the intake address the fault is set for
    stage: str = ""  # setd: one of SMTP_STAGES
    code: int | None = None
    text: str = ""
    delay_s: Expr | None = None
    times: int | None = None
    name: str = ""  # dns: the name
    type: str = ""  # dns: the record type (MX, A, AAAA); "" all types
    #: dns action "records": the answers, bare, of the record type ``type`` (A, AAAA or MX):
    #: ``"127.0.0.1"`` for A, ``"10 mx1.x.test"`` (preference and host) for MX
    records: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class TrafficSpec:
    """Messages to send over real SMTP to the gateway.  ``id`` binds ``${id.message_id}``
    (and ``${id.subject}``) for the first message of the batch."""

    id: str
    kind: str = "clean"
    to: str = "bob@example.com"
    sender: str = "alice@example.org"  # "from" in the file
    subject: str = ""
    count: int = 1
    sessions: int = 1
    over_s: Expr | None = None
    line: int = 0


@dataclass(frozen=True)
class Phase:
    """One ``[[phase]]``: commands, faults, traffic, then the checks, in that order."""

    name: str
    cli: tuple[str, ...] = ()
    session: str | None = None  # a named persistent CLI session kept across phases
    answers: tuple[str, ...] = ()  # piped dialog input after the commands
    faults: tuple[FaultSpec, ...] = ()
    traffic: tuple[TrafficSpec, ...] = ()
    expect: tuple[Check, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Fix:
    """``[fix]``: what solves it, applied by ``drill run`` after the fault phases.
    ``lab`` holds lab actions (``"fault clear"``, ``"fault clear <id>"``, ``"dns clear"``)
    for causes outside the gateway; ``story`` says what they stand for."""

    story: str = ""
    cli: tuple[str, ...] = ()
    session: str | None = None
    answers: tuple[str, ...] = ()
    lab: tuple[str, ...] = ()


@dataclass(frozen=True)
class Solved:
    """``[solved]``: verification traffic and the checks that prove the fix."""

    traffic: tuple[TrafficSpec, ...] = ()
    expect: tuple[Check, ...] = ()


@dataclass(frozen=True)
class Quiz:
    q: str
    choices: tuple[str, ...]
    answer: int  # 1-based


@dataclass(frozen=True)
class Trickle:
    """``[lab.trickle]``: in hands-on mode, one message every ``every_s`` keeps symptoms live."""

    every_s: Expr = 30
    kind: str = "clean"
    to: str = "bob@example.com"


@dataclass(frozen=True)
class LabSpec:
    profile: str = "default"
    dns_records: tuple[str, ...] = ()  # "name TYPE value": replace the zone's name/TYPE records
    trickle: Trickle | None = None


@dataclass(frozen=True)
class Drill:
    """A whole drill file."""

    id: str
    title: str
    category: str
    ticket_text: str
    ticket_from: str = ""
    tags: tuple[str, ...] = ()
    difficulty: int = 1
    seed: str = ""
    fast_ok: bool = True
    lab: LabSpec = field(default_factory=LabSpec)
    vars: dict[str, str] = field(default_factory=dict)
    phases: tuple[Phase, ...] = ()
    hints: tuple[str, ...] = ()
    diagnosis: tuple[str, ...] = ()
    fix: Fix = field(default_factory=Fix)
    solved: Solved | None = None
    quiz: tuple[Quiz, ...] = ()
    source: Path | None = None
