"""``segcli lab``: the appliance with the other side of the wire, on one machine.

Started together in this process: the gateway's mail engine, the lab DNS zone, the
SETD intake simulator (a default and a custom intake account, SPEC.md §1.1) and a
delivery sink for ``example.com``.  The lab then makes sure the gateway is configured
for them: mail to ``example.com`` (and sub-domains) is accepted, the DEFAULT incoming
policy journals to the default intake address, the policy ``partners``
(``@partners.example.com``) to the custom one, DNS asks the lab zone, the simulator's
CA is trusted, and MX hosts are reached on their loopback ports (SPEC.md §4 ruling 7).
That configuration is committed only when it differs from the running one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from twisted.internet.error import CannotListenError

from engine.appliance import Appliance
from engine.config.changes import ReplaceConfig
from engine.config.model import Config, Direction, Endpoint, MailPolicy, TdcMode, ThreatDefense
from engine.config.values import check_certificate
from segcli.lab.dns_zone import DnsZone
from segcli.lab.setd_simulator import SetdSimulator
from segcli.lab.sink import DeliverySink

LAB_DOMAIN = "example.com"
SINK_HOST = "mx.example.com"
#: the senders' domain of the examples: its MX is the sink too, so that bounce messages
#: (and outgoing mail to it) arrive where the lab shows them
SENDER_DOMAIN = "example.org"
PARTNERS = "partners"
CUSTOM_DOMAIN = "mail.eu.cmd.cisco.com"
#: Preferred loopback ports (a busy one is replaced by a free one, and the config follows).
PREFERRED = {"dns": 10053, "setd": 2626, "sink": 2727, "dashboard": 8025}


@dataclass
class LabInfo:
    smtp: Endpoint
    ssh: Endpoint
    dns: tuple[str, int]
    dashboard: str
    setd_port: int
    sink_port: int
    sink_dir: Path
    default_intake: str
    custom_intake: str
    mail_log: Path
    committed: bool

    def describe(self) -> str:
        """What to connect to, printed when the lab starts."""
        return "\n".join([
            "segcli lab is running.",
            f"  Gateway SMTP listener  {self.smtp}  (mail for {LAB_DOMAIN} and its sub-domains)",
            f"  Gateway SSH            {self.ssh}  (ssh admin@{self.ssh.host} -p {self.ssh.port})",
            f"  SETD simulator         dashboard {self.dashboard}",
            f"                         intake SMTP 127.0.0.1:{self.setd_port} (STARTTLS)",
            f"    default intake       {self.default_intake}  (policy DEFAULT)",
            f"    custom intake        {self.custom_intake}  (policy {PARTNERS}: "
            f"@{PARTNERS}.{LAB_DOMAIN})",
            f"  DNS zone               {self.dns[0]}:{self.dns[1]}",
            f"  Delivery sink          127.0.0.1:{self.sink_port} ({SINK_HOST}), "
            f"messages in {self.sink_dir}",
            f"  Mail log               {self.mail_log}",
            f"Send test mail:          python examples/send_test_mail.py --port {self.smtp.port}",
        ])


class Lab:
    def __init__(self, appliance: Appliance) -> None:
        self.appliance = appliance
        self.directory = appliance.options.data_dir / "lab"
        self.zone = DnsZone()
        self.setd = SetdSimulator(self.directory / "setd")
        self.sink = DeliverySink(self.directory / "sink")
        self._started = False

    async def start(self) -> LabInfo:
        """Start the other side of the wire, configure the gateway for it, start the gateway."""
        self._started = True
        dns_port = _preferred_or_free(self.zone.start, PREFERRED["dns"])
        self.zone.add_mail_domain(LAB_DOMAIN, SINK_HOST)
        self.zone.add_mail_domain(f"{PARTNERS}.{LAB_DOMAIN}", SINK_HOST)
        self.zone.add_mail_domain(SENDER_DOMAIN, SINK_HOST)
        default = self.setd.ensure_default_intake()
        custom = (self.setd.find_intake(PARTNERS)
                  or self.setd.setup_intake(name=PARTNERS, domain=CUSTOM_DOMAIN))
        try:
            await self.setd.start(smtp_port=PREFERRED["setd"],
                                  dashboard_port=PREFERRED["dashboard"], zone=self.zone)
        except CannotListenError:  # a preferred port is taken: any free ones will do
            await self.setd.start(smtp_port=0, dashboard_port=0, zone=self.zone)
        sink_port = _preferred_or_free(self.sink.start, PREFERRED["sink"])
        desired = self.configuration(self.appliance.config, dns_port, sink_port,
                                     default.address, custom.address)
        committed = await self._commit_if_changed(desired)
        smtp_port = await self.appliance.start_mail()
        smtp = Endpoint(self.appliance.smtp_endpoint.host, smtp_port)
        return LabInfo(
            smtp=smtp, ssh=self.appliance.ssh_endpoint, dns=("127.0.0.1", dns_port),
            dashboard=self.setd.dashboard_url or "", setd_port=self.setd.host_ports()[
                self.setd.mx_host_of(default.domain)],
            sink_port=sink_port, sink_dir=self.sink.directory, default_intake=default.address,
            custom_intake=custom.address, committed=committed,
            mail_log=self.appliance.options.data_dir / "logs" / "mail_logs" / "mail.current",
        )

    def configuration(self, running: Config, dns_port: int, sink_port: int, default: str,
                      custom: str) -> Config:
        """The running configuration with everything the lab needs set."""
        config = running.copy()
        config.listener.accepted_domains = _with(config.listener.accepted_domains,
                                                 LAB_DOMAIN, f".{LAB_DOMAIN}")
        config.dns.servers = [Endpoint("127.0.0.1", dns_port)]
        config.host_ports = {**config.host_ports, SINK_HOST: sink_port, **self.setd.host_ports()}
        ca = check_certificate(self.setd.ca_pem())  # the form the configuration keeps
        if ca not in config.trusted_cas:
            config.trusted_cas = [*config.trusted_cas, ca]
        config.tdc.enabled = True
        config.tdc.intake_address = default
        table = config.policies(Direction.INCOMING)
        table.default.threat_defense = ThreatDefense(TdcMode.DEFAULT)
        partners = table.find(PARTNERS)
        if partners is None:
            partners = MailPolicy(PARTNERS, recipients=[f"@{PARTNERS}.{LAB_DOMAIN}"])
            table.policies.insert(len(table.policies) - 1, partners)
        partners.threat_defense = ThreatDefense(TdcMode.CUSTOM, custom)
        return config

    async def _commit_if_changed(self, desired: Config) -> bool:
        if desired == self.appliance.config:
            return False
        await self.appliance.commit([ReplaceConfig(desired, "segcli lab configuration")],
                                    user="lab", comment="segcli lab: configured for the lab",
                                    rollback=True)
        return True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        with contextlib.suppress(Exception):
            await self.sink.stop()
        with contextlib.suppress(Exception):
            await self.setd.stop()
        with contextlib.suppress(Exception):
            await self.zone.stop()


def _with(entries: list[str], *wanted: str) -> list[str]:
    return [*entries, *(w for w in wanted if w not in entries)]


def _preferred_or_free(start: Callable[[int], int], port: int) -> int:
    """Listen on the preferred *port*, or on any free one when it is taken.  The bind
    itself decides (no probe first: another process could take the port in between)."""
    try:
        return start(port)
    except CannotListenError:
        return start(0)
