"""The lab's control ops (segcli/lab/control_ops.py) over the real control socket, on a real
SETD simulator and DNS zone: the SETD portal's views, faults set, listed and cleared in both,
and arguments checked before anything changes.  ``info`` and ``send`` need the whole lab:
tests/e2e/test_lab_commands.py."""

from __future__ import annotations

import smtplib

import dns.rcode
import pytest

from segcli.lab.control import ControlError, request
from segcli.lab.control_ops import check_args, status_of
from tests.engine.gateway_lab import dns_zone  # noqa: F401
from tests.lab.control_lab import ask_dns as _ask_dns
from tests.lab.control_lab import deliver as _deliver
from tests.lab.control_lab import lab  # noqa: F401


async def test_the_dashboard_shows_every_journal_with_its_status(lab, tmp_path):  # noqa: F811
    intake = lab.setd.ensure_default_intake().address
    lab.setd.add_fault(intake, "reply", stage="eom", code=451, times=1)
    lab.setd.add_fault(intake, "reply", stage="eom", code=554, times=1)
    lab.setd.add_fault(intake, "disconnect_after_dot", times=1)
    for n in (1, 2):
        assert (await _deliver(lab.setd, intake, n)).stage == "eom"
    with pytest.raises(smtplib.SMTPServerDisconnected):
        await _deliver(lab.setd, intake, 3)
    assert (await _deliver(lab.setd, intake, 4)).stage == "done"
    rows = await request(tmp_path, "setd.dashboard")
    assert [(r["message_id"], r["status"]) for r in rows] == [
        ("<m1@example.org>", "deferred 451"), ("<m2@example.org>", "rejected 554"),
        ("<m3@example.org>", "dropped-after-dot"), ("<m4@example.org>", "accepted")]
    assert {(r["intake"], r["from"]) for r in rows} == {(intake, "Alice <alice@example.org>")}
    assert rows[3]["subject"] == "report 4" and rows[3]["time"]
    assert await request(tmp_path, "setd.dashboard", account="default", limit=1) == rows[-1:]
    assert await request(tmp_path, "setd.dashboard", account=intake) == rows


async def test_accounts_and_an_unknown_account(lab, tmp_path):  # noqa: F811
    [account] = await request(tmp_path, "setd.accounts")
    default = lab.setd.ensure_default_intake()
    assert (account["name"], account["address"]) == ("default", default.address)
    assert account["port"] == lab.setd.host_for().port and account["port"] > 0
    with pytest.raises(ControlError, match=r"no SETD account 'nobody'; accounts: default \("):
        await request(tmp_path, "setd.dashboard", account="nobody")


async def test_setd_faults_set_listed_and_cleared(lab, tmp_path):  # noqa: F811
    intake = lab.setd.ensure_default_intake().address
    fault = await request(tmp_path, "fault.set", layer="setd", intake="default", kind="reply",
                          stage="rcpt", code=550, times=2)
    assert fault == {"id": "1", "layer": "setd", "target": intake, "remaining": 2, "hits": 0,
                     "fault": "reply 550 5.7.1 Message rejected at rcpt"}
    assert await request(tmp_path, "fault.list") == [fault]
    assert (await _deliver(lab.setd, intake, 1)).code == 550  # it is really in force
    [listed] = await request(tmp_path, "fault.list")
    assert (listed["remaining"], listed["hits"]) == (1, 1)
    assert await request(tmp_path, "fault.clear", id="1") == {"cleared": 1}
    assert lab.setd.list_faults() == []
    assert (await _deliver(lab.setd, intake, 2)).stage == "done"


async def test_bad_fault_settings_are_refused_and_change_nothing(lab, tmp_path):  # noqa: F811
    for settings, error in (
        ({"layer": "setd", "intake": "default", "kind": "reply"}, "a reply fault needs a stage"),
        ({"layer": "setd", "intake": "default", "kind": "melt"}, "kinds: reply"),
        ({"layer": "setd", "intake": "nobody@x.test", "kind": "hang"}, "no SETD account"),
        ({"layer": "setd", "intake": "default", "kind": "hang", "times": 0}, "at least 1"),
        ({"layer": "setd", "intake": "default", "kind": "hang", "times": "2"},
         "'times' must be a whole number"),
        ({"layer": "dns", "fault": "servfail"}, "argument 'name' is required"),
        ({"layer": "smtp"}, "'layer' must be \"setd\" or \"dns\""),
        ({"layer": "dns", "name": "x.test", "fault": "servfail", "colour": "red"},
         "unknown argument"),
    ):
        with pytest.raises(ControlError, match=error):
            await request(tmp_path, "fault.set", **settings)
    assert await request(tmp_path, "fault.list") == []
    with pytest.raises(ControlError, match="no fault 9; in force: none"):
        await request(tmp_path, "fault.clear", id="9")
    with pytest.raises(ControlError, match="either a fault id"):
        await request(tmp_path, "fault.clear")


async def test_dns_faults_set_listed_and_cleared(lab, tmp_path):  # noqa: F811
    domain = lab.setd.domain
    assert (await _ask_dns(lab.zone, domain)).rcode() == dns.rcode.NOERROR
    fault = await request(tmp_path, "fault.set", layer="dns", name=domain, fault="SERVFAIL")
    assert (fault["id"], fault["layer"], fault["fault"]) == (f"dns:{domain}", "dns", "servfail")
    assert (await _ask_dns(lab.zone, domain)).rcode() == dns.rcode.SERVFAIL
    await request(tmp_path, "fault.set", layer="setd", intake="default", kind="hang")
    listed = await request(tmp_path, "fault.list")
    assert [f["id"] for f in listed] == ["1", f"dns:{domain}"]
    assert await request(tmp_path, "fault.clear", id=f"dns:{domain}") == {"cleared": 1}
    assert (await _ask_dns(lab.zone, domain)).rcode() == dns.rcode.NOERROR
    await request(tmp_path, "fault.set", layer="dns", name=domain, fault="refused")
    assert await request(tmp_path, "fault.clear", all=True) == {"cleared": 2}
    assert await request(tmp_path, "fault.list") == []
    assert (await _ask_dns(lab.zone, domain)).rcode() == dns.rcode.NOERROR


def test_status_names_as_the_portal_shows_them():
    assert status_of("accepted", "") == "accepted"
    assert status_of("refused", "451 4.3.0 Try later") == "deferred 451"
    assert status_of("refused", "550 5.6.0 Message refused: not a journal") == "rejected 550"
    assert status_of("disconnected", "(connection closed, no reply)") == "dropped-after-dot"
    assert status_of("tls_failed", "") == "TLS failed"
    assert status_of("foreign_domain", "") == "foreign-domain"


def test_arguments_are_checked_by_name_and_type():
    spec = {"n": (int, 1), "s": (float, 0.0), "flag": (bool, False), "name": (str, None)}
    assert check_args({"s": 2}, spec) == {"n": 1, "s": 2.0, "flag": False, "name": None}
    with pytest.raises(ControlError, match="'n' must be a whole number, not True"):
        check_args({"n": True}, spec)
    with pytest.raises(ControlError, match="unknown argument"):
        check_args({"x": 1}, spec)
