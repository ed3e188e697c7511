"""Many SSH sessions at once against a real appliance while mail flows: each keeps its own
pending changes and sees only its own output, a long-running command in one session
holds up no other, and the mail is delivered meanwhile.

"Holds up no other" is shown by order, not by a time limit: the sessions start after the
long command has started, and it is interrupted only after every session has finished.
A long command that blocked the appliance would leave them waiting (and the test fail
when their futures time out)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.ssh_fixtures import PROMPT, SshAppliance
from tests.e2e.test_ssh_paramiko import Shell

SESSIONS = 20
MESSAGES = 30
#: Backstops only: how long a session, the mail and the long command may take at most.
SESSION_TIMEOUT = 180


def one_session(appliance: SshAppliance, number: int) -> dict:
    """Log in, record a change of one's own, look at it and at the queue, drop it, quit."""
    client = appliance.paramiko()
    try:
        shell = Shell(client.invoke_shell())
        shell.read_until(PROMPT)
        hostname = f"s{number}.example.com"
        replies: dict[str, list[str]] = {}
        for command in (f"sethostname {hostname}", "showchanges", "tophosts 1", "e2eterm",
                        "clearchanges\ny", "showchanges"):  # clearchanges asks first
            shell.send(command + "\n")
            replies.setdefault(command, []).append(shell.read_until(PROMPT))
        shell.send("quit\n")
        shell.rest()
        return {"hostname": hostname, "replies": replies,
                "status": shell.channel.recv_exit_status()}
    finally:
        client.close()


def sleeper(appliance: SshAppliance, running: threading.Event, stop: threading.Event) -> str:
    """A session busy with a command that runs until Ctrl-C: *running* is set once it runs,
    and the Ctrl-C is sent when *stop* is set."""
    client = appliance.paramiko()
    try:
        shell = Shell(client.invoke_shell())
        shell.read_until(PROMPT)
        shell.send("e2esleep\n")
        shell.read_until("press Ctrl-C to stop.")
        running.set()
        assert stop.wait(SESSION_TIMEOUT), "the other sessions did not finish"
        shell.send("\x03")
        return shell.read_until(PROMPT)
    finally:
        client.close()


def test_twenty_sessions_at_once_while_mail_flows(ssh_appliance):
    sink = ssh_appliance.data_dir / "lab" / "sink"
    before = len(list(sink.glob("*.eml")))
    running, stop = threading.Event(), threading.Event()
    with ThreadPoolExecutor(max_workers=SESSIONS + 2) as pool:
        busy = pool.submit(sleeper, ssh_appliance, running, stop)
        assert running.wait(60) or busy.result(timeout=0), "e2esleep did not start"
        mail = pool.submit(lambda: [ssh_appliance.send_mail(f"user{n}@example.com", f"c{n}")
                                    for n in range(MESSAGES)])
        sessions = [pool.submit(one_session, ssh_appliance, n) for n in range(SESSIONS)]
        try:
            results = [future.result(timeout=SESSION_TIMEOUT) for future in sessions]
            mail.result(timeout=SESSION_TIMEOUT)
            assert not busy.done()  # still running: everything above ran beside it
        finally:
            stop.set()
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
    deadline = time.monotonic() + 120
    while len(list(sink.glob("*.eml"))) < before + MESSAGES:
        assert time.monotonic() < deadline, "the mail was not delivered"
        time.sleep(0.2)
    _, output = ssh_appliance.exec("showconfig n")
    assert "<hostname>mail1.example.com</hostname>" in output
