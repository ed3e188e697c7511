"""``segcli lab``: the appliance with the other side of the wire, on one machine.

Started together in this process: the gateway's mail engine, the lab DNS zone, the
SETD intake simulator (a default and a custom intake account, SPEC.md §1.1) and a
delivery sink for ``example.com``.  The lab then makes sure the gateway is configured
for them: mail to ``example.com`` (and sub-domains) is accepted, the DEFAULT incoming
policy journals to the default intake address, the policy ``partners``
(``@partners.example.com``) to the custom one, DNS asks the lab zone, the simulator's
CA is trusted, and MX hosts are reached on their loopback ports (SPEC.md §4 ruling 7).
That configuration is committed only when it differs from the running one.

Other processes talk to the running lab through its control socket, ``<data>/lab.sock``
(control.py; the ops are control_ops.py): ``segcli lab send``, ``segcli lab setd ...``,
``segcli lab fault ...`` and the drills.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from twisted.internet.error import CannotListenError

from engine.appliance import Appliance
from engine.config.changes import ReplaceConfig
from engine.config.model import Config, Direction, Endpoint, MailPolicy, TdcMode, ThreatDefense
from engine.config.values import check_certificate
from segcli.lab.control import ControlError, ControlServer
from segcli.lab.control_ops import register_lab_ops
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
#: A listener on every address is reached on loopback from this machine.
_LOOPBACK_FOR = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
PREFERRED = {"dns": 10053, "setd": 2626, "sink": 2727, "dashboard": 8025}


@dataclass(frozen=True)
class IntakeEndpoint:
    """One intake account as the lab serves it: its address, MX host and loopback port."""

    name: str
    address: str
    domain: str
    mx_host: str
    port: int


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
    data_dir: Path = Path()
    intakes: tuple[IntakeEndpoint, ...] = ()
    control_socket: Path | None = None
    #: ``<data>/cli.sock`` when the appliance takes attached consoles (segcli/attach/)
    console_socket: Path | None = None
    #: the web interface's URL (segcli/web/), once it listens
    web: str | None = None

    def describe(self) -> str:
        """What to connect to, printed when the lab starts."""
        hosts = sorted({(i.mx_host, i.port) for i in self.intakes})
        return "\n".join([
            "segcli lab is running.",
            f"  Gateway SMTP listener  {self.smtp}  (mail for {LAB_DOMAIN} and its sub-domains)",
            f"  Gateway SSH            {self.ssh}  (ssh admin@{self.ssh.host} -p {self.ssh.port})",
            *([f"  Gateway web interface  {self.web}  (log in as admin; self-signed certificate)"]
              if self.web else []),
            f"  SETD simulator         dashboard {self.dashboard}",
            f"                         intake SMTP 127.0.0.1:{self.setd_port} (STARTTLS)",
            f"    default intake       {self.default_intake}  (policy DEFAULT)",
            f"    custom intake        {self.custom_intake}  (policy {PARTNERS}: "
            f"@{PARTNERS}.{LAB_DOMAIN})",
            *(f"    intake host          {host} -> 127.0.0.1:{port}" for host, port in hosts),
            f"  DNS zone               {self.dns[0]}:{self.dns[1]}",
            f"  Delivery sink          127.0.0.1:{self.sink_port} ({SINK_HOST}), "
            f"messages in {self.sink_dir}",
            f"  Mail log               {self.mail_log}",
            *([f"  Lab control socket     {self.control_socket}"] if self.control_socket else []),
            *([f"  Console socket         {self.console_socket}"] if self.console_socket else []),
            f"SETD portal, faults:     segcli lab setd dashboard --data {self.data_dir}  "
            "(also: lab fault list|set|clear, lab dns log)",
            *([f"Another console:         segcli --data {self.data_dir}"]
              if self.console_socket else []),
            f"Send test mail:          segcli lab send --data {self.data_dir}",
        ])

    def ports(self) -> dict[str, Any]:
        """The endpoints as data: the control channel's ``info``."""
        return {
            "smtp": {"host": self.smtp.host, "port": self.smtp.port},
            "ssh": {"host": self.ssh.host, "port": self.ssh.port},
            "web": self.web,
            "dns": {"host": self.dns[0], "port": self.dns[1]},
            "dashboard": self.dashboard,
            "sink": {"host": SINK_HOST, "port": self.sink_port, "directory": str(self.sink_dir)},
            "intakes": [asdict(i) for i in self.intakes],
            "default_intake": self.default_intake, "custom_intake": self.custom_intake,
            "mail_log": str(self.mail_log),
        }


