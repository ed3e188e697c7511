"""netmiko's ``generic`` and ``linux`` drivers against a real appliance, with the
settings the README's "Scripting segcli" section gives: the prompt ends in ``>``,
there is no config mode to enter or leave, and a dialog's answers are config lines.

netmiko's linux driver reads its prompt characters from the environment when it is
imported (``NETMIKO_LINUX_PROMPT_PRI``), so that test drives it in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

from netmiko import ConnectHandler

from tests.conftest import REPO
from tests.e2e.ssh_fixtures import HOST, PASSWORD, USER

TIMEOUT = 120
PROMPT_PATTERN = r"[\w.-]+> "


def connect(appliance, device_type: str):
    return ConnectHandler(device_type=device_type, host="127.0.0.1", port=appliance.port,
                          username=USER, password=PASSWORD, use_keys=False,
                          allow_agent=False, ssh_strict=False, system_host_keys=False,
                          alt_host_keys=False, fast_cli=False, conn_timeout=30,
                          auth_timeout=60, banner_timeout=30)


def test_netmiko_generic_send_command_and_send_config_set(ssh_appliance):
    connection = connect(ssh_appliance, "generic")
    try:
        # The generic driver knows no prompt until asked to find one.
        assert connection.set_base_prompt(pri_prompt_terminator=">") == HOST
        output = connection.send_command("tophosts 1")
        assert "the.tdc.queue" in output and "Last login" not in output
        assert "Current Version" in connection.send_command("version")
        assert "Unknown command" in connection.send_command("nosuchcommand")
        # A dialog: the command, then its answers, each a "config" line.
        output = connection.send_config_set(["sethostname", "netmiko.example.com"],
                                            enter_config_mode=False, exit_config_mode=False)
        assert "Enter the new hostname." in output
        assert "hostname: netmiko.example.com" in connection.send_command("showchanges")
        output = connection.send_command("clearchanges", expect_string=r"\[Y\]>")
        output += connection.send_command("y", expect_string=PROMPT_PATTERN)
        assert "Changes cleared" in output
        # A question answered with send_command's expect_string: the question's, then the
        # prompt's (without one, netmiko would first send a bare Enter to find the prompt,
        # and that would answer the question).
        output = connection.send_command("saveconfig", expect_string=r"\[Y\]>")
        output += connection.send_command("n", expect_string=PROMPT_PATTERN)
        assert re.search(r"The file \S+\.xml has been saved", output)
    finally:
        connection.disconnect()


LINUX_CLIENT = textwrap.dedent("""
    import json, sys
    from netmiko import ConnectHandler
    port = int(sys.argv[1])
    connection = ConnectHandler(device_type="linux", host="127.0.0.1", port=port,
                                username="admin", password="ironport", use_keys=False,
                                allow_agent=False, ssh_strict=False, system_host_keys=False,
                                alt_host_keys=False, conn_timeout=30, auth_timeout=60)
    results = {"prompt": connection.find_prompt(), "base": connection.base_prompt,
               "tophosts": connection.send_command("tophosts 1"),
               "config": connection.send_config_set(
                   ["sethostname", "linux.example.com"], enter_config_mode=False,
                   exit_config_mode=False),
               "changes": connection.send_command("showchanges")}
    connection.disconnect()
    print(json.dumps(results))
""")


def test_netmiko_linux_send_command_and_send_config_set(ssh_appliance):
    env = {**os.environ, "PYTHONPATH": str(REPO), "NETMIKO_LINUX_PROMPT_PRI": ">"}
    result = subprocess.run([sys.executable, "-c", LINUX_CLIENT, str(ssh_appliance.port)],
                            capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)
    assert results["prompt"] == f"{HOST}>"
    assert results["base"] == HOST
    assert "the.tdc.queue" in results["tophosts"]
    assert "Enter the new hostname." in results["config"]
    assert "hostname: linux.example.com" in results["changes"]
