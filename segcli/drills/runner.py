"""``segcli drill run``: run drills against a fresh lab and report (DRILLS.md §6).

One drill: start the lab, take the counters, then each phase in order -- its commands
(and piped answers), its faults, its traffic, its checks -- then the fix (commands in the
fix's session, lab actions), then the ``[solved]`` traffic and checks.  The lab is torn
down whatever happens (an exception, Ctrl-C, a cancelled task), unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from segcli.drills.checks import CheckContext, CheckResult, MailLogWatch, run_check, snapshot
from segcli.drills.expressions import ExpressionError, UndefinedVariable, evaluate, substitute
from segcli.drills.lab import CommandFailed, DrillLab, LabActionError, LabStartError
from segcli.drills.model import Check, Drill, FaultSpec, TrafficSpec
from segcli.drills.report import (
    EXIT_LAB,
    DrillReport,
    PhaseReport,
    overall_status,
    render_json,
    render_text,
    write_junit,
)

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
#: How long a sent message's ``MID n Message-ID '<...>'`` line is waited for (``<id>.mid``).
MID_WAIT_S = 10.0


@dataclass(frozen=True)
class Event:
    """What the runner is doing, for a progress display.  ``kind``: ``lab``, ``phase``,
    ``step``, ``checking`` (a check begins), ``check`` (with its ``result``) or ``done``."""

    drill: str
    kind: str
    text: str
    phase: str = ""
    result: CheckResult | None = None


Progress = Callable[[Event], None]


class StepFailed(Exception):
    """A step of the drill (a command, a fault, traffic) could not be carried out."""


async def run_drill(drill: Drill, *, fast: bool, keep: bool = False, data_dir: Path | None = None,
                    progress: Progress | None = None) -> DrillReport:
    """Run one drill from a fresh lab to its report."""
    tell = progress or (lambda event: None)
    started = time.monotonic()
    lab = DrillLab(fast=fast, data_dir=data_dir)
    report = DrillReport(drill.id, drill.title, timescale=lab.scale)
    tell(Event(drill.id, "lab", "starting the lab"))
    try:
        await lab.start()
    except LabStartError as exc:
        report.lab_error = str(exc)
        report.lab_dir = str(lab.data_dir or "")
        report.wall_s = time.monotonic() - started
        tell(Event(drill.id, "done", f"lab error: {exc}"))
        return report
    report.lab_dir = str(lab.data_dir)
    log = MailLogWatch(lab)
    try:
        await _run_phases(drill, lab, log, report, tell)
    finally:
        log.close()
        report.wall_s = time.monotonic() - started
        if keep:
            report.kept, report.lab = True, lab
        else:
            # shielded: a cancelled run (Ctrl-C) still stops everything it started
            await asyncio.shield(lab.stop())
    tell(Event(drill.id, "done", f"{report.status} in {report.wall_s:.1f} s"))
    return report


async def _run_phases(drill: Drill, lab: DrillLab, log: MailLogWatch, report: DrillReport,
                      tell: Progress) -> None:
    try:
        lab.prepare(drill)
    except UndefinedVariable as exc:
        report.error = f"[vars]: {exc}"
        return
    context = CheckContext(lab, log, snapshot(lab))
    try:
        for phase in drill.phases:
            section = PhaseReport(phase.name)
            report.phases.append(section)
            tell(Event(drill.id, "phase", phase.name, phase.name))
            await run_phase_cli(lab, phase.cli, phase.session, phase.answers, section, tell,
                                drill.id)
            log.poll()
            context.phase_start = len(log.lines)
            for fault in phase.faults:
                await _arm(lab, fault, section, tell, drill.id, context)
            await send_traffic(lab, phase.traffic, log, section, tell, drill.id)
            await _checks(phase.expect, context, section, tell, drill.id)
        fix = drill.fix
        if fix.cli or fix.lab:
            section = PhaseReport("fix")
            tell(Event(drill.id, "phase", "fix", "fix"))
            await run_phase_cli(lab, fix.cli, fix.session or _last_session(drill), fix.answers,
                                section, tell, drill.id)
            for action in fix.lab:
                section.steps.append(await _lab_action(lab, action))
            report.fix = _fix_line(fix.cli, fix.lab)
        if drill.solved is not None:
            section = PhaseReport("solved")
            report.phases.append(section)
            tell(Event(drill.id, "phase", "solved", "solved"))
            log.poll()
            context.phase_start = len(log.lines)
            await send_traffic(lab, drill.solved.traffic, log, section, tell, drill.id)
            await _checks(drill.solved.expect, context, section, tell, drill.id)
    except StepFailed as exc:
        report.error = str(exc)
        tell(Event(drill.id, "step", f"ERROR {exc}"))


def _last_session(drill: Drill) -> str | None:
    """The fix runs in the session of the last phase that named one (a pending change
    stays in its session)."""
    named = [phase.session for phase in drill.phases if phase.session]
    return named[-1] if named else None


def _fix_line(cli: Sequence[str], lab: Sequence[str]) -> str:
    parts = []
    if cli:
        shown = ", ".join(_short(c) for c in cli)
        parts.append(f"{len(cli)} command{'s' if len(cli) != 1 else ''} ok ({shown})")
    if lab:
        parts.append(f"lab: {', '.join(lab)}")
    return "; ".join(parts)


def _short(command: str) -> str:
    """``tdcconfig enable ...``, ``commit ...``: the command, not its values."""
    words = command.split()
    shown = [w for w in words[:2] if not w.startswith(("'", '"'))]
    return " ".join(shown) + (" ..." if len(words) > len(shown) else "")


async def run_phase_cli(lab: DrillLab, commands: Sequence[str], session: str | None,
                        answers: Sequence[str], section: PhaseReport, tell: Progress,
                        drill: str) -> None:
    """Type a phase's (or the fix's) *commands* into the lab's console *session*, with
    *answers* piped to its questions, after putting the drill's values in; one step is
    noted in *section* and told.  StepFailed (the phase and the command's last output
    lines) for an undefined value or a command that fails: the drill cannot go on.
    The hands-on drills (handson.py) set a drill up with it too."""
    if not commands and not answers:
        return
    try:
        lines = [substitute(c, lab.values) for c in commands]
        piped = [substitute(a, lab.values) for a in answers]
    except UndefinedVariable as exc:
        raise StepFailed(f"phase {section.name}: {exc}") from None
    try:
        await lab.run_cli(lines, session=session, answers=piped)
    except CommandFailed as exc:
        tail = " | ".join(line for line in exc.output.splitlines()[-4:] if line.strip())
        raise StepFailed(f"phase {section.name}: {exc}: {tail}") from None
    section.steps.append(f"cli: {len(lines)} command(s) ok" + (f" in session {session}"
                                                               if session else ""))
    tell(Event(drill, "step", section.steps[-1], section.name))


async def _arm(lab: DrillLab, fault: FaultSpec, section: PhaseReport, tell: Progress, drill: str,
               context: CheckContext) -> None:
    try:
        delay = None if fault.delay_s is None else evaluate(fault.delay_s, lab.values)
        described = await lab.arm(fault, delay)
    except (LabActionError, UndefinedVariable, ExpressionError) as exc:
        raise StepFailed(f"phase {section.name}: fault {fault.id}: {exc}") from None
    section.steps.append(f"fault {fault.id}: {described}")
    tell(Event(drill, "step", section.steps[-1], section.name))


async def _lab_action(lab: DrillLab, action: str) -> str:
    try:
        return await lab.lab_action(action)
    except (LabActionError, UndefinedVariable) as exc:
        raise StepFailed(f"fix: {exc}") from None


async def send_traffic(lab: DrillLab, traffic: Sequence[TrafficSpec], log: MailLogWatch,
                       section: PhaseReport, tell: Progress, drill: str) -> None:
    """Send each of *traffic* to the gateway (spread over its ``over_s`` if given) and bind
    ``<id>.message_id`` and ``<id>.mid`` (the MID, from the reply or the mail *log*) for the
    checks after it; one step each is noted in *section* and told.  StepFailed when a
    message cannot be sent.  The hands-on drills (handson.py) send with it too."""
    for spec in traffic:
        try:
            over = None if spec.over_s is None else evaluate(spec.over_s, lab.values)
            sent = await lab.send(spec, over)
        except (LabActionError, UndefinedVariable, ExpressionError, OSError) as exc:
            raise StepFailed(f"phase {section.name}: traffic {spec.id}: {exc}") from None
        section.steps.append(f"traffic {spec.id}: {len(sent)} message(s) to {spec.to}")
        tell(Event(drill, "step", section.steps[-1], section.name))
        if sent:
            await _bind_mid(lab, log, spec.id, sent[0].message_id, getattr(sent[0], "reply", ""))


async def _bind_mid(lab: DrillLab, log: MailLogWatch, traffic_id: str, message_id: str,
                    reply: str) -> None:
    """``<id>.mid``: the original's MID, from the reply or the ``MID n Message-ID`` line."""
    found = re.search(r"\bMID (\d+)", reply or "")
    if found:
        lab.values[f"{traffic_id}.mid"] = found[1]
        return
    pattern = re.compile(rf"MID (\d+) Message-ID '{re.escape(message_id)}'")
    deadline = time.monotonic() + MID_WAIT_S
    while time.monotonic() < deadline:
        log.poll()
        for line in log.lines:
            match = pattern.fullmatch(line.text)
            if match:
                lab.values[f"{traffic_id}.mid"] = match[1]
                return
        await asyncio.sleep(0.05)


