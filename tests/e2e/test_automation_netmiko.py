"""segcli's own netmiko driver (``device_type="cisco_esa"``, segcli/automation) against a
real appliance over SSH: nothing but ``import segcli.automation`` and ConnectHandler's
ordinary arguments; show commands, parsed output of live mail, the commit model,
dialogs, errors as exceptions and configuration file transfer."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from netmiko import ConnectHandler, file_transfer
from netmiko.exceptions import ReadTimeout

import segcli.automation
from segcli.automation import SegcliCommandError, SegcliQuestionError
from tests.conftest import REPO, SEGCLI, segcli_env
from tests.e2e.ssh_fixtures import HOST, PASSWORD, USER

TIMEOUT = 120


def connect(appliance):
    return ConnectHandler(device_type="cisco_esa", host="127.0.0.1", port=appliance.port,
                          username=USER, password=PASSWORD, use_keys=False,
                          allow_agent=False, conn_timeout=30, auth_timeout=60,
                          banner_timeout=30)


@pytest.fixture
def esa(ssh_appliance):
    connection = connect(ssh_appliance)
    yield connection
    connection.disconnect()


def test_the_driver_is_registered_by_the_import():
    from netmiko.ssh_dispatcher import CLASS_MAPPER, FILE_TRANSFER_MAP, platforms

    assert CLASS_MAPPER["cisco_esa"] is segcli.automation.CiscoEsaSSH
    assert FILE_TRANSFER_MAP["cisco_esa"] is segcli.automation.CiscoEsaFileTransfer
    assert "cisco_esa" in platforms


def test_show_commands_without_prompt_tricks(esa):
    assert esa.base_prompt == HOST
    assert esa.check_config_mode() and esa.exit_config_mode() == ""
    status = esa.send_command("status")
    assert "System status:" in status and "Last login" not in status
    assert f"{HOST}>" not in status  # the prompt is not part of the output
    assert "the.tdc.queue" in esa.send_command("tophosts 1")
    # hoststatus names the appliance in its Virtual Gateway block: not taken for a prompt
    hoststatus = esa.send_command("hoststatus the.tdc.queue")
    assert f"{HOST} (Management):" in hoststatus and "Ordered IP addresses" in hoststatus
    assert "Current Version" in esa.send_command("version")


def test_errors_raise(esa):
    with pytest.raises(SegcliCommandError, match="Unknown command or missing feature key: nosuch"):
        esa.send_command("nosuchcommand")
    with pytest.raises(SegcliCommandError, match='There is no policy named "nope"'):
        esa.send_command("policyconfig incoming edit nope name other")
    with pytest.raises(SegcliCommandError, match="A hostname must contain only"):
        esa.send_config_set(["sethostname bad..name"])
    # A menu left open is cancelled, and the session is at its prompt again.
    with pytest.raises(SegcliQuestionError, match=r"\[1\]>"):
        esa.send_command("tophosts")
    assert "Current Version" in esa.send_command("version")
    # A command still at work when the time is up is stopped too.
    with pytest.raises(ReadTimeout):
        esa.send_command("workqueue rate 1", read_timeout=2)
    assert "Current Version" in esa.send_command("version")
    assert esa.commit("nothing") == "There is no data to commit."


def test_send_config_set_commits_for_other_sessions(ssh_appliance, esa):
    output = esa.send_config_set(["policyconfig incoming new netmiko @netmiko.example.com"],
                                 comment="policy from netmiko")
    assert "Changes committed:" in output
    other = connect(ssh_appliance)
    try:
        rows = other.send_command("policyconfig incoming print", use_textfsm=True)
        netmiko_row = next(row for row in rows if row["name"] == "netmiko")
        assert netmiko_row["receivers"] == ["@netmiko.example.com"]
        assert rows[-1]["name"] == "DEFAULT"
    finally:
        other.disconnect()


def test_clear_changes_and_commit_with_a_comment(esa):
    esa.send_config_set(["sethostname pending.example.com"], commit=False)
    assert "hostname: pending.example.com" in esa.send_command("showchanges")
    assert esa.clear_changes().startswith("Changes cleared:")
    assert esa.clear_changes() == "No changes have been made since the last commit."
    esa.send_config_set(["tdcconfig timers retry 9"], commit=False)
    assert esa.commit(comment="retry 9 from netmiko").startswith("Changes committed:")
    [settings] = esa.send_command("tdcconfig print", use_textfsm=True)
    assert settings["retry_delay"] == "9 seconds"



def test_any_dialog_with_its_answers(esa):
    output = esa.dialog("sethostname", ["dialog.example.com"])
    assert "Enter the new hostname." in output
    assert "hostname: dialog.example.com" in esa.send_command("showchanges")
    with pytest.raises(SegcliQuestionError, match="no answer was left"):
        esa.dialog("sethostname", [])
    with pytest.raises(SegcliCommandError, match="Unknown command"):
        esa.dialog("sethostnam", ["x.example.com"])
    with pytest.raises(ValueError, match="needs a comment"):
        esa.commit("  ")
    assert esa.clear_changes().startswith("Changes cleared:")
    assert esa.base_prompt == HOST

def test_save_config_and_file_transfer(ssh_appliance, esa, tmp_path, monkeypatch):
    name = esa.save_config()
    assert name.endswith(".xml")
    monkeypatch.chdir(tmp_path)
    fetched = file_transfer(esa, source_file=name, dest_file="saved.xml", direction="get")
    assert fetched == {"file_exists": True, "file_transferred": True, "file_verified": True}
    text = (tmp_path / "saved.xml").read_text()
    assert text == (ssh_appliance.data_dir / "configuration" / name).read_text()
    (tmp_path / "upload.xml").write_text(text.replace(HOST, "uploaded.example.com"))
    sent = file_transfer(esa, source_file="upload.xml", dest_file="upload.xml", direction="put")
    assert sent == {"file_exists": True, "file_transferred": True, "file_verified": True}
    assert "Values have been loaded." in esa.send_command("loadconfig upload.xml")
    assert 'Loaded the configuration file "upload.xml"' in esa.send_command("showchanges")
    esa.clear_changes()


def test_parsed_tophosts_of_a_live_backlog_and_the_alert_example(ssh_appliance, esa):
    """SETD answers 451 to every journal copy, so copies wait on the.tdc.queue."""
    [settings] = esa.send_command("tdcconfig print", use_textfsm=True)
    intake = settings["default_intake_address"]
    fault = subprocess.run([*SEGCLI, "--data", str(ssh_appliance.data_dir), "lab", "fault", "set",
                            "setd", "--intake", intake, "--kind", "reply", "--stage", "rcpt",
                            "--code", "451"], capture_output=True, text=True, env=segcli_env(),
                           cwd=REPO, timeout=TIMEOUT)
    assert fault.returncode == 0, fault.stdout + fault.stderr
    for n in range(3):
        ssh_appliance.send_mail("bob@example.com", f"backlog-{n}")
    deadline = time.monotonic() + 60
    while True:
        rows = esa.send_command("tophosts 1", use_textfsm=True)
        tdc = next(row for row in rows if row["host"] == "the.tdc.queue")
        if int(tdc["active_recipients"]) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert int(tdc["active_recipients"]) >= 3, rows
    assert tdc["status_as_of"]
    # ranked by active recipients (another destination may have more waiting than the copies)
    assert [row["rank"] for row in rows] == [str(n) for n in range(1, len(rows) + 1)]
    active = [int(row["active_recipients"]) for row in rows]
    assert active == sorted(active, reverse=True), rows
    [host] = esa.send_command("hoststatus the.tdc.queue", use_textfsm=True)
    assert int(host["active_recipients"]) >= 3
    gauges = {row["name"]: row for row in esa.send_command("status detail", use_textfsm=True)
              if row["section"] == "Gauges"}
    assert int(gauges["Active Recipients"]["current"]) >= 3

    example = Path(REPO) / "examples" / "tdc_backlog_alert.py"
    result = subprocess.run([sys.executable, str(example), "--port", str(ssh_appliance.port),
                             "--threshold", "2", "--interval", "0.1", "--polls", "5"],
                            capture_output=True, text=True, env=segcli_env(), cwd=REPO,
                            timeout=TIMEOUT)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "ALERT: the.tdc.queue holds" in result.stdout


def test_the_readme_example_runs_as_written(ssh_appliance, tmp_path):
    readme = (Path(REPO) / "README.md").read_text()
    section = readme[readme.index("### netmiko"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    assert "port=2222" in code
    result = subprocess.run([sys.executable, "-c", code.replace("port=2222",
                                                                f"port={ssh_appliance.port}")],
                            capture_output=True, text=True, env=segcli_env(), cwd=tmp_path,
                            timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "System status:" in result.stdout and "the.tdc.queue " in result.stdout
    assert [p.suffix for p in tmp_path.iterdir()] == [".xml"]  # the fetched saveconfig file
