"""The lab-side views built on the DNS zone's query log and the simulator's totals:
``dns.log``, ``setd.totals``, DNS faults for one type or a number of queries, and their
command lines (``segcli lab dns log``, ``segcli lab setd totals``).

They use ``DnsZone.query_log``, ``DnsZone.set_fault(name, fault, rdtype, times)`` and
``SetdState.totals(address)``, which come from another branch (h-labsim): these tests pass
once both branches are merged.
"""

from __future__ import annotations

import asyncio
import json

import dns.rcode

from segcli.lab.control import request
from tests.conftest import REPO, SEGCLI, segcli_env
from tests.engine.gateway_lab import dns_zone  # noqa: F401
from tests.lab.control_lab import (
    ask_dns,
    deliver,
    lab,  # noqa: F401
)


async def _segcli(*args: str) -> tuple[int, str, str]:
    """``segcli lab ARGS`` in its own process; the loop keeps serving the lab meanwhile."""
    process = await asyncio.create_subprocess_exec(
        *SEGCLI, "lab", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=segcli_env(), cwd=REPO)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_the_dns_log_lists_every_query_with_its_answer(lab, tmp_path):  # noqa: F811
    domain = lab.setd.domain
    await ask_dns(lab.zone, domain)
    await ask_dns(lab.zone, "typo.example.test")
    await ask_dns(lab.zone, lab.setd.mx_host_of(domain), "A")
    rows = await request(tmp_path, "dns.log")
    assert [(r["name"], r["rdtype"], r["rcode"], r["answers"]) for r in rows] == [
        (domain, "MX", "NOERROR", 1), ("typo.example.test", "MX", "NXDOMAIN", 0),
        (lab.setd.mx_host_of(domain), "A", "NOERROR", 1)]
    assert all(r["client"].startswith("127.0.0.1:") and r["when"] for r in rows)
    assert await request(tmp_path, "dns.log", name="typo.example.test") == rows[1:2]
    assert await request(tmp_path, "dns.log", type="A") == rows[2:]
    assert await request(tmp_path, "dns.log", limit=1) == rows[2:]
    status, out, err = await _segcli("dns", "log", "--name", domain, "--data", str(tmp_path))
    assert status == 0, err
    heading, row = out.splitlines()
    assert heading.split() == ["TIME", "CLIENT", "NAME", "TYPE", "RCODE", "ANSWERS"]
    assert row.split()[-4:] == [domain, "MX", "NOERROR", "1"]


async def test_a_dns_fault_for_one_type_and_one_query(lab, tmp_path):  # noqa: F811
    domain = lab.setd.domain
    fault = await request(tmp_path, "fault.set", layer="dns", name=domain, fault="servfail",
                          type="mx", times=1)
    assert (fault["id"], fault["remaining"]) == (f"dns:{domain}:MX", 1)
    assert (await ask_dns(lab.zone, lab.setd.mx_host_of(domain), "A")).rcode() == \
        dns.rcode.NOERROR  # another type: answered
    assert (await ask_dns(lab.zone, domain)).rcode() == dns.rcode.SERVFAIL
    assert (await ask_dns(lab.zone, domain)).rcode() == dns.rcode.NOERROR  # spent
    assert await request(tmp_path, "fault.list") == []
    await request(tmp_path, "fault.set", layer="dns", name=domain, fault="nodata", type="MX")
    assert await request(tmp_path, "fault.clear", id=f"dns:{domain}:MX") == {"cleared": 1}
    assert len((await ask_dns(lab.zone, domain)).answer) == 1


async def test_setd_totals_per_account(lab, tmp_path):  # noqa: F811
    intake = lab.setd.ensure_default_intake().address
    lab.setd.add_fault(intake, "reply", stage="eom", code=451, times=1)
    await deliver(lab.setd, intake, 1)
    await deliver(lab.setd, intake, 2)
    totals = await request(tmp_path, "setd.totals")
    assert list(totals) == [intake]
    assert (totals[intake]["accepted"], totals[intake]["deferred"]) == (1, 1)
    assert await request(tmp_path, "setd.totals", account="default") == totals
    status, out, err = await _segcli("setd", "totals", "--data", str(tmp_path), "--json")
    assert status == 0, err
    assert json.loads(out) == totals
    status, out, _ = await _segcli("setd", "totals", "--data", str(tmp_path))
    heading, row = out.splitlines()
    assert heading.split()[:1] == ["ACCOUNT"] and "ACCEPTED" in heading.split()
    cells = dict(zip(heading.split(), row.split(), strict=True))
    assert (cells["ACCOUNT"], cells["ACCEPTED"], cells["DEFERRED"]) == (intake, "1", "1")
