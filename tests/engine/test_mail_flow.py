"""The mail engine end to end on loopback: real SMTP in, the lab DNS zone, a sink for
ordinary delivery and a TLS endpoint standing in for SETD (the simulator has its own tests).
"""

from __future__ import annotations

import asyncio
import smtplib
import time
from email.message import EmailMessage

import pytest

from engine.config import Config, Direction, Endpoint, TdcMode
from engine.config_changes import AddPolicy, SetTdc, SetThreatDefense, replay
from engine.journal import attached_original
from engine.mail_engine import MailEngine
from engine.smtp_server import BaseSmtpHandler, Reply
from engine.store import Store
from engine.verdicts import EICAR, GTUBE

pytestmark = pytest.mark.usefixtures("run")

INTAKE = "33c48e-27xp9-05ecb4@setd.test"
CUSTOM = "8f2d11-93kq2-c1a0e7@setd.test"


class Recorder(BaseSmtpHandler):
    def __init__(self, box: list, reply: Reply | None = None) -> None:
        self.box = box
        self.reply = reply

    def message(self, envelope, data):
        if self.reply is not None:
            return self.reply
        self.box.append((envelope.sender, list(envelope.recipients), data, envelope.tls))
        return None


@pytest.fixture
def dns_zone(run):
    from segcli.lab.dns_zone import DnsZone

    zone = DnsZone()
    zone.start()
    yield zone
    run(zone.stop())


@pytest.fixture
def lab(tmp_path, dns_zone, smtp_servers, tls_material, server_tls):
    """A gateway wired to a sink (example.com) and a fake SETD (setd.test) through the DNS zone."""
    sink, setd = [], []
    _, sink_port = smtp_servers.start(lambda: Recorder(sink))
    _, setd_port = smtp_servers.start(lambda: Recorder(setd), tls_context=server_tls)
    dns_zone.add_mail_domain("example.com", "mx.example.com")
    dns_zone.add_mail_domain("setd.test", "mx.setd.test")
    dns_zone.add_mail_domain("sales.example.com", "mx.example.com")
    config = replay(Config(), [
        SetTdc(True, INTAKE),
        AddPolicy(Direction.INCOMING, "sales", recipients=("@sales.example.com",)),
        SetThreatDefense(Direction.INCOMING, "sales", TdcMode.CUSTOM, CUSTOM),
        SetThreatDefense(Direction.INCOMING, "DEFAULT", TdcMode.DEFAULT),
    ])
    config.hostname = "gw.example.com"
    config.listener.accepted_domains = ["example.com", ".example.com"]
    config.dns.servers = [Endpoint(*dns_zone.address)]
    config.host_ports = {"mx.example.com": sink_port, "mx.setd.test": setd_port}
    config.trusted_cas = [tls_material.ca_pem().decode()]
    config.tdc.timers.time_scale = 0.05
    store = Store.open(tmp_path / "data")
    engine = MailEngine(store, tmp_path / "data", lambda: config, version="15.5.1-055", serial="S")
    return engine, config, sink, setd, tmp_path / "data" / "logs" / "mail_logs" / "mail.current"


def _message(subject: str, body: str, to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "alice@example.org"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@example.org>"
    msg.set_content(body)
    return msg


async def _send(port: int, msg: EmailMessage, recipients: list[str]) -> dict:
    def send():
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            return client.send_message(msg, to_addrs=recipients)
    return await asyncio.to_thread(send)


async def _until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_clean_mail_is_delivered_and_journaled(lab):
    engine, _config, sink, setd, log_path = lab
    port = await engine.start(Endpoint("127.0.0.1", 0))
    try:
        refused = await _send(port, _message("hello", "clean body", "bob@example.com"),
                              ["bob@example.com"])
        assert refused == {}
        await _until(lambda: sink and setd)
        await _until(lambda: engine.tdc.active == 0)
    finally:
        await engine.stop()
    _sender, recipients, data, _tls = sink[0]
    assert recipients == ["bob@example.com"] and b"clean body" in data
    j_sender, j_recipients, journal, j_tls = setd[0]
    assert (j_sender, j_recipients, j_tls) == ("", [INTAKE], True)
    assert attached_original(journal) == data  # byte for byte what was delivered
    text = log_path.read_text()
    assert "TDC: MID 2 with Message-ID '<hello@example.org>' enqueued for forwarding to Cisco " \
           f"Secure Email Threat Defense to the message intake address {INTAKE}" in text
    assert "TDC: MID 2 successfully delivered for scanning with Cisco Secure Email Threat Defense." in text
    assert "MID 1 matched all recipients for per-recipient policy DEFAULT in the inbound table" in text
    counters = engine.counters.host("the.tdc.queue")
    assert (counters.delivered, counters.active, counters.connections_out) == (1, 0, 0)
    assert engine.counters.host("example.com").delivered == 1


async def test_gtube_and_eicar_are_not_journaled_and_policies_pick_the_intake(lab):
    engine, _config, sink, setd, log_path = lab
    port = await engine.start(Endpoint("127.0.0.1", 0))
    try:
        await _send(port, _message("spam", GTUBE.decode(), "bob@example.com"), ["bob@example.com"])
        await _send(port, _message("virus", EICAR.decode(), "bob@example.com"), ["bob@example.com"])
        await _send(port, _message("sales", "for sales", "sue@sales.example.com"),
                    ["sue@sales.example.com", "bob@example.com"])
        await _until(lambda: len(setd) == 2 and len(sink) == 3)
        await _until(lambda: engine.tdc.active == 0)
    finally:
        await engine.stop()
    intakes = sorted(r[0] for _, r, _, _ in setd)
    assert intakes == sorted([INTAKE, CUSTOM])  # the split message journals per policy
    subjects = [attached_original(j) for _, _, j, _ in setd]
    assert all(b"Subject: sales" in s for s in subjects)
    assert any(b"Subject: [SPAM] spam" in data for _, _, data, _ in sink)  # delivered, tagged
    assert not any(b"Subject: virus" in data for _, _, data, _ in sink)  # dropped
    assert "was split creating MID" in log_path.read_text()


async def test_relay_is_refused(lab):
    engine, *_ = lab
    port = await engine.start(Endpoint("127.0.0.1", 0))
    try:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            await _send(port, _message("relay", "x", "x@elsewhere.org"), ["x@elsewhere.org"])
    finally:
        await engine.stop()
    assert engine.counters.system.rejected_recipients == 1
