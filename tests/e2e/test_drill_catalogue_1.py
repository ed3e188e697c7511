"""Shipped drills, share 1 of 4 (tests/e2e/drill_runs.py says why they are shared out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.drill_runs import DRILL_TIMEOUT_S, assert_shipped_drill_passes, share


@pytest.mark.timeout(DRILL_TIMEOUT_S + 30)
@pytest.mark.parametrize("drill_id", share(1))
def test_shipped_drill_passes(drill_id: str, tmp_path: Path) -> None:
    assert_shipped_drill_passes(drill_id, tmp_path)
