"""The appliance configuration: one typed tree, validated as a whole.

A :class:`Config` is plain data.  Sessions never edit the running configuration:
they record :mod:`engine.config.changes` against a private copy, and ``commit``
replays them onto the latest committed version (see DESIGN.md, "State").

Tests: tests/engine/config/test_model.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from engine.config import values
from engine.config.addresses import (
    InvalidValue,
    check_email_address,
    check_hostname,
    check_member,
    member_matches,
)
from engine.config.text import check_text, is_digits, text_problems

DEFAULT_POLICY = "DEFAULT"
_POLICY_NAME_MAX = 64
#: The only fields of the model whose text may hold line breaks (PEM certificates).
_MULTILINE = frozenset({"trusted_cas"})


class ConfigError(ValueError):
    """A change cannot be applied to the configuration; the message is for a person."""


class Direction(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"

    @property
    def label(self) -> str:
        """``Incoming`` / ``Outgoing``, as the policy tables are headed."""
        return "Incoming" if self is Direction.INCOMING else "Outgoing"

    @property
    def table(self) -> str:
        """The word AsyncOS uses in mail log lines: 'inbound table' / 'outbound table'."""
        return "inbound" if self is Direction.INCOMING else "outbound"


class TdcMode(StrEnum):
    """A policy's Threat Defense Connector choice (SPEC.md §1, step 3)."""

    DISABLED = "disabled"
    DEFAULT = "default"
    CUSTOM = "custom"


