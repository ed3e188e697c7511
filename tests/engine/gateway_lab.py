"""A gateway on loopback for engine tests: the mail engine, the lab DNS zone, a sink for
ordinary delivery (example.com) and a scriptable TLS endpoint standing in for SETD.

Import the fixtures into a test module (``from tests.engine.gateway_lab import ...``).
The SETD stand-in is deliberately small and scriptable per stage; the SETD simulator
of the lab has its own tests.
"""

from __future__ import annotations

import asyncio
import smtplib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest

from engine.config.changes import AddPolicy, SetTdc, SetThreatDefense, replay
from engine.config.model import Config, Direction, Endpoint, TdcMode
from engine.mail.mail_engine import MailEngine
from engine.smtp.server import BaseSmtpHandler, Reply
from engine.store.database import Store
from tests.ports import reserved_port

INTAKE = "33c48e-27xp9-05ecb4@setd.test"
CUSTOM = "8f2d11-93kq2-c1a0e7@setd.test"
TIME_SCALE = 0.02  # retry 0.2 s, attempt timeout 1.2 s, idle 0.1 s, limit 2.4 s


@dataclass
class Endpoint_:
    """What an SMTP endpoint saw, and the faults it is told to inject."""

    messages: list[tuple[str, list[str], bytes, bool]] = field(default_factory=list)
    connections: int = 0
    open_connections: int = 0
    mail_commands: int = 0
    #: stage -> replies to give, one per occurrence (then the normal reply)
    faults: dict[str, list] = field(default_factory=dict)
    starttls: bool = True

    def fault(self, stage: str):
        queue = self.faults.get(stage)
        return queue.pop(0) if queue else None


class ScriptedHandler(BaseSmtpHandler):
    def __init__(self, state: Endpoint_) -> None:
        self.state = state

    def connected(self, peer, local):
        self.state.connections += 1
        self.state.open_connections += 1
        return self.state.fault("connect")

    def extensions(self, in_tls):
        offered = super().extensions(in_tls)
        return offered if self.state.starttls else [e for e in offered if e != "STARTTLS"]

    def ehlo(self, name, extended):
        return self.state.fault("ehlo")

    def mail_from(self, sender, params):
        self.state.mail_commands += 1
        return self.state.fault("mail")

    def rcpt_to(self, recipient, params):
        return self.state.fault("rcpt")

    def data(self):
        return self.state.fault("data")

    def message(self, envelope, data):
        fault = self.state.fault("eom")
        if fault is None:
            self.state.messages.append((envelope.sender, list(envelope.recipients), data,
                                        envelope.tls))
        return fault

    def closed(self, reason):
        self.state.open_connections -= 1


@dataclass
class Gateway:
    engine: MailEngine
    config: Config
    sink: Endpoint_
    setd: Endpoint_
    log_path: Path
    dns_zone: object
    #: the senders' mail server (example.org): where bounce messages arrive
    senders: Endpoint_ = field(default_factory=Endpoint_)
    port: int = 0

    async def start(self) -> int:
        self.port = await self.engine.start(Endpoint("127.0.0.1", 0))
        return self.port

    async def send(self, subject: str, body: str = "clean body",
                   recipients: tuple[str, ...] = ("bob@example.com",), *,
                   sender: str = "alice@example.org", source: str = "127.0.0.1") -> dict:
        """Send one message from *source* (a loopback address: 127.0.0.2 and up work on
        Linux without any set-up); returns smtplib's refused recipients."""
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = ", ".join(recipients)
        msg["Subject"] = subject
        msg["Message-ID"] = f"<{subject.replace(' ', '.')}@example.org>"
        msg.set_content(body)

        def send():
            with smtplib.SMTP("127.0.0.1", self.port, timeout=30,
                              source_address=(source, 0)) as client:
                return client.send_message(msg, to_addrs=list(recipients))
        return await asyncio.to_thread(send)

    def log(self) -> str:
        self.engine.mail_log.flush()
        return self.log_path.read_text()

    def lines(self) -> list[str]:
        """The log's lines without the time stamp and level (``Info: ``)."""
        return [line[25:].partition(": ")[2] for line in self.log().splitlines()]

    def tdc_lines(self) -> list[str]:
        return [line for line in self.lines() if "TDC:" in line]

    async def command(self, line: str) -> tuple[bool, str]:
        """Run one CLI command line against this live engine: (succeeded, transcript)."""
        from commands.session import CliSession
        from tests.conftest import ScriptedTerminal

        terminal = ScriptedTerminal()
        session = CliSession(_ApplianceView(self), terminal)
        ok = await session.execute(line)
        return ok, terminal.text


class _ApplianceView:
    """What monitoring commands read of the appliance: the live engine and its config."""

    def __init__(self, gateway: Gateway) -> None:
        self.mail = gateway.engine
        self.config = gateway.config
        self.running = type("Version", (), {"id": 1, "config": gateway.config})()


