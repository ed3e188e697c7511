"""scrapli's generic driver against a real appliance: the system transport (OpenSSH in a
pty) and the paramiko transport, commands and an interactive dialog.

With the system transport ssh passes on the caller's ``TERM``; a real terminal type
gets the interactive renderer, which scrapli copes with, and ``SetEnv=SEGCLI_PLAIN=1``
(what the platform adds for it) gives it the plain one, whose output is exactly the command's.
The prompt pattern is the platform's (segcli/automation/scrapli_platform.py, tested with
its driver in test_automation_scrapli.py).
"""

from __future__ import annotations

import pytest
from scrapli.driver.generic import GenericDriver

from segcli.automation.scrapli_platform import PROMPT_PATTERN
from tests.e2e.ssh_fixtures import HOST, PASSWORD, USER


def driver(appliance, client_key, transport: str, **options) -> GenericDriver:
    auth = ({"auth_private_key": str(client_key)} if transport == "system"
            else {"auth_password": PASSWORD})
    return GenericDriver(host="127.0.0.1", port=appliance.port, auth_username=USER,
                         auth_strict_key=False, transport=transport, timeout_ops=30,
                         timeout_transport=30, comms_prompt_pattern=PROMPT_PATTERN,
                         **auth, **options)


def exercise(connection: GenericDriver) -> dict[str, str]:
    results = {"prompt": connection.get_prompt()}
    results["tophosts"] = connection.send_command("tophosts 1").result
    results["dialog"] = connection.send_interactive(
        [("sethostname", "[]>"), ("scrapli.example.com", f"{HOST}>")]).result
    responses = connection.send_commands(["showchanges", "nosuchcommand"])
    results.update(zip(["showchanges", "unknown"], [response.result for response in responses],
                       strict=True))
    # clearchanges asks first, at a terminal or not, as the appliance does
    results["clearchanges"] = connection.send_interactive(
        [("clearchanges", "[Y]>"), ("y", f"{HOST}>")]).result
    return results


@pytest.mark.parametrize("transport, options", [
    ("system", {"transport_options": {"open_cmd": ["-o", "SetEnv=SEGCLI_PLAIN=1"]}}),
    ("paramiko", {}),
], ids=["system-plain", "paramiko"])
def test_scrapli_generic_driver(ssh_appliance, client_key, transport, options):
    with driver(ssh_appliance, client_key, transport, **options) as connection:
        results = exercise(connection)
    assert results["prompt"] == f"{HOST}>"
    assert results["tophosts"].splitlines()[-1].split()[:2] == ["1", "the.tdc.queue"]
    assert "Enter the new hostname." in results["dialog"]
    assert results["showchanges"].strip().endswith("1. hostname: scrapli.example.com")
    assert "Changes cleared:" in results["clearchanges"]
    assert results["unknown"] == "Unknown command or missing feature key: nosuchcommand"
    assert all("\x1b" not in text for text in results.values())


def test_scrapli_system_transport_at_a_real_terminal_type(ssh_appliance, client_key,
                                                          monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    with driver(ssh_appliance, client_key, "system") as connection:
        results = exercise(connection)
    assert results["prompt"] == f"{HOST}>"
    assert "the.tdc.queue" in results["tophosts"]
    assert "Changes cleared:" in results["clearchanges"]
    assert "hostname: scrapli.example.com" in results["showchanges"]
    assert "Unknown command or missing feature key: nosuchcommand" in results["unknown"]
