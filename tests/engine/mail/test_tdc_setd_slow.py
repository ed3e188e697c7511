"""``the.tdc.queue`` against the lab's real SETD simulator when SETD is slow and recovers
(the drill slow-setd-queue-growth, small): connections opened while a slow fault is in
force are kept and reused by the queue while copies wait, so when the fault is cleared they
must answer at SETD's restored speed, or a burst carried on them expires at the hard limit
although SETD is fast again.

Real time, timers at TIME_SCALE_HERE (hard limit 12 s, attempt timeout 6 s): the
simulator's delay is real seconds.  No connection can be added (min = max = 3), as at the
connection ceiling in the drill.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.config.changes import SetTdc, SetThreatDefense, replay
from engine.config.model import Config, Direction, Endpoint, TdcMode
from engine.mail.mail_engine import MailEngine
from engine.store.database import Store
from segcli.lab.setd_simulator import SetdSimulator
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")

TIME_SCALE_HERE = 0.1  # limit 12 s, attempt timeout 6 s
DELAY = 0.5  # every reply of a slow connection: 2.5 s a copy, 3 connections
BURST = 18  # slow: 2 s to connect + 6 rounds of 2.5 s > the 12-s limit; fast: well within it


@pytest.fixture
def setd(run, tmp_path: Path):
    simulator = SetdSimulator(tmp_path / "setd")
    simulator.ensure_default_intake()
    run(simulator.start(dashboard_port=None))
    yield simulator
    run(simulator.stop())


@pytest.fixture
def engine(run, tmp_path, setd, dns_zone, smtp_servers):
    from tests.engine.gateway_lab import Endpoint_, ScriptedHandler

    intake = setd.ensure_default_intake().address
    host = setd.host_for()
    _, sink_port = smtp_servers.start(lambda: ScriptedHandler(Endpoint_()))
    dns_zone.add_mail_domain("example.com", "mx.example.com")
    dns_zone.add_mail_domain(setd.domain, host.mx_host)
    config = replay(Config(), [SetTdc(True, intake),
                               SetThreatDefense(Direction.INCOMING, "DEFAULT", TdcMode.DEFAULT)])
    config.hostname = "gw.example.com"
    config.listener.accepted_domains = ["example.com"]
    config.dns.servers = [Endpoint(*dns_zone.address)]
    config.host_ports = {"mx.example.com": sink_port, host.mx_host: host.port}
    config.trusted_cas = [setd.ca_pem()]
    timers = config.tdc.timers
    timers.time_scale = TIME_SCALE_HERE
    timers.min_connections = timers.max_connections = 3
    store = Store.open(tmp_path / "data")
    engine = MailEngine(store, tmp_path / "data", lambda: config, version="15.5.1-055", serial="S")
    yield engine
    run(engine.stop())
    store.close()


async def _send(port: int, count: int, first: int) -> None:
    import smtplib
    from email.message import EmailMessage

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            for n in range(first, first + count):
                msg = EmailMessage()
                msg["From"], msg["To"] = "alice@example.org", "bob@example.com"
                msg["Subject"], msg["Message-ID"] = f"m{n}", f"<m{n}@example.org>"
                msg.set_content("clean body")
                client.send_message(msg)
    await asyncio.to_thread(send)


async def test_connections_opened_while_setd_was_slow_are_fast_once_it_recovers(setd, engine):
    """A burst starts while SETD is slow; the fault is cleared once the queue's three
    connections carry copies: the rest of the burst goes over those same connections at
    SETD's restored speed, and nothing expires."""
    intake = setd.ensure_default_intake().address
    port = await engine.start(Endpoint("127.0.0.1", 0))
    tdc = engine.counters.host("the.tdc.queue")
    setd.add_fault(intake, "slow", delay=DELAY)
    await _send(port, BURST, 0)
    await until(lambda: setd.connections(setd.domain)["mail"] == 3, timeout=30)
    assert setd.clear_faults() == 1
    await until(lambda: tdc.completed == BURST, timeout=40)
    assert (tdc.delivered, tdc.hard_bounced_total) == (BURST, 0)
    assert setd.connections(setd.domain)["connections"] == 3  # the burst went on those three
