"""The figures of benchmarks/common.py (the scripts that use it run in
tests/test_benchmark_smoke.py): plain arithmetic, checked on series whose answer is known."""

from __future__ import annotations

import pytest

from benchmarks.common import figures_ms, percentile, spread


def test_the_percentile_is_the_nearest_rank():
    hundred = [float(n) for n in range(100, 0, -1)]  # 1..100, in any order
    assert percentile(hundred, 99) == 99.0  # 99 of the 100 do not exceed it
    assert percentile(hundred, 50) == 50.0
    assert percentile(hundred, 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 99) == 3.0  # a few runs: p99 is the slowest
    assert percentile([7.0], 1) == 7.0


def test_a_percentile_of_nothing_or_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="no values"):
        percentile([], 99)
    for percent in (0, 101, -5):
        with pytest.raises(ValueError, match="at most 100"):
            percentile([1.0], percent)


def test_figures_and_spread():
    assert figures_ms([0.0004, 2.0, 1.0]) == {"median_ms": 1.0, "p99_ms": 2.0, "max_ms": 2.0}
    assert figures_ms([1.23456]) == {"median_ms": 1.235, "p99_ms": 1.235, "max_ms": 1.235}
    assert spread([4.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 4.0}
