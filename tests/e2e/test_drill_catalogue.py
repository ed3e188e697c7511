"""Every shipped drill passes: the suite's ``segcli drill run --all --fast`` (issue 11).

One test per drill of the catalogue, in tests/e2e/test_drill_catalogue_[1-4].py (pytest-xdist
gives its workers whole files), each running the installed ``segcli drill run <id> --fast
--junit FILE`` as a real process with its own lab: exit status 0 and a JUnit report without a
failure (tests/e2e/drill_runs.py).  A failed drill puts the
runner's report (the checks, the mail log lines around the expected point, the counters)
into the assertion message.

``--all`` itself: it runs every drill there is, in id order (shipped, the user's, ``--path``);
``test_run_all_is_accepted_and_runs_in_id_order`` lets it run a tiny ``--path`` drill that
sorts first, then stops it with Ctrl-C once the next drill is under way, so the 20 shipped
drills do not run twice.  ``test_the_suite_runs_what_run_all_runs`` checks that the tests
here are exactly the drills ``--all`` runs.

Drills of users: tests/e2e/drills/sales-subdomain-policy.toml, written by hand from
docs/drill-format.md alone, runs with ``--path``; so does that page's complete example.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.drill_runs import (
    DRILL_TIMEOUT_S,
    SHARES,
    SHIPPED_IDS,
    drill_env,
    installed_segcli,
    leftovers,
    share,
)


def test_the_catalogue_has_the_twenty_drills() -> None:
    assert len(SHIPPED_IDS) == 20, SHIPPED_IDS
    # and the test files test_drill_catalogue_[1-4].py run each of them once
    assert sorted(i for k in range(1, SHARES + 1) for i in share(k)) == SHIPPED_IDS


QUICK_ID = "a-quick-look"  # sorts before every shipped id, so --all runs it first
QUICK = '''
schema     = 1
id         = "a-quick-look"
title      = "The connector is on, for the default intake address"
category   = "baseline"

[ticket]
text = "Is TDC configured at all?"

[[phase]]
name = "look"

  [[phase.expect]]
  desc   = "tdcconfig names the default intake address"
  config = { command = "tdcconfig print", contains = ["${lab.default_intake}"] }

[solved]

  [[solved.expect]]
  desc      = "the.tdc.queue is at rest"
  invariant = "the.tdc.queue"
'''


@pytest.mark.timeout(DRILL_TIMEOUT_S)
def test_run_all_is_accepted_and_runs_in_id_order(tmp_path: Path) -> None:
    drills = tmp_path / "drills"
    drills.mkdir()
    (drills / f"{QUICK_ID}.toml").write_text(QUICK, encoding="utf-8")
    second = SHIPPED_IDS[0]
    with subprocess.Popen(
            [*installed_segcli(), "drill", "run", "--all", "--fast", "--path", str(drills)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=drill_env(tmp_path),
            cwd=tmp_path, stdin=subprocess.DEVNULL) as process:
        try:
            progress = _read_until(process, f"{second} ", ": ", DRILL_TIMEOUT_S - 60)
            process.send_signal(signal.SIGINT)  # Ctrl-C: the second drill's lab is stopped
            out, err = process.communicate(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    progress += err
    said = f"exit {process.returncode}\n{out}\n--- stderr ---\n{progress}"
    assert process.returncode == 130, said
    assert f"{QUICK_ID} PASS in " in progress, said
    assert progress.index(f"{QUICK_ID} PASS in ") < progress.index(f"{second} "), said
    assert "drill run interrupted; the lab was stopped." in err, said
    assert leftovers(tmp_path) == [], "a lab directory was left behind"


def _read_until(process: subprocess.Popen[str], prefix: str, marker: str,
                timeout: float) -> str:
    """stderr (the plain progress lines) up to the first line that starts with *prefix* and
    holds *marker*: a phase of that drill is under way, so its lab is up."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith(prefix) and marker in line:
            return "".join(seen)
        assert time.monotonic() < deadline, "".join(seen)
    raise AssertionError(f"segcli ended (exit {process.wait()}) before {prefix!r}:\n"
                         + "".join(seen))


def test_the_suite_runs_what_run_all_runs(tmp_path: Path) -> None:
    """``drill list`` (with no drill of the user's) lists what ``run --all`` runs: the
    parametrized tests above cover exactly those."""
    listed = subprocess.run([*installed_segcli(), "drill", "list"], capture_output=True,
                            text=True, timeout=60, env=drill_env(tmp_path), cwd=REPO,
                            stdin=subprocess.DEVNULL)
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert rows[0].split()[0] == "ID" and rows[-1].startswith("20 drills (shipped ")
    assert [row.split()[0] for row in rows[1:-1]] == SHIPPED_IDS
    assert all(row.split()[3] == "shipped" for row in rows[1:-1])


# -- drills written by users, from docs/drill-format.md alone -------------------------------------
USER_DRILLS = Path(__file__).parent / "drills"
DOC = REPO / "docs" / "drill-format.md"


def run_drill(drill: str, home: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*installed_segcli(), "drill", "run", drill, "--fast", *options],
        capture_output=True, text=True, timeout=DRILL_TIMEOUT_S, env=drill_env(home),
        cwd=home, stdin=subprocess.DEVNULL)


@pytest.mark.timeout(DRILL_TIMEOUT_S + 30)
def test_a_drill_written_from_the_documentation_runs(tmp_path: Path) -> None:
    """tests/e2e/drills/sales-subdomain-policy.toml: a policy for @sales.example.com written
    with a sub-domain member by mistake; found with ``--path`` like any user's drill."""
    listed = subprocess.run([*installed_segcli(), "drill", "list", "--path", str(USER_DRILLS)],
                            capture_output=True, text=True, timeout=60, env=drill_env(tmp_path),
                            stdin=subprocess.DEVNULL)
    assert "sales-subdomain-policy" in listed.stdout and "21 drills" in listed.stdout, listed
    finished = run_drill("sales-subdomain-policy", tmp_path, "--path", str(USER_DRILLS),
                         "--verbose")
    report = f"exit {finished.returncode}\n{finished.stdout}\n--- stderr ---\n{finished.stderr}"
    assert finished.returncode == 0, report
    assert "RESULT  PASS   14 passed, 0 failed, 0 warnings" in finished.stdout, report
    # the fault shows as designed: DEFAULT took the sales message, then the fix moved it
    assert "per-recipient policy DEFAULT in the inbound table" in finished.stdout, report
    assert "per-recipient policy sales in the inbound table" in finished.stdout, report
    assert leftovers(tmp_path) == []


@pytest.mark.timeout(DRILL_TIMEOUT_S + 30)
def test_the_documented_complete_example_runs(tmp_path: Path) -> None:
    """docs/drill-format.md's "A complete example", saved under its id as the page says,
    passes as written."""
    section = DOC.read_text(encoding="utf-8").split("## A complete example", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.S)
    assert example is not None
    drill = tmp_path / "dns-nxdomain-hard-bounce.toml"
    drill.write_text(example.group(1), encoding="utf-8")
    finished = run_drill(str(drill), tmp_path)
    report = f"exit {finished.returncode}\n{finished.stdout}\n--- stderr ---\n{finished.stderr}"
    assert finished.returncode == 0, report
    assert "RESULT  PASS   15 passed, 0 failed" in finished.stdout, report