class Lab:
    """*preferred_ports*: listen on the ports of :data:`PREFERRED` when they are free (so
    that a person's lab keeps its addresses from one start to the next); a drill's lab
    takes free ports only, so that labs side by side never wait on each other."""

    def __init__(self, appliance: Appliance, *, preferred_ports: bool = True) -> None:
        self.appliance = appliance
        self._preferred = PREFERRED if preferred_ports else dict.fromkeys(PREFERRED, 0)
        self.directory = appliance.options.data_dir / "lab"
        self.zone = DnsZone()
        self.setd = SetdSimulator(self.directory / "setd")
        self.sink = DeliverySink(self.directory / "sink")
        self.control = ControlServer(self, appliance.options.data_dir)
        self.info: LabInfo | None = None
        self._started = False

    async def start(self) -> LabInfo:
        """Start the other side of the wire, configure the gateway for it, start the gateway.

        The control socket comes first: a second lab in the same data directory is refused
        (ControlError) before anything else listens."""
        self._started = True
        register_lab_ops()
        control_socket = await self.control.start()
        dns_port = _preferred_or_free(self.zone.start, self._preferred["dns"])
        # every sub-domain too: a new policy for @sales.example.com must not bounce
        self.zone.add_mail_domain(LAB_DOMAIN, SINK_HOST, subdomains=True)
        self.zone.add_mail_domain(f"{PARTNERS}.{LAB_DOMAIN}", SINK_HOST)
        self.zone.add_mail_domain(SENDER_DOMAIN, SINK_HOST, subdomains=True)
        default = self.setd.ensure_default_intake()
        custom = (self.setd.find_intake(PARTNERS)
                  or self.setd.setup_intake(name=PARTNERS, domain=CUSTOM_DOMAIN))
        # the mail domains each SETD account protects: a journal for another domain is
        # flagged foreign-domain on the dashboard (an account made by an older lab has none)
        if not default.domains:
            default = self.setd.set_domains(default.address, [LAB_DOMAIN])
        if not custom.domains:
            custom = self.setd.set_domains(custom.address, [f"{PARTNERS}.{LAB_DOMAIN}"])
        try:
            await self.setd.start(smtp_port=self._preferred["setd"],
                                  dashboard_port=self._preferred["dashboard"], zone=self.zone)
        except CannotListenError:  # a preferred port is taken: any free ones will do
            await self.setd.start(smtp_port=0, dashboard_port=0, zone=self.zone)
        sink_port = _preferred_or_free(self.sink.start, self._preferred["sink"])
        desired = self.configuration(self.appliance.config, dns_port, sink_port,
                                     default.address, custom.address)
        committed = await self._commit_if_changed(desired)
        smtp_port = await self.appliance.start_mail()
        smtp = Endpoint(self.appliance.smtp_endpoint.host, smtp_port)
        data_dir = self.appliance.options.data_dir
        self.info = LabInfo(
            smtp=smtp, ssh=self.appliance.ssh_endpoint, dns=("127.0.0.1", dns_port),
            dashboard=self.setd.dashboard_url or "", setd_port=self.setd.host_ports()[
                self.setd.mx_host_of(default.domain)],
            sink_port=sink_port, sink_dir=self.sink.directory, default_intake=default.address,
            custom_intake=custom.address, committed=committed,
            mail_log=data_dir / "logs" / "mail_logs" / "mail.current", data_dir=data_dir,
            intakes=self.intake_endpoints(), control_socket=control_socket,
        )
        return self.info

    def intake_endpoints(self) -> tuple[IntakeEndpoint, ...]:
        """Every intake account with the MX host and port that serve it."""
        ports = self.setd.host_ports()
        endpoints = []
        for account in self.setd.intake_accounts():
            mx_host = self.setd.mx_host_of(account.domain)
            endpoints.append(IntakeEndpoint(account.name, account.address, account.domain,
                                            mx_host, ports.get(mx_host, 0)))
        return tuple(endpoints)

    def describe_ports(self) -> dict[str, Any]:
        """The lab's endpoints as data (the control channel's ``info``)."""
        if self.info is None:
            raise ControlError("the lab is still starting; ask again in a moment")
        return {**self.info.ports(), "intakes": [asdict(i) for i in self.intake_endpoints()]}

    def smtp_address(self) -> tuple[str, int]:
        """Where a client on this machine reaches the gateway's SMTP listener (a listener on
        every address is reached on loopback)."""
        if self.info is None:
            raise ControlError("the lab is still starting; ask again in a moment")
        host = self.info.smtp.host
        return _LOOPBACK_FOR.get(host, host), self.info.smtp.port

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
            await self.control.stop()
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