@dataclass
class Endpoint:
    """A listening address, written ``HOST:PORT``."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, *, any_port: bool = False) -> Endpoint:
        """``HOST:PORT``; with *any_port*, port 0 (a free port, for start overrides) too."""
        host, sep, port_text = check_text(text, "address").strip().rpartition(":")
        host = host.strip("[]")
        lowest = 0 if any_port else 1
        if not sep or not host or not is_digits(port_text) or not lowest <= int(port_text) < 65536:
            raise InvalidValue(f'"{text}" is not a valid address: use HOST:PORT, e.g. 127.0.0.1:2525.')
        return cls(host, int(port_text))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass
class TdcTimers:
    """The connector's timers (SPEC.md §4 ruling 2) and connection limits.

    ``time_scale`` multiplies every timer at once, so tests and fast labs keep the
    rulings' proportions (a hanging SETD still expires at the 120-second limit,
    scaled) without waiting minutes.
    """

    retry_delay: float = 10.0
    attempt_timeout: float = 60.0
    idle_timeout: float = 5.0
    queue_limit: float = 120.0
    time_scale: float = 1.0
    min_connections: int = 3
    max_connections: int = 20

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale


@dataclass
class TdcSettings:
    """Global Threat Defense Connector settings (``tdcconfig``)."""

    enabled: bool = False
    intake_address: str = ""
    timers: TdcTimers = field(default_factory=TdcTimers)


class ScanAction(StrEnum):
    """What a policy does with a positive anti-spam or anti-virus verdict."""

    DELIVER = "deliver"  # deliver, with a tag prepended to the subject
    DROP = "drop"
    BOUNCE = "bounce"


@dataclass
class ScanSetting:
    """A per-policy scanning service (ANTISPAM, ANTIVIRUS)."""

    enabled: bool = True
    action: ScanAction = ScanAction.DELIVER
    subject_tag: str = ""


def _antispam_default() -> ScanSetting:
    return ScanSetting(True, ScanAction.DELIVER, "[SPAM]")


def _antivirus_default() -> ScanSetting:
    return ScanSetting(True, ScanAction.DROP, "[WARNING: VIRUS DETECTED]")


@dataclass
class ThreatDefense:
    """Per-policy THREATDEFENSE setting."""

    mode: TdcMode = TdcMode.DISABLED
    custom_address: str = ""

    def intake_address(self, tdc: TdcSettings) -> str | None:
        """The address journal copies go to, or None when this policy does not journal."""
        if not tdc.enabled or self.mode is TdcMode.DISABLED:
            return None
        if self.mode is TdcMode.CUSTOM:
            return self.custom_address
        return tdc.intake_address or None

    def describe(self) -> str:
        if self.mode is TdcMode.CUSTOM:
            return f"Custom Message Intake Address: {self.custom_address}"
        if self.mode is TdcMode.DEFAULT:
            return "Default Message Intake Address"
        return "Disabled"


@dataclass
class MailPolicy:
    """One row of a mail policy table.  Members are kept in lower case."""

    name: str
    senders: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    threat_defense: ThreatDefense = field(default_factory=ThreatDefense)
    antispam: ScanSetting = field(default_factory=_antispam_default)
    antivirus: ScanSetting = field(default_factory=_antivirus_default)

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_POLICY

    def matches(self, sender: str, recipient: str) -> bool:
        """First-match test: a sender member or a recipient member matches."""
        if self.is_default:
            return True
        return any(member_matches(m, sender) for m in self.senders) or any(
            member_matches(m, recipient) for m in self.recipients
        )

    @property
    def members(self) -> list[str]:
        return [*self.senders, *self.recipients]


@dataclass
class PolicyTable:
    """An ordered policy table; DEFAULT is always present and always last."""

    policies: list[MailPolicy] = field(default_factory=lambda: [MailPolicy(DEFAULT_POLICY)])

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.policies]

    def find(self, name: str) -> MailPolicy | None:
        """Policy names are matched case-insensitively, as at the appliance."""
        for policy in self.policies:
            if policy.name.lower() == name.lower():
                return policy
        return None

    def get(self, name: str) -> MailPolicy:
        """The policy named *name*, or ConfigError (which never quotes a control character)."""
        try:
            check_text(name, "policy name")
        except InvalidValue as exc:
            raise ConfigError(str(exc)) from None
        policy = self.find(name)
        if policy is None:
            raise ConfigError(f'There is no policy named "{name}".')
        return policy

    @property
    def default(self) -> MailPolicy:
        return self.policies[-1]

    def match(self, sender: str, recipient: str) -> MailPolicy:
        return next(p for p in self.policies if p.matches(sender, recipient))

    def search(self, address: str) -> list[MailPolicy]:
        """Policies with a member that matches *address* as sender or recipient."""
        return [
            p for p in self.policies
            if any(member_matches(m, address) for m in p.members)
        ]


@dataclass
class Listener:
    """The public SMTP listener (``listenerconfig``) and its recipient access table.

    Accepted domains are ``example.com`` (that domain) or ``.example.com`` (its
    sub-domains); mail for any other recipient is refused: never an open relay.
    The host access table's RELAYLIST names the hosts (addresses or networks) that may
    relay: their mail is outgoing (outgoing mail policies) and may be for any domain.
    """

    name: str = "IncomingMail"
    address: Endpoint = field(default_factory=lambda: Endpoint("127.0.0.1", 2525))
    accepted_domains: list[str] = field(default_factory=list)
    max_message_size: int = 10 * 1024 * 1024
    offer_tls: bool = True
    relay_hosts: list[str] = field(default_factory=list)

    def accepts(self, recipient: str) -> bool:
        domain = recipient.rpartition("@")[2].lower()
        return any(
            domain.endswith(entry) if entry.startswith(".") else domain == entry
            for entry in self.accepted_domains
        )

    def relay_entry(self, peer_ip: str) -> str | None:
        """The RELAYLIST entry a connecting host matches: None for everyone else."""
        return values.relay_entry_for(self.relay_hosts, peer_ip)


@dataclass
class SmtpRoute:
    """``smtproutes``: deliver mail for *domain* (``example.com``, ``.example.com`` or
    ``ALL``) to these hosts instead of the MX (``host``, ``host:port``, ``/dev/null``,
    ``USEDNS``)."""

    domain: str
    destinations: list[str] = field(default_factory=list)


class TlsMode(StrEnum):
    NO = "No"
    PREFERRED = "Preferred"
    REQUIRED = "Required"
    PREFERRED_VERIFY = "Preferred - Verify"
    REQUIRED_VERIFY = "Required - Verify"


@dataclass
class DestinationControl:
    """``destconfig``: limits for one destination domain (or ``DEFAULT``)."""

    domain: str = "DEFAULT"
    max_concurrency: int = 500
    max_messages_per_connection: int = 50
    tls: TlsMode = TlsMode.NO


@dataclass
class DeliverySettings:
    """``deliveryconfig`` and the default bounce profile: system-wide concurrency,
    the soft-bounce retry schedule and how long a message may stay queued."""

    max_concurrency: int = 10000
    initial_retry: float = 60.0
    max_retry: float = 3600.0
    max_queue_time: float = 259200.0


@dataclass
class DnsSettings:
    """``dnsconfig``: the DNS servers the gateway asks (empty: the host's resolvers)."""

    servers: list[Endpoint] = field(default_factory=list)
    timeout: float = 5.0


@dataclass
class AdminAccess:
    """``adminaccessconfig``: how administrators' sessions behave.

    ``cli_timeout``: minutes an interactive SSH shell may sit idle (at a prompt or a
    question) before it is closed, its uncommitted changes discarded; the login banner's
    NOTE says it."""

    cli_timeout: int = 30


@dataclass
class Config:
    """Everything ``saveconfig`` writes and ``loadconfig`` reads."""

    hostname: str = "mail1.example.com"
    tdc: TdcSettings = field(default_factory=TdcSettings)
    incoming: PolicyTable = field(default_factory=PolicyTable)
    outgoing: PolicyTable = field(default_factory=PolicyTable)
    listener: Listener = field(default_factory=Listener)
    ssh_listener: Endpoint = field(default_factory=lambda: Endpoint("127.0.0.1", 2222))
    #: The web interface (HTTPS); ``segcli --https`` overrides it for one run.
    https_listener: Endpoint = field(default_factory=lambda: Endpoint("127.0.0.1", 8443))
    smtp_routes: list[SmtpRoute] = field(default_factory=list)
    destinations: list[DestinationControl] = field(default_factory=lambda: [DestinationControl()])
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    dns: DnsSettings = field(default_factory=DnsSettings)
    admin_access: AdminAccess = field(default_factory=AdminAccess)
    #: Extra certificate authorities (PEM) trusted for outbound TLS (``certconfig``).
    trusted_cas: list[str] = field(default_factory=list)
    #: Lab addressing (SPEC.md §4 ruling 7): host name -> loopback port used instead of 25.
    host_ports: dict[str, int] = field(default_factory=dict)

    def route_for(self, domain: str) -> SmtpRoute | None:
        """The SMTP route for *domain*: exact, then the closest ``.parent``, then ``ALL``."""
        domain = domain.lower()
        by_name = {route.domain.lower(): route for route in self.smtp_routes}
        if domain in by_name:
            return by_name[domain]
        labels = domain.split(".")
        for i in range(1, len(labels)):
            route = by_name.get("." + ".".join(labels[i:]))
            if route:
                return route
        return by_name.get("all")

    def destination(self, domain: str) -> DestinationControl:
        """The destination controls for *domain*, else the DEFAULT entry."""
        by_name = {d.domain.lower(): d for d in self.destinations}
        return by_name.get(domain.lower()) or by_name.get("default") or DestinationControl()

    def copy(self) -> Config:
        return copy.deepcopy(self)

    def policies(self, direction: Direction) -> PolicyTable:
        return self.incoming if direction is Direction.INCOMING else self.outgoing

    def problems(self) -> list[str]:
        """Every reason this configuration could not run, for an all-or-nothing load.

        Text that breaks the printable-text rule is reported alone: the other checks'
        messages quote values, and a control character must not reach a terminal.
        """
        found = text_problems(self, "", multiline=_MULTILINE)
        if found:
            return found
        found += _try(check_hostname, self.hostname, prefix="hostname: ")
        if self.tdc.intake_address:
            found += _try(check_email_address, self.tdc.intake_address,
                          prefix="Threat Defense Connector: ")
        if self.tdc.enabled and not self.tdc.intake_address:
            found.append("Threat Defense Connector: enabled without a Default Message Intake Address.")
        for direction in Direction:
            found += _table_problems(direction, self.policies(direction))
        found += _timer_problems(self.tdc.timers)
        found += _endpoint_problems(self)
        found += _listener_problems(self.listener)
        found += _route_problems(self.smtp_routes)
        found += _destination_problems(self.destinations)
        found += _delivery_problems(self.delivery)
        found += _dns_problems(self.dns)
        found += _try(values.check_int, self.admin_access.cli_timeout,
                      values.CLI_TIMEOUT_MINUTES, prefix="CLI session timeout (minutes): ")
        found += _ca_problems(self.trusted_cas)
        found += _host_port_problems(self.host_ports)
        return found


def _table_problems(direction: Direction, table: PolicyTable) -> list[str]:
    where = f"{direction.label} Mail Policies"
    found: list[str] = []
    if not table.policies or not table.policies[-1].is_default:
        found.append(f"{where}: the DEFAULT policy must be present and last.")
    seen: set[str] = set()
    for policy in table.policies:
        key = policy.name.lower()
        if key in seen:
            found.append(f'{where}: there is already a policy named "{policy.name}".')
        seen.add(key)
        found += _try(check_policy_name, policy.name, prefix=f"{where}: ")
        if policy.is_default and policy.members:
            found.append(f"{where}: the DEFAULT policy cannot have members.")
        if not policy.is_default and not policy.members:
            found.append(f'{where}: policy "{policy.name}" has no members.')
        for member in policy.members:
            found += _try(check_member, member, prefix=f'{where}: policy "{policy.name}": ')
        td = policy.threat_defense
        if td.mode is TdcMode.CUSTOM:
            found += _try(check_email_address, td.custom_address,
                          prefix=f'{where}: policy "{policy.name}": ')
        if direction is Direction.OUTGOING and td.mode is not TdcMode.DISABLED:
            found.append(f'{where}: policy "{policy.name}": the Threat Defense Connector '
                         "journals incoming mail only.")
        for label, scan in (("Anti-Spam", policy.antispam), ("Anti-Virus", policy.antivirus)):
            found += _try(values.check_subject_tag, scan.subject_tag,
                          prefix=f'{where}: policy "{policy.name}": {label}: ')
    return found


# -- the mail settings (engine.config.values holds the rules for single values) ---------


def _timer_problems(timers: TdcTimers) -> list[str]:
    where = "Threat Defense Connector timers: "
    found: list[str] = []
    for name, bounds in (("retry_delay", values.TDC_RETRY_DELAY),
                         ("attempt_timeout", values.TDC_SECONDS),
                         ("idle_timeout", values.TDC_SECONDS),
                         ("queue_limit", values.TDC_SECONDS),
                         ("time_scale", values.TIME_SCALE)):
        found += _try(values.check_seconds, getattr(timers, name), bounds,
                      prefix=f"{where}{name}: ")
    for name in ("min_connections", "max_connections"):
        found += _try(values.check_int, getattr(timers, name), values.TDC_CONNECTIONS,
                      prefix=f"{where}{name}: ")
    if timers.min_connections > timers.max_connections:
        found.append(f"{where}the minimum number of connections ({timers.min_connections}) is "
                     f"above the maximum ({timers.max_connections}).")
    return found


def _endpoint_problems(config: Config) -> list[str]:
    found: list[str] = []
    for label, endpoint in (("listener address", config.listener.address),
                            ("SSH address", config.ssh_listener),
                            ("HTTPS address", config.https_listener)):
        found += _try(values.check_host, endpoint.host, prefix=f"{label}: ")
        found += _try(values.check_port, endpoint.port, prefix=f"{label}: ")
    if config.listener.address == config.ssh_listener:
        found.append(f"The SMTP listener and the SSH server cannot both use {config.ssh_listener}.")
    if config.https_listener in (config.listener.address, config.ssh_listener):
        found.append(f"The web interface cannot use {config.https_listener}: another server does.")
    return found


def _listener_problems(listener: Listener) -> list[str]:
    where = f'listener "{listener.name}": '
    found = _try(check_listener_name, listener.name, prefix="listener: ")
    found += _try(values.check_message_size, listener.max_message_size, prefix=where)
    found += _entry_problems(listener.accepted_domains, values.check_accepted_domain,
                             f"{where}recipient access table: ")
    found += _entry_problems(listener.relay_hosts, values.check_relay_host,
                             f"{where}host access table: RELAYLIST: ")
    return found


def _route_problems(routes: list[SmtpRoute]) -> list[str]:
    found: list[str] = []
    if len(routes) > values.MAX_ROUTES:
        found.append(f"SMTP routes: There is a maximum of {values.MAX_ROUTES} routes.")
    found += _entry_problems([r.domain for r in routes], values.check_route_domain, "SMTP routes: ")
    for route in routes:
        found += _try(values.check_route_destinations, route.destinations,
                      prefix=f"SMTP routes: {route.domain}: ")
    return found


def _destination_problems(destinations: list[DestinationControl]) -> list[str]:
    where = "Destination controls: "
    domains = [d.domain for d in destinations]
    found = _entry_problems(domains, values.check_destination_domain, where)
    if values.DEFAULT_DESTINATION not in domains:
        found.append(f"{where}the DEFAULT entry must be present.")
    for entry in destinations:
        found += _try(values.check_int, entry.max_concurrency, values.DESTINATION_CONCURRENCY,
                      prefix=f"{where}{entry.domain}: concurrency limit: ")
        found += _try(values.check_int, entry.max_messages_per_connection,
                      values.MESSAGES_PER_CONNECTION,
                      prefix=f"{where}{entry.domain}: messages per connection: ")
        if not isinstance(entry.tls, TlsMode):
            found.append(f"{where}{entry.domain}: unknown TLS setting {entry.tls!r}.")
    return found


def _delivery_problems(delivery: DeliverySettings) -> list[str]:
    where = "Delivery settings: "
    found = _try(values.check_int, delivery.max_concurrency, values.SYSTEM_CONCURRENCY,
                 prefix=f"{where}maximum concurrency: ")
    for label, value, bounds in (("initial retry", delivery.initial_retry, values.RETRY_SECONDS),
                                 ("maximum retry", delivery.max_retry, values.RETRY_SECONDS),
                                 ("maximum time in queue", delivery.max_queue_time,
                                  values.QUEUE_SECONDS)):
        found += _try(values.check_seconds, value, bounds, prefix=f"{where}{label}: ")
    if not found and delivery.initial_retry > delivery.max_retry:
        found.append(f"{where}{INITIAL_ABOVE_MAX}")
    return found


INITIAL_ABOVE_MAX = ("The initial retry interval must not be longer than the maximum retry "
                     "interval.")


def _dns_problems(dns: DnsSettings) -> list[str]:
    found = _entry_problems([str(server) for server in dns.servers],
                            lambda text: str(Endpoint(*values.check_dns_server(text))),
                            "DNS servers: ")
    found += _try(values.check_seconds, dns.timeout, values.DNS_TIMEOUT, prefix="DNS timeout: ")
    return found


def _ca_problems(cas: list[str]) -> list[str]:
    return _entry_problems(cas, values.check_certificate, "Trusted certificate authorities: ",
                           label=lambda number, _: f"certificate {number}")


def _host_port_problems(host_ports: dict[str, int]) -> list[str]:
    found = _entry_problems(list(host_ports), values.check_lab_host, "Lab host ports: ")
    for host, port in host_ports.items():
        found += _try(values.check_port, port, prefix=f"Lab host ports: {host}: ")
    return found


def _entry_problems(entries: list[str], check: Callable[[str], str], where: str, *,
                    label: Callable[[int, str], str] | None = None) -> list[str]:
    """Each entry valid, and no entry twice (compared in canonical form)."""
    found: list[str] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, 1):
        shown = label(number, entry) if label else entry
        try:
            key = check(entry).lower()
        except InvalidValue as exc:
            found.append(f"{where}{exc}")
            continue
        if key in seen:
            found.append(f"{where}{shown} is entered more than once.")
        seen.add(key)
    return found


def check_policy_name(name: str) -> str:
    name = check_text(name, "policy name").strip()
    if not name or len(name) > _POLICY_NAME_MAX:
        raise InvalidValue(
            f"A Per-recipient policy name is a non-empty string of at most {_POLICY_NAME_MAX} "
            "characters."
        )
    if not name.isascii():
        raise InvalidValue("Non ASCII characters are not allowed.")
    if any(c.isspace() or c in ",;'\"" for c in name):
        raise InvalidValue(
            "Valid characters are letters, digits, hyphens, underscores, dots and @."
        )
    return name


def check_listener_name(name: str) -> str:
    """Listener names follow the policy name rules (no spaces, ASCII)."""
    check_text(name, "listener name")
    try:
        return check_policy_name(name)
    except InvalidValue as exc:
        raise InvalidValue(str(exc).replace("A Per-recipient policy name", "A listener name")) \
            from None


def _try(check: Callable[..., object], value: object, *args: object, prefix: str) -> list[str]:
    try:
        check(value, *args)
    except InvalidValue as exc:
        return [prefix + str(exc)]
    return []
