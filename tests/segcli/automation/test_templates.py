"""The TextFSM templates of segcli.automation against what the command engine really
prints: live figures after real traffic (the ``gateway`` fixtures of
tests/engine/gateway_lab.py) and the print commands of a real appliance (``appliance``).
No hand-written command output."""

from __future__ import annotations

import pytest

from segcli.automation import TEMPLATES, NoTemplateError, parse, template_for
from tests.commands.mail_helpers import seed
from tests.conftest import run_session
from tests.engine.gateway_lab import INTAKE


def _rows(ok_text: tuple[bool, str], command: str) -> list[dict]:
    ok, text = ok_text
    assert ok, text
    return parse(command, text)


def test_the_index_maps_commands_and_their_abbreviations():
    assert template_for("tophosts 1") == TEMPLATES / "cisco_esa_tophosts.textfsm"
    assert template_for("status detail") == template_for("status") \
        == TEMPLATES / "cisco_esa_status.textfsm"
    assert template_for("policyconfig  incoming  print") \
        == TEMPLATES / "cisco_esa_policyconfig_incoming_print.textfsm"
    for command in ("hoststatus example.com", "workqueue status", "tdcconfig print"):
        assert template_for(command) is not None and template_for(command).is_file()
    assert template_for("version") is None
    with pytest.raises(NoTemplateError):
        parse("version", "Current Version\n")


@pytest.mark.usefixtures("run")
async def test_tophosts_hoststatus_and_status_after_real_traffic(gateway_after_traffic):
    gateway = gateway_after_traffic
    rows = {row["host"]: row for row in _rows(await gateway.command("tophosts 3"), "tophosts 3")}
    assert set(rows) >= {"example.com", "the.tdc.queue"}
    assert rows["example.com"]["rank"] == "1" and rows["example.com"]["down"] == ""
    assert rows["example.com"]["delivered_recipients"] == "3"
    tdc_row = rows["the.tdc.queue"]
    assert (tdc_row["active_recipients"], tdc_row["delivered_recipients"],
            tdc_row["hard_bounced"]) == ("0", "2", "1")
    assert tdc_row["status_as_of"].endswith("GMT")

    [host] = _rows(await gateway.command("hoststatus the.tdc.queue"), "hoststatus the.tdc.queue")
    assert host["host"] == "the.tdc.queue" and host["up_down"] == "up"
    assert (host["delivered_recipients"], host["hard_bounced"], host["smtp_5xx_hard_bounces"],
            host["completed_recipients"]) == ("2", "1", "1", "3")
    # The Virtual Gateway block's "Active Recipients" is not taken for the gauge.
    assert host["active_recipients"] == "0" and host["last_activity"] != "Never"

    for command in ("status", "status detail"):
        rows = _rows(await gateway.command(command), command)
        counters = {row["name"]: row for row in rows if row["section"] == "Counters"}
        assert counters["Messages Received"]["lifetime"] == "3"
        assert counters["Messages Received"]["group"] == "Receiving"
        mid = counters["Message ID (MID)"]  # journal copies and bounces take MIDs too
        assert mid["group"] == "Current IDs" and int(mid["lifetime"]) >= 3 and not mid["reset"]
        gauges = {row["name"]: row for row in rows if row["section"] == "Gauges"}
        assert gauges["Active Recipients"]["current"] == "0"
        assert rows[0]["system_status"] == "Online"
    rates = [row for row in rows if row["section"] == "Rates"]  # status detail only
    assert {row["name"] for row in rates} >= {"Messages Received", "Delivered Recipients"}
    assert all(row["one_minute"] and row["fifteen_minutes"] for row in rates)
    assert gauges["RAM Utilization"]["current"].endswith("%")
    quarantine = [row for row in rows if row["name"] == "Policy, Virus and Outbreak"]
    assert [row["group"] for row in quarantine] == ["Messages In Quarantine",
                                                    "Kilobytes In Quarantine"]


@pytest.mark.usefixtures("run")
async def test_tophosts_marks_a_down_host_with_its_backlog(gateway_with_setd_down):
    gateway = gateway_with_setd_down
    rows = _rows(await gateway.command("tophosts 1"), "tophosts 1")
    assert rows[0]["host"] == "the.tdc.queue"
    assert (rows[0]["rank"], rows[0]["down"], rows[0]["active_recipients"]) == ("1", "*", "4")
    [host] = _rows(await gateway.command("hoststatus the.tdc.queue"), "hoststatus the.tdc.queue")
    assert (host["up_down"], host["active_recipients"]) == ("down", "4")
    assert host["oldest_message"] != "No Messages"
    assert int(host["attempted_recipients"]) + int(host["unattempted_recipients"]) == 4


