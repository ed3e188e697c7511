"""A real ``segcli`` started on a data directory whose latest commit cannot be read.

The old control-character bug left such directories behind, and no segcli could start
on them again.  Now it starts on the last version that loads, says so on stderr and in
its log, and the next commit supersedes the bad one.
"""

from __future__ import annotations

from tests.conftest import run_segcli
from tests.engine.store.unreadable import GOOD_HOSTNAME, brick, parse_error_place

NOTICE = f"cannot be read (Parsing failed: not well-formed XML at {parse_error_place()}.); running"


def test_segcli_starts_on_the_last_version_that_loads_and_says_so(data_dir):
    brick(data_dir)
    result = run_segcli(data_dir, "showconfig n\nsethostname fixed.example.com\n"
                                  'commit "after the repair"\nrollbackconfig print\n')
    assert result.returncode == 0, result.stdout + result.stderr
    notice = next(line for line in result.stderr.splitlines() if NOTICE in line)
    assert notice.startswith("segcli: the configuration committed ")
    assert notice.endswith("by admin instead. The next commit replaces it.")
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith(f"{GOOD_HOSTNAME}> showconfig n\n")
    assert f"<hostname>{GOOD_HOSTNAME}</hostname>" in result.stdout
    assert "Changes committed: " in result.stdout
    assert "bricked (cannot be read)" in result.stdout  # still listed, as what it is
    log = (data_dir / "logs" / "segcli.log").read_text()
    assert NOTICE in log and "WARNING" in log

    again = run_segcli(data_dir, "version\n")
    assert again.returncode == 0, again.stdout + again.stderr
    assert NOTICE not in again.stderr  # the new commit superseded the bad one
    assert again.stdout.startswith("fixed.example.com> ")
