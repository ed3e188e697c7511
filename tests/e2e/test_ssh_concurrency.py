"""Many SSH sessions at once against a real appliance while mail flows: each keeps its own
pending changes and sees only its own output, a long-running command in one session
holds up no other, and the mail is delivered meanwhile."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.ssh_fixtures import PROMPT, SshAppliance
from tests.e2e.test_ssh_paramiko import Shell

SESSIONS = 20
MESSAGES = 30
#: One command's round trip, even on a slow shared machine, while everything else runs.
SLOW = 15.0


def one_session(appliance: SshAppliance, number: int) -> dict:
    """Log in, record a change of one's own, look at it and at the queue, drop it, quit."""
    client = appliance.paramiko()
    try:
        shell = Shell(client.invoke_shell())
        shell.read_until(PROMPT)
        hostname = f"s{number}.example.com"
        replies, slowest = {}, 0.0
        for command in (f"sethostname {hostname}", "showchanges", "tophosts 1", "e2eterm",
                        "clearchanges", "showchanges"):
            started = time.monotonic()
            shell.send(command + "\n")
            replies.setdefault(command, []).append(shell.read_until(PROMPT))
            slowest = max(slowest, time.monotonic() - started)
        shell.send("quit\n")
        shell.rest()
        return {"hostname": hostname, "replies": replies, "slowest": slowest,
                "status": shell.channel.recv_exit_status()}
    finally:
        client.close()


def sleeper(appliance: SshAppliance, stop_after: float) -> str:
    """A session busy with a command that runs until Ctrl-C."""
    client = appliance.paramiko()
    try:
        shell = Shell(client.invoke_shell())
        shell.read_until(PROMPT)
        shell.send("e2esleep\n")
        shell.read_until("press Ctrl-C to stop.")
        time.sleep(stop_after)
        shell.send("\x03")
        return shell.read_until(PROMPT)
    finally:
        client.close()


def test_twenty_sessions_at_once_while_mail_flows(ssh_appliance):
    sink = ssh_appliance.data_dir / "lab" / "sink"
    before = len(list(sink.glob("*.eml")))
    with ThreadPoolExecutor(max_workers=SESSIONS + 2) as pool:
        busy = pool.submit(sleeper, ssh_appliance, 5.0)
        mail = pool.submit(lambda: [ssh_appliance.send_mail(f"user{n}@example.com", f"c{n}")
                                    for n in range(MESSAGES)])
        sessions = [pool.submit(one_session, ssh_appliance, n) for n in range(SESSIONS)]
        results = [future.result(timeout=180) for future in sessions]
        mail.result(timeout=120)
        assert busy.result(timeout=60).endswith("^C\r\n")
    for result in results:
        replies = result["replies"]
        own = result["hostname"]
        assert result["status"] == 0
        assert f"1. hostname: {own}" in replies["showchanges"][0]
        others = [f"s{n}.example.com" for n in range(SESSIONS) if f"s{n}.example.com" != own]
        assert not any(other in "".join(map("".join, replies.values())) for other in others)
        assert "the.tdc.queue" in replies["tophosts 1"][0]
        assert "terminal=ChannelPlainTerminal" in replies["e2eterm"][0]
        assert "No changes have been made" in replies["showchanges"][1]
        assert result["slowest"] < SLOW, result
    deadline = time.monotonic() + 120
    while len(list(sink.glob("*.eml"))) < before + MESSAGES:
        assert time.monotonic() < deadline, "the mail was not delivered"
        time.sleep(0.2)
    _, output = ssh_appliance.exec("showconfig n")
    assert "<hostname>mail1.example.com</hostname>" in output
