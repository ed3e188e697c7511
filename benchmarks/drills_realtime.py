#!/usr/bin/env python3
"""Every shipped drill once at real time (timescale 1.0), one after another: does each pass
when the timers are not scaled, and how long does it take? (issue 11: the suite runs them
with ``--fast``; this is the real-time run outside the suite).

Each drill is a real ``segcli drill run FILE --json`` process (the installed command, on the
shipped drill's file, so a user's own drill with the same id is not picked up); the table
gives its result, its checks and the wall time seen from here, plus the CPU time of the
process and everything it started (its lab).

    .venv/bin/python benchmarks/drills_realtime.py                 # all 20, about 15-20 min
    .venv/bin/python benchmarks/drills_realtime.py smtp-550-no-retry dns-servfail-retry
    .venv/bin/python benchmarks/drills_realtime.py --fast baseline-healthy   # the smoke test

Exit status: 0 if every drill passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from segcli.drills.catalogue import shipped_dir

#: A drill that takes longer than this is stopped and counted as failed.
DEFAULT_TIMEOUT_S = 900.0


@dataclass
class Outcome:
    """One drill's run, as the table shows it."""

    drill: str
    result: str  # PASS, FAIL, ERROR (lab did not start) or TIMEOUT
    exit_status: int
    passed: int
    failed: int
    warnings: int
    wall_s: float  # seen from here: the process, from start to exit
    cpu_s: float  # user + system of the process and all it started
    report_wall_s: float  # what the drill's own report says
    #: the checks that did not pass: "WARN <phase>: <desc>: <what was found>"
    notes: list[str] = field(default_factory=list)


def segcli_command() -> list[str]:
    """The installed ``segcli`` next to this Python (a virtual environment's), else on PATH,
    else ``python -m segcli``."""
    beside = Path(sys.executable).with_name("segcli")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("segcli")
    return [found] if found else [sys.executable, "-m", "segcli"]


def shipped_ids() -> list[str]:
    return sorted(path.stem for path in shipped_dir().glob("*.toml"))


def drill_argument(drill_id: str) -> str:
    """The shipped file of *drill_id* when there is one (so no user drill replaces it), else
    the id itself (found by segcli in the user's places and ``--path``)."""
    shipped = shipped_dir() / f"{drill_id}.toml"
    return str(shipped) if shipped.is_file() else drill_id


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_one(drill_id: str, *, fast: bool, paths: list[str], timeout: float) -> Outcome:
    """``segcli drill run`` on one drill, timed from here."""
    command = [*segcli_command(), "drill", "run", drill_argument(drill_id), "--json"]
    command += ["--fast"] if fast else []
    for path in paths:
        command += ["--path", path]
    cpu_before, started = children_cpu(), time.monotonic()
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  check=False)
    except subprocess.TimeoutExpired:  # subprocess.run killed it
        return Outcome(drill_id, "TIMEOUT", -1, 0, 0, 0, time.monotonic() - started,
                       children_cpu() - cpu_before, 0.0)
    wall, cpu = time.monotonic() - started, children_cpu() - cpu_before
    try:
        [report] = json.loads(finished.stdout)["drills"]
    except (ValueError, KeyError, TypeError):
        sys.stderr.write(f"{drill_id}: exit {finished.returncode}, no JSON report\n"
                         f"{finished.stdout}{finished.stderr}")
        return Outcome(drill_id, "ERROR", finished.returncode, 0, 0, 0, wall, cpu, 0.0)
    counts = report["counts"]
    return Outcome(drill_id, report["status"], finished.returncode, counts["passed"],
                   counts["failed"], counts["warnings"], wall, cpu, report["wall_s"],
                   _notes(report))


def _notes(report: dict[str, Any]) -> list[str]:
    """The checks of a ``--json`` report that did not pass, and a step that failed."""
    notes = [f"{result['status']} {phase['name']}: {result['desc']}: {result['detail']}"
             for phase in report["phases"] for result in phase["results"]
             if result["status"] != "PASS"]
    return notes + ([f"ERROR {report['error']}"] if report.get("error") else [])


def table(outcomes: list[Outcome]) -> str:
    """The figures as a Markdown table, ready for benchmarks/README.md."""
    lines = ["| drill | result | checks passed / failed / warnings | wall | CPU |",
             "| --- | --- | --- | ---: | ---: |"]
    for o in outcomes:
        lines.append(f"| {o.drill} | {o.result} | {o.passed} / {o.failed} / {o.warnings} "
                     f"| {_duration(o.wall_s)} | {o.cpu_s:.1f} s |")
    passed = sum(o.result == "PASS" for o in outcomes)
    lines.append(f"| **{len(outcomes)} drill{'s' if len(outcomes) != 1 else ''}** | "
                 f"**{passed} passed** | "
                 f"{sum(o.passed for o in outcomes)} / {sum(o.failed for o in outcomes)} / "
                 f"{sum(o.warnings for o in outcomes)} | "
                 f"**{_duration(sum(o.wall_s for o in outcomes))}** | "
                 f"{sum(o.cpu_s for o in outcomes):.1f} s |")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:04.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ids", nargs="*", metavar="ID",
                        help="drill ids (default: every shipped drill)")
    parser.add_argument("--fast", action="store_true",
                        help="timers scaled by 0.1, as in the test suite (for a quick check)")
    parser.add_argument("--path", action="append", default=[], metavar="DIR",
                        help="also look for drills in DIR (passed on to segcli)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"longest one drill may take (default {DEFAULT_TIMEOUT_S:g} s)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    args = parser.parse_args(argv)
    ids = args.ids or shipped_ids()
    scale = "fast (timescale 0.1)" if args.fast else "real time (timescale 1.0)"
    print(f"{len(ids)} drill{'s' if len(ids) != 1 else ''} at {scale}, one after another",
          flush=True)
    outcomes: list[Outcome] = []
    for drill_id in ids:
        outcome = run_one(drill_id, fast=args.fast, paths=args.path, timeout=args.timeout)
        outcomes.append(outcome)
        print(f"  {outcome.drill:<36} {outcome.result:<7} {_duration(outcome.wall_s)}",
              flush=True)
    print()
    print(table(outcomes))
    for outcome in outcomes:
        for note in outcome.notes:
            print(f"{outcome.drill}: {note}")
    if args.json:
        args.json.write_text(json.dumps({"fast": args.fast,
                                         "drills": [asdict(o) for o in outcomes]}, indent=2))
    return 0 if all(o.result == "PASS" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