async def _checks(checks: Sequence[Check], context: CheckContext, section: PhaseReport,
                  tell: Progress, drill: str) -> None:
    for check in checks:
        tell(Event(drill, "checking", check.desc, section.name))
        result = await run_check(check, context)
        section.results.append(result)
        tell(Event(drill, "check", result.desc, section.name, result))


# -- the command ---------------------------------------------------------------------------------
def command_run(drills: list[Drill], args: argparse.Namespace) -> int:
    """``segcli drill run``: run *drills* one after another in one reactor; print the report
    (text, ``--json``), write ``--junit FILE``; 0 all passed, 1 a check failed, 2 a drill
    is invalid, 3 a lab could not start."""
    from segcli.process import run_reactor

    return run_reactor(lambda: run_all(drills, args))


async def run_all(drills: list[Drill], args: argparse.Namespace,
                  out: TextIO | None = None) -> int:
    """The body of ``command_run``, on a running loop."""
    out = out or sys.stdout
    display = _Display(out, quiet=bool(getattr(args, "json", False)))
    reports: list[DrillReport] = []
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        if task is not None:
            task.cancel()

    signals = _add_signal_handlers(loop, interrupt)
    reported = False
    try:
        for drill in drills:
            data = _data_dir_for(getattr(args, "data", None), drill, len(drills))
            reports.append(await run_drill(drill, fast=bool(args.fast), keep=bool(args.keep),
                                           data_dir=data, progress=display.event))
        display.close()
        _emit(reports, args, out)
        reported = True
        if args.keep and any(r.lab for r in reports):
            await _hold(reports)
    except asyncio.CancelledError:
        display.close()
        if not interrupted:
            raise
        if not reported:  # Ctrl-C while kept labs wait is their normal end
            print("segcli: drill run interrupted; the lab was stopped.", file=sys.stderr)
            return EXIT_INTERRUPTED
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        for report in reports:
            if report.lab is not None:
                await asyncio.shield(report.lab.stop())
                report.lab = None
    return overall_status(reports)


