"""``segcli drill list/show/validate/new`` as a user runs them: real processes.

Each test has its own ``$XDG_CONFIG_HOME`` (so the user's own drills never leak in) and
its own ``--path`` directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from segcli.drills.loader import load_drill

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = Path(__file__).parent / "data" / "dns-nxdomain-hard-bounce.toml"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    return tmp_path


def segcli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "segcli", "drill", *args], cwd=home, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_new_writes_a_template_that_validates_and_is_never_overwritten(home: Path) -> None:
    drills = home / "drills"
    made = segcli(home, "new", "my-first-drill", "--path", str(drills))
    target = drills / "my-first-drill.toml"
    assert made.returncode == 0, made.stderr
    assert f"wrote {target}" in made.stdout
    assert 'id         = "my-first-drill"' in target.read_text(encoding="utf-8")
    checked = segcli(home, "validate", str(target))
    assert (checked.returncode, checked.stdout.split(":")[0]) == (0, str(target))
    assert "ok (my-first-drill" in checked.stdout
    assert load_drill(target).category == "baseline"

    target.write_text(target.read_text(encoding="utf-8") + "# mine\n", encoding="utf-8")
    again = segcli(home, "new", "my-first-drill", "--path", str(drills))
    assert again.returncode == 1 and "exists already; nothing was written" in again.stderr
    assert target.read_text(encoding="utf-8").endswith("# mine\n")


def test_new_goes_to_the_user_directory_and_refuses_unsafe_ids(home: Path) -> None:
    made = segcli(home, "new", "mine")
    assert made.returncode == 0, made.stderr
    assert (home / "config" / "segcli" / "drills" / "mine.toml").is_file()
    for bad in ("../escape", "Upper", "a b", "x_y"):
        refused = segcli(home, "new", bad, "--path", str(home / "d"))
        assert refused.returncode == 2 and "is not a drill id" in refused.stderr, bad
    assert not (home / "d").exists() and not (home / "escape.toml").exists()


def test_validate_reports_every_problem_with_file_line_and_field(home: Path) -> None:
    good = home / "dns-nxdomain-hard-bounce.toml"
    shutil.copy(EXAMPLE, good)
    bad = home / "broken.toml"
    text = EXAMPLE.read_text(encoding="utf-8")
    bad.write_text(text.replace("within_s = 20", "withins_s = 20")
                   .replace("MID ${jmid} delivery failed", "MID ${jmidd} delivery failed"),
                   encoding="utf-8")
    result = segcli(home, "validate", str(good), str(bad))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert f"{good}: ok (dns-nxdomain-hard-bounce, 1 phase, 15 checks)" in lines
    assert f"{bad}:4: id: 'dns-nxdomain-hard-bounce' is not the file's name: name the file " \
           "dns-nxdomain-hard-bounce.toml, or set id = 'broken'" in lines
    assert any(line.startswith(f"{bad}:58: phase[1].expect[2].sequence[4]: ${{jmidd}} is not "
                               "defined") for line in lines)
    assert f"{bad}:140: solved.expect[2].withins_s: unknown key 'withins_s' (did you mean " \
           "'within_s'?)" in lines
    assert lines[-1] == f"{bad}: 3 problems"


def test_validate_strict_lists_warn_only_checks(home: Path) -> None:
    drill = home / "dns-nxdomain-hard-bounce.toml"
    drill.write_text(EXAMPLE.read_text(encoding="utf-8").replace(
        '  invariant = "the.tdc.queue"\n', '  invariant = "the.tdc.queue"\n  severity = "warn"\n'),
        encoding="utf-8")
    assert segcli(home, "validate", str(drill)).returncode == 0
    strict = segcli(home, "validate", "--strict", str(drill))
    assert strict.returncode == 2
    assert "phase[1].expect[10].severity: a warn-only check" in strict.stdout


def test_list_shows_drills_by_place_filters_and_reports_broken_files(home: Path) -> None:
    mine, extra = home / "config" / "segcli" / "drills", home / "extra"
    mine.mkdir(parents=True)
    extra.mkdir()
    shutil.copy(EXAMPLE, mine)
    shutil.copy(EXAMPLE, extra)  # the same id in --path: it replaces the user's
    assert segcli(home, "new", "healthy", "--path", str(mine)).returncode == 0
    (extra / "broken.toml").write_text("schema = 1\nid = = 1\n", encoding="utf-8")

    listed = segcli(home, "list", "--path", str(extra))
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0] == ["ID", "CAT", "LVL", "SOURCE", "TITLE"]
    # The shipped catalogue is listed too; these are the rows of the user's places.
    own = [row for row in rows[1:-1] if row[3] != "shipped"]
    shipped = len(rows) - 2 - len(own)
    assert own[0][:4] == ["dns-nxdomain-hard-bounce", "dns", "1", "path"]
    assert f"(replaces {mine / 'dns-nxdomain-hard-bounce.toml'})" in listed.stdout
    assert own[1][:4] == ["healthy", "baseline", "1", "user"]
    assert listed.stdout.splitlines()[-1].startswith(f"{shipped + 2} drills (shipped ")
    assert f"user {mine}" in listed.stdout and f"path {extra}" in listed.stdout
    assert f"{extra / 'broken.toml'} cannot be used" in listed.stderr
    assert f"{extra / 'broken.toml'}:2: TOML syntax error" in listed.stderr

    dns = segcli(home, "list", "--category", "dns")
    assert {line.split()[1] for line in dns.stdout.splitlines()[1:-1]} == {"dns"}
    assert ["dns-nxdomain-hard-bounce", "user"] in \
        [[row[0], row[3]] for row in map(str.split, dns.stdout.splitlines()[1:-1])]
    tagged = segcli(home, "list", "--tag", "baseline")
    assert [row[0] for row in map(str.split, tagged.stdout.splitlines()[1:-1])
            if row[3] != "shipped"] == ["healthy"]


def test_show_gives_the_ticket_and_keeps_the_cause_for_solution(home: Path) -> None:
    shutil.copy(EXAMPLE, home)
    shown = segcli(home, "show", "dns-nxdomain-hard-bounce", "--path", str(home))
    assert shown.returncode == 0, shown.stderr
    assert "Ticket from SOC analyst:" in shown.stdout
    assert "Since Tuesday's change window" in shown.stdout
    assert "category dns, difficulty 1 of 3" in shown.stdout
    for secret in ("tdcconfig", "cisco.con", "Diagnosis", "NXDomain"):
        assert secret not in shown.stdout, secret

    solution = segcli(home, "show", str(home / "dns-nxdomain-hard-bounce.toml"), "--solution")
    assert solution.returncode == 0, solution.stderr
    assert "cli    tdcconfig enable ${bad_intake}" in solution.stdout
    assert "Diagnosis:" in solution.stdout and "Fix:" in solution.stdout
    assert "check  [sequence] the five seed lines, in order, within one second" in solution.stdout

    missing = segcli(home, "show", "no-such-drill")
    assert missing.returncode == 2 and "no drill 'no-such-drill'" in missing.stderr


def test_run_refuses_invalid_drills_and_wrong_arguments_before_any_lab(home: Path) -> None:
    bad = home / "broken.toml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    refused = segcli(home, "run", str(bad))
    assert refused.returncode == 2 and "is not the file's name" in refused.stderr
    both = segcli(home, "run", "x", "--all")
    assert both.returncode == 2 and "give drill ids, or --all" in both.stderr
    (home / "d").mkdir()
    shutil.copy(bad, home / "d")
    every = segcli(home, "run", "--all", "--path", str(home / "d"))
    assert every.returncode == 2 and "nothing was run" in every.stderr
