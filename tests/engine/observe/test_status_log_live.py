"""The status log against a live engine: ``logs/status/status.current`` gets the appliance's
``Status:`` line every period (60 s; shortened here), with the live figures."""

from __future__ import annotations

import re

import pytest

from engine.observe.status_log import STATUS_FIELDS, status_line
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")

_LINE = re.compile(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} Info: (Status: .*)$", re.M)


def _status_lines(gateway) -> list[dict[str, str]]:
    path = gateway.engine.data_dir / "logs" / "status" / "status.current"
    if not path.exists():
        return []
    gateway.engine.status_log.flush()
    found = []
    for text in _LINE.findall(path.read_text()):
        words = text.split()[1:]
        found.append(dict(zip(words[::2], words[1::2], strict=True)))
    return found


async def test_status_lines_carry_the_live_figures(gateway):
    gateway.engine.status_interval = 0.05
    await gateway.start()
    for n in range(2):
        await gateway.send(f"m{n}")
    await until(lambda: gateway.engine.counters.host("example.com").delivered == 2
                and gateway.engine.tdc.counters.delivered == 2)
    await until(lambda: any(line["DlvRcp"] == "4" for line in _status_lines(gateway)))
    path = gateway.engine.data_dir / "logs" / "status" / "status.current"
    text = path.read_text()
    assert "Info: Begin Logfile" in text.splitlines()[0]
    last = _status_lines(gateway)[-1]
    assert list(last) == list(STATUS_FIELDS)  # every field, in the appliance's order
    assert last["InjMsg"] == "2" and last["InjRcp"] == "2" and last["CmpRcp"] == "4"
    assert int(last["CrtMID"]) >= 4 and int(last["DnsReq"]) > 0
    assert last["ActvRcp"] == "0" and last["SwapUsage"] == "0%"
    assert re.fullmatch(r"\d+[KMGT]?", last["LogAvail"])


def test_status_line_refuses_unknown_fields():
    assert status_line({}).startswith("Status: CPULd 0 DskIO 0 RAMUtil 0 QKUsd 0 ")
    assert status_line({}).endswith(" EncrQ 0 InjBytes 0")
    with pytest.raises(ValueError, match="Nope"):
        status_line({"Nope": 1})
