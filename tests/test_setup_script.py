"""scripts/setup.sh runs pip only when something changed: the real script under bash, in a
copy of the project whose .venv/bin/python is a stand-in that logs pip's runs (the one edge
faked: a real pip would need the network) and passes everything else to this Python."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

FAKE_PYTHON = """#!/usr/bin/env bash
if [ "$1 $2" = "-m pip" ]; then
  echo "pip $*" >> "$(dirname "$0")/../pip.log"
  exit "${FAKE_PIP_STATUS:-0}"
fi
exec "%s" "$@"
"""


def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("python", FAKE_PYTHON % sys.executable), ("segcli", "#!/bin/sh\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    return root


def setup(root: Path, *args: str, pip_status: int = 0) -> list[str]:
    """Run setup.sh; the pip runs it made (each as its argument line)."""
    log = root / ".venv" / "pip.log"
    log.unlink(missing_ok=True)
    result = subprocess.run(["bash", str(root / "scripts" / "setup.sh"), *args],
                            capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable,
                                 "FAKE_PIP_STATUS": str(pip_status)})
    assert result.returncode == pip_status, result.stderr
    return log.read_text().splitlines() if log.exists() else []


def test_pip_runs_only_when_pyproject_or_the_extras_change(tmp_path):
    root = project(tmp_path)
    assert setup(root) == ["pip -m pip install --quiet --disable-pip-version-check -e ."]
    assert setup(root) == []  # a warm start
    assert setup(root, "[test]") == [
        "pip -m pip install --quiet --disable-pip-version-check -e .[test]"]
    assert setup(root, "[test]") == []
    assert setup(root) == []  # a plain install is part of the one with extras
    with (root / "pyproject.toml").open("a") as file:
        file.write("\n# changed\n")
    assert len(setup(root)) == 1  # a new pyproject.toml: install again
    assert len(setup(root, "[test]")) == 1  # the extras too: the old stamp is gone
    assert setup(root, "[test]") == []


def test_a_failed_install_or_a_missing_command_means_installing_again(tmp_path):
    root = project(tmp_path)
    assert len(setup(root, pip_status=1)) == 1
    assert len(setup(root)) == 1  # the failure left no stamp
    assert setup(root) == []
    (root / ".venv" / "bin" / "segcli").unlink()  # e.g. uninstalled by hand
    assert len(setup(root)) == 1