def _add_signal_handlers(loop: asyncio.AbstractEventLoop, handler: Callable[[], None]
                         ) -> list[int]:
    added: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, handler)
            added.append(signum)
    return added


def _data_dir_for(data: Path | None, drill: Drill, count: int) -> Path | None:
    if data is None:
        return None
    data = Path(data).expanduser()
    return data if count == 1 else data / drill.id


def _emit(reports: list[DrillReport], args: argparse.Namespace, out: TextIO) -> None:
    if getattr(args, "json", False):
        print(render_json(reports), file=out)
    else:
        for report in reports:
            print(render_text(report, verbose=bool(getattr(args, "verbose", False))), file=out)
    if getattr(args, "junit", None):
        write_junit(reports, Path(args.junit))
    out.flush()


async def _hold(reports: list[DrillReport]) -> None:
    """``--keep``: the labs stay up for inspection until Ctrl-C or SIGTERM."""
    for report in reports:
        if report.lab is not None and report.lab.info is not None:
            info = report.lab.info
            print(f"lab of {report.drill_id} kept: data {report.lab_dir}, SMTP {info.smtp}, "
                  f"console: segcli --data {report.lab_dir}", file=sys.stderr)
    print("Press Ctrl-C to stop the kept lab(s).", file=sys.stderr)
    await asyncio.Event().wait()


class _Display:
    """Progress while drills run: a live line at a terminal, plain lines otherwise (on
    stderr, so that the report on stdout stays clean for pipes)."""

    def __init__(self, out: TextIO, *, quiet: bool) -> None:
        self._live: Any = None
        self._plain = not quiet
        if out.isatty() and sys.stderr.isatty():
            from rich.console import Console
            from rich.live import Live

            self._live = Live("", console=Console(file=sys.stderr), transient=True,
                              refresh_per_second=8)
            self._live.start()
            self._plain = False
        self._lines: list[str] = []

    def event(self, event: Event) -> None:
        if event.kind == "checking" and self._live is None:
            return  # plain lines: the result follows
        if event.kind == "check" and event.result is not None:
            text = f"{event.drill} {event.phase}: {event.result.status} {event.text}"
        else:
            text = f"{event.drill} {event.phase + ': ' if event.phase else ''}{event.text}"
        if self._live is not None:
            self._lines = [*self._lines[-6:], text]
            self._live.update("\n".join(self._lines))
        elif self._plain:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


__all__ = ["EXIT_LAB", "Event", "command_run", "run_all", "run_drill"]
