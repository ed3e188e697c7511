"""The decision of examples/tdc_backlog_alert.py (the live run is in
tests/e2e/test_automation_netmiko.py): grew K polls in a row, or above the threshold."""

from __future__ import annotations

import importlib.util
import sys

from tests.conftest import REPO

_SPEC = importlib.util.spec_from_file_location("tdc_backlog_alert",
                                               REPO / "examples" / "tdc_backlog_alert.py")
assert _SPEC is not None and _SPEC.loader is not None
example = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = example  # dataclasses look their module up there
_SPEC.loader.exec_module(example)


def test_alerts_after_k_growths_in_a_row_only():
    watch = example.BacklogWatch(grows=3, threshold=100)
    assert [watch.observe(n) for n in (5, 6, 7, 7, 8, 9)] == [None] * 6  # a pause resets it
    assert watch.observe(10) == "ALERT: the.tdc.queue grew at 3 polls in a row: 7 -> 8 -> 9 -> 10"


def test_alerts_above_the_threshold_at_once():
    watch = example.BacklogWatch(grows=3, threshold=100)
    assert watch.observe(100) is None
    assert watch.observe(99) is None
    assert watch.observe(101) == "ALERT: the.tdc.queue holds 101 recipients (threshold 100)"


def test_reads_the_queue_row_of_parsed_tophosts():
    rows = [{"host": "example.com", "active_recipients": "4"},
            {"host": "the.tdc.queue", "active_recipients": "1,204"}]
    assert example.tdc_active(rows) == 1204
    assert example.tdc_active(rows[:1]) == 0
