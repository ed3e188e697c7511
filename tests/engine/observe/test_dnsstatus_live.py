"""``dnsstatus`` against a live engine: the resolver's counters after real deliveries."""

from __future__ import annotations

import re

import pytest

from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


def _columns(text: str, label: str) -> list[int]:
    match = re.search(rf"^  {re.escape(label)}\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)$", text, re.M)
    assert match, f"{label!r} not in:\n{text}"
    return [int(value.replace(",", "")) for value in match.groups()]


async def test_dnsstatus_counts_lookups_and_resetcounters_zeroes_reset(gateway):
    await gateway.start()
    for n in range(2):
        await gateway.send(f"m{n}")
    await until(lambda: gateway.engine.counters.host("example.com").delivered == 2
                and gateway.engine.tdc.counters.delivered == 2)
    ok, text = await gateway.command("dnsstatus")
    assert ok, text
    assert re.search(r"^Status as of:\s+\w{3} .+ GMT$", text, re.M)
    assert re.search(r"^Counters:\s+Reset\s+Uptime\s+Lifetime$", text, re.M)
    requests = _columns(text, "DNS Requests")
    network = _columns(text, "Network Requests")
    hits, misses = _columns(text, "Cache Hits"), _columns(text, "Cache Misses")
    assert requests[0] == requests[1] == requests[2] > 0
    assert 0 < network[1] <= requests[1]
    assert hits[1] + misses[1] == requests[1] and misses == network
    assert _columns(text, "Cache Exceptions") == [0, 0, 0]
    ok, text = await gateway.command("resetcounters")
    assert ok, text
    ok, text = await gateway.command("dnsstatus")
    assert ok, text
    assert _columns(text, "DNS Requests")[0] == 0 and _columns(text, "DNS Requests")[1] > 0
    ok, text = await gateway.command("dnsstatus now")
    assert not ok and "Invalid arguments when processing" in text
