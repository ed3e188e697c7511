"""``segcli drill ...``: the drills' command line (DRILLS.md §6).

``list``, ``show``, ``validate`` and ``new`` live here.  ``run`` and the hands-on commands
(``start``, ``status``, ``hint``, ``check``, ``reveal``, ``reset``, ``stop``) have their
options parsed here and are carried out by :func:`segcli.drills.runner.command_run` and
:func:`segcli.drills.handson.command`, imported only when used so that ``drill list``
starts no lab code.

Exit status: 0 ok, 1 a check failed (or the command failed), 2 an invalid drill file (or a
usage error), 3 the lab could not start (``run``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from segcli.drills.catalogue import (
    SHIPPED,
    DrillEntry,
    DrillNotFound,
    find_drill,
    find_drills,
    places,
    user_dir,
)
from segcli.drills.loader import DrillFileError, is_slug, load_drill
from segcli.drills.model import CATEGORIES, Check, Drill

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2

HANDS_ON = ("start", "status", "hint", "check", "reveal", "reset", "stop")
_TEMPLATE_ID = "__ID__"


def add_drill_parser(modes: Any) -> None:
    """Add ``drill`` and its sub-commands to segcli's sub-parsers *modes*."""
    drill = modes.add_parser("drill", help="troubleshooting drills: list, show, run, start, "
                             "validate, new (`segcli drill -h`)",
                             description="Troubleshooting drills: self-checking TDC failures.")
    commands = drill.add_subparsers(dest="drill_command", metavar="COMMAND", required=True)
    path_help = "also look for drills in DIR (may be given more than once)"

    def with_path(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--path", type=Path, action="append", default=[], metavar="DIR",
                            help=path_help)
        return parser

    listing = with_path(commands.add_parser("list", help="the drills there are"))
    listing.add_argument("--category", choices=CATEGORIES)
    listing.add_argument("--tag", metavar="TAG")

    show = with_path(commands.add_parser("show", help="a drill's ticket and setup"))
    show.add_argument("id", metavar="ID", help="a drill id or a drill file")
    show.add_argument("--solution", action="store_true",
                      help="also the diagnosis, the fix and every check")

    validate = commands.add_parser("validate", help="check drill files, report every problem")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.add_argument("--strict", action="store_true",
                          help="also list the checks that only warn (severity = \"warn\")")

    new = commands.add_parser("new", help="write a commented drill template")
    new.add_argument("id", metavar="ID", help="the new drill's id (lower-case, digits, '-')")
    new.add_argument("--path", type=Path, metavar="DIR",
                     help=f"where to write it (default: {user_dir()})")

    run = with_path(commands.add_parser("run", help="run drills in a fresh lab and check them"))
    run.add_argument("ids", nargs="*", metavar="ID", help="drill ids or drill files")
    run.add_argument("--all", action="store_true", help="every drill there is")
    run.add_argument("--fast", action="store_true", help="timers scaled by 0.1")
    run.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    run.add_argument("--data", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                     help="the lab's data directory (default: a temporary one)")
    output = run.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the report as JSON")
    output.add_argument("--junit", type=Path, metavar="FILE", help="a JUnit XML report in FILE")
    run.add_argument("--verbose", action="store_true", help="list every check")

    start = with_path(commands.add_parser("start", help="hands-on: the lab with the fault in "
                                          "place, the ticket, the appliance console"))
    start.add_argument("id", metavar="ID", help="a drill id or a drill file")
    start.add_argument("--fast", action="store_true", help="timers scaled by 0.1")
    start.add_argument("--data", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                       help="the lab's data directory")
    start.add_argument("--no-console", action="store_true", help="do not open the console")
    for name, text in (("status", "the running drill: time, hints, solved or not"),
                       ("hint", "the next hint"),
                       ("check", "is it solved? (sends verification traffic)"),
                       ("reveal", "the diagnosis and the fix"),
                       ("reset", "back to the faulty state"),
                       ("stop", "end the drill: time to solve, hints used")):
        hands_on = commands.add_parser(name, help=text)
        hands_on.add_argument("--data", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                              help="the running drill's data directory")


