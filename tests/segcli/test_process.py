"""The process around an appliance (segcli/process.py), seen from a real ``segcli``."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO, segcli_env

#: ``segcli`` itself (segcli/main.py), saying on its way out how many objects the garbage
#: collector had frozen: the interpreter's state cannot be read from outside the process.
FREEZE_REPORT = """
import atexit, gc, sys
atexit.register(lambda: print("frozen", gc.get_freeze_count(), file=sys.stderr))
from segcli.main import main
sys.exit(main(sys.argv[1:]))
"""


def frozen_after(data_dir, script: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", FREEZE_REPORT, "--data", str(data_dir)], input=script,
        capture_output=True, text=True, timeout=60, env=segcli_env(), cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"^frozen (\d+)$", result.stderr, re.MULTILINE)
    assert found, result.stderr
    return int(found.group(1))


def test_a_started_appliance_takes_its_start_up_objects_out_of_full_collections(data_dir):
    # Tens of thousands of objects (the imported modules of Twisted, Conch, SQLAlchemy,
    # prompt_toolkit) are in the permanent generation once the console is up, so that a
    # full collection does not walk them while mail flows (settle_heap's docstring).
    assert frozen_after(data_dir, "version\n") > 50_000
