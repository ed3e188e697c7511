"""A drill run's report: as text (DRILLS.md §6), as data (``--json``) and as JUnit XML.

The text shows every check of a failed phase and, by default, only the failures and
warnings of a passed one (``--verbose`` lists every check), then the ``RESULT`` line.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segcli.drills.checks import CheckResult

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INVALID = 2
EXIT_LAB = 3
#: A phase whose checks all passed shows this many lines of them (--verbose: all).
SHOWN = 8


@dataclass
class PhaseReport:
    name: str
    #: what was done before the checks (commands, faults, traffic), one line each
    steps: list[str] = field(default_factory=list)
    results: list[CheckResult] = field(default_factory=list)


@dataclass
class DrillReport:
    drill_id: str
    title: str = ""
    timescale: float = 1.0
    lab_dir: str = ""
    kept: bool = False
    phases: list[PhaseReport] = field(default_factory=list)
    #: the fix, in one line: "2 commands ok (tdcconfig enable ..., commit)"
    fix: str = ""
    lab_error: str = ""
    #: a step that could not be carried out (a command that failed, a fault refused)
    error: str = ""
    wall_s: float = 0.0
    #: the running lab, when kept (--keep); not part of the data
    lab: Any = field(default=None, repr=False, compare=False)

    @property
    def results(self) -> list[CheckResult]:
        return [r for phase in self.phases for r in phase.results]

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def invalid(self) -> bool:
        return any(r.invalid for r in self.results)

    @property
    def status(self) -> str:
        if self.lab_error:
            return "ERROR"
        if self.error or self.count("FAIL"):
            return "FAIL"
        return "PASS"

    @property
    def exit_status(self) -> int:
        if self.lab_error:
            return EXIT_LAB
        if self.invalid:
            return EXIT_INVALID
        return EXIT_PASS if self.status == "PASS" else EXIT_FAIL

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "lab"}
        data["phases"] = [dataclasses.asdict(p) for p in self.phases]
        data["status"] = self.status
        data["counts"] = {"passed": self.count("PASS"), "failed": self.count("FAIL"),
                          "warnings": self.count("WARN")}
        return data


def render_text(report: DrillReport, *, verbose: bool = False) -> str:
    """The report as DRILLS.md §6 shows it."""
    state = "kept running" if report.kept else "stopped"
    lines = [f"drill {report.drill_id}   timescale {report.timescale:g}   "
             f"lab {report.lab_dir} ({state})"]
    if report.lab_error:
        lines.append(f"  LAB ERROR  {report.lab_error}")
    for phase in report.phases:
        if phase.name == "fix":
            continue
        lines.append(f"phase {phase.name}")
        if verbose:
            lines += [f"  step  {step}" for step in phase.steps]
        failed = any(r.status != "PASS" for r in phase.results)
        hidden = 0
        for number, result in enumerate(phase.results):
            if not verbose and not failed and len(phase.results) > SHOWN and number >= SHOWN - 1:
                hidden += 1
                continue
            lines += _result_lines(result)
        if hidden:
            lines.append(f"  ...   ({hidden} checks passed; --verbose lists every check)")
        if report.fix and phase is _fault_end(report):
            lines.append(f"phase fix      {report.fix}")
    if report.error:
        lines.append(f"  ERROR {report.error}")
    lines.append(f"RESULT  {report.status:<6} {report.count('PASS')} passed, "
                 f"{report.count('FAIL')} failed, {report.count('WARN')} warnings   "
                 f"{report.wall_s:.1f} s")
    return "\n".join(lines)


def _fault_end(report: DrillReport) -> PhaseReport | None:
    """The last phase before ``solved``: the fix line follows it."""
    before = [p for p in report.phases if p.name not in ("solved", "fix")]
    return before[-1] if before else None


def _result_lines(result: CheckResult) -> list[str]:
    detail = f"   {result.detail}" if result.detail else ""
    lines = [f"  {result.status:<4}  {result.desc}{detail}"]
    if result.status != "PASS" and result.context:
        lines.append("        context:")
        lines += [f"          {line}" for line in result.context]
    return lines


def render_json(reports: list[DrillReport]) -> str:
    return json.dumps({"drills": [r.to_json() for r in reports],
                       "status": overall_status(reports)}, indent=2, default=str)


def overall_status(reports: list[DrillReport]) -> int:
    """3 if a lab could not start, else 2 for an invalid drill, else 1 for a failure."""
    statuses = [r.exit_status for r in reports]
    for status in (EXIT_LAB, EXIT_INVALID, EXIT_FAIL):
        if status in statuses:
            return status
    return EXIT_PASS


def write_junit(reports: list[DrillReport], path: Path) -> None:
    """One ``testsuite`` per drill and one ``testcase`` per check."""
    suites = ET.Element("testsuites")
    for report in reports:
        suite = ET.SubElement(suites, "testsuite", name=report.drill_id,
                              tests=str(len(report.results) + bool(report.lab_error or
                                                                   report.error)),
                              failures=str(report.count("FAIL") + bool(report.error)),
                              errors=str(int(bool(report.lab_error))),
                              time=f"{report.wall_s:.3f}")
        if report.lab_error:
            case = ET.SubElement(suite, "testcase", classname=report.drill_id, name="lab")
            ET.SubElement(case, "error", message=report.lab_error)
        for phase in report.phases:
            for number, result in enumerate(phase.results, 1):
                case = ET.SubElement(suite, "testcase", classname=f"{report.drill_id}.{phase.name}",
                                     name=f"{number:02d} {result.desc}",
                                     time=f"{result.elapsed_s:.3f}")
                if result.status == "FAIL":
                    failure = ET.SubElement(case, "failure", message=result.detail)
                    failure.text = "\n".join(result.context)
                elif result.status == "WARN":
                    ET.SubElement(case, "system-out").text = f"WARN {result.detail}"
        if report.error:
            case = ET.SubElement(suite, "testcase", classname=report.drill_id, name="steps")
            ET.SubElement(case, "failure", message=report.error)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
