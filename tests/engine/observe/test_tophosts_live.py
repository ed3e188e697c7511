"""``tophosts`` against a live engine after real traffic: the figures, not just the headers.
The traffic is set up by the fixtures of tests/engine/gateway_lab.py, which the TextFSM
templates' tests (tests/segcli/automation/test_templates.py) parse too."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.usefixtures("run")


def _rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\s+(\d+)([ *])\s+(\S+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)$",
                         line)
        if match:
            rows[match.group(3)] = [match.group(1), match.group(2), *match.groups()[3:]]
    return rows


async def test_tophosts_counts_deliveries_and_tdc_bounces(gateway_after_traffic):
    ok, text = await gateway_after_traffic.command("tophosts 3")
    assert ok, text
    assert "Status as of:" in text and "Hosts marked with '*' were down" in text
    rows = _rows(text)
    # columns: rank, down-mark, active, conn out, delivered, soft bounced, hard bounced
    assert rows["example.com"][2:] == ["0", "0", "3", "0", "0"]
    assert rows["the.tdc.queue"][2:] == ["0", "0", "2", "0", "1"]
    assert rows["example.com"][0] == "1"  # sorted by delivered, descending (then by name)


async def test_tophosts_shows_active_recipients_while_setd_is_down(gateway_with_setd_down):
    ok, text = await gateway_with_setd_down.command("tophosts 1")
    assert ok, text
    rows = _rows(text)
    assert rows["the.tdc.queue"][0] == "1" and rows["the.tdc.queue"][1] == "*"
    assert rows["the.tdc.queue"][2] == "4"
