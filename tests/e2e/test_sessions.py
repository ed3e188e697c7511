"""Two consoles on one appliance: two real ``segcli`` processes on the same data directory.

The second attaches to the first, which runs the appliance (``<data>/cli.sock``,
segcli/attach/; tests/e2e/test_attach.py has the rest).  Each session keeps its pending changes to
itself, both commit, the committed configuration has both changes, and a console
follows a hostname another one committed (the appliance polls the store for new
versions about once a second).
"""

from __future__ import annotations

import time

from engine.store.database import Store
from tests.e2e.pty_console import TIMEOUT

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"


def test_two_consoles_share_one_appliance(spawn, data_dir, tmp_path):
    first = spawn().started()
    errors = tmp_path / "second.stderr"
    second = spawn(stderr=errors).started()
    notice = errors.read_text()
    assert (f"the appliance of {data_dir.resolve()} runs in process {first.child.pid}; this "
            "console is attached to it as admin.") in notice
    assert "attached" not in first.text  # the first one runs the appliance

    first.run(f"tdcconfig enable {INTAKE}")
    second.run("sethostname gw2.example.com")
    mine, theirs = first.run("showchanges"), second.run("showchanges")
    assert INTAKE in mine and "gw2.example.com" not in mine
    assert "gw2.example.com" in theirs and INTAKE not in theirs

    second.command('commit "rename"')
    second.expect("Changes committed: ")
    second.prompt("gw2.example.com")
    # The first console, idle at its prompt, redraws it with the other's hostname.
    first.prompt("gw2.example.com", timeout=TIMEOUT)
    assert "gw2.example.com" not in first.run("showchanges", host="gw2.example.com")

    first.command('commit "enable TDC"')
    first.expect("Changes committed: ")
    first.prompt("gw2.example.com")
    # The second console reads the new version at its next poll of the store.
    deadline = time.monotonic() + TIMEOUT
    while "Connector:         Enabled" not in second.run("tdcconfig print", host="gw2.example.com"):
        assert time.monotonic() < deadline, "the second console never saw the first's commit"

    store = Store.open(data_dir)
    try:
        latest = store.latest()
    finally:
        store.close()
    assert latest.config.hostname == "gw2.example.com"
    assert latest.config.tdc.enabled and latest.config.tdc.intake_address == INTAKE
    assert latest.comment == "enable TDC"

    for console in (second, first):
        console.command("quit")
        assert console.wait_exit() == 0


def test_an_attached_console_ends_with_the_appliance(spawn, tmp_path):
    """The attached console is a session of the first process's appliance, as an SSH
    shell is: when that appliance stops, the console says so and ends; what it
    committed is in the store."""
    first = spawn().started()
    second = spawn(stderr=tmp_path / "second.stderr").started()
    second.run("sethostname gw3.example.com")
    second.command('commit "attached"')
    second.expect("Changes committed: ")
    second.prompt("gw3.example.com")
    first.prompt("gw3.example.com")
    first.command("quit")
    assert first.wait_exit() == 0
    assert second.wait_exit() == 1
    assert "segcli: the appliance is stopping" in (tmp_path / "second.stderr").read_text()
    assert "gw3.example.com" in spawn().started("gw3.example.com").text