async def until(condition, timeout: float = 20.0, explain=None) -> None:
    """Wait for *condition*; on timeout fail with what *explain()* says (a mail log, say)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time"
                                 + (f"\n{explain()}" if explain is not None else ""))
        await asyncio.sleep(0.02)


@pytest.fixture
def unused_port() -> Iterator[int]:
    """A loopback port nobody listens on (connections to it are refused), reserved for the
    test (tests/ports.py): no one else takes it meanwhile, and a listener of ours may."""
    with reserved_port() as port:
        yield port


@pytest.fixture
def dns_zone(run):
    from segcli.lab.dns_zone import DnsZone

    zone = DnsZone()
    zone.start()
    yield zone
    run(zone.stop())


@pytest.fixture
def gateway(run, tmp_path, dns_zone, smtp_servers, tls_material, server_tls):
    sink, setd, senders = Endpoint_(), Endpoint_(), Endpoint_()
    _, sink_port = smtp_servers.start(lambda: ScriptedHandler(sink))
    _, senders_port = smtp_servers.start(lambda: ScriptedHandler(senders))
    _, setd_port = smtp_servers.start(lambda: ScriptedHandler(setd), tls_context=server_tls)
    for domain, mx in (("example.com", "mx.example.com"), ("sales.example.com", "mx.example.com"),
                       ("setd.test", "mx.setd.test"), ("example.org", "mx.example.org")):
        dns_zone.add_mail_domain(domain, mx)
    config = replay(Config(), [
        SetTdc(True, INTAKE),
        AddPolicy(Direction.INCOMING, "sales", recipients=("@sales.example.com",)),
        SetThreatDefense(Direction.INCOMING, "sales", TdcMode.CUSTOM, CUSTOM),
        SetThreatDefense(Direction.INCOMING, "DEFAULT", TdcMode.DEFAULT),
    ])
    config.hostname = "gw.example.com"
    config.listener.accepted_domains = ["example.com", ".example.com"]
    config.dns.servers = [Endpoint(*dns_zone.address)]
    config.host_ports = {"mx.example.com": sink_port, "mx.setd.test": setd_port,
                         "mx.example.org": senders_port}
    config.trusted_cas = [tls_material.ca_pem().decode()]
    config.tdc.timers.time_scale = TIME_SCALE
    data = tmp_path / "data"
    store = Store.open(data)
    engine = MailEngine(store, data, lambda: config, version="15.5.1-055", serial="S")
    gateway = Gateway(engine, config, sink, setd, data / "logs" / "mail_logs" / "mail.current",
                      dns_zone, senders)
    yield gateway
    run(engine.stop())
    store.close()


@pytest.fixture
def gateway_after_traffic(run, gateway):
    """The gateway started, after three messages to bob@example.com whose first journal
    copy SETD hard-bounces (550): example.com has 3 delivered, the TDC queue 2 delivered
    and 1 hard-bounced, and every outgoing connection has closed (each link says QUIT
    after its last delivery), so the monitoring commands' figures are final.

    The live figures that ``tophosts``, ``hoststatus`` and ``status`` print and the XML
    pages serve are checked from here (tests/engine/observe/test_tophosts_live.py,
    tests/segcli/automation/test_templates.py, tests/segcli/web/test_xml_status.py)."""
    run(_three_messages_one_bounced(gateway))
    return gateway


async def _three_messages_one_bounced(gateway: Gateway) -> None:
    gateway.setd.faults["rcpt"] = [Reply(550, "5.1.1 unknown")]  # the first copy hard-bounces
    await gateway.start()
    for n in range(3):
        await gateway.send(f"m{n}")
    await until_final(gateway, copies=3, delivered=3)


async def until_final(gateway: Gateway, *, copies: int, delivered: int) -> None:
    """Until the TDC queue has completed *copies* journal copies and example.com delivered
    *delivered* recipients, with every connection of both closed: the figures are final."""
    tdc = gateway.engine.tdc.counters
    example = gateway.engine.counters.host("example.com")
    await until(lambda: tdc.completed == copies and tdc.connections_out == 0
                and example.delivered == delivered and example.connections_out == 0)


@pytest.fixture
def gateway_with_setd_down(run, gateway, unused_port):
    """The gateway started with SETD refusing connections, after four messages: their
    four journal copies are queued for the TDC link (timers at full scale, so they stay
    queued for the test) and it has soft-bounced at least once, so ``tophosts`` and
    ``hoststatus`` show the.tdc.queue down with its backlog.  Used by the same tests as
    :func:`gateway_after_traffic`."""
    gateway.config.host_ports["mx.setd.test"] = unused_port
    gateway.config.tdc.timers.time_scale = 1.0
    run(_four_messages_queued(gateway))
    return gateway


async def _four_messages_queued(gateway: Gateway) -> None:
    await gateway.start()
    for n in range(4):
        await gateway.send(f"m{n}")
    await until(lambda: gateway.log().count("enqueued for forwarding") == 4
                and gateway.engine.counters.host("the.tdc.queue").soft_bounced_events >= 1)