def run(args: argparse.Namespace) -> int:
    """Carry out ``segcli drill <command>``; the exit status."""
    command: Callable[[argparse.Namespace], int] = {
        "list": command_list, "show": command_show, "validate": command_validate,
        "new": command_new, "run": command_run,
    }.get(args.drill_command, command_hands_on)
    try:
        return command(args)
    except DrillFileError as exc:
        _error(str(exc))
        return EXIT_INVALID
    except DrillNotFound as exc:
        _error(str(exc))
        return EXIT_INVALID


# -- list ----------------------------------------------------------------------------------------
def command_list(args: argparse.Namespace) -> int:
    entries = find_drills(args.path)
    shown = [e for e in entries if e.drill is not None and _selected(e.drill, args)]
    rows = [("ID", "CAT", "LVL", "SOURCE", "TITLE")]
    rows += [(e.id, d.category, str(d.difficulty), _origin(e), d.title)
             for e in shown if (d := e.drill) is not None]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
              + "  " + row[4])
    where = ", ".join(f"{origin} {directory}" for origin, directory in places(args.path))
    print(f"{len(shown)} drill{'s' if len(shown) != 1 else ''} ({where})")
    broken = [e for e in entries if e.drill is None]
    for entry in broken:
        _error(f"{entry.path} cannot be used:")
        for problem in entry.problems:
            print(f"  {problem}", file=sys.stderr)
    return EXIT_OK


def _selected(drill: Drill, args: argparse.Namespace) -> bool:
    return (args.category is None or drill.category == args.category) and \
        (args.tag is None or args.tag in drill.tags)


def _origin(entry: DrillEntry) -> str:
    if entry.overrides is None:
        return entry.origin
    replaced = SHIPPED if entry.overrides.parent == places()[0][1] else str(entry.overrides)
    return f"{entry.origin} (replaces {replaced})"


# -- show ----------------------------------------------------------------------------------------
def command_show(args: argparse.Namespace) -> int:
    drill = find_drill(args.id, args.path)
    print(f"{drill.id}: {drill.title}")
    print(f"category {drill.category}, difficulty {drill.difficulty} of 3"
          + (f", tags {', '.join(drill.tags)}" if drill.tags else ""))
    if drill.source is not None:
        print(f"file {drill.source}")
    print()
    print(f"Ticket{f' from {drill.ticket_from}' if drill.ticket_from else ''}:")
    print(_indent(drill.ticket_text.strip()))
    print()
    print("Setup:")
    print(_indent(_setup_in_words(drill)))
    if drill.hints:
        print(f"\n{len(drill.hints)} hint{'s' if len(drill.hints) != 1 else ''} "
              "(`segcli drill hint` in hands-on mode).")
    if args.solution:
        _print_solution(drill)
    return EXIT_OK


def _setup_in_words(drill: Drill) -> str:
    """What the trainee gets, without the cause: no commands, no faults."""
    lab = drill.lab
    words = [f"A fresh lab (profile {lab.profile}): the gateway, the SETD simulator, the lab "
             "DNS zone and the delivery sink, all on loopback."]
    sent = sum(t.count for p in drill.phases for t in p.traffic)
    if sent:
        words.append(f"{sent} test message{'s' if sent != 1 else ''} sent to the gateway.")
    if lab.trickle is not None:
        words.append(f"Hands-on: a {lab.trickle.kind} message to {lab.trickle.to} every "
                     f"{lab.trickle.every_s} s keeps the symptoms live.")
    if drill.quiz:
        words.append("Ends with a short quiz (`segcli drill check`).")
    return " ".join(words)


def _print_solution(drill: Drill) -> None:
    print("\nSolution")
    for index, phase in enumerate(drill.phases, 1):
        print(f"\nPhase {index}: {phase.name}")
        for command in phase.cli:
            print(f"  cli    {command}")
        for fault in phase.faults:
            where = fault.intake or fault.name or fault.target
            detail = " ".join(x for x in (fault.stage, str(fault.code or ""), fault.text) if x)
            print(f"  fault  {fault.target} {fault.action} {where} {detail}".rstrip())
        for traffic in phase.traffic:
            print(f"  send   {traffic.id}: {traffic.count} x {traffic.kind} to {traffic.to}")
        _print_checks(phase.expect)
    if drill.diagnosis:
        print("\nDiagnosis:")
        for step in drill.diagnosis:
            print(_indent(f"- {step}"))
    fix = drill.fix
    print("\nFix:")
    if fix.story:
        print(_indent(fix.story))
    for command in fix.cli:
        print(f"  cli    {command}")
    for action in fix.lab:
        print(f"  lab    {action}")
    if drill.solved is not None:
        print("\nSolved when:")
        _print_checks(drill.solved.expect)
    for quiz in drill.quiz:
        print(f"\nQuiz: {quiz.q}")
        for number, choice in enumerate(quiz.choices, 1):
            print(f"  {number}. {choice}{'  <- answer' if number == quiz.answer else ''}")