@pytest.mark.usefixtures("run")
async def test_workqueue_status_running_and_paused(gateway):
    await gateway.start()
    [running] = _rows(await gateway.command("workqueue status"), "workqueue status")
    assert running == {"status": "Operating normally", "paused_by": "", "reason": "",
                       "messages": "0"}
    ok, text = await gateway.command("workqueue pause backup running")
    assert ok, text
    await gateway.send("held")
    [paused] = _rows(await gateway.command("workqueue status"), "workqueue status")
    assert paused == {"status": "Paused by admin: backup running", "paused_by": "admin",
                      "reason": "backup running", "messages": "1"}


def test_policyconfig_incoming_print(appliance):
    seed(appliance, f"tdcconfig enable {INTAKE}",
         "policyconfig incoming new sales @sales.example.com,@.sales.example.com",
         "policyconfig incoming edit sales new sender alice@example.org",
         "policyconfig incoming edit sales threatdefense custom 1a2b3c-x-y@mail.eu.cmd.cisco.com",
         "policyconfig incoming new quiet bob@example.com",
         "policyconfig incoming edit quiet threatdefense disable",
         "policyconfig incoming edit DEFAULT threatdefense default")
    status, term, _ = run_session(appliance, ["policyconfig incoming print"])
    assert status == 0, term.text
    rows = {row["name"]: row for row in parse("policyconfig incoming print", term.text)}
    assert list(rows) == ["sales", "quiet", "DEFAULT"]
    sales = rows["sales"]
    assert sales["number"] == "1"
    assert sales["senders"] == ["alice@example.org"]
    assert sales["receivers"] == ["@sales.example.com", "@.sales.example.com"]
    assert (sales["threat_defense"], sales["intake_address"]) == (
        "Custom Message Intake Address", "1a2b3c-x-y@mail.eu.cmd.cisco.com")
    assert sales["antispam"].startswith("Enabled") and sales["antivirus"]
    assert rows["quiet"]["senders"] == [] and rows["quiet"]["threat_defense"] == "Disabled"
    default = rows["DEFAULT"]
    assert default["members"] == "all mail that no policy above matches"
    assert (default["threat_defense"], default["intake_address"]) == (
        "Default Message Intake Address", INTAKE)

    seed(appliance, "tdcconfig disable")
    status, term, _ = run_session(appliance, ["policyconfig incoming print"])
    rows = {row["name"]: row for row in parse("policyconfig incoming print", term.text)}
    assert rows["sales"]["threat_defense"] == "Not Available"
    assert rows["sales"]["intake_address"] == "1a2b3c-x-y@mail.eu.cmd.cisco.com"


def test_tdcconfig_print(appliance):
    seed(appliance, f"tdcconfig enable {INTAKE}", "tdcconfig timers retry 7 scale 0.5 maxconn 9",
         "policyconfig incoming new sales @sales.example.com",
         "policyconfig incoming edit sales threatdefense custom 1a2b3c-x-y@mail.eu.cmd.cisco.com",
         "policyconfig incoming edit DEFAULT threatdefense disable")
    status, term, _ = run_session(appliance, ["tdcconfig print"])
    assert status == 0, term.text
    [settings] = parse("tdcconfig print", term.text)
    assert settings["connector"] == "Enabled"
    assert settings["default_intake_address"] == INTAKE
    assert settings["retry_delay"] == "7 seconds"
    assert (settings["time_scale"], settings["max_connections"]) == ("0.5", "9")
    assert settings["journaling_policies"] == ["sales"]
    assert settings["journaling_addresses"] == [
        "Custom Message Intake Address: 1a2b3c-x-y@mail.eu.cmd.cisco.com"]

    seed(appliance, "policyconfig incoming edit sales threatdefense disable")
    status, term, _ = run_session(appliance, ["tdcconfig print"])
    [settings] = parse("tdcconfig print", term.text)
    assert settings["journaling_policies"] == [] and settings["connector"] == "Enabled"
