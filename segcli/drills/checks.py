"""The checks of a drill (DRILLS.md §7.2, ``[[phase.expect]]``), one function per kind.

Each check reads a witness -- the mail log from the drill's start, the counters the
``hoststatus``/``tophosts`` commands print (read from the same engine figures, never parsed
from their output), the SETD simulator, the DNS zone's query log, the delivery sink, or a
real command's output -- waits for it without blocking the loop, and gives a
:class:`CheckResult`: PASS, FAIL or WARN, a one-line detail, and on failure the context
(the mail log lines around the expected point, or the counters before and now).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from typing import Any

from commands.hoststatus import report_rows
from commands.tophosts import row_figures
from engine.observe.counters import HostCounters
from engine.observe.log_files import LogFollower
from segcli.drills.expressions import ExpressionError, UndefinedVariable, evaluate, substitute
from segcli.drills.lab import CommandFailed, DrillLab
from segcli.drills.model import TEXT_FIGURES, Check
from segcli.drills.shapes import shape_regex

POLL_S = 0.05
#: A waiting deadline never goes below this, whatever the timescale (it only bounds waiting).
MIN_WAIT_S = 5.0
DEFAULT_WITHIN_S = 10.0
CONTEXT_LINES = 20
_HEADER = re.compile(r"(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}) (\w+): (.*)")

#: ``setd`` totals keys.
SETD_TOTALS = ("accepted", "rejected", "deferred", "dropped_after_dot", "tls_failed",
               "foreign_domain", "duplicate")


class InvalidCheck(ValueError):
    """The check itself is wrong (an unknown label, a bad regex or formula): the drill
    file is invalid, whatever the lab does."""


@dataclass
class CheckResult:
    """What one check found."""

    desc: str
    kind: str
    status: str  # PASS | FAIL | WARN
    detail: str = ""
    context: list[str] = field(default_factory=list)
    line: int = 0
    elapsed_s: float = 0.0
    invalid: bool = False

    @property
    def passed(self) -> bool:
        return self.status != "FAIL"


@dataclass
class LogLine:
    index: int
    time: float
    level: str
    text: str
    raw: str


class MailLogWatch:
    """The mail log from the drill's start, read as it grows (across rolls)."""

    def __init__(self, lab: DrillLab) -> None:
        self.lab = lab
        self.lines: list[LogLine] = []
        self._follower = LogFollower(lab.mail_log_dir)
        self._follower.open_at_end()

    def poll(self) -> None:
        mail = self.lab.appliance.mail if self.lab.appliance else None
        if mail is not None:
            mail.mail_log.flush()
        for raw in self._follower.poll():
            self.lines.append(_parse_line(len(self.lines), raw))

    def close(self) -> None:
        self._follower.close()

    def around(self, index: int, count: int = CONTEXT_LINES) -> list[str]:
        """*count* raw lines around *index* (the expected point)."""
        start = max(0, index - count // 2)
        return [line.raw for line in self.lines[start:start + count]]

    def tail(self, since: int, count: int = CONTEXT_LINES) -> list[str]:
        return [line.raw for line in self.lines[max(since, len(self.lines) - count):]]


def _parse_line(index: int, raw: str) -> LogLine:
    match = _HEADER.fullmatch(raw)
    if match is None:
        return LogLine(index, time.time(), "", raw, raw)
    stamp = " ".join(match[1].split())
    try:
        moment = datetime.strptime(stamp, "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC).timestamp()
    except ValueError:
        moment = time.time()
    return LogLine(index, moment, match[2], match[3], raw)


@dataclass
class Snapshot:
    """The counters when the drill started: deltas are taken against these."""

    hosts: dict[str, HostCounters]
    setd: dict[str, dict[str, int]]
    started: float


@dataclass
class CheckContext:
    lab: DrillLab
    log: MailLogWatch
    snapshot: Snapshot
    #: the first log line of the phase: checks search from here
    phase_start: int = 0

    @property
    def values(self) -> dict[str, Any]:
        return self.lab.values

    def deadline_s(self, expr: Any, default: float = DEFAULT_WITHIN_S) -> float:
        """A waiting deadline: the formula at timescale 1, scaled, never below 5 s."""
        seconds = _real(self, expr, default)
        return max(MIN_WAIT_S, seconds * self.lab.scale)

    def watch_s(self, expr: Any, default: float = 10.0) -> float:
        return _real(self, expr, default) * self.lab.scale


def _real(context: CheckContext, expr: Any, default: float) -> float:
    if expr is None:
        return default
    values = {**context.values, **context.lab.real_timers}
    try:
        return evaluate(expr, values)
    except ExpressionError as exc:
        raise InvalidCheck(str(exc)) from None


# -- running a check ---------------------------------------------------------------------------
Outcome = tuple[bool, str, list[str]]
Runner = Callable[[Check, CheckContext], Awaitable[Outcome]]


async def run_check(check: Check, context: CheckContext) -> CheckResult:
    """Run one check; never raises for what the lab did (only cancellation passes)."""
    started = time.monotonic()
    runner = RUNNERS.get(check.kind)
    invalid = False
    try:
        if runner is None:
            raise InvalidCheck(f"unknown check kind {check.kind!r}")
        ok, detail, context_lines = await runner(check, context)
    except UndefinedVariable as exc:
        ok, detail, context_lines = False, f"not evaluated: {exc} (an earlier check did not " \
            "bind it)", context.log.tail(context.phase_start)
    except (InvalidCheck, ExpressionError, re.error) as exc:
        ok, detail, context_lines, invalid = False, f"invalid check: {exc}", [], True
    except CommandFailed as exc:
        ok, detail, context_lines = False, f"{exc}", exc.output.splitlines()[-CONTEXT_LINES:]
    status = "PASS" if ok else ("WARN" if check.severity == "warn" and not invalid else "FAIL")
    return CheckResult(desc=substitute_soft(check.desc, context.values), kind=check.kind,
                       status=status, detail=detail, context=[] if ok else context_lines,
                       line=check.line, elapsed_s=time.monotonic() - started, invalid=invalid)


def substitute_soft(text: str, values: Mapping[str, Any]) -> str:
    """*text* with the values known so far; unknown placeholders stay as written."""
    try:
        return substitute(text, values)
    except UndefinedVariable:
        return text


async def _until(deadline: float, probe: Callable[[], Any]) -> Any:
    """Call *probe* every POLL_S until it returns something true or *deadline* (monotonic)
    passes; return its last result."""
    while True:
        result = probe()
        if result or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(POLL_S)


def _regex(text: str, values: Mapping[str, Any]) -> re.Pattern[str]:
    return re.compile(substitute(text, values, regex=True))


def _bind(match: re.Match[str], values: dict[str, Any]) -> None:
    for name, value in match.groupdict().items():
        if value is not None:
            values[name] = value


# -- the mail log ------------------------------------------------------------------------------
def _log_regex(check: Check, values: Mapping[str, Any]) -> str:
    """The check's regex: as written, or the shape's (the loader puts the shape's regex,
    its fields pinned, in ``spec``; a Check built in Python may name only the shape)."""
    if isinstance(check.spec, str):
        return check.spec
    if check.shape:
        try:
            return shape_regex(check.shape, dict(check.fields))
        except KeyError as exc:  # an unknown shape, or a field it does not have
            raise InvalidCheck(str(exc)) from None
    raise InvalidCheck("a log check takes one regex")


async def check_log(check: Check, ctx: CheckContext) -> Outcome:
    pattern = _regex(_log_regex(check, ctx.values), ctx.values)
    fields = {name: substitute(value, ctx.values) for name, value in check.fields.items()}
    deadline = time.monotonic() + ctx.deadline_s(check.within_s)

    def find() -> re.Match[str] | None:
        ctx.log.poll()
        for line in ctx.log.lines[ctx.phase_start:]:
            match = pattern.fullmatch(line.text)
            if match and all(match.groupdict().get(k) == v for k, v in fields.items()):
                return match
        return None

    match = await _until(deadline, find)
    if match is None:
        return False, f"no line matched {pattern.pattern!r}", ctx.log.tail(ctx.phase_start)
    _bind(match, ctx.values)
    return True, _shorten(match.string), []


async def check_sequence(check: Check, ctx: CheckContext) -> Outcome:
    items = check.spec if isinstance(check.spec, list | tuple) else None
    if not items:
        raise InvalidCheck("a sequence takes a list of regexes")
    deadline = time.monotonic() + ctx.deadline_s(check.within_s)
    found: list[LogLine] = []
    cursor = ctx.phase_start
    for number, item in enumerate(items, 1):
        pattern = _regex(item, ctx.values)  # names bound by the items before are known now
        box: list[LogLine] = []

        def find(pattern: re.Pattern[str] = pattern, box: list[LogLine] = box,
                 cursor: int = cursor) -> bool:
            ctx.log.poll()
            for line in ctx.log.lines[cursor:]:
                match = pattern.fullmatch(line.text)
                if match:
                    _bind(match, ctx.values)
                    box.append(line)
                    return True
            return False

        if not await _until(deadline, find):
            where = found[-1].index + 1 if found else ctx.phase_start
            return (False, f"item {number} of {len(items)} not found after "
                    f"{'item ' + str(number - 1) if found else 'the phase start'}: "
                    f"{pattern.pattern!r}", ctx.log.around(where))
        found.append(box[0])
        cursor = box[0].index + 1
    span = found[-1].time - found[0].time
    if check.span_s is not None:
        limit = evaluate(check.span_s, ctx.values)
        if span > limit + 1:  # log stamps have 1-s resolution
            return (False, f"all {len(items)} lines found, but {span:.0f} s apart "
                    f"(at most {limit:g} s)", ctx.log.around(found[0].index))
    return True, f"{len(items)} lines in order within {span:.0f} s", []


async def check_absent(check: Check, ctx: CheckContext) -> Outcome:
    items = check.spec if isinstance(check.spec, list | tuple) else [check.spec]
    patterns = [_regex(item, ctx.values) for item in items]
    watch = ctx.watch_s(check.watch_s if check.watch_s is not None else check.within_s)
    deadline = time.monotonic() + watch

    def offending() -> LogLine | None:
        ctx.log.poll()
        for line in ctx.log.lines[ctx.phase_start:]:
            if any(p.fullmatch(line.text) for p in patterns):
                return line
        return None

    while True:
        line = offending()
        if line is not None:
            return False, f"unexpected: {_shorten(line.text)}", ctx.log.around(line.index)
        if time.monotonic() >= deadline:
            return True, f"none of {len(patterns)} pattern(s) in {watch:.1f} s", []
        await asyncio.sleep(POLL_S)


async def check_count(check: Check, ctx: CheckContext) -> Outcome:
    spec = _table(check, ("re",))
    pattern = _regex(spec["re"], ctx.values)
    bounds = {k: int(evaluate(spec[k], ctx.values)) for k in ("equal", "min", "max") if k in spec}
    if not bounds:
        raise InvalidCheck("a count needs equal, min or max")
    deadline = time.monotonic() + ctx.deadline_s(check.within_s)

    def count() -> int:
        ctx.log.poll()
        return sum(1 for line in ctx.log.lines[ctx.phase_start:] if pattern.fullmatch(line.text))

    def fits(n: int) -> bool:
        return (n == bounds.get("equal", n) and n >= bounds.get("min", n)
                and n <= bounds.get("max", n))

    if set(bounds) == {"min"}:  # can only grow: done as soon as it is reached
        await _until(deadline, lambda: count() >= bounds["min"])
    else:
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    n = count()
    wanted = ", ".join(f"{k} {v}" for k, v in bounds.items())
    if fits(n):
        return True, f"{n} line(s) ({wanted})", []
    return False, f"{n} line(s) matched, wanted {wanted}", ctx.log.tail(ctx.phase_start)


async def check_timing(check: Check, ctx: CheckContext) -> Outcome:
    spec = _table(check, ("from", "to", "between"))
    low, high = (evaluate(e, ctx.values) for e in spec["between"])
    if not ctx.lab.fast:
        high += 0.05 * high  # tol is 2 s + 5 %: the 5 % of the bound itself
    start = _regex(spec["from"], ctx.values)
    wait = ctx.deadline_s(check.within_s, default=high / max(ctx.lab.scale, 1e-9) + 10)
    deadline = time.monotonic() + wait
    pair: list[LogLine] = []

    def find() -> bool:
        ctx.log.poll()
        pair.clear()
        for line in ctx.log.lines[ctx.phase_start:]:
            if not pair:
                match = start.fullmatch(line.text)
                if match:
                    _bind(match, ctx.values)
                    pair.append(line)
            else:
                match = _regex(spec["to"], ctx.values).fullmatch(line.text)
                if match:
                    _bind(match, ctx.values)
                    pair.append(line)
                    return True
        return False

    if not await _until(deadline, find):
        what = "the 'from' line" if not pair else "the 'to' line"
        return False, f"{what} never came", ctx.log.tail(ctx.phase_start)
    gap = pair[1].time - pair[0].time
    if low - 1 <= gap <= high + 1:  # log stamps have 1-s resolution
        return True, f"{gap:.0f} s (between {low:g} and {high:g})", []
    return False, f"{gap:.0f} s apart, wanted between {low:g} and {high:g}", \
        ctx.log.around(pair[0].index)


# -- counters -----------------------------------------------------------------------------------
def host_figures(host: HostCounters) -> dict[str, Any]:
    """The figures hoststatus prints for *host*, by label."""
    figures: dict[str, Any] = {"Host up/down": "up" if host.up else "down"}
    figures.update({label: value for label, value, _ in report_rows(host) if value is not None})
    return figures


def _host(ctx: CheckContext, name: str) -> HostCounters:
    mail = ctx.lab.appliance.mail if ctx.lab.appliance else None
    hosts = mail.counters.hosts if mail is not None else {}
    return hosts.get(name.lower()) or HostCounters(name.lower())


def _figures(kind: str, host: HostCounters) -> dict[str, Any]:
    return host_figures(host) if kind == "hoststatus" else dict(row_figures(host))


async def check_counters(check: Check, ctx: CheckContext) -> Outcome:
    """``hoststatus``/``tophosts`` with ``delta`` (vs the drill's start) and ``equal``."""
    name = substitute(str(check.spec), ctx.values)
    known = _figures(check.kind, HostCounters(name))
    wanted_delta = {k: evaluate(v, ctx.values) for k, v in check.delta.items()}
    text = TEXT_FIGURES.get(check.kind, {})
    wanted_equal = {k: v if k in text else evaluate(v, ctx.values)
                    for k, v in check.equal.items()}
    unknown = [k for k in [*wanted_delta, *wanted_equal] if k not in known]
    if unknown:
        raise InvalidCheck(f"{check.kind} has no figure {', '.join(map(repr, unknown))} "
                           f"(known: {', '.join(known)})")
    if not wanted_delta and not wanted_equal:
        raise InvalidCheck(f"{check.kind} needs delta or equal")
    before = _figures(check.kind, ctx.snapshot.hosts.get(name.lower()) or HostCounters(name))
    deadline = time.monotonic() + ctx.deadline_s(check.within_s)

    def wrong() -> list[str]:
        now = _figures(check.kind, _host(ctx, name))
        found = [f"{k} {now[k] - before[k]:+g} (wanted {v:+g})" for k, v in wanted_delta.items()
                 if now[k] - before[k] != v]
        found += [f"{k} {now[k]} (wanted {v})" for k, v in wanted_equal.items() if now[k] != v]
        return found

    await _until(deadline, lambda: not wrong())
    problems = wrong()
    now = _figures(check.kind, _host(ctx, name))
    if not problems:
        shown = [f"{k} {now[k] - before[k]:+g}" for k in wanted_delta]
        shown += [f"{k} {now[k]}" for k in wanted_equal]
        return True, f"{name}: " + ", ".join(shown), []
    return False, f"{name}: " + "; ".join(problems), _counter_context(before, now)


def _counter_context(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    return [f"{label:<32}{before.get(label)!s:>8} -> {value}" for label, value in now.items()]


async def check_invariant(check: Check, ctx: CheckContext) -> Outcome:
    name = substitute(str(check.spec), ctx.values)
    before = host_figures(ctx.snapshot.hosts.get(name.lower()) or HostCounters(name))
    deadline = time.monotonic() + ctx.deadline_s(check.within_s)

    def state() -> tuple[bool, str, dict[str, Any]]:
        now = host_figures(_host(ctx, name))
        delta = {k: now[k] - before[k] for k in now if isinstance(now[k], int)}
        completed = delta["Completed Recipients"] - delta["Deleted Recipients"]
        expected = delta["Delivered Recipients"] + delta["Hard Bounced Recipients"]
        ok = now["Active Recipients"] == 0 and completed == expected
        text = (f"{name}: Active {now['Active Recipients']}, Completed {completed:+d} = "
                f"Delivered {delta['Delivered Recipients']:+d} + Hard Bounced "
                f"{delta['Hard Bounced Recipients']:+d}")
        return ok, text, now

    await _until(deadline, lambda: state()[0])
    ok, text, now = state()
    return ok, text, [] if ok else _counter_context(before, now)


async def check_sample(check: Check, ctx: CheckContext) -> Outcome:
    spec = _table(check, ("host", "field"))
    command = str(spec.get("command", "tophosts")).split()[0]
    if command not in ("tophosts", "hoststatus"):
        raise InvalidCheck(f"sample reads tophosts or hoststatus, not {command!r}")
    host, field_name = substitute(spec["host"], ctx.values), spec["field"]
    kind = "tophosts" if command == "tophosts" else "hoststatus"
    if field_name not in _figures(kind, HostCounters(host)):
        raise InvalidCheck(f"{command} has no figure {field_name!r}")
    every = max(POLL_S, evaluate(spec.get("every_s", 0.5), ctx.values) * ctx.lab.scale)
    duration = ctx.watch_s(spec.get("for_s", 10))
    deadline = time.monotonic() + duration
    seen: list[Any] = []
    while True:
        seen.append(_figures(kind, _host(ctx, host))[field_name])
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(every)
    problems = []
    if "max_at_least" in spec and max(seen) < evaluate(spec["max_at_least"], ctx.values):
        problems.append(f"max {max(seen)} (wanted at least {spec['max_at_least']})")
    if "final" in spec and seen[-1] != evaluate(spec["final"], ctx.values):
        problems.append(f"final {seen[-1]} (wanted {spec['final']})")
    detail = f"{host} {field_name}: {len(seen)} samples, max {max(seen)}, final {seen[-1]}"
    if problems:
        return False, detail + ": " + "; ".join(problems), [" ".join(map(str, seen))]
    return True, detail, []


# -- commands ------------------------------------------------------------------------------------
async def check_findevent(check: Check, ctx: CheckContext) -> Outcome:
    spec = _table(check, ())
    wanted = [_regex(text, ctx.values) for text in spec.get("contains", [])]
    if "mid" in spec:
        mids = [substitute(str(spec["mid"]), ctx.values)]
    elif "message_id" in spec:
        message_id = substitute(spec["message_id"], ctx.values)
        ctx.log.poll()
        mids = _mids_of(ctx, message_id)
        if not mids:
            return False, f"no MID with Message-ID {message_id} in the mail log", \
                ctx.log.tail(ctx.phase_start)
    else:
        raise InvalidCheck("findevent needs mid or message_id")
    output = ""
    for mid in mids:
        output += await ctx.lab.run_cli([f"findevent -m {mid}"], echo=False)
    missing = [p.pattern for p in wanted if not p.search(output)]
    if missing:
        return False, f"findevent -m {' '.join(mids)}: lacks {missing[0]!r}", \
            output.splitlines()[-CONTEXT_LINES:]
    return True, f"findevent -m {' '.join(mids)}: {len(output.splitlines())} lines", []


def _mids_of(ctx: CheckContext, message_id: str) -> list[str]:
    """The MIDs that carry *message_id*: the original's and its journal copies'."""
    quoted = re.escape(f"'{message_id}'")
    pattern = re.compile(rf"(?:TDC: )?MID (\d+) (?:with )?Message-ID {quoted}.*")
    found = []
    for line in ctx.log.lines:
        match = pattern.fullmatch(line.text)
        if match and match[1] not in found:
            found.append(match[1])
    return found


async def check_config(check: Check, ctx: CheckContext) -> Outcome:
    spec = _table(check, ("command",))
    command = substitute(spec["command"], ctx.values)
    output = await ctx.lab.run_cli([command], echo=False)
    missing = [p.pattern for p in map(lambda t: _regex(t, ctx.values), spec.get("contains", []))
               if not p.search(output)]
    present = [p.pattern for p in map(lambda t: _regex(t, ctx.values), spec.get("lacks", []))
               if p.search(output)]
    if missing or present:
        detail = "; ".join([*(f"lacks {m!r}" for m in missing),
                            *(f"shows {p!r}" for p in present)])
        return False, f"{command}: {detail}", output.splitlines()[-CONTEXT_LINES:]
    return True, f"{command}: as expected", []


# -- witnesses -----------------------------------------------------------------------------------
def setd_totals(lab: DrillLab, address: str) -> dict[str, int]:
    """The simulator's totals for one intake address (its own ``totals()`` where it has
    one; else counted from the messages it remembers)."""
    assert lab.lab is not None
    setd = lab.lab.setd
    totals = getattr(setd, "totals", None)
    if callable(totals):
        return {k: int(v) for k, v in dict(totals(address)).items()}
    counted = dict.fromkeys(SETD_TOTALS, 0)
    for message in setd.messages(address):
        counted[_status_key(message.outcome, message.reply)] += 1
        if getattr(message, "problem", "") and "domain" in message.problem:
            counted["foreign_domain"] += 1
    return counted


def _status_key(outcome: str, reply: str) -> str:
    if outcome == "accepted":
        return "accepted"
    if outcome == "disconnected":
        return "dropped_after_dot"
    if outcome == "refused":
        return "rejected" if reply.startswith("5") else "deferred"
    return "deferred"


def setd_transactions(lab: DrillLab, message_id: str, address: str = "") -> list[str]:
    """The statuses SETD gave the copies of *message_id*, oldest first: at the intake
    *address* only when one is given (a check's ``account``), else at any address."""
    assert lab.lab is not None
    setd = lab.lab.setd
    wanted = address.lower()
    transactions = getattr(setd, "transactions", None)
    if callable(transactions):
        return [f"{t.status} {t.code}".strip() if getattr(t, "code", None) and
                t.status != "accepted" else str(t.status) for t in transactions(message_id)
                if not wanted or str(t.address).lower() == wanted]
    found = [m for m in setd.messages(address or None) if m.original_message_id == message_id]
    found.sort(key=lambda m: m.id)
    return [_status_key(m.outcome, m.reply) + ("" if m.outcome == "accepted"
                                               else f" {m.reply[:3]}") for m in found]


def _account(ctx: CheckContext, name: str) -> str:
    assert ctx.lab.lab is not None
    account = ctx.lab.lab.setd.find_intake(name)
    if account is None:
        raise InvalidCheck(f"SETD has no account {name!r}")
    return str(account.address)


async def check_setd(check: Check, ctx: CheckContext) -> Outcome:
    spec = _table(check, ())
    deadline = time.monotonic() + ctx.deadline_s(check.within_s)
    # the loader refuses a delta without an account: there is no account to guess
    address = _account(ctx, substitute(spec["account"], ctx.values)) if "account" in spec else ""
    delta = {k: evaluate(v, ctx.values) for k, v in dict(spec.get("delta", {})).items()}
    unknown = [k for k in delta if k not in SETD_TOTALS]
    if unknown:
        raise InvalidCheck(f"setd has no total {unknown[0]!r} (known: {', '.join(SETD_TOTALS)})")
    if delta and not address:
        raise InvalidCheck("a setd check with delta needs an account")
    message_id = substitute(spec["message_id"], ctx.values) if "message_id" in spec else None
    before = ctx.snapshot.setd.get(address, dict.fromkeys(SETD_TOTALS, 0))

    def problems() -> list[str]:
        found = []
        if delta:
            now = setd_totals(ctx.lab, address)
            found += [f"{k} {now.get(k, 0) - before.get(k, 0):+d} (wanted {v:+g})"
                      for k, v in delta.items() if now.get(k, 0) - before.get(k, 0) != v]
        if message_id is not None:
            statuses = setd_transactions(ctx.lab, message_id, address)
            if "transactions" in spec and len(statuses) != int(evaluate(spec["transactions"],
                                                                       ctx.values)):
                found.append(f"{len(statuses)} transaction(s) (wanted {spec['transactions']})")
            wanted = list(spec.get("statuses", []))
            if wanted and (len(statuses) != len(wanted) or not all(
                    s.startswith(w) for s, w in zip(statuses, wanted, strict=False))):
                found.append(f"statuses {statuses} (wanted {wanted})")
        return found

    await _until(deadline, lambda: not problems())
    wrong = problems()
    where = substitute_soft(str(spec.get("account", message_id or "")), ctx.values)
    if wrong:
        return False, f"SETD {where}: " + "; ".join(wrong), \
            [f"{k}: {v}" for k, v in setd_totals(ctx.lab, address).items()] if address else []
    return True, f"SETD {where}: as expected", []


async def check_dns(check: Check, ctx: CheckContext) -> Outcome:
    spec = _table(check, ())
    if spec.get("server", "zone") == "blackhole":
        return await _check_blackhole(check, ctx, spec)
    if "name" not in spec:
        raise InvalidCheck("a dns check of the lab zone needs a name")
    assert ctx.lab.lab is not None
    zone = ctx.lab.lab.zone
    name = substitute(spec["name"], ctx.values)
    rdtype = spec.get("type") or None
    rcode = spec.get("rcode") or None
    counter = getattr(zone, "query_count", None)
    if counter is None:
        raise InvalidCheck("this lab's DNS zone keeps no query log (query_count)")
    wanted = int(evaluate(spec.get("count", 1), ctx.values))
    deadline = time.monotonic() + ctx.deadline_s(check.within_s)

    # queries before the drill started (the lab's own, if any) do not count: the zone's
    # totals are never capped, and its log still holds those early ones
    before = sum(1 for q in zone.query_log(name=name, rdtype=rdtype)
                 if q.time < ctx.snapshot.started
                 and (rcode is None or q.rcode == str(rcode).upper()))

    def count() -> int:
        return int(counter(name=name, rdtype=rdtype, rcode=rcode)) - before

    await _until(deadline, lambda: count() >= wanted)
    n = count()
    what = f"{name} {rdtype or 'any type'} {rcode or 'any rcode'}"
    if n == wanted:
        return True, f"{n} quer{'y' if n == 1 else 'ies'} for {what}", []
    context = []
    log = getattr(zone, "query_log", None)
    if callable(log):
        context = [f"{q.name} {q.rdtype} {q.rcode}" for q in log(name=name)][-CONTEXT_LINES:]
    return False, f"{n} queries for {what}, wanted {wanted}", context


async def _check_blackhole(check: Check, ctx: CheckContext, spec: dict[str, Any]) -> Outcome:
    """``dns = { server = "blackhole", count = N }``: the black hole read N datagrams
    (queries) since it was armed.  It parses none, so it cannot tell names apart."""
    wanted = int(evaluate(spec.get("count", 1), ctx.values))
    deadline = time.monotonic() + ctx.deadline_s(check.within_s)

    def count() -> int | None:
        return ctx.lab.blackhole_queries()

    await _until(deadline, lambda: (count() or 0) >= wanted)
    n = count()
    if n is None:
        return False, "no DNS black hole is armed (a lab dns_blackhole fault)", []
    if n == wanted:
        return True, f"the DNS black hole read {n} quer{'y' if n == 1 else 'ies'}", []
    return False, f"the DNS black hole read {n} queries, wanted {wanted}", \
        ctx.log.tail(ctx.phase_start)


async def check_sink(check: Check, ctx: CheckContext) -> Outcome:
    spec = _table(check, ())
    to = substitute(spec["to"], ctx.values).lower() if "to" in spec else None
    message_id = substitute(spec["message_id"], ctx.values) if "message_id" in spec else None
    wanted = int(evaluate(spec.get("count", 1), ctx.values))
    within = spec.get("within_s", check.within_s)
    deadline = time.monotonic() + ctx.deadline_s(within)

    def count() -> int:
        n = 0
        for data in ctx.lab.sink_messages():
            headers = BytesHeaderParser().parsebytes(data)
            if to is not None and f"<{to}>" not in str(headers.get("X-Lab-Envelope-To", "")
                                                        ).lower():
                continue
            if message_id is not None and str(headers.get("Message-ID", "")).strip() != \
                    message_id:
                continue
            n += 1
        return n

    await _until(deadline, lambda: count() >= wanted)
    if wanted:
        await asyncio.sleep(POLL_S * 4)  # a duplicate right behind the first is seen too
    n = count()
    what = f"{message_id or 'messages'} to {to or 'anyone'}"
    if n == wanted:
        return True, f"the sink holds {n} of {what}", []
    return False, f"the sink holds {n} of {what}, wanted {wanted}", \
        ctx.log.tail(ctx.phase_start)


def _table(check: Check, required: Sequence[str]) -> dict[str, Any]:
    if not isinstance(check.spec, Mapping):
        raise InvalidCheck(f"{check.kind} takes a table")
    missing = [key for key in required if key not in check.spec]
    if missing:
        raise InvalidCheck(f"{check.kind} needs {', '.join(missing)}")
    return dict(check.spec)


def _shorten(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


RUNNERS: dict[str, Runner] = {
    "log": check_log, "sequence": check_sequence, "absent": check_absent, "count": check_count,
    "timing": check_timing, "hoststatus": check_counters, "tophosts": check_counters,
    "invariant": check_invariant, "sample": check_sample, "findevent": check_findevent,
    "config": check_config, "setd": check_setd, "dns": check_dns, "sink": check_sink,
}


def snapshot(lab: DrillLab) -> Snapshot:
    """The counters now: what deltas are taken against."""
    mail = lab.appliance.mail if lab.appliance else None
    hosts = {name: dataclasses.replace(h, hard_bounced=dict(h.hard_bounced))
             for name, h in (mail.counters.hosts.items() if mail else [])}
    setd: dict[str, dict[str, int]] = {}
    if lab.lab is not None:
        for account in lab.lab.setd.intake_accounts():
            setd[str(account.address)] = setd_totals(lab, str(account.address))
    return Snapshot(hosts, setd, time.time())
