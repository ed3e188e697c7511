"""Running shipped drills from the suite: each test runs the installed ``segcli drill run
<id> --fast --junit FILE`` as a real process with its own lab and checks its report.

The twenty shipped drills are shared out over four test files
(tests/e2e/test_drill_catalogue_[1-4].py): the suite runs in two pytest-xdist workers, each
taking whole files, so that the drills' waiting overlaps with other tests.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from segcli.drills.catalogue import shipped_dir
from tests.conftest import segcli_env

SHIPPED_IDS = sorted(path.stem for path in shipped_dir().glob("*.toml"))
#: Longest one drill may take with --fast (the slowest takes about 30 s on an idle machine;
#: two xdist workers on two busy cores may slow them several times).
DRILL_TIMEOUT_S = 300


def installed_segcli() -> list[str]:
    """The ``segcli`` command pip installed next to this Python (the entry point a user
    runs), else ``python -m segcli``."""
    beside = Path(sys.executable).with_name("segcli")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("segcli")
    return [found] if found else [sys.executable, "-m", "segcli"]


def drill_env(home: Path) -> dict[str, str]:
    """segcli's environment for a test: its own ``$XDG_CONFIG_HOME`` (no drill of the user's
    replaces a shipped one) and its own temporary directory (the labs' data directories go
    there, and must be gone afterwards)."""
    env = segcli_env()
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env["TMPDIR"] = str(_short_tmp(home))
    return env


def _short_tmp(home: Path) -> Path:
    """``home/tmp``: a link to a directory with a short path, since a lab's sockets live in
    its data directory and a Unix socket's path may not pass 107 bytes (pytest-xdist's
    temporary paths are long).  The directory goes when the test process ends."""
    link = home / "tmp"
    if not link.exists():
        short = Path(tempfile.mkdtemp(prefix="sd-", dir="/tmp"))
        atexit.register(shutil.rmtree, short, ignore_errors=True)
        link.symlink_to(short)
    return link.resolve()


def leftovers(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "tmp").iterdir())



#: How many test files the shipped drills are shared out over.
SHARES = 4


def share(index: int) -> list[str]:
    """The shipped drills of test file *index* (1-based), every SHARES-th id."""
    return SHIPPED_IDS[index - 1::SHARES]


def assert_shipped_drill_passes(drill_id: str, tmp_path: Path) -> None:
    """``segcli drill run <drill_id> --fast``: exit 0, PASS, a JUnit report without a failure,
    and its lab directory gone."""
    junit = tmp_path / "drill.xml"
    finished = subprocess.run(
        [*installed_segcli(), "drill", "run", drill_id, "--fast", "--junit", str(junit)],
        capture_output=True, text=True, timeout=DRILL_TIMEOUT_S, env=drill_env(tmp_path),
        cwd=tmp_path, stdin=subprocess.DEVNULL)
    report = f"exit {finished.returncode}\n{finished.stdout}\n--- stderr ---\n{finished.stderr}"
    assert finished.returncode == 0, report
    assert f"drill {drill_id}   timescale 0.1" in finished.stdout, report
    assert "RESULT  PASS" in finished.stdout, report
    [suite] = ET.parse(junit).getroot().iter("testsuite")
    assert suite.get("name") == drill_id
    assert (suite.get("failures"), suite.get("errors")) == ("0", "0"), report
    cases = list(suite.iter("testcase"))
    assert cases and len(cases) == int(suite.get("tests", "-1")), report
    assert not [c.get("name") for c in cases if c.find("failure") is not None], report
    assert leftovers(tmp_path) == [], "the drill's lab directory was not removed"


