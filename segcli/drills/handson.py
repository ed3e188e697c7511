"""Hands-on drills: ``segcli drill start ID`` and the commands a trainee runs beside it.

``drill start`` runs one drill's lab in this process with the fault in place: the drill's
phases' commands, faults and traffic (never their checks, never the fix).  It prints the
ticket (never the cause) and how to connect, keeps a trickle of traffic going so that the
symptoms stay live, and opens the appliance console (``--no-console``: it runs until
SIGTERM, SIGINT or ``drill stop``).  The console's toolbar shows the drill's state.

The trainee's other commands (``status``, ``hint``, ``check``, ``answer``, ``reveal``,
``reset``, ``stop``) are ops on the lab's control socket (``<data>/lab.sock``,
segcli/lab/control.py): the running drill answers them, so everything it says is worked out
where the drill file is, and the answers that would spoil the drill (expected values, spoiler
checks) never leave the process.  ``drill.json`` in the data directory
(:mod:`segcli.drills.handson_state`) records what the trainee has been through.

``drill check`` judges the state, not the commands typed: it sends the ``[solved]``
verification traffic and evaluates the ``[solved]`` checks on what the lab and the gateway do
with it now.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segcli.drills.handson_state import (
    DrillState,
    duration,
    forget_current,
    now,
    remember_current,
    resolve_data_dir,
)
from segcli.drills.model import Drill, FaultSpec, TrafficSpec, Trickle
from segcli.drills.report import PhaseReport

if TYPE_CHECKING:
    from engine.appliance import Appliance
    from segcli.drills.lab import DrillLab
    from segcli.drills.runner import Event

logger = logging.getLogger("segcli.drills")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LAB = 0, 1, 2, 3
#: The actions :func:`command` serves (``segcli drill ACTION``).
ACTIONS = ("start", "status", "hint", "check", "answer", "reveal", "reset", "stop")
OPS = tuple(f"drill.{action}" for action in ACTIONS if action != "start")
#: How long the client waits for a drill that was told to stop to be gone.
STOP_WAIT_S = 60.0
#: A check sends traffic and waits for it; the client gives it this long.
REQUEST_TIMEOUT_S = 600.0
DEFAULT_TRICKLE_S = 30.0
DEFAULT_USER = "bob@example.com"
#: Before a check: a pause for the trickle's last message, then at most this long for the
#: journal copies still on the.tdc.queue.
SETTLE_S = 0.5
MAX_SETTLE_S = 20.0
TDC_QUEUE = "the.tdc.queue"


# ==============================================================================================
# the running drill (inside ``drill start``)
# ==============================================================================================

@dataclass
class CheckOutcome:
    """One ``[solved]`` check as the trainee may see it: its description, unless a spoiler."""

    desc: str
    status: str  # PASS | FAIL | WARN
    spoiler: bool = False


@dataclass
class HandsOn:
    """One running hands-on drill: its lab, its record, its trickle, and the control ops.

    *lab* is a started :class:`segcli.drills.lab.DrillLab`.  Ops run one at a time (a check
    must not overlap a reset), and the trickle pauses while they run, so that a check's
    counter deltas count its own verification traffic only.
    """

    drill: Drill
    lab: DrillLab
    data_dir: Path
    state: DrillState
    stopped: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop()
                                         .create_future())
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _trickle: asyncio.Task[None] | None = None
    _quiet: asyncio.Event = field(default_factory=asyncio.Event)  # set: the trickle may send
    _faulty_config: Any = None

    # -- the faulty state ---------------------------------------------------------------------
    async def set_up(self) -> None:
        """Every phase's commands, faults and traffic, as ``drill run`` does them, in the
        file's order; never the checks.  StepFailed when one cannot be carried out."""
        from segcli.drills.checks import MailLogWatch
        from segcli.drills.runner import run_phase_cli, send_traffic

        self.lab.prepare(self.drill)
        log = MailLogWatch(self.lab)
        try:
            for phase in self.drill.phases:
                section = PhaseReport(phase.name)
                await run_phase_cli(self.lab, phase.cli, phase.session, phase.answers, section,
                                    _silent, self.drill.id)
                for fault in phase.faults:
                    await self._arm(fault, section)
                await send_traffic(self.lab, phase.traffic, log, section, _silent, self.drill.id)
        finally:
            log.close()
        # What "back to the faulty state" restores: the configuration the setup left.
        self._faulty_config = self._appliance().config.copy()
        self.state.save(self.data_dir)

    async def _arm(self, fault: FaultSpec, section: PhaseReport) -> None:
        from segcli.drills.expressions import ExpressionError, UndefinedVariable, evaluate
        from segcli.drills.lab import LabActionError
        from segcli.drills.runner import StepFailed

        try:
            delay = None if fault.delay_s is None else evaluate(fault.delay_s, self.lab.values)
            section.steps.append(await self.lab.arm(fault, delay))
        except (LabActionError, UndefinedVariable, ExpressionError) as exc:
            raise StepFailed(f"phase {section.name}: fault {fault.id}: {exc}") from None
        self._armed(fault)

    def _appliance(self) -> Appliance:
        appliance = self.lab.appliance
        assert appliance is not None, "the drill's lab is not running"
        return appliance

    def _armed(self, fault: FaultSpec) -> None:
        if fault.id not in self.state.faults:
            self.state.faults.append(fault.id)

    async def _send(self, traffic: TrafficSpec) -> None:
        """Send *traffic*; a refusal is logged, not fatal (the fault may be what refuses it)."""
        try:
            await self.lab.send(traffic)
        except Exception as exc:  # any refusal is a symptom, not our failure
            logger.info("drill %s: traffic %s: %s", self.drill.id, traffic.id, exc)

    # -- the trickle ------------------------------------------------------------------------
    def start_trickle(self) -> None:
        self._quiet.set()
        self._trickle = asyncio.ensure_future(self._trickle_loop(trickle_of(self.drill)))

    async def _trickle_loop(self, trickle: Trickle) -> None:
        every = max(0.1, self._every(trickle) * self.lab.scale)
        sent = 0
        while True:
            await asyncio.sleep(every)
            await self._quiet.wait()
            sent += 1
            await self._send(TrafficSpec(id="trickle", kind=trickle.kind, to=trickle.to,
                                         subject=f"drill {self.drill.id} trickle {sent}"))

    def _every(self, trickle: Trickle) -> float:
        from segcli.drills.expressions import ExpressionError, UndefinedVariable, evaluate

        try:  # at timescale 1; the caller scales it
            return evaluate(trickle.every_s, {**self.lab.values, **self.lab.real_timers})
        except (ExpressionError, UndefinedVariable) as exc:
            logger.warning("drill %s: [lab.trickle] every_s: %s; every %s s instead",
                        self.drill.id, exc, DEFAULT_TRICKLE_S)
            return DEFAULT_TRICKLE_S

    async def stop_trickle(self) -> None:
        task, self._trickle = self._trickle, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self) -> Any:
        """Ops in turn, the trickle paused meanwhile."""
        async with self._lock:
            self._quiet.clear()
            try:
                yield
            finally:
                self._quiet.set()

    # -- the ops ---------------------------------------------------------------------------
    def handlers(self) -> dict[str, Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]]:
        """The control-socket ops, by name (``drill.status`` ...)."""
        return {"drill.status": self.op_status, "drill.hint": self.op_hint,
                "drill.check": self.op_check, "drill.answer": self.op_answer,
                "drill.reveal": self.op_reveal, "drill.reset": self.op_reset,
                "drill.stop": self.op_stop}

    def register_ops(self) -> None:
        """Answer the ``drill.*`` ops on the lab's control socket (segcli/lab/control.py)."""
        from segcli.lab.control import register

        for op, handler in self.handlers().items():
            register(op, _op(handler))

    def unregister_ops(self) -> None:
        """The drill is over: its ops say so (the socket itself closes with the lab)."""
        from segcli.lab.control import register

        for op in self.handlers():
            register(op, _over)

    async def op_status(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        state = self.state
        lines = [f"drill     {state.id}: {self.drill.title}",
                 f"running   {duration(state.running_s())}"
                 + (f" (timescale {self.lab.scale:g})" if self.lab.scale != 1 else ""),
                 f"hints     {state.hints_used} of {state.hints_total} used",
                 f"checks    {state.checks_run} run",
                 f"state     {state.label}"
                 + (f" after {duration(state.solve_s() or 0)}" if state.solved else "")]
        if self.drill.quiz:
            lines.append(f"quiz      {len(self.drill.quiz)} question(s): segcli drill answer")
        return _reply("\n".join(lines), state=_public(state))

    async def op_hint(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        hints = self.drill.hints
        state = self.state
        if not hints:
            return _reply("This drill has no hints.", failed=True)
        if state.hints_used >= len(hints):
            return _reply(f"No more hints: all {len(hints)} were given.\n"
                          f"Hint {len(hints)}/{len(hints)}: {hints[-1]}", failed=True)
        state.hints_used += 1
        state.save(self.data_dir)
        return _reply(f"Hint {state.hints_used}/{len(hints)}: {hints[state.hints_used - 1]}",
                      state=_public(state))

    async def op_check(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        solved = self.drill.solved
        if solved is None or not solved.expect:
            return _reply("This drill has nothing to check: " + (
                "answer its quiz with `segcli drill answer`." if self.drill.quiz
                else "it has no [solved] checks."), failed=True)
        async with self._one_at_a_time():
            outcomes = await self._solved_checks()
        state = self.state
        state.checks_run += 1
        failing = [o for o in outcomes if o.status == "FAIL"]
        state.solved = not failing  # the state now: a trainee may have broken it again
        if state.solved and state.solved_at is None:
            state.solved_at = now()
        state.save(self.data_dir)
        return _reply(check_report(outcomes, state), failed=bool(failing), state=_public(state))

    async def _solved_checks(self) -> list[CheckOutcome]:
        """Send the verification traffic and evaluate every ``[solved]`` check on what
        happens now: counters are compared as deltas from this moment, the mail log is read
        from here on."""
        from segcli.drills.checks import CheckContext, MailLogWatch, run_check, snapshot
        from segcli.drills.runner import StepFailed, send_traffic

        solved = self.drill.solved
        assert solved is not None
        await self._settle()
        log = MailLogWatch(self.lab)
        try:
            context = CheckContext(self.lab, log, snapshot(self.lab))
            try:
                await send_traffic(self.lab, solved.traffic, log, PhaseReport("solved"), _silent,
                                   self.drill.id)
            except StepFailed as exc:  # refused outright: the checks will say what is wrong
                logger.info("drill %s: verification traffic: %s", self.drill.id, exc)
            results = [await run_check(check, context) for check in solved.expect]
        finally:
            log.close()
        return [CheckOutcome(desc=trainee_desc(c.desc), status=r.status, spoiler=c.spoiler)
                for c, r in zip(solved.expect, results, strict=True)]

    async def _settle(self) -> None:
        """Let the trickle's journal copies still on the.tdc.queue finish first (at most
        about the queue's time limit), so that a check's deltas count its own traffic."""
        await asyncio.sleep(SETTLE_S)
        limit = min(MAX_SETTLE_S, float(self.lab.values.get("L", 0)) + SETTLE_S)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and _tdc_active(self._appliance()):
            await asyncio.sleep(0.1)

    async def op_answer(self, args: Mapping[str, Any]) -> dict[str, Any]:
        quiz = self.drill.quiz
        if not quiz:
            return _reply("This drill has no quiz: fix the fault, then `segcli drill check`.",
                          failed=True)
        given = args.get("choices")
        if given is None:  # the client asks for the questions first
            return _reply("", quiz=[{"q": q.q, "choices": list(q.choices)} for q in quiz])
        if not isinstance(given, list) or len(given) != len(quiz) \
                or not all(isinstance(c, int) and not isinstance(c, bool) for c in given):
            return _reply(f"give one choice (a number) for each of the {len(quiz)} "
                          "question(s)", failed=True)
        lines, right = [], 0
        for number, (question, choice) in enumerate(zip(quiz, given, strict=True), start=1):
            correct = choice == question.answer
            right += correct
            lines.append(f"{number}. {'right' if correct else 'not quite'}: {question.q}")
        state = self.state
        state.answers = list(given)
        if right == len(quiz):
            state.solved = True
            state.solved_at = state.solved_at or now()
        state.save(self.data_dir)
        lines.append(f"{right} of {len(quiz)} right" + (
            f": solved in {duration(state.solve_s() or 0)}." if right == len(quiz) else "."))
        return _reply("\n".join(lines), failed=right != len(quiz), state=_public(state))

    async def op_reveal(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        state = self.state
        if not state.revealed:
            state.revealed, state.revealed_at = True, now()
            state.save(self.data_dir)
        return _reply(reveal_text(self.drill, self.lab.values), state=_public(state))

    async def op_reset(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        async with self._one_at_a_time():
            await self._back_to_faulty()
        state = self.state
        state.resets += 1
        state.solved = False  # solved_at stays: the time it was first solved
        state.save(self.data_dir)
        return _reply(f"Drill {state.id} is back in its faulty state (reset {state.resets}); "
                      f"hints used stay {state.hints_used}/{state.hints_total}.",
                      state=_public(state))

    async def _back_to_faulty(self) -> None:
        """The configuration the setup left, committed again; every fault cleared and armed
        again (a trainee's change to a lab-side cause is undone too)."""
        from engine.config.changes import ReplaceConfig

        appliance = self._appliance()
        if self._faulty_config is not None and appliance.config != self._faulty_config:
            await appliance.commit([ReplaceConfig(self._faulty_config.copy(), "drill reset")],
                                   user="lab", comment=f"segcli drill reset {self.drill.id}",
                                   rollback=True)
        await self.lab.lab_action("fault clear")
        self.state.faults.clear()
        for phase in self.drill.phases:
            section = PhaseReport(phase.name)
            for fault in phase.faults:
                await self._arm(fault, section)

    async def op_stop(self, _args: Mapping[str, Any]) -> dict[str, Any]:
        """Say how it went, then end the drill (after this reply has gone out)."""
        text = summary(self.state)
        asyncio.get_running_loop().call_soon(self.finish, EXIT_OK)
        return _reply(text, state=_public(self.state))

    def finish(self, status: int) -> None:
        if not self.stopped.done():
            self.stopped.set_result(status)


def _op(handler: Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
        ) -> Callable[[Any, Mapping[str, Any]], Awaitable[dict[str, Any]]]:
    """A control op (``handler(lab, args)``) that calls one of :class:`HandsOn`'s."""
    async def op(_lab: Any, args: Mapping[str, Any]) -> dict[str, Any]:
        return await handler(args)
    return op


def _over(_lab: Any, _args: Mapping[str, Any]) -> dict[str, Any]:
    from segcli.lab.control import ControlError

    raise ControlError("the drill has stopped")


def _silent(_event: Event) -> None:
    """The runner's progress events: hands-on mode shows none of them."""


def _tdc_active(appliance: Appliance) -> bool:
    """Does the.tdc.queue still hold journal copies?"""
    mail = appliance.mail
    host = mail.counters.hosts.get(TDC_QUEUE) if mail is not None else None
    return bool(host is not None and host.active)


def _reply(text: str, *, failed: bool = False, **more: Any) -> dict[str, Any]:
    """An op's answer: the text to print, and whether the action failed (exit status 1)."""
    return {"text": text, "failed": failed, **more}


def _public(state: DrillState) -> dict[str, Any]:
    """What a client may learn of the record (it holds nothing secret, but keep it small)."""
    return {"id": state.id, "hints_used": state.hints_used, "hints_total": state.hints_total,
            "solved": state.solved, "revealed": state.revealed,
            "running_s": round(state.running_s(), 1)}


def trainee_desc(desc: str) -> str:
    """A check's description as a trainee sees it: a ``${name}`` is named, never filled in
    (its value may be what the trainee has to find: ``the setting names <good_intake>``)."""
    from segcli.drills.expressions import PLACEHOLDER

    return PLACEHOLDER.sub(lambda match: f"<{match.group(1)}>", desc)


def trickle_of(drill: Drill) -> Trickle:
    """``[lab.trickle]``, else one clean message every 30 s to the user the drill's own
    traffic goes to (the ticket's affected user)."""
    if drill.lab.trickle is not None:
        return drill.lab.trickle
    to = next((t.to for phase in drill.phases for t in phase.traffic), DEFAULT_USER)
    return Trickle(every_s=DEFAULT_TRICKLE_S, kind="clean", to=to)


# -- texts ---------------------------------------------------------------------------------

def check_report(outcomes: list[CheckOutcome], state: DrillState) -> str:
    """PASS, or the described checks that still fail: their descriptions only (never the
    expected values), and of spoiler checks only how many."""
    failing = [o for o in outcomes if o.status == "FAIL"]
    warnings = [o for o in outcomes if o.status == "WARN" and not o.spoiler]
    if not failing:
        lines = [f"PASS  all {len(outcomes)} checks pass: drill {state.id} is solved"
                 + (f" ({duration(state.solve_s() or 0)}, {state.hints_used} hint(s)"
                    f"{', revealed' if state.revealed else ''})." if state.solve_s() is not None
                    else ".")]
        lines += [f"  WARN  {o.desc}" for o in warnings]
        lines.append("End it with `segcli drill stop`.")
        return "\n".join(lines)
    lines = [f"FAIL  {len(failing)} of {len(outcomes)} checks still fail:"]
    lines += [f"  FAIL  {o.desc}" for o in failing if not o.spoiler]
    hidden = sum(o.spoiler for o in failing)
    if hidden:
        lines.append(f"  ({hidden} hidden check(s) fail too)")
    lines += [f"  WARN  {o.desc}" for o in warnings]
    return "\n".join(lines)


def reveal_text(drill: Drill, values: Any) -> str:
    """The diagnosis and the fix, ``${name}`` values filled in where they are known."""
    from segcli.drills.expressions import UndefinedVariable, substitute

    def filled(text: str) -> str:
        try:
            return substitute(text, values)
        except UndefinedVariable:
            return text

    lines = [f"Drill {drill.id} revealed (recorded): {drill.title}", "", "Diagnosis:"]
    lines += [f"  {n}. {filled(step)}" for n, step in enumerate(drill.diagnosis, 1)] \
        or ["  (none written)"]
    fix = drill.fix
    lines += ["", "Fix:"]
    if fix.story:
        lines.append(f"  {filled(fix.story)}")
    lines += [f"  {filled(command)}" for command in fix.cli]
    lines += [f"  (answers: {', '.join(filled(a) for a in fix.answers)})"] if fix.answers else []
    lines += [f"  lab: segcli lab {filled(action)}" for action in fix.lab]
    lines += ["", "Then prove it: segcli drill check"] if drill.solved else []
    return "\n".join(lines)


def summary(state: DrillState) -> str:
    """What ``drill stop`` says: time, whether and when solved, hints, revealed."""
    return "\n".join([
        f"Drill {state.id} stopped after {duration(state.running_s())}.",
        f"  solved     {_solved_words(state)}",
        f"  hints      {state.hints_used} of {state.hints_total}",
        f"  revealed   {'yes' if state.revealed else 'no'}",
        f"  checks     {state.checks_run}",
    ])


def _solved_words(state: DrillState) -> str:
    solved = state.solve_s()
    if solved is None:
        return "no"
    return f"yes, in {duration(solved)}" + ("" if state.solved else
                                             " (unsolved again when it stopped)")


def ticket_text(drill: Drill, data_dir: Path, info: dict[str, Any]) -> str:
    """What ``drill start`` prints: the ticket (never the cause) and how to connect."""
    data = str(data_dir)
    lines = [f"Drill {drill.id}: {drill.title}", "",
             f"TICKET{' from ' + drill.ticket_from if drill.ticket_from else ''}:"]
    lines += [f"  {line}" for line in drill.ticket_text.strip().splitlines()]
    lines += ["", "Connect to the gateway:"]
    if info.get("console"):
        lines.append("  console    this terminal (quit ends the drill)")
    else:
        lines.append(f"  console    segcli --data {data}")
    if info.get("ssh_port"):
        lines.append(f"  SSH        ssh -p {info['ssh_port']} admin@127.0.0.1")
    if info.get("smtp_port"):
        lines.append(f"  SMTP       127.0.0.1:{info['smtp_port']}")
    lines += [f"  test mail  segcli lab send --data {data}",
              "",
              f"From another terminal: segcli drill status|hint|check|answer|reveal|reset|stop "
              f"--data {data}"]
    return "\n".join(lines)


# ==============================================================================================
# ``segcli drill ACTION`` (argparse in segcli/drills/cli.py)
# ==============================================================================================

def command(args: argparse.Namespace) -> int:
    """``segcli drill start|status|hint|check|answer|reveal|reset|stop``; the exit status.

    The action is ``args.action`` (or ``args.drill_command``); ``args.data`` the data
    directory (absent: the drill's default one, else the current drill's); for ``start``,
    ``args.drill`` (the loaded drill) or ``args.id`` and ``args.path``, ``args.fast``,
    ``args.no_console``.
    """
    action = getattr(args, "action", None) or getattr(args, "drill_command", None)
    if action == "start":
        return command_start(args)
    if action not in ACTIONS:
        print(f"segcli drill: unknown action {action!r}", file=sys.stderr)
        return EXIT_USAGE
    data_dir = resolve_data_dir(getattr(args, "data", None), None)
    return _client(action, data_dir)


def _client(action: str, data_dir: Path) -> int:
    """One op on the running drill; its text printed; 1 when it failed or nothing runs."""
    from segcli.lab.control import ControlError

    try:
        reply = _answer(data_dir) if action == "answer" else _ask(data_dir, f"drill.{action}")
    except ControlError as exc:
        print(f"segcli drill {action}: {_not_running(data_dir, exc)}", file=sys.stderr)
        return EXIT_FAILED
    if reply is None:
        return EXIT_FAILED
    text = str(reply.get("text", ""))
    if text:
        print(text, flush=True)
    if action == "stop":
        _wait_gone(data_dir)
    return EXIT_FAILED if reply.get("failed") else EXIT_OK


def _ask(data_dir: Path, op: str, **args: Any) -> dict[str, Any]:
    from segcli.lab.control import ControlError, request_sync

    reply = request_sync(data_dir, op, timeout=REQUEST_TIMEOUT_S, **args)
    if not isinstance(reply, dict):
        raise ControlError(f"the lab in {data_dir} answered {op} with something unexpected")
    return reply


def _not_running(data_dir: Path, exc: Exception) -> str:
    from segcli.lab.control import LabNotRunning

    if isinstance(exc, LabNotRunning):
        return (f"no drill is running in {data_dir} "
                "(start one with `segcli drill start ID`, or name its --data DIR)")
    if "unknown op" in str(exc):
        return f"the lab in {data_dir} runs no drill (it was started with `segcli lab`)"
    return f"the drill in {data_dir} did not answer: {exc}"


def _answer(data_dir: Path) -> dict[str, Any] | None:
    """The quiz: the questions from the drill, one choice per question read from stdin."""
    asked = _ask(data_dir, "drill.answer")
    if "quiz" not in asked:
        return asked
    choices: list[int] = []
    for number, question in enumerate(asked["quiz"], start=1):
        print(f"{number}. {question['q']}")
        for index, choice in enumerate(question["choices"], start=1):
            print(f"   {index}) {choice}")
        choice = _read_choice(len(question["choices"]))
        if choice is None:
            print("segcli drill answer: no answer given; nothing recorded.", file=sys.stderr)
            return None
        choices.append(choice)
    return _ask(data_dir, "drill.answer", choices=choices)


def _read_choice(count: int) -> int | None:
    while True:
        try:
            text = input(f"Your answer [1-{count}]> ").strip()
        except EOFError:
            return None
        if text.isdigit() and 1 <= int(text) <= count:
            return int(text)
        print(f"Choose a number from 1 to {count}.")


def _wait_gone(data_dir: Path) -> None:
    """After ``drill.stop``: wait until the drill's process has closed its socket, so that
    the stop is over when the command returns."""
    from segcli.lab.control import LabNotRunning, request_sync

    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        try:
            request_sync(data_dir, "drill.status", timeout=5)
        except LabNotRunning:
            return
        except Exception:  # stopping: unknown op, a closed connection; ask again
            pass
        time.sleep(0.1)
    print(f"segcli drill stop: the drill in {data_dir} is still running after "
          f"{STOP_WAIT_S:g} s", file=sys.stderr)


# -- drill start ---------------------------------------------------------------------------

def command_start(args: argparse.Namespace) -> int:
    from segcli.process import run_reactor

    drill = getattr(args, "drill", None)
    if drill is None:
        from segcli.drills.catalogue import DrillNotFound, find_drill
        from segcli.drills.loader import DrillFileError

        try:
            drill = find_drill(args.id, getattr(args, "path", None) or [])
        except (DrillNotFound, DrillFileError) as exc:
            print(f"segcli drill start: {exc}", file=sys.stderr)
            return EXIT_USAGE
    data_dir = resolve_data_dir(getattr(args, "data", None), drill.id)
    if _lab_answers(data_dir):
        print(f"segcli drill start: a lab already runs in {data_dir}; "
              f"`segcli drill stop --data {data_dir}` ends a drill.", file=sys.stderr)
        return EXIT_FAILED
    return run_reactor(lambda: run_handson(drill, data_dir, fast=bool(getattr(args, "fast", False)),
                                           console=not getattr(args, "no_console", False)))


def _lab_answers(data_dir: Path) -> bool:
    from segcli.lab.control import ControlError, LabNotRunning, request_sync

    try:
        request_sync(data_dir, "drill.status", timeout=5)
    except LabNotRunning:
        return False
    except ControlError:  # it answers, if only to say it knows no such op
        return True
    return True


async def run_handson(drill: Drill, data_dir: Path, *, fast: bool, console: bool) -> int:
    """The whole of ``drill start`` on the running reactor: its exit status."""
    from segcli.drills.lab import DrillLab, LabStartError
    from segcli.drills.runner import StepFailed

    lab = DrillLab(fast=fast, data_dir=data_dir)
    try:
        await lab.start()
    except LabStartError as exc:
        print(f"segcli drill start: the lab could not start: {exc}", file=sys.stderr)
        return EXIT_LAB
    handson: HandsOn | None = None
    ssh = None
    try:
        appliance = lab.appliance
        assert appliance is not None and lab.info is not None
        state = DrillState(id=drill.id, title=drill.title, source=str(drill.source or ""),
                           timescale=lab.scale, hints_total=len(drill.hints))
        handson = HandsOn(drill, lab, data_dir, state)
        try:
            await handson.set_up()
        except StepFailed as exc:
            print(f"segcli drill start: the drill's setup failed: {exc}", file=sys.stderr)
            return EXIT_LAB
        ssh_port = await _start_ssh(appliance)
        if ssh_port is None:
            return EXIT_LAB
        ssh, port = ssh_port
        handson.register_ops()
        remember_current(data_dir)
        print(ticket_text(drill, data_dir, {"ssh_port": port, "smtp_port": lab.info.smtp.port,
                                            "console": console}), flush=True)
        handson.start_trickle()
        from segcli.process import settle_heap

        settle_heap()
        return await (_with_console(handson) if console else _headless(handson))
    finally:
        if ssh is not None:
            await ssh.stop()
        await _tear_down(handson, lab, data_dir)


async def _start_ssh(appliance: Appliance) -> tuple[Any, int] | None:
    from segcli.process import start_ssh

    return await start_ssh(appliance)


async def _headless(handson: HandsOn) -> int:
    """Until SIGTERM/SIGINT/SIGHUP or ``drill stop``."""
    from segcli.process import stop_on_signals, until

    signalled = stop_on_signals()
    await asyncio.wait([signalled, handson.stopped], return_when=asyncio.FIRST_COMPLETED)
    if not signalled.done():
        signalled.set_result(EXIT_OK)
    status = await until(signalled)
    return handson.stopped.result() if handson.stopped.done() else status


async def _with_console(handson: HandsOn) -> int:
    """The appliance console with the drill in its toolbar; quitting it ends the drill, and
    so does ``drill stop`` from another terminal."""
    from segcli.process import run_console

    console = asyncio.ensure_future(run_console(handson._appliance(), user="admin",
                                                toolbar_item=handson.state.toolbar))
    await asyncio.wait([console, handson.stopped], return_when=asyncio.FIRST_COMPLETED)
    if console.done():
        return console.result()
    console.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await console
    return handson.stopped.result()


async def _tear_down(handson: HandsOn | None, lab: DrillLab, data_dir: Path) -> None:
    """Everything the drill started stops; the record says when, and how it went."""
    if handson is not None:
        await handson.stop_trickle()
        handson.unregister_ops()
        state = handson.state
        if state.stopped_at is None:
            state.stopped_at = now()
            state.faults.clear()
            with contextlib.suppress(OSError):
                state.save(data_dir)
            print(summary(state), flush=True)
    await asyncio.shield(lab.stop(remove=False))
    with contextlib.suppress(OSError):
        forget_current(data_dir)

