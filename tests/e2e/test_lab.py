"""``segcli lab`` as a user runs it: headless until SIGTERM, real mail through every path,
and nothing acknowledged lost when the process is killed with ``kill -9``."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.processes import descendants
from tests.conftest import REPO, SEGCLI, run_segcli
from tests.e2e.lab_process import LabProcess, wait_for


@pytest.fixture
def lab(data_dir):
    labs: list[LabProcess] = []

    def start(**options) -> LabProcess:
        labs.append(LabProcess.start(data_dir, **options))
        return labs[-1]

    yield start
    for process in labs:
        if process.process.poll() is None:
            process.terminate()


def test_every_path_of_the_test_mail_script(lab):
    gateway = lab()
    subprocess.run([sys.executable, "examples/send_test_mail.py", "--port", str(gateway.smtp_port)],
                   cwd=REPO, check=True, capture_output=True, timeout=60)
    wait_for(lambda: len(gateway.accepted(gateway.default_intake)) == 1
             and len(gateway.accepted(gateway.custom_intake)) == 1
             and len(gateway.sink_messages()) == 3, what="journal copies and deliveries")
    [clean] = gateway.accepted(gateway.default_intake)
    [partner] = gateway.accepted(gateway.custom_intake)
    assert "clean test" in clean["subject"] and "Partner update" in partner["subject"]
    delivered = b"".join(gateway.sink_messages())
    assert b"Subject: [SPAM] Cheap watches" in delivered  # spam: delivered tagged, not journaled
    assert b"Invoice attached" not in delivered  # the virus was dropped
    log = gateway.mail_log()
    assert "antivirus positive 'EICAR-AV-Test'" in log and "CASE spam positive" in log
    assert log.count("successfully delivered for scanning with Cisco Secure Email Threat Defense.") == 2
    assert gateway.terminate() == 0


def test_mail_from_a_relay_host_is_outgoing_and_not_journaled(lab, data_dir):
    gateway = lab()
    console = run_segcli(data_dir, "listenerconfig hostaccess add 127.0.0.2\n"
                                   'commit "let the second loopback address relay"\n')
    assert console.returncode == 0, console.stdout + console.stderr
    # an attached console's commit reaches the running appliance within a second or so;
    # until then a foreign recipient is refused by the recipient access table
    wait_for(lambda: _may_relay("127.0.0.2", gateway.smtp_port), what="the RELAYLIST in force",
             timeout=30)
    assert not _may_relay("127.0.0.1", gateway.smtp_port)  # everyone else: still no relay
    sent = subprocess.run([sys.executable, "examples/send_test_mail.py", "--port",
                           str(gateway.smtp_port), "--source", "127.0.0.2", "clean"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stderr
    wait_for(lambda: len(gateway.sink_messages()) == 1, what="the outgoing message delivered")
    log = gateway.mail_log()
    assert "RELAY SG RELAYLIST match 127.0.0.2 SBRS rfc1918" in log
    assert "matched all recipients for per-recipient policy DEFAULT in the outbound table" in log
    assert "in the inbound table" not in log
    assert "TDC:" not in log and gateway.accepted(gateway.default_intake) == []
    assert gateway.terminate() == 0


def _may_relay(source: str, port: int) -> bool:
    """Whether the gateway takes a recipient outside its recipient access table from
    *source* (the transaction is reset before DATA: nothing is sent)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0)) as client:
        client.ehlo()
        client.mail("alice@example.com")
        code, _ = client.rcpt("dave@partner.example.net")
        client.rset()
    return code == 250