def _print_checks(checks: Sequence[Check]) -> None:
    for check in checks:
        flag = " (warn only)" if check.severity == "warn" else ""
        print(f"  check  [{check.kind}] {check.desc}{flag}")


def _indent(text: str) -> str:
    return "\n".join(textwrap.fill(line, 96, initial_indent="  ", subsequent_indent="  ")
                     if line.strip() else "" for line in text.splitlines())


# -- validate ------------------------------------------------------------------------------------
def command_validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.files:
        try:
            drill = load_drill(path, strict=args.strict)
        except DrillFileError as exc:
            status = EXIT_INVALID
            for problem in exc.problems:
                print(problem)
            count = len(exc.problems)
            print(f"{path}: {count} problem{'s' if count != 1 else ''}")
            continue
        checks = sum(len(p.expect) for p in drill.phases) + \
            (len(drill.solved.expect) if drill.solved else 0)
        print(f"{path}: ok ({drill.id}, {len(drill.phases)} phase"
              f"{'s' if len(drill.phases) != 1 else ''}, {checks} checks)")
    return status


# -- new -----------------------------------------------------------------------------------------
def template_text(drill_id: str) -> str:
    """The commented template of ``drill new``, for *drill_id*."""
    text = resources.files("segcli.drills").joinpath("template.toml").read_text(encoding="utf-8")
    return text.replace(_TEMPLATE_ID, drill_id)


def command_new(args: argparse.Namespace) -> int:
    if not is_slug(args.id):
        _error(f"{args.id!r} is not a drill id: use lower-case letters, digits and '-' "
               "(at most 64), starting with a letter or digit")
        return EXIT_INVALID
    directory = args.path or user_dir()
    target = directory / f"{args.id}.toml"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as file:  # never over an existing drill
            file.write(template_text(args.id))
    except FileExistsError:
        _error(f"{target} exists already; nothing was written")
        return EXIT_FAILED
    except OSError as exc:
        _error(f"cannot write {target}: {exc.strerror or exc}")
        return EXIT_FAILED
    print(f"wrote {target}")
    print(f"next: edit it, then `segcli drill validate {target}` and "
          f"`segcli drill run {args.id} --fast --path {directory}`")
    return EXIT_OK


# -- run and hands-on (carried out elsewhere) --------------------------------------------------
def command_run(args: argparse.Namespace) -> int:
    if args.all == bool(args.ids):
        _error("drill run: give drill ids, or --all (not both)")
        return EXIT_INVALID
    if args.all:
        entries = find_drills(args.path)
        broken = [e for e in entries if e.drill is None]
        if broken:
            for entry in broken:
                for problem in entry.problems:
                    print(problem, file=sys.stderr)
            _error(f"{len(broken)} drill file{'s' if len(broken) != 1 else ''} invalid; "
                   "nothing was run")
            return EXIT_INVALID
        drills = [e.drill for e in entries if e.drill is not None]
    else:
        drills = [find_drill(drill_id, args.path) for drill_id in args.ids]
    runner = _module("segcli.drills.runner")
    if runner is None:
        return EXIT_FAILED
    status: int = runner.command_run(drills, args)
    return status


def command_hands_on(args: argparse.Namespace) -> int:
    """``start`` (its drill found and loaded here, as ``args.drill``) and the commands that
    talk to the running drill."""
    if args.drill_command == "start":
        args.drill = find_drill(args.id, args.path)
    handson = _module("segcli.drills.handson")
    if handson is None:
        return EXIT_FAILED
    status: int = handson.command(args)
    return status


def _module(name: str) -> Any:
    """The module that carries out a command, or None (said on stderr) if this build has
    none."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        _error("drill run is not available in this build")
        return None


def _error(text: str) -> None:
    print(f"segcli: {text}", file=sys.stderr)
