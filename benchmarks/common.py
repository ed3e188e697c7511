"""What the benchmark scripts share, so that each one says only what it measures.

- the figures of a series of times: :func:`percentile`, :func:`figures_ms` (median, p99 and
  maximum in milliseconds) and :func:`spread` (median, minimum and maximum over runs);
- timing an action many times (:func:`timed`) and running CLI commands in process through
  a real :class:`~commands.session.CliSession` with their output captured
  (:class:`CommandRunner`);
- a real ``segcli`` appliance process (:class:`SegcliProcess`): started with its console
  idle on a pipe, its SMTP port read from what it says, its queues read with ``tophosts``,
  stopped by the end of its console's input; Ctrl-C and SIGTERM turned into
  KeyboardInterrupt so that a script stops what it started (:func:`interrupt_on_signals`);
- the report: printed, and as JSON (:func:`publish`, :func:`write_json`, :func:`settings`).

Why one module: the scripts had a copy each, and the copies had begun to differ (three
formulas for the 99th percentile; :func:`percentile` is the textbook nearest rank).  The
process primitives it builds on (``Processes``, ``LineReader``, the environment and the
``tophosts`` parser) are still in journal_throughput.py, whose other users import them
from there; they belong here next.

A script run as ``python benchmarks/x.py`` puts the repository on ``sys.path`` before it
imports this module; one that installs Twisted's asyncio reactor does that first too
(importing the command engine must not install the default reactor).
"""

from __future__ import annotations

import json
import math
import signal
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.journal_throughput import (
    TOPHOSTS_DONE,
    BenchmarkError,
    LineReader,
    Processes,
    _python_env,
    parse_tophosts,
)
from commands.session import CliSession

#: The domain the benchmarks' mail is for (relayed to the sink), and the journal's queue.
SINK_DOMAIN = "example.com"
TDC_QUEUE = "the.tdc.queue"
#: What segcli says on stderr once its SMTP listener is up, with the port it took.
LISTENING = r"SMTP listener \S+ on [\d.]+:(\d+)"


# ------------------------------------------------------------------------------------------
# Figures


def percentile(values: Sequence[float], percent: float) -> float:
    """The *percent* percentile (99: p99) of *values* by nearest rank: the smallest value
    that at least *percent* % of them do not exceed -- one that was measured, never one
    interpolated between two."""
    if not values:
        raise ValueError("no values to take a percentile of")
    if not 0 < percent <= 100:
        raise ValueError(f"a percentile is over 0 and at most 100, not {percent}")
    ordered = sorted(values)
    return ordered[math.ceil(percent * len(ordered) / 100) - 1]


def figures_ms(times_ms: Sequence[float]) -> dict[str, float]:
    """Median, 99th percentile and maximum of times in milliseconds, to the microsecond."""
    return {"median_ms": round(statistics.median(times_ms), 3),
            "p99_ms": round(percentile(times_ms, 99), 3),
            "max_ms": round(max(times_ms), 3)}


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, minimum and maximum of one figure over several runs."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


# ------------------------------------------------------------------------------------------
# Timing, and CLI commands in process