def test_the_sender_of_undeliverable_mail_gets_a_bounce_message_in_the_sink(lab):
    gateway = lab()
    # the lab's zone answers every sub-domain of example.com: this one is made not to exist
    # through the running lab's own fault command
    made = subprocess.run([*SEGCLI, "--data", str(gateway.data_dir), "lab", "fault", "set", "dns",
                           "--name", "nowhere.example.com", "--fault", "nxdomain"],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    gateway.send("ann@nowhere.example.com", "undeliverable")  # accepted; NXDOMAIN in DNS
    wait_for(lambda: len(gateway.sink_messages()) == 1, what="the bounce message in the sink")
    [bounce] = gateway.sink_messages()
    assert b"Content-Type: multipart/report; report-type=delivery-status" in bounce
    assert b"Final-Recipient: rfc822; ann@nowhere.example.com" in bounce
    assert b"Status: 5.1.2" in bounce and b"Subject: undeliverable" in bounce
    log = gateway.mail_log()
    assert "5.1.2 - Bad destination host ('000', ['DNS Hard Error looking up " \
           "nowhere.example.com (MX): NXDomain'])" in log
    assert "was generated for bounce of MID 1" in log
    assert gateway.terminate() == 0


def test_a_committed_listener_address_takes_effect_at_once(lab, data_dir, reserve_port):
    first = reserve_port()  # held by the test, and taken over by the appliance's listener
    setup = run_segcli(data_dir, f"listenerconfig address 127.0.0.1:{first}\n"
                                 'commit "the lab listens here"\n')
    assert setup.returncode == 0, setup.stdout + setup.stderr
    gateway = lab(smtp=None)  # no --smtp: the configured address
    assert gateway.smtp_port == first
    second = reserve_port()
    console = run_segcli(data_dir, f"listenerconfig address 127.0.0.1:{second}\n"
                                   'commit "move the listener"\n')
    assert console.returncode == 0, console.stdout + console.stderr
    wait_for(lambda: _answers(second), what="the listener on its new address", timeout=30)
    assert not _answers(first)
    gateway.smtp_port = second
    gateway.send("bob@example.com", "after the move")
    wait_for(lambda: len(gateway.sink_messages()) == 1, what="mail through the moved listener")
    assert gateway.terminate() == 0


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            return client.recv(64).startswith(b"220 ")
    except OSError:
        return False


def test_nothing_acknowledged_is_lost_after_kill_9(lab, data_dir, unused_port):
    gateway = lab()
    # SETD hangs and the sink is unreachable, so everything stays queued.
    gateway.api("faults", {"address": gateway.default_intake, "kind": "hang", "stage": "connect"})
    console = run_segcli(data_dir, f"labconfig hostport mx.example.com {unused_port}\n"
                                   'commit "sink unreachable"\n')
    assert console.returncode == 0, console.stdout
    wait_for(lambda: f"{unused_port}" in run_segcli(data_dir, "labconfig print\n").stdout)
    subjects = [f"durable-{n}" for n in range(10)]
    for subject in subjects:
        gateway.send("bob@example.com", subject)  # each returned 250: acknowledged
    gateway.kill()

    gateway = lab()  # the restart: a fresh simulator without the fault, the sink reachable again
    wait_for(lambda: len(gateway.accepted(gateway.default_intake)) >= 10
             and len(gateway.sink_messages()) >= 10, what="every message delivered and journaled")
    journaled = {m["subject"] for m in gateway.accepted(gateway.default_intake)}
    delivered = b"".join(gateway.sink_messages())
    for subject in subjects:
        assert subject in journaled
        assert f"Subject: {subject}".encode() in delivered
    assert gateway.terminate() == 0


def test_two_labs_at_once_take_different_ports(tmp_path):
    """The second lab finds the preferred ports taken and listens on free ones."""
    first = LabProcess.start(tmp_path / "one")
    try:
        second = LabProcess.start(tmp_path / "two")
        try:
            assert second.dashboard != first.dashboard
            assert second.smtp_port != first.smtp_port
            second.send("bob@example.com", "second-lab")
            wait_for(lambda: len(second.accepted(second.default_intake)) == 1)
        finally:
            assert second.terminate() == 0
    finally:
        assert first.terminate() == 0


def test_spooled_big_messages_survive_kill_9_and_their_files_go_when_done(lab, data_dir,
                                                                          unused_port):
    """Bodies from 1 MB on live in <data>/spool (engine/store/spool.py): each file is there
    when its 250 comes, survives kill -9, the restart delivers and journals from it, removes
    a file no row names, and removes the others once their messages are done."""
    gateway = lab()
    gateway.api("faults", {"address": gateway.default_intake, "kind": "hang", "stage": "connect"})
    console = run_segcli(data_dir, f"labconfig hostport mx.example.com {unused_port}\n"
                                   'commit "sink unreachable"\n')
    assert console.returncode == 0, console.stdout
    wait_for(lambda: f"{unused_port}" in run_segcli(data_dir, "labconfig print\n").stdout)
    spool = data_dir / "spool"
    bodies = {f"big-{n}": f"{n}".join(f"line {i:07d} of a big body\r\n" for i in range(48_000))
              for n in range(2)}
    for number, (subject, body) in enumerate(bodies.items(), start=1):
        gateway.send("bob@example.com", subject, body)  # returned 250: acknowledged
        assert len(list(spool.glob("*.eml"))) == number  # its file was there at the 250
    wait_for(lambda: _scanners(gateway.process.pid), what="the scanner process started")
    scanners = _scanners(gateway.process.pid)
    gateway.kill()
    # the scanner process sees its input end and ends too: nothing is left running
    wait_for(lambda: not any(map(_running, scanners)), what="the scanner process ended")
    (spool / "999999.eml").write_bytes(b"a body whose row never committed")

    gateway = lab()  # the restart: a fresh simulator without the fault, the sink reachable again
    wait_for(lambda: len(gateway.accepted(gateway.default_intake)) >= 2
             and len(gateway.sink_messages()) >= 2, what="both delivered and journaled")
    assert {m["subject"] for m in gateway.accepted(gateway.default_intake)} == set(bodies)
    delivered = gateway.sink_messages()
    for subject, body in bodies.items():
        [message] = [m for m in delivered if f"Subject: {subject}\r\n".encode() in m]
        assert message.endswith(f"\r\n\r\n{body}\r\n".encode())
    wait_for(lambda: list(spool.iterdir()) == [], what="every spool file removed", timeout=30)
    assert gateway.terminate() == 0


def _scanners(parent: int) -> list[int]:
    """The scanner processes (engine/mail/scanner.py) below *parent*."""
    found = []
    for pid in descendants(parent):
        with contextlib.suppress(OSError):
            if b"engine.mail.scanner" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def _running(pid: int) -> bool:
    """True while *pid* runs (a zombie no longer does: PID 1 may be slow to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False
