"""What the benchmark scripts share, so that each one says only what it measures.

- the figures of a series of times: :func:`percentile`, :func:`figures_ms` (median, p99 and
  maximum in milliseconds) and :func:`spread` (median, minimum and maximum over runs);
- timing an action many times (:func:`timed`);
- Ctrl-C and SIGTERM turned into KeyboardInterrupt so that a script stops what it started
  (:func:`interrupt_on_signals`);
- the report: printed, and as JSON (:func:`publish`, :func:`write_json`, :func:`settings`).

Why one module: the scripts had a copy each, and the copies had begun to differ (three
formulas for the 99th percentile; :func:`percentile` is the textbook nearest rank).

Its neighbours, one concept each: ``benchmarks/processes.py`` (starting, stopping and
reading processes, their CPU), ``benchmarks/gateway.py`` (a real segcli, configured, its
``tophosts`` read; the peers process) and ``benchmarks/commands_in_process.py`` (CLI
commands run in this process).  This module imports none of them, nor the command engine.
"""

from __future__ import annotations

import json
import math
import signal
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

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
# Timing


async def timed(action: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    """Await *action* *runs* times, one after the other; each one's milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await action()
        times.append((time.perf_counter() - started) * 1000)
    return times


# ------------------------------------------------------------------------------------------
# Signals


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
