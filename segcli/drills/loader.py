"""Drill files (TOML, schema 1) to :class:`~segcli.drills.model.Drill`, every problem named.

A trainer who writes a drill by hand gets every mistake at once, each with its file, line
and field (``drills/x.toml:42: phase[1].expect[3].sequence[2]: regex does not compile:
...``), and a drill with any problem never runs: :func:`load_drill` raises
:class:`DrillFileError`.  Unknown keys are errors, because a typo (``withins_s``) would
otherwise silently change what a check means.  Arrays are counted from 1 in field names.

Two passes: :func:`parse_drill` maps the TOML onto the model (types, required keys, one check
kind per check) and :func:`validate` judges the drill as a whole (variables defined before
use, regexes compile, formulas evaluate, shapes exist).  Lines come from
:class:`~segcli.drills.sourcemap.SourceMap`, because :mod:`tomllib` keeps none.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import re
import tomllib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segcli.drills import shapes
from segcli.drills.expressions import (
    TIMERS,
    ExpressionError,
    UndefinedVariable,
    evaluate,
    placeholders,
    substitute,
)
from segcli.drills.model import (
    CATEGORIES,
    CHECK_KINDS,
    DNS_CHECK_SERVERS,
    FAULT_ACTIONS,
    LAB_PROFILES,
    RECORD_TYPES,
    SCHEMA,
    SMTP_STAGES,
    TEXT_FIGURES,
    TRAFFIC_KINDS,
    Check,
    Drill,
    Expr,
    FaultSpec,
    Fix,
    LabSpec,
    Phase,
    Quiz,
    Solved,
    TrafficSpec,
    Trickle,
)
from segcli.drills.sourcemap import SourceMap

#: Larger files are refused unread: a drill is a page or two of text.
MAX_BYTES = 1024 * 1024

#: The lab's values a drill may use as ``${lab.<name>}`` anywhere.
LAB_NAMES = ("lab.default_intake", "lab.default_local", "lab.default_domain", "lab.custom_intake",
             "lab.custom_domain", "lab.custom_policy", "lab.Cmax", "lab.sink_host",
             "lab.smtp_port", "lab.sink_port", "lab.sink", "lab.dns")
#: The DNS black hole's ``host:port``: it exists once a phase has armed a ``lab``
#: ``dns_blackhole`` fault (in that phase's checks, and in everything after the phase).
BLACKHOLE_NAME = "lab.blackhole"
#: What traffic ``m1`` binds: ``${m1.message_id}``, ``${m1.subject}``, ``${m1.mid}``.
TRAFFIC_NAMES = ("message_id", "subject", "mid")

#: A drill id: the file's name, so it must be safe as one.
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")

#: Faults that happen at one fixed stage of the SMTP dialogue (the simulator's rule).
_FIXED_STAGE = {"no_starttls": "ehlo", "tls_abort": "starttls", "untrusted_cert": "starttls",
                "disconnect_after_dot": "eom"}
_DNS_TYPES = ("MX", "A", "AAAA", "TXT", "CNAME", "NS", "PTR", "SOA")
#: A host name as an MX record names it: dot-separated labels, no spaces.
_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*")

_TOP_KEYS = {"schema", "id", "title", "category", "tags", "difficulty", "seed", "fast_ok",
             "ticket", "lab", "vars", "phase", "hint", "diagnosis", "fix", "solved", "quiz"}
_CHECK_OPTIONS = {"desc", "severity", "spoiler", "within_s", "watch_s", "span_s", "delta", "equal",
                  "shape", "fields"}
#: Check kinds whose value is a table: (allowed keys, required keys).
_SPEC_TABLES: dict[str, tuple[set[str], set[str]]] = {
    "count": ({"re", "equal", "min", "max"}, {"re"}),
    "sample": ({"command", "host", "field", "every_s", "for_s", "max_at_least", "final"},
               {"command", "host", "field", "every_s", "for_s"}),
    "timing": ({"from", "to", "between"}, {"from", "to", "between"}),
    "findevent": ({"mid", "message_id", "contains"}, {"contains"}),
    "config": ({"command", "contains", "lacks"}, {"command"}),
    "setd": ({"account", "message_id", "delta", "transactions", "statuses"}, set()),
    "dns": ({"server", "name", "type", "rcode", "count"}, set()),
    "sink": ({"to", "message_id", "count", "within_s"}, set()),
}
_STRING_KINDS = ("log", "hoststatus", "tophosts", "invariant")
_LIST_KINDS = ("sequence", "absent")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a drill file, where a person will find it."""

    file: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class DrillFileError(Exception):
    """A drill file that cannot run; ``problems`` says every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


# -- entry points -----------------------------------------------------------------------------
def load_drill(path: Path, *, strict: bool = False) -> Drill:
    """The drill in *path*; :class:`DrillFileError` if it has any problem."""
    return parse_drill(read_text(path), path, strict=strict)


def read_text(path: Path) -> str:
    """A drill file's text: at most :data:`MAX_BYTES`, UTF-8."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise DrillFileError([Problem(path, 0, "", f"cannot read: {exc.strerror or exc}")]) from None
    if len(data) > MAX_BYTES:
        raise DrillFileError([Problem(path, 0, "", "larger than 1 MiB: not a drill file")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DrillFileError([Problem(path, line, "", "not UTF-8 text")]) from None


def parse_drill(text: str, source: Path, *, strict: bool = False) -> Drill:
    """The drill *text* (read from *source*) describes; every problem in one
    :class:`DrillFileError`: the structure's, then :func:`validate`'s."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise DrillFileError([Problem(source, 0, "", "larger than 1 MiB: not a drill file")])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DrillFileError([_syntax_problem(source, text, exc)]) from None
    smap = SourceMap(text)
    reader = _Reader(source, smap)
    drill = reader.drill(data)
    problems = reader.problems + _Validator(drill, smap, strict=strict).run()
    if problems:
        raise DrillFileError(sorted(problems, key=lambda p: p.line))
    return drill


def validate(drill: Drill, *, strict: bool = False) -> list[Problem]:
    """What is wrong with *drill* as a whole: schema, id and file name, variables defined
    before use, regexes that compile, formulas that evaluate, shapes that exist; with
    *strict*, also the checks that only warn (DRILLS.md §8 rule 3)."""
    smap = SourceMap("")
    if drill.source is not None:
        with contextlib.suppress(DrillFileError):  # lines then come from the model
            smap = SourceMap(read_text(drill.source))
    return _Validator(drill, smap, strict=strict).run()


def is_slug(text: str) -> bool:
    """Is *text* a safe drill id (lower-case letters, digits and ``-``; used as a file name)?"""
    return SLUG.fullmatch(text) is not None


def _syntax_problem(source: Path, text: str, exc: tomllib.TOMLDecodeError) -> Problem:
    """tomllib's message with its line taken out into the problem's (the end of the
    document is its last line)."""
    message = str(exc)
    line = getattr(exc, "lineno", 0)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        line = line or int(found.group(1))
        message = f"{message[:found.start()]} (column {found.group(2)})"
    elif message.endswith("(at end of document)"):
        line = line or text.rstrip("\n").count("\n") + 1
    return Problem(source, line, "", f"TOML syntax error: {message}")


# -- the structure --------------------------------------------------------------------------------
class _Reader:
    """TOML data to the model; what does not fit goes to ``problems`` and is left out."""

    def __init__(self, source: Path, smap: SourceMap) -> None:
        self.source = source
        self.smap = smap
        self.problems: list[Problem] = []

    def report(self, field: str, message: str) -> None:
        self.problems.append(Problem(self.source, self.smap.line(field), field, message))

    # typed values --------------------------------------------------------------------------
    def table(self, value: Any, field: str, allowed: Collection[str],
              required: Collection[str] = ()) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.report(field, f"must be a table, not {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else \
                    f"allowed: {', '.join(sorted(allowed))}"
                self.report(_join(field, key), f"unknown key {key!r} ({hint})")
        for key in sorted(set(required) - set(value)):
            self.report(field, f"{key!r} is required")
        return value

    def string(self, data: dict[str, Any], key: str, field: str, default: str = "") -> str:
        value = data.get(key, default)
        if isinstance(value, str):
            return value
        self.report(_join(field, key), f"must be a string, not {_kind(value)}")
        return default

    def optional_string(self, data: dict[str, Any], key: str, field: str) -> str | None:
        return self.string(data, key, field) if key in data else None

    def integer(self, data: dict[str, Any], key: str, field: str, default: int) -> int:
        value = data.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.report(_join(field, key), f"must be a whole number, not {_kind(value)}")
        return default

    def boolean(self, data: dict[str, Any], key: str, field: str, default: bool) -> bool:
        value = data.get(key, default)
        if isinstance(value, bool):
            return value
        self.report(_join(field, key), f"must be true or false, not {_kind(value)}")
        return default

    def expr(self, data: dict[str, Any], key: str, field: str) -> Expr | None:
        if key not in data:
            return None
        return self.expr_value(data[key], _join(field, key))

    def expr_value(self, value: Any, field: str) -> Expr | None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            return value
        self.report(field, f"must be a number or a formula, not {_kind(value)}")
        return None

    def strings(self, data: dict[str, Any], key: str, field: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list):
            self.report(_join(field, key), f"must be an array of strings, not {_kind(value)}")
            return ()
        good: list[str] = []
        for index, item in enumerate(value, 1):
            if isinstance(item, str):
                good.append(item)
            else:
                self.report(f"{_join(field, key)}[{index}]", f"must be a string, not {_kind(item)}")
        return tuple(good)

    def tables(self, data: dict[str, Any], key: str, field: str) -> Iterator[tuple[str, Any]]:
        """The items of an array of tables, each with its field name."""
        value = data.get(key, [])
        if not isinstance(value, list):
            self.report(_join(field, key), f"must be an array of tables, not {_kind(value)}")
            return
        for index, item in enumerate(value, 1):
            yield f"{_join(field, key)}[{index}]", item

    def expr_map(self, value: Any, field: str) -> dict[str, Expr]:
        if not isinstance(value, dict):
            self.report(field, f"must be a table of numbers, not {_kind(value)}")
            return {}
        found = {k: self.expr_value(v, _join(field, k)) for k, v in value.items()}
        return {k: v for k, v in found.items() if v is not None}

    def string_map(self, value: Any, field: str) -> dict[str, str]:
        if not isinstance(value, dict):
            self.report(field, f"must be a table of strings, not {_kind(value)}")
            return {}
        good: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, str):
                good[key] = item
            elif isinstance(item, int | float) and not isinstance(item, bool):
                good[key] = str(item)
            else:
                self.report(_join(field, key), f"must be a string, not {_kind(item)}")
        return good

    # the parts -----------------------------------------------------------------------------
    def drill(self, data: dict[str, Any]) -> Drill:
        self.table(data, "", _TOP_KEYS, {"schema", "id", "title", "category", "ticket"})
        schema = self.integer(data, "schema", "", SCHEMA)
        if "schema" in data and schema != SCHEMA:
            self.report("schema", f"schema {schema} is not supported (this segcli reads "
                        f"schema {SCHEMA})")
        ticket = self.table(data.get("ticket", {}), "ticket", {"from", "text"}, {"text"}) or {}
        quiz = tuple(q for f, item in self.tables(data, "quiz", "") if (q := self.quiz(item, f)))
        hints = tuple(self.string(item, "text", f) for f, item in self.tables(data, "hint", "")
                      if self.table(item, f, {"text"}, {"text"}) is not None)
        diagnosis = self.table(data.get("diagnosis", {}), "diagnosis", {"steps"}) or {}
        return Drill(
            id=self.string(data, "id", ""), title=self.string(data, "title", ""),
            category=self.string(data, "category", ""),
            ticket_text=self.string(ticket, "text", "ticket"),
            ticket_from=self.string(ticket, "from", "ticket"),
            tags=self.strings(data, "tags", ""),
            difficulty=self.integer(data, "difficulty", "", 1),
            seed=self.string(data, "seed", ""), fast_ok=self.boolean(data, "fast_ok", "", True),
            lab=self.lab(data.get("lab", {})), vars=self.string_map(data.get("vars", {}), "vars"),
            phases=tuple(p for f, item in self.tables(data, "phase", "")
                         if (p := self.phase(item, f))),
            hints=hints, diagnosis=self.strings(diagnosis, "steps", "diagnosis"),
            fix=self.fix(data.get("fix", {})),
            solved=self.solved(data["solved"]) if "solved" in data else None,
            quiz=quiz, source=self.source)

    def lab(self, value: Any) -> LabSpec:
        data = self.table(value, "lab", {"profile", "dns_record", "trickle"})
        if data is None:
            return LabSpec()
        records: list[str] = []
        for field, item in self.tables(data, "dns_record", "lab"):
            record = self.table(item, field, {"name", "type", "value"}, {"name", "type", "value"})
            if record is None:
                continue
            name, rdtype, value = (self.string(record, k, field) for k in ("name", "type", "value"))
            rdtype = rdtype.upper()
            if rdtype not in RECORD_TYPES:
                self.report(f"{field}.type", f"record type {rdtype!r}: one of "
                            f"{', '.join(RECORD_TYPES)}")
                continue
            if not placeholders(value) and (problem := record_value_problem(rdtype, value)):
                self.report(f"{field}.value", problem)
                continue
            records.append(f"{name} {rdtype} {value}")
        trickle = None
        if "trickle" in data:
            found = self.table(data["trickle"], "lab.trickle", {"every_s", "kind", "to"})
            if found is not None:
                trickle = Trickle(every_s=self.expr(found, "every_s", "lab.trickle") or 30,
                                  kind=self.string(found, "kind", "lab.trickle", "clean"),
                                  to=self.string(found, "to", "lab.trickle", "bob@example.com"))
                if trickle.kind not in TRAFFIC_KINDS:
                    self.report("lab.trickle.kind", f"unknown traffic kind {trickle.kind!r} "
                                f"(one of: {', '.join(TRAFFIC_KINDS)})")
        profile = self.string(data, "profile", "lab", "default")
        if profile not in LAB_PROFILES:
            self.report("lab.profile", f"unknown lab profile {profile!r} (one of: "
                        f"{', '.join(LAB_PROFILES)})")
        return LabSpec(profile=profile, dns_records=tuple(records), trickle=trickle)

    def phase(self, value: Any, field: str) -> Phase | None:
        data = self.table(value, field, {"name", "cli", "session", "answers", "fault", "traffic",
                                         "expect"}, {"name"})
        if data is None:
            return None
        return Phase(
            name=self.string(data, "name", field), cli=self.strings(data, "cli", field),
            session=self.optional_string(data, "session", field),
            answers=self.strings(data, "answers", field),
            faults=tuple(f for path, item in self.tables(data, "fault", field)
                         if (f := self.fault(item, path))),
            traffic=self.traffic_list(data, field),
            expect=self.checks(data, field), line=self.smap.line(field))

    def traffic_list(self, data: dict[str, Any], field: str) -> tuple[TrafficSpec, ...]:
        return tuple(t for path, item in self.tables(data, "traffic", field)
                     if (t := self.traffic(item, path)))

    def checks(self, data: dict[str, Any], field: str) -> tuple[Check, ...]:
        return tuple(c for path, item in self.tables(data, "expect", field)
                     if (c := self.check(item, path)))

    def fault(self, value: Any, field: str) -> FaultSpec | None:
        allowed = {"id", "target", "action", "intake", "stage", "code", "text", "delay_s", "times",
                   "name", "type", "records"}
        data = self.table(value, field, allowed, {"target", "action"})
        if data is None:
            return None
        target = self.string(data, "target", field)
        action = self.string(data, "action", field)
        known = target in FAULT_ACTIONS
        if not known and "target" in data:
            self.report(_join(field, "target"), f"unknown target {target!r} (one of: "
                        f"{', '.join(FAULT_ACTIONS)})")
        elif known and action not in FAULT_ACTIONS[target] and "action" in data:
            self.report(_join(field, "action"), f"unknown {target} action {action!r} "
                        f"(one of: {', '.join(FAULT_ACTIONS[target])})")
        code = self.integer(data, "code", field, 0) if "code" in data else None
        times = self.integer(data, "times", field, 1) if "times" in data else None
        if times is not None and times < 1:
            self.report(_join(field, "times"), "must be 1 or more (leave it out: until cleared)")
        spec = FaultSpec(
            id=self.string(data, "id", field), target=target,  # type: ignore[arg-type]
            action=action, intake=self.string(data, "intake", field),
            stage=self.string(data, "stage", field), code=code,
            text=self.string(data, "text", field), delay_s=self.expr(data, "delay_s", field),
            times=times, name=self.string(data, "name", field),
            type=self.string(data, "type", field), records=self.strings(data, "records", field),
            line=self.smap.line(field))
        if known and action in FAULT_ACTIONS[target]:
            self.fault_rules(spec, data, field)
        return spec  # kept even when wrong: later faults keep their numbers

    def fault_rules(self, spec: FaultSpec, data: dict[str, Any], field: str) -> None:
        """Which keys each target takes, and the simulator's own rules for its faults."""
        keys = {"setd": {"intake", "stage", "code", "text", "delay_s"},
                "dns": {"name", "type", "records"}, "lab": set()}[spec.target]
        for key in sorted(set(data) - keys - {"id", "target", "action", "times"}):
            self.report(_join(field, key), f"a {spec.target} fault takes no {key!r}")
        if spec.target == "setd":
            if not spec.intake:
                self.report(field, "a setd fault needs 'intake': the intake address it is set "
                            "for (faults at connect, ehlo, starttls and mail strike its host)")
            if spec.stage and spec.stage not in SMTP_STAGES:
                self.report(_join(field, "stage"), f"unknown stage {spec.stage!r} (one of: "
                            f"{', '.join(SMTP_STAGES)})")
            fixed = _FIXED_STAGE.get(spec.action)
            if fixed and spec.stage not in ("", fixed):
                self.report(_join(field, "stage"), f"a {spec.action} fault happens at {fixed}")
            if spec.action == "reply":
                if not spec.stage:
                    self.report(field, "a reply fault needs a 'stage'")
                if spec.code is None or not 400 <= spec.code <= 599:
                    self.report(_join(field, "code"), "a reply fault needs a 4xx or 5xx 'code'")
            elif "code" in data or "text" in data:
                self.report(_join(field, "code" if "code" in data else "text"),
                            "only a reply fault takes a code and a text")
            if spec.action == "slow" and spec.delay_s is None:
                self.report(field, "a slow fault needs 'delay_s'")
        elif spec.target == "dns":
            if not spec.name:
                self.report(field, "a dns fault needs a 'name'")
            if spec.type and spec.type not in _DNS_TYPES:
                self.report(_join(field, "type"), f"unknown record type {spec.type!r}")
            if (spec.action == "records") != bool(spec.records):
                self.report(_join(field, "records"),
                            "the records action needs 'records', and only it takes them")
            if spec.action == "records":
                self.record_values(spec, field)

    def record_values(self, spec: FaultSpec, field: str) -> None:
        """A records fault: its ``type`` says the record type (the lab zone holds A, AAAA
        and MX), and each value is bare, in that type's form: ``"127.0.0.1"`` for A,
        ``"10 mx1.x.test"`` for MX.  A value with ``${...}`` is checked when it is armed."""
        if spec.type not in RECORD_TYPES:
            self.report(_join(field, "type"), "a records fault needs the 'type' of its records "
                        f"({', '.join(RECORD_TYPES)})")
            return
        for index, value in enumerate(spec.records, 1):
            problem = None if placeholders(value) else record_value_problem(spec.type, value)
            if problem:
                self.report(f"{_join(field, 'records')}[{index}]", problem)

    def traffic(self, value: Any, field: str) -> TrafficSpec | None:
        allowed = {"id", "kind", "to", "from", "subject", "count", "sessions", "over_s"}
        data = self.table(value, field, allowed, {"id"})
        if data is None:
            return None
        spec = TrafficSpec(
            id=self.string(data, "id", field), kind=self.string(data, "kind", field, "clean"),
            to=self.string(data, "to", field, "bob@example.com"),
            sender=self.string(data, "from", field, "alice@example.org"),
            subject=self.string(data, "subject", field), count=self.integer(data, "count", field, 1),
            sessions=self.integer(data, "sessions", field, 1),
            over_s=self.expr(data, "over_s", field), line=self.smap.line(field))
        if spec.kind not in TRAFFIC_KINDS:
            self.report(_join(field, "kind"), f"unknown traffic kind {spec.kind!r} (one of: "
                        f"{', '.join(TRAFFIC_KINDS)})")
        if "id" in data and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", spec.id):
            self.report(_join(field, "id"), "must be a name (letters, digits, _): it is used as "
                        f"${{{spec.id}.message_id}}")
        for key in ("count", "sessions"):
            if getattr(spec, key) < 1:
                self.report(_join(field, key), "must be 1 or more")
        return spec

    def check(self, value: Any, field: str) -> Check | None:
        data = self.table(value, field, _CHECK_OPTIONS | set(CHECK_KINDS), {"desc"})
        if data is None:
            return None
        kinds = [key for key in data if key in CHECK_KINDS]
        if "shape" in data:
            kinds.append("shape")
        unknown = set(data) - _CHECK_OPTIONS - set(CHECK_KINDS)
        if not kinds and unknown:
            return self.broken_check(data, field)  # the unknown key was the kind, misspelt
        if len(kinds) != 1:
            what = "none" if not kinds else " and ".join(repr(k) for k in kinds)
            self.report(field, f"a check takes exactly one kind ({', '.join(CHECK_KINDS)}, or "
                        f"'shape' for a log regex); this one has {what}")
            return self.broken_check(data, field)
        kind = kinds[0]
        severity = self.string(data, "severity", field, "fail")
        if severity not in ("fail", "warn"):
            self.report(_join(field, "severity"), "must be \"fail\" or \"warn\"")
            severity = "fail"
        fields = self.string_map(data.get("fields", {}), _join(field, "fields"))
        if fields and kind != "shape":
            self.report(_join(field, "fields"), "only a 'shape' check takes fields")
        for key in ("delta", "equal"):
            if key in data and kind not in ("hoststatus", "tophosts"):
                self.report(_join(field, key), f"only hoststatus and tophosts checks take {key!r}")
        if kind in ("hoststatus", "tophosts") and not {"delta", "equal"} & set(data):
            self.report(field, f"a {kind} check needs 'delta' or 'equal' (or both)")
        if kind == "shape":
            spec = self.shape(data, field, fields)
            if spec is None:
                return self.broken_check(data, field)
            kind = "log"
        else:
            spec = self.check_spec(kind, data[kind], _join(field, kind))
        return Check(
            kind=kind, spec=spec, desc=self.string(data, "desc", field),
            severity=severity, spoiler=self.boolean(data, "spoiler", field, False),  # type: ignore[arg-type]
            within_s=self.expr(data, "within_s", field), watch_s=self.expr(data, "watch_s", field),
            span_s=self.expr(data, "span_s", field),
            delta=self.expr_map(data.get("delta", {}), _join(field, "delta")),
            equal=self.expr_map(data.get("equal", {}), _join(field, "equal")),
            shape=data.get("shape") if kind == "log" and "shape" in data else None,
            fields=fields, line=self.smap.line(field))

    def broken_check(self, data: dict[str, Any], field: str) -> Check:
        """A check that is wrong, kept in its place so that the checks after it keep their
        numbers (the drill is refused anyway)."""
        return Check(kind="", spec=None, desc=str(data.get("desc", "")), line=self.smap.line(field))

    def shape(self, data: dict[str, Any], field: str, fields: dict[str, str]) -> str | None:
        name = self.string(data, "shape", field)
        try:
            return shapes.shape_regex(name, fields)
        except KeyError as exc:
            bad = "shape" if name not in shapes.SHAPES else "fields"
            self.report(_join(field, bad), str(exc).strip("'\""))
            return None

    def check_spec(self, kind: str, value: Any, field: str) -> Any:
        """The value of a check's kind key, as written, when its form is right."""
        if kind in _STRING_KINDS:
            if not isinstance(value, str) or not value:
                self.report(field, f"must be a non-empty string, not {_kind(value)}")
            return value
        if kind in _LIST_KINDS:
            if not isinstance(value, list) or not value:
                self.report(field, "must be a non-empty array of regexes")
                return value
            for index, item in enumerate(value, 1):
                if not isinstance(item, str):
                    self.report(f"{field}[{index}]", f"must be a string, not {_kind(item)}")
            return value
        allowed, required = _SPEC_TABLES[kind]
        data = self.table(value, field, allowed, required)
        if data is not None:
            self.spec_rules(kind, data, field)
        return value

    def spec_rules(self, kind: str, data: dict[str, Any], field: str) -> None:
        if kind == "count" and not {"equal", "min", "max"} & set(data):
            self.report(field, "a count check needs 'equal', 'min' or 'max'")
        if kind == "config" and not {"contains", "lacks"} & set(data):
            self.report(field, "a config check needs 'contains' or 'lacks'")
        if kind == "findevent" and len({"mid", "message_id"} & set(data)) != 1:
            self.report(field, "a findevent check needs exactly one of 'mid' and 'message_id'")
        if kind == "setd" and "delta" in data and "account" not in data:
            self.report(field, "a setd check with 'delta' needs 'account' (the intake address "
                        "or account name whose counts it compares)")
        if kind == "dns":
            self.dns_rules(data, field)
        if kind == "timing":
            between = data.get("between")
            if not isinstance(between, list) or len(between) != 2:
                self.report(_join(field, "between"), "must be [lowest, highest]: two formulas")
        for key in ("contains", "lacks", "statuses"):
            if key in data:
                self.strings(data, key, field)

    def dns_rules(self, data: dict[str, Any], field: str) -> None:
        """``server = "zone"`` (the default) counts the lab zone's queries for a ``name``;
        ``server = "blackhole"`` counts the datagrams the DNS black hole read, which it
        never parses: it takes only ``count``."""
        server = data.get("server", "zone")
        if server not in DNS_CHECK_SERVERS:
            self.report(_join(field, "server"), f"unknown DNS server {server!r} (one of: "
                        f"{', '.join(DNS_CHECK_SERVERS)})")
        elif server == "blackhole":
            for key in sorted(set(data) & {"name", "type", "rcode"}):
                self.report(_join(field, key), f"the black hole reads no names: it takes no "
                            f"{key!r}, only 'count'")
        elif "name" not in data:
            self.report(field, "a dns check of the lab zone needs a 'name'")

    def fix(self, value: Any) -> Fix:
        data = self.table(value, "fix", {"story", "cli", "session", "answers", "lab"})
        if data is None:
            return Fix()
        return Fix(story=self.string(data, "story", "fix"), cli=self.strings(data, "cli", "fix"),
                   session=self.optional_string(data, "session", "fix"),
                   answers=self.strings(data, "answers", "fix"),
                   lab=self.strings(data, "lab", "fix"))

    def solved(self, value: Any) -> Solved | None:
        data = self.table(value, "solved", {"traffic", "expect"})
        if data is None:
            return None
        return Solved(traffic=self.traffic_list(data, "solved"), expect=self.checks(data, "solved"))

    def quiz(self, value: Any, field: str) -> Quiz | None:
        data = self.table(value, field, {"q", "choices", "answer"}, {"q", "choices", "answer"})
        if data is None:
            return None
        quiz = Quiz(q=self.string(data, "q", field), choices=self.strings(data, "choices", field),
                    answer=self.integer(data, "answer", field, 1))
        if not 1 <= quiz.answer <= len(quiz.choices):
            self.report(_join(field, "answer"), f"must be the number of a choice (1 to "
                        f"{len(quiz.choices)})")
        return quiz


# -- the drill as a whole -----------------------------------------------------------------------
class _Validator:
    """Walks a drill in the order it runs, knowing which names are defined at each point."""

    def __init__(self, drill: Drill, smap: SourceMap, *, strict: bool) -> None:
        self.drill = drill
        self.smap = smap
        self.strict = strict
        self.source = drill.source or Path(f"{drill.id or 'drill'}.toml")
        self.problems: list[Problem] = []

    def report(self, field: str, message: str, fallback: int = 0) -> None:
        self.problems.append(Problem(self.source, self.smap.line(field, fallback), field, message))

    def run(self) -> list[Problem]:
        self.top()
        base = set(TIMERS) | set(LAB_NAMES)
        for name, value in self.drill.vars.items():
            self.names(value, f"vars.{name}", base, hint="[vars] may use timers and lab.* values")
        defined = base | set(self.drill.vars)
        if self.drill.lab.trickle is not None:
            trickle = self.drill.lab.trickle
            self.names(trickle.to, "lab.trickle.to", defined)
            self.formula(trickle.every_s, "lab.trickle.every_s", defined)
        fault_ids: set[str] = set()
        for index, phase in enumerate(self.drill.phases, 1):
            self.phase(phase, f"phase[{index}]", defined, fault_ids)
        self.fix(defined, fault_ids)
        if self.drill.solved is not None:
            self.traffic(self.drill.solved.traffic, "solved", defined)
            self.checks(self.drill.solved.expect, "solved", defined)
        return self.problems

    def top(self) -> None:
        drill = self.drill
        if not is_slug(drill.id):
            self.report("id", f"{drill.id!r} is not a drill id (lower-case letters, digits and "
                        "'-', at most 64): it is the file's name")
        elif drill.source is not None and drill.source.stem != drill.id:
            self.report("id", f"{drill.id!r} is not the file's name: name the file "
                        f"{drill.id}.toml, or set id = {drill.source.stem!r}")
        if not drill.title.strip():
            self.report("title", "must not be empty")
        if drill.category not in CATEGORIES:
            self.report("category", f"unknown category {drill.category!r} (one of: "
                        f"{', '.join(CATEGORIES)})")
        if not 1 <= drill.difficulty <= 3:
            self.report("difficulty", "must be 1, 2 or 3")
        if not drill.ticket_text.strip():
            self.report("ticket.text", "must not be empty: the ticket is what the trainee reads")
        if not drill.phases:
            self.report("", "a drill needs at least one [[phase]]")

    def phase(self, phase: Phase, field: str, defined: set[str], fault_ids: set[str]) -> None:
        self.lines(phase.cli, f"{field}.cli", defined)
        self.lines(phase.answers, f"{field}.answers", defined)
        for index, fault in enumerate(phase.faults, 1):
            path = f"{field}.fault[{index}]"
            if fault.id:
                if fault.id in fault_ids:
                    self.report(f"{path}.id", f"fault id {fault.id!r} is used twice", fault.line)
                fault_ids.add(fault.id)
            for key in ("intake", "text", "name"):
                self.names(getattr(fault, key), f"{path}.{key}", defined, fallback=fault.line)
            self.lines(fault.records, f"{path}.records", defined)
            if fault.delay_s is not None:
                self.formula(fault.delay_s, f"{path}.delay_s", defined)
            if (fault.target, fault.action) == ("lab", "dns_blackhole"):
                defined.add(BLACKHOLE_NAME)  # armed before the traffic and the checks
        self.traffic(phase.traffic, field, defined)
        self.checks(phase.expect, field, defined)

    def traffic(self, traffic: tuple[TrafficSpec, ...], field: str, defined: set[str]) -> None:
        for index, spec in enumerate(traffic, 1):
            path = f"{field}.traffic[{index}]"
            for key, value in (("to", spec.to), ("from", spec.sender), ("subject", spec.subject)):
                self.names(value, f"{path}.{key}", defined, fallback=spec.line)
            if spec.over_s is not None:
                self.formula(spec.over_s, f"{path}.over_s", defined)
            if f"{spec.id}.message_id" in defined:
                self.report(f"{path}.id", f"traffic id {spec.id!r} is used twice", spec.line)
        for spec in traffic:  # sent before the checks run
            defined |= {f"{spec.id}.{name}" for name in TRAFFIC_NAMES}

    def checks(self, checks: tuple[Check, ...], field: str, defined: set[str]) -> None:
        for index, check in enumerate(checks, 1):
            self.check(check, f"{field}.expect[{index}]", defined)

    def check(self, check: Check, field: str, defined: set[str]) -> None:
        if self.strict and check.severity == "warn":
            self.report(f"{field}.severity", "a warn-only check (DRILLS.md §8 rule 3): make it "
                        "fail once its log shape is settled", check.line)
        for key in ("within_s", "watch_s", "span_s"):
            value = getattr(check, key)
            if value is not None:
                self.formula(value, f"{field}.{key}", defined, check.line)
        text_figures = TEXT_FIGURES.get(check.kind, {})
        for key in ("delta", "equal"):
            for label, value in getattr(check, key).items():
                path = f"{field}.{key}.{label}"
                if label not in text_figures:
                    self.formula(value, path, defined, check.line)
                elif key == "delta":
                    self.report(path, f"{label!r} is text ({' or '.join(text_figures[label])}): "
                                "it has no delta, give it in 'equal'", check.line)
                elif value not in text_figures[label]:
                    self.report(path, f"{label!r} is {' or '.join(map(repr, text_figures[label]))}"
                                f", not {value!r}", check.line)
        if check.kind == "absent" and check.watch_s is None:
            self.report(field, "an absent check needs 'watch_s' (how long to watch)", check.line)
        if check.shape is not None:
            for name, value in check.fields.items():
                self.names(value, f"{field}.fields.{name}", defined, fallback=check.line)
            self.regex(check.spec, f"{field}.shape", defined, check.line, bind=True)
            return
        path = f"{field}.{check.kind}"
        spec = check.spec
        if check.kind == "log" and isinstance(spec, str):
            self.regex(spec, path, defined, check.line, bind=True)
        elif check.kind in _LIST_KINDS and isinstance(spec, list):
            for index, item in enumerate(spec, 1):
                if isinstance(item, str):
                    self.regex(item, f"{path}[{index}]", defined, check.line,
                               bind=check.kind == "sequence")
        elif isinstance(spec, dict):
            self.spec_table(check.kind, spec, path, defined, check.line)
        elif isinstance(spec, str):
            self.names(spec, path, defined, fallback=check.line)

    def spec_table(self, kind: str, spec: dict[str, Any], field: str, defined: set[str],
                   line: int) -> None:
        regexes = {"count": ("re",), "timing": ("from", "to"), "findevent": ("contains",)}
        formulas = {"count": ("equal", "min", "max"), "timing": ("between",),
                    "sample": ("every_s", "for_s", "max_at_least", "final"),
                    "sink": ("count", "within_s"), "dns": ("count",),
                    "setd": ("delta", "transactions")}
        for key, value in spec.items():
            path = f"{field}.{key}"
            if key in regexes.get(kind, ()):
                for item_path, item in _items(value, path):
                    if isinstance(item, str):
                        self.regex(item, item_path, defined, line, bind=False)
            elif key in formulas.get(kind, ()):
                for item_path, item in _items(value, path):
                    if isinstance(item, int | float | str) and not isinstance(item, bool):
                        self.formula(item, item_path, defined, line)
                    else:
                        self.report(item_path, f"must be a number or a formula, not {_kind(item)}",
                                    line)
            else:
                for item_path, item in _items(value, path):
                    if isinstance(item, str):
                        self.names(item, item_path, defined, fallback=line)

    def fix(self, defined: set[str], fault_ids: set[str]) -> None:
        fix = self.drill.fix
        self.lines(fix.cli, "fix.cli", defined)
        self.lines(fix.answers, "fix.answers", defined)
        for index, action in enumerate(fix.lab, 1):
            words = action.split()
            if words[:2] == ["fault", "clear"] and len(words) == 3 and words[2] not in fault_ids:
                self.report(f"fix.lab[{index}]", f"no fault has the id {words[2]!r} (ids: "
                            f"{', '.join(sorted(fault_ids)) or 'none'})")

    # -- the leaves ---------------------------------------------------------------------------
    def lines(self, texts: tuple[str, ...], field: str, defined: set[str]) -> None:
        for index, text in enumerate(texts, 1):
            self.names(text, f"{field}[{index}]", defined)

    def names(self, text: str, field: str, defined: set[str], *, fallback: int = 0,
              hint: str = "") -> bool:
        """Report each ``${name}`` of *text* that is not defined here; True if all are."""
        good = True
        for name in placeholders(text):
            if name not in defined:
                good = False
                why = hint or _undefined_hint(name)
                self.report(field, f"${{{name}}} is not defined{': ' + why if why else ''}",
                            fallback)
        return good

    def regex(self, regex: str, field: str, defined: set[str], line: int, *, bind: bool) -> None:
        """The regex must compile once its placeholders have values; its named groups
        are defined for what follows (when *bind*)."""
        self.names(regex, field, defined, fallback=line)
        try:
            compiled = re.compile(substitute(regex, _Anything()))
        except re.error as exc:
            self.report(field, f"regex does not compile: {exc}", line)
            return
        if bind:
            defined |= set(compiled.groupindex)

    def formula(self, expr: Expr, field: str, defined: set[str], line: int = 0) -> None:
        if not isinstance(expr, str):
            return
        if not self.names(expr, field, defined, fallback=line):
            return
        dummies = {name: 2.0 + index for index, name in enumerate(placeholders(expr))}
        try:
            evaluate(expr, dummies)
        except (ExpressionError, UndefinedVariable) as exc:
            self.report(field, str(exc), line)


class _Anything(dict[str, str]):
    """Any name has a harmless value: what a regex is compiled with to check its syntax."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        return "x"


def _undefined_hint(name: str) -> str:
    if name == BLACKHOLE_NAME:
        return "the DNS black hole's address exists once a phase arms a lab dns_blackhole " \
               "fault: in that phase's checks and after it (not in its own commands)"
    if name.startswith("lab."):
        return f"the lab values are {', '.join(LAB_NAMES)}"
    if "." in name:
        return "traffic values (m1.message_id, m1.subject, m1.mid) exist once that traffic " \
               "was sent in this or an earlier phase"
    return "define it in [vars], or bind it with a named group (?P<name>...) of an earlier " \
           "log or sequence check"


def record_value_problem(rdtype: str, value: str) -> str | None:
    """What is wrong with *value* as the bare data of a record of *rdtype* (A, AAAA, MX), or
    None: an IPv4 address for A, an IPv6 one for AAAA, ``"preference host"`` for MX."""
    if rdtype in ("A", "AAAA"):
        family = ipaddress.IPv4Address if rdtype == "A" else ipaddress.IPv6Address
        try:
            family(value.strip())
        except ValueError:
            return (f"{value!r} is not an {'IPv4' if rdtype == 'A' else 'IPv6'} address (a "
                    f"records fault's values are bare: its 'type' says they are {rdtype})")
        return None
    preference, _, host = value.strip().partition(" ")
    host = host.strip().rstrip(".")
    if not (preference.isdigit() and int(preference) <= 65535) or not _HOST.fullmatch(host):
        return (f"{value!r} is not 'preference host' (e.g. '10 mx1.example.test'; a records "
                "fault's values are bare: its 'type' says they are MX)")
    return None


def _items(value: Any, field: str) -> Iterator[tuple[str, Any]]:
    """A value's leaves with their field names (lists and tables walked)."""
    if isinstance(value, list):
        for index, item in enumerate(value, 1):
            yield from _items(item, f"{field}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _items(item, f"{field}.{key}")
    else:
        yield field, value


def _kind(value: Any) -> str:
    names = {str: "a string", bool: "true/false", int: "a number", float: "a number",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key