async def timed(action: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    """Await *action* *runs* times, one after the other; each one's milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await action()
        times.append((time.perf_counter() - started) * 1000)
    return times


class TextTerminal:
    """A terminal that keeps what is written (the :class:`~commands.io.Terminal` a
    command's output goes to) and has nobody to answer: the timed commands ask nothing."""

    interactive = False
    width = 80

    def __init__(self) -> None:
        self.text: list[str] = []

    def write(self, text: str) -> None:
        self.text.append(text)

    error = write

    def show(self, renderable: object) -> None:
        self.text.append(str(renderable))

    async def ask(self, prompt: str, *, choices: Sequence[str] = (), secret: bool = False) -> str:
        raise BenchmarkError(f"a timed command asked {prompt!r}: nobody answers here")

    async def read_command(self, prompt: str) -> str:
        raise BenchmarkError("the benchmark gives its commands one by one")


class CommandRunner:
    """CLI commands run in this process on *appliance* (an ``Appliance``, or anything with
    its ``mail``, ``config`` and ``running``), through one real CliSession."""

    def __init__(self, appliance: Any, **session: Any) -> None:
        self.terminal = TextTerminal()
        self.session = CliSession(appliance, self.terminal, **session)

    async def run(self, line: str) -> str:
        """Run *line*; its output.  BenchmarkError when it fails: a figure of a failing
        command means nothing."""
        self.terminal.text.clear()
        if not await self.session.execute(line):
            raise BenchmarkError(f"{line!r} failed: {''.join(self.terminal.text)}")
        return "".join(self.terminal.text)

    async def time(self, line: str, runs: int) -> tuple[list[float], str]:
        """Run *line* *runs* times; each run's milliseconds, and the last output."""
        times = await timed(lambda: self.run(line), runs)
        return times, "".join(self.terminal.text)


# ------------------------------------------------------------------------------------------
# A real segcli process


class SegcliProcess:
    """The real ``segcli`` (*command*: see ``journal_throughput.segcli_command``), its console
    idle on a pipe (``--plain``) to ask ``tophosts`` through, started and stopped by the
    run's :class:`Processes` (so it is stopped on failure and on Ctrl-C too)."""

    def __init__(self, processes: Processes, command: list[str]) -> None:
        self.processes = processes
        self.command = command
        self.process: subprocess.Popen | None = None
        self.stdout: LineReader | None = None
        self.stderr: LineReader | None = None

    def start(self, timeout: float = 120.0) -> int:
        """Start it (it recovers what its store holds) and wait until it listens for SMTP;
        the port it listens on."""
        process = self.processes.start(
            [*self.command, "--plain"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=_python_env(), stop=self._quit)
        self.process = process
        self.stdout = LineReader(process.stdout)
        self.stderr = LineReader(process.stderr)
        return int(self.stderr.wait_for(LISTENING, timeout=timeout)[1])

    def _quit(self) -> None:
        """End of input: the console ends, the appliance stops cleanly."""
        process = self.running()
        assert process.stdin is not None
        process.stdin.close()

    def running(self) -> subprocess.Popen:
        assert self.process is not None, "segcli was not started"
        return self.process

    def stop(self, timeout: float = 60.0) -> None:
        """Stop it cleanly (its console's input ends), killing it after *timeout* s."""
        self.processes.stop(self.running(), timeout=timeout)

    def queue_state(self, timeout: float = 30.0) -> dict[str, dict[str, int]]:
        """``tophosts 3`` of the running process (its live counters), by host."""
        process, stdout = self.running(), self.stdout
        assert process.stdin is not None and stdout is not None
        start = len(stdout.text)
        process.stdin.write(b"tophosts 3\n")
        process.stdin.flush()
        stdout.wait_for(TOPHOSTS_DONE, timeout, start)
        return parse_tophosts(stdout.text[start:])

    def drained(self, deadline: float,
                hosts: Sequence[str] = (SINK_DOMAIN, TDC_QUEUE)) -> dict[str, dict[str, int]]:
        """Wait until nothing is active for *hosts* (time.monotonic() *deadline*); the last
        ``tophosts``.  BenchmarkError when they do not drain in time."""
        while True:
            state = self.queue_state()
            if all(state.get(name, {}).get("active", 0) == 0 for name in hosts):
                return state
            if time.monotonic() > deadline:
                raise BenchmarkError(f"segcli's queues did not drain: {state}")
            time.sleep(0.2)


def interrupt_on_signals() -> None:
    """SIGTERM and SIGINT raise KeyboardInterrupt in the main thread, even where a shell
    started the script ignoring SIGINT: the script's ``finally`` then stops every process
    it started (which also get SIGTERM should the script itself be killed)."""
    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)


# ------------------------------------------------------------------------------------------
# The report


def settings(args: Any) -> dict[str, str]:
    """A script's command-line settings, as text, for its JSON report."""
    return {key: str(value) for key, value in vars(args).items()}


def write_json(path: Path | str, report: Any) -> None:
    """Write *report* as indented JSON (one file a run, read by people and by the tests)."""
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


def publish(text: str, report: Any, json_path: Path | str | None) -> None:
    """Print *text* (the figures for people) and write *report* to *json_path* if given."""
    print(text)
    if json_path:
        write_json(json_path, report)
