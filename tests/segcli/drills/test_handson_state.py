"""The hands-on record (drill.json), the texts a trainee reads, and where a drill runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from segcli.drills.handson import (
    CheckOutcome,
    check_report,
    reveal_text,
    summary,
    ticket_text,
    trainee_desc,
    trickle_of,
)
from segcli.drills.handson_state import (
    DrillState,
    StateError,
    current_data_dir,
    duration,
    forget_current,
    remember_current,
    resolve_data_dir,
)
from segcli.drills.model import Check, Drill, Fix, LabSpec, Phase, Solved, TrafficSpec, Trickle


def _drill(**more) -> Drill:
    return Drill(id="typo", title="A typo", category="config",
                 ticket_text="SETD shows nothing since Tuesday.\nUsers get their mail.",
                 ticket_from="SOC analyst", hints=("look at tophosts", "read the domain"),
                 diagnosis=("tdcconfig print: the domain ends in ${bad}",),
                 fix=Fix(story="Correct the address.", cli=("tdcconfig enable ${good}", "commit")),
                 solved=Solved(expect=(Check("config", {}, "the setting names SETD's address"),)),
                 vars={"good": "a@b.test", "bad": "b.tset"}, **more)


def test_the_record_survives_a_round_trip_and_says_its_state(tmp_path):
    state = DrillState(id="typo", hints_total=3, faults=["f1"])
    state.save(tmp_path)
    loaded = DrillState.load(tmp_path)
    assert loaded == state
    assert json.loads((tmp_path / "drill.json").read_text())["id"] == "typo"
    assert loaded.toolbar() == "drill: typo · unsolved · hints 0/3"
    loaded.hints_used, loaded.revealed = 1, True
    assert loaded.toolbar() == "drill: typo · revealed · hints 1/3"
    loaded.solved = True
    assert loaded.label == "solved"


NEWER = '{"id": "x", "revealed": true, "written_by": "a newer segcli"}'


@pytest.mark.parametrize("text", ["", "[]", '{"hints_used": 1}', '{"id": "x", "hints_used": []}',
                                  "{broken", NEWER])
def test_a_record_that_is_not_one_is_refused_with_its_name(tmp_path, text):
    (tmp_path / "drill.json").write_text(text)
    if text == NEWER:  # a key it does not know is ignored
        assert DrillState.load(tmp_path).revealed is True
        return
    with pytest.raises(StateError, match="drill"):
        DrillState.load(tmp_path)


def test_no_record_says_no_drill_was_started(tmp_path):
    with pytest.raises(StateError, match=f"no drill was started in {tmp_path}"):
        DrillState.load(tmp_path)


def test_times_to_solve_and_running_times():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    state = DrillState(id="x", started_at=start.isoformat(),
                       solved_at=(start + timedelta(seconds=185)).isoformat(), solved=True,
                       stopped_at=(start + timedelta(seconds=3720)).isoformat())
    assert state.solve_s() == 185
    assert state.running_s() == 3720
    assert [duration(s) for s in (42, 185, 3720)] == ["42 s", "3 min 05 s", "1 h 02 min"]


def test_a_failing_check_names_its_description_and_hides_spoilers():
    outcomes = [CheckOutcome("the setting names SETD's address", "FAIL"),
                CheckOutcome("MID 12 went to 33c48e@beta.cmd.setd.test", "FAIL", spoiler=True),
                CheckOutcome("SETD has it", "PASS"),
                CheckOutcome("a warn-only shape", "WARN")]
    text = check_report(outcomes, DrillState(id="typo"))
    assert text.splitlines()[0] == "FAIL  2 of 4 checks still fail:"
    assert "  FAIL  the setting names SETD's address" in text
    assert "33c48e" not in text and "MID 12" not in text
    assert "(1 hidden check(s) fail too)" in text
    assert "SETD has it" not in text
    assert "  WARN  a warn-only shape" in text


def test_a_description_names_its_values_and_never_fills_them_in():
    assert trainee_desc("the setting names ${good} (MID ${m1.mid})") \
        == "the setting names <good> (MID <m1.mid>)"
    assert trainee_desc("no values here") == "no values here"


def test_all_checks_passing_reads_as_solved():
    state = DrillState(id="typo", solved=True, hints_used=1)
    state.solved_at = state.started_at
    text = check_report([CheckOutcome("a", "PASS"), CheckOutcome("b", "WARN", spoiler=True)], state)
    assert text.startswith("PASS  all 2 checks pass: drill typo is solved (0 s, 1 hint(s)).")
    assert "b" not in text.split("\n", 1)[1].replace("segcli drill stop", "")


def test_the_ticket_never_names_the_cause_and_says_how_to_connect(tmp_path):
    text = ticket_text(_drill(), tmp_path, {"ssh_port": 2222, "smtp_port": 2525, "console": False})
    assert "SETD shows nothing since Tuesday." in text and "SOC analyst" in text
    assert "ssh -p 2222 admin@127.0.0.1" in text
    assert "127.0.0.1:2525" in text
    assert f"segcli lab send --data {tmp_path}" in text
    for secret in ("tset", "tdcconfig", "Correct the address", "read the domain"):
        assert secret not in text


def test_reveal_fills_in_the_values_it_knows():
    text = reveal_text(_drill(), {"good": "a@b.test", "bad": "b.tset"})
    assert "the domain ends in b.tset" in text
    assert "  tdcconfig enable a@b.test" in text
    assert "Then prove it: segcli drill check" in text


def test_the_summary_says_time_hints_and_revealed():
    text = summary(DrillState(id="typo", hints_used=2, hints_total=3, revealed=True))
    assert "Drill typo stopped after" in text
    assert "solved     no" in text and "hints      2 of 3" in text and "revealed   yes" in text


def test_the_trickle_defaults_to_the_user_the_drill_writes_to():
    phase = Phase("fault", traffic=(TrafficSpec("m1", to="carol@example.com"),))
    assert trickle_of(_drill(phases=(phase,))) == Trickle(30.0, "clean", "carol@example.com")
    assert trickle_of(_drill()).to == "bob@example.com"
    own = Trickle(every_s=5, kind="gtube", to="dan@example.com")
    assert trickle_of(_drill(lab=LabSpec(trickle=own))) is own


def test_the_data_directory_a_command_means(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    home = tmp_path / "xdg" / "segcli" / "drills"
    assert resolve_data_dir(None, "typo") == home / "typo"
    assert resolve_data_dir(Path("~/x"), "typo") == Path.home() / "x"
    assert current_data_dir() is None
    started = tmp_path / "elsewhere"
    remember_current(started)
    assert resolve_data_dir(None, None) == started.resolve()
    forget_current(tmp_path / "another")  # not the current one: it stays
    assert current_data_dir() == started.resolve()
    forget_current(started)
    assert current_data_dir() is None and resolve_data_dir(None, None) == home


def test_the_drill_modules_use_only_each_others_public_names() -> None:
    """handson.py sets a drill up with the runner's steps: through public, documented
    functions (run_phase_cli, send_traffic), never a private name that may change."""
    import ast

    import segcli.drills

    package = Path(segcli.drills.__file__).parent
    private = []
    for module in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("segcli."):
                private += [f"{module.name}: {node.module}.{alias.name}" for alias in node.names
                            if alias.name.startswith("_")]
    assert private == []


def test_the_runners_steps_are_documented() -> None:
    from segcli.drills import runner

    for step in (runner.run_phase_cli, runner.send_traffic):
        assert step.__doc__ and "StepFailed" in step.__doc__
