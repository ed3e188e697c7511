"""Configuration changes as small replayable records.

A CLI session keeps a list of these.  Each one is applied at once to the session's
private copy (so the session sees its own edits and bad input is refused before it
is recorded), and the whole list is replayed onto the latest committed version at
``commit`` time.  That is what lets two sessions edit different things and both
commit without one silently undoing the other.

Tests: tests/engine/config/test_model.py, test_printable_text.py,
tests/commands/test_session.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from engine.config import values
from engine.config.addresses import InvalidValue, check_email_address, check_hostname, check_member
from engine.config.model import (
    DEFAULT_POLICY,
    INITIAL_ABOVE_MAX,
    Config,
    ConfigError,
    DestinationControl,
    Direction,
    Endpoint,
    MailPolicy,
    ScanAction,
    ScanSetting,
    SmtpRoute,
    TdcMode,
    ThreatDefense,
    TlsMode,
    check_listener_name,
    check_policy_name,
)
from engine.config.text import check_text

T = TypeVar("T")


class Change:
    """Base of all changes: ``apply`` checks the record's text, then ``edit`` edits a
    config in place; either raises ConfigError (:attr:`error`) and then nothing changed.

    Subclasses implement :meth:`edit`, never :meth:`apply`: every string a record
    carries -- the value it sets, and the name it looks something up by -- is checked
    against the printable-text rule (:mod:`engine.config.text`) before anything else, so
    no command, document or form can record a control character, and no refusal quotes
    one back to a terminal.
    """

    #: How a field is named in a refusal ("policy name"), when not after the field itself.
    labels: ClassVar[Mapping[str, str]] = {}
    #: Fields whose text may hold line breaks (PEM certificates).
    multiline: ClassVar[frozenset[str]] = frozenset()
    #: What a refusal raises (account changes raise their own kind).
    error: ClassVar[type[ConfigError]] = ConfigError
    #: Whether the change edits the configuration document.  A session leaves out such a
    #: change when the document comes out the same (it would change nothing); changes to
    #: state kept elsewhere (user accounts) say False and are always kept.
    edits_config: ClassVar[bool] = True

    def apply(self, config: Config) -> None:
        """Refuse bad text, then make the edit."""
        self.check_text()
        self.edit(config)

    def check_text(self) -> None:
        """Every string field (and every string in a tuple field) is printable text."""
        for item in dataclasses.fields(self):  # type: ignore[arg-type]  # subclasses are dataclasses
            value = getattr(self, item.name)
            texts = value if isinstance(value, tuple | list) else (value,)
            for text in texts:
                if isinstance(text, str):
                    self._check_one(item.name, text)

    def _check_one(self, name: str, text: str) -> None:
        what = self.labels.get(name, name.replace("_", " "))
        allow = "\r\n" if name in self.multiline else ""
        try:
            check_text(text, what, allow=allow)
        except InvalidValue as exc:
            raise self.error(str(exc)) from None

    def edit(self, config: Config) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


#: Field names of the per-policy changes, as a refusal names them.
_POLICY_LABELS = {"name": "policy name", "new_name": "policy name", "senders": "member",
                  "recipients": "member", "custom_address": "Custom Message Intake Address"}


def _checked(check: Callable[..., T], value: object, *args: object) -> T:
    """Run a value check; its InvalidValue becomes the ConfigError that refuses the change."""
    try:
        return check(value, *args)
    except InvalidValue as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class SetHostname(Change):
    hostname: str

    def edit(self, config: Config) -> None:
        config.hostname = _checked(check_hostname, self.hostname)

    def describe(self) -> str:
        return f"hostname: {self.hostname}"


@dataclass(frozen=True)
class SetTdc(Change):
    """Enable (with the Default Message Intake Address) or disable the connector."""

    labels = {"intake_address": "Default Message Intake Address"}

    enabled: bool
    intake_address: str | None = None

    def edit(self, config: Config) -> None:
        if self.intake_address is not None:
            config.tdc.intake_address = _checked(check_email_address, self.intake_address)
        if self.enabled and not config.tdc.intake_address:
            raise ConfigError("You must enter a Default Message Intake Address.")
        config.tdc.enabled = self.enabled

    def describe(self) -> str:
        if not self.enabled:
            return "Threat Defense Connector: disabled"
        return f"Threat Defense Connector: enabled, intake address {self.intake_address}"


@dataclass(frozen=True)
class AddPolicy(Change):
    """Insert a new policy at a 1-based *position* (None: just above DEFAULT)."""

    labels = _POLICY_LABELS

    direction: Direction
    name: str
    senders: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    position: int | None = None

    def edit(self, config: Config) -> None:
        table = config.policies(self.direction)
        name = _checked(check_policy_name, self.name)
        if table.find(name) is not None:
            raise ConfigError(f'There is already a policy named "{table.get(name).name}".')
        if not self.senders and not self.recipients:
            raise ConfigError("You must enter at least one member.")
        policy = MailPolicy(
            name,
            senders=[_checked(check_member, m) for m in self.senders],
            recipients=[_checked(check_member, m) for m in self.recipients],
        )
        last = len(table.policies)  # the DEFAULT row's 1-based position
        position = last if self.position is None else self.position
        if not 1 <= position <= last:
            raise ConfigError(f"The position must be between 1 and {last - 1 or 1}.")
        table.policies.insert(position - 1, policy)

    def describe(self) -> str:
        members = ", ".join([*self.senders, *self.recipients])
        return f"{self.direction.label} Mail Policies: new policy {self.name} ({members})"


def _editable(config: Config, direction: Direction, name: str) -> MailPolicy:
    policy = config.policies(direction).get(name)
    if policy.is_default:
        raise ConfigError("The DEFAULT policy cannot be changed this way.")
    return policy


@dataclass(frozen=True)
class DeletePolicy(Change):
    labels = _POLICY_LABELS

    direction: Direction
    name: str

    def edit(self, config: Config) -> None:
        policy = _editable(config, self.direction, self.name)
        config.policies(self.direction).policies.remove(policy)

    def describe(self) -> str:
        return f"{self.direction.label} Mail Policies: deleted policy {self.name}"


@dataclass(frozen=True)
class RenamePolicy(Change):
    labels = _POLICY_LABELS

    direction: Direction
    name: str
    new_name: str

    def edit(self, config: Config) -> None:
        policy = _editable(config, self.direction, self.name)
        new_name = _checked(check_policy_name, self.new_name)
        other = config.policies(self.direction).find(new_name)
        if other is not None and other is not policy:
            raise ConfigError("There is already a policy with the new name.")
        policy.name = new_name

    def describe(self) -> str:
        return f"{self.direction.label} Mail Policies: renamed {self.name} to {self.new_name}"


@dataclass(frozen=True)
class MovePolicy(Change):
    labels = _POLICY_LABELS

    direction: Direction
    name: str
    position: int

    def edit(self, config: Config) -> None:
        table = config.policies(self.direction)
        policy = _editable(config, self.direction, self.name)
        last = len(table.policies) - 1  # positions above DEFAULT
        if not 1 <= self.position <= last:
            raise ConfigError(
                f"The position must be between 1 and {last}: a policy cannot take the "
                "position of default entry."
            )
        table.policies.remove(policy)
        table.policies.insert(self.position - 1, policy)

    def describe(self) -> str:
        return f"{self.direction.label} Mail Policies: moved {self.name} to position {self.position}"


@dataclass(frozen=True)
class AddMember(Change):
    labels = _POLICY_LABELS

    direction: Direction
    name: str
    member: str
    sender: bool = False

    def edit(self, config: Config) -> None:
        policy = _editable(config, self.direction, self.name)
        member = _checked(check_member, self.member)
        if member in policy.members:
            raise ConfigError(f"{member} is already a member of this policy.")
        (policy.senders if self.sender else policy.recipients).append(member)

    def describe(self) -> str:
        side = "sender" if self.sender else "recipient"
        return f"{self.direction.label} Mail Policies: {self.name}: added {side} {self.member}"


@dataclass(frozen=True)
class RemoveMember(Change):
    labels = _POLICY_LABELS

    direction: Direction
    name: str
    member: str

    def edit(self, config: Config) -> None:
        policy = _editable(config, self.direction, self.name)
        member = self.member.strip().lower()
        if member not in policy.members:
            raise ConfigError(f"{self.member} is not a member of this policy.")
        if len(policy.members) == 1:
            raise ConfigError("There is only one member in the policy.")
        for side in (policy.senders, policy.recipients):
            if member in side:
                side.remove(member)

    def describe(self) -> str:
        return f"{self.direction.label} Mail Policies: {self.name}: removed member {self.member}"


@dataclass(frozen=True)
class SetThreatDefense(Change):
    """A policy's THREATDEFENSE choice: disabled, the default or a custom intake address."""

    labels = _POLICY_LABELS

    direction: Direction
    name: str
    mode: TdcMode
    custom_address: str = ""

    def edit(self, config: Config) -> None:
        if self.direction is not Direction.INCOMING:
            raise ConfigError("The Threat Defense Connector journals incoming mail only.")
        policy = config.policies(self.direction).get(self.name)
        address = ""
        if self.mode is TdcMode.CUSTOM:
            address = _checked(check_email_address, self.custom_address)
        policy.threat_defense = ThreatDefense(self.mode, address)

    def describe(self) -> str:
        setting = ThreatDefense(self.mode, self.custom_address).describe()
        return f"{self.direction.label} Mail Policies: {self.name}: Threat Defense Connector {setting}"


@dataclass(frozen=True)
class ReplaceConfig(Change):
    """Take a whole configuration (``loadconfig``, ``rollbackconfig``)."""

    labels = {"reason": "description"}

    config: Config
    reason: str

    def edit(self, config: Config) -> None:
        problems = self.config.problems()
        if problems:
            raise ConfigError("; ".join(problems))
        replacement = self.config.copy()
        for name in vars(replacement):
            setattr(config, name, getattr(replacement, name))

    def describe(self) -> str:
        return self.reason


# -- the listener (listenerconfig) ---------------------------------------------------


@dataclass(frozen=True)
class SetListenerName(Change):
    labels = {"name": "listener name"}

    name: str

    def edit(self, config: Config) -> None:
        config.listener.name = _checked(check_listener_name, self.name)

    def describe(self) -> str:
        return f"listener: name {self.name}"


@dataclass(frozen=True)
class SetListenerAddress(Change):
    """Where the SMTP listener listens, ``HOST:PORT``."""

    address: str

    def edit(self, config: Config) -> None:
        endpoint = _checked(Endpoint.parse, self.address)
        endpoint = Endpoint(_checked(values.check_host, endpoint.host), endpoint.port)
        if endpoint == config.ssh_listener:
            raise ConfigError(f"{endpoint} is the SSH server's address: choose another port.")
        config.listener.address = endpoint

    def describe(self) -> str:
        return f"listener: address {self.address}"


@dataclass(frozen=True)
class SetMaxMessageSize(Change):
    size: int

    def edit(self, config: Config) -> None:
        config.listener.max_message_size = _checked(values.check_message_size, self.size)

    def describe(self) -> str:
        return f"listener: maximum message size {values.format_size(self.size)}"


@dataclass(frozen=True)
class SetOfferTls(Change):
    """Whether the listener offers STARTTLS to connecting hosts."""

    offer: bool

    def edit(self, config: Config) -> None:
        config.listener.offer_tls = self.offer

    def describe(self) -> str:
        return f"listener: STARTTLS {'offered' if self.offer else 'not offered'}"


@dataclass(frozen=True)
class AddAcceptedDomain(Change):
    """A recipient access table entry: accept mail for this domain (``.domain``: sub-domains)."""

    domain: str

    def edit(self, config: Config) -> None:
        domain = _checked(values.check_accepted_domain, self.domain)
        if domain in config.listener.accepted_domains:
            raise ConfigError(f"{domain} is already in the recipient access table.")
        config.listener.accepted_domains.append(domain)

    def describe(self) -> str:
        return f"listener: recipient access table: accept {self.domain}"


@dataclass(frozen=True)
class RemoveAcceptedDomain(Change):
    domain: str

    def edit(self, config: Config) -> None:
        domain = self.domain.strip().lower().rstrip(".")  # as check_accepted_domain keeps it
        if domain not in config.listener.accepted_domains:
            raise ConfigError(f"{self.domain.strip()} is not in the recipient access table.")
        config.listener.accepted_domains.remove(domain)

    def describe(self) -> str:
        return f"listener: recipient access table: removed {self.domain}"


@dataclass(frozen=True)
class AddRelayHost(Change):
    """A host access table RELAYLIST entry: this address or network may relay (outgoing mail)."""

    labels = {"entry": "RELAYLIST entry"}

    entry: str

    def edit(self, config: Config) -> None:
        entry = _checked(values.check_relay_host, self.entry)
        if entry in config.listener.relay_hosts:
            raise ConfigError(f"{entry} is already in the RELAYLIST sender group.")
        config.listener.relay_hosts.append(entry)

    def describe(self) -> str:
        return f"listener: host access table: RELAYLIST {self.entry}"


@dataclass(frozen=True)
class RemoveRelayHost(Change):
    labels = {"entry": "RELAYLIST entry"}

    entry: str

    def edit(self, config: Config) -> None:
        try:
            entry = values.check_relay_host(self.entry)
        except InvalidValue:
            entry = self.entry.strip()
        if entry not in config.listener.relay_hosts:
            raise ConfigError(f"{self.entry.strip()} is not in the RELAYLIST sender group.")
        config.listener.relay_hosts.remove(entry)

    def describe(self) -> str:
        return f"listener: host access table: removed {self.entry} from RELAYLIST"


# -- SMTP routes (smtproutes) ----------------------------------------------------------


def _route(config: Config, domain: str) -> SmtpRoute:
    key = _checked(values.check_route_domain, domain)
    for route in config.smtp_routes:
        if route.domain == key:
            return route
    raise ConfigError(f'There is no route for "{domain.strip()}".')


@dataclass(frozen=True)
class AddRoute(Change):
    """A permanent route for a domain, ``.domain`` or ``ALL`` (the default route)."""

    labels = {"destinations": "destination"}

    domain: str
    destinations: tuple[str, ...]

    def edit(self, config: Config) -> None:
        domain = _checked(values.check_route_domain, self.domain)
        if any(route.domain == domain for route in config.smtp_routes):
            if domain == values.ROUTE_ALL:
                raise ConfigError("There is already a default route set.")
            raise ConfigError(f"The value {domain} is already in the routing table.")
        if len(config.smtp_routes) >= values.MAX_ROUTES:
            raise ConfigError(f"There is a maximum of {values.MAX_ROUTES} routes.")
        destinations = _checked(values.check_route_destinations, list(self.destinations))
        config.smtp_routes.append(SmtpRoute(domain, destinations))

    def describe(self) -> str:
        return f"SMTP routes: new route {self.domain} -> {', '.join(self.destinations)}"


@dataclass(frozen=True)
class EditRoute(Change):
    """Replace a route's destinations (the dialog's ADD/REPLACE/REMOVE end up here)."""

    labels = {"destinations": "destination"}

    domain: str
    destinations: tuple[str, ...]

    def edit(self, config: Config) -> None:
        route = _route(config, self.domain)
        route.destinations = _checked(values.check_route_destinations, list(self.destinations))

    def describe(self) -> str:
        return f"SMTP routes: {self.domain} -> {', '.join(self.destinations)}"


@dataclass(frozen=True)
class DeleteRoute(Change):
    domain: str

    def edit(self, config: Config) -> None:
        config.smtp_routes.remove(_route(config, self.domain))

    def describe(self) -> str:
        return f"SMTP routes: deleted the route for {self.domain}"


@dataclass(frozen=True)
class ClearRoutes(Change):
    def edit(self, config: Config) -> None:
        config.smtp_routes.clear()

    def describe(self) -> str:
        return "SMTP routes: all routes removed"


# -- destination controls (destconfig) -------------------------------------------------


@dataclass(frozen=True)
class SetDestination(Change):
    """Create (``create``) or edit the limits of one destination domain or DEFAULT.

    Fields left as None keep their value; a new entry starts from the DEFAULT entry's
    values, as an AsyncOS entry inherits what it does not set.
    """

    domain: str
    create: bool = False
    max_concurrency: int | None = None
    max_messages_per_connection: int | None = None
    tls: TlsMode | None = None

    def edit(self, config: Config) -> None:
        domain = _checked(values.check_destination_domain, self.domain)
        entry = self._entry(config, domain)
        if self.max_concurrency is not None:
            entry.max_concurrency = _checked(values.check_int, self.max_concurrency,
                                             values.DESTINATION_CONCURRENCY)
        if self.max_messages_per_connection is not None:
            entry.max_messages_per_connection = _checked(
                values.check_int, self.max_messages_per_connection, values.MESSAGES_PER_CONNECTION)
        if self.tls is not None:
            entry.tls = TlsMode(self.tls)

    def _entry(self, config: Config, domain: str) -> DestinationControl:
        existing = {entry.domain: entry for entry in config.destinations}
        if not self.create:
            if domain not in existing:
                raise ConfigError(f"{domain} was not found in the destination control table.")
            return existing[domain]
        if domain == values.DEFAULT_DESTINATION:
            raise ConfigError("The DEFAULT entry always exists: change it with DEFAULT.")
        if domain in existing:
            raise ConfigError(f"{domain} is already in the destination control table.")
        entry = dataclasses.replace(config.destination(values.DEFAULT_DESTINATION), domain=domain)
        config.destinations.append(entry)
        return entry

    def describe(self) -> str:
        parts = [f"concurrency {self.max_concurrency}" if self.max_concurrency is not None else "",
                 f"messages per connection {self.max_messages_per_connection}"
                 if self.max_messages_per_connection is not None else "",
                 f"TLS {TlsMode(self.tls).value}" if self.tls is not None else ""]
        verb = "new entry" if self.create else "edited"
        return f"Destination controls: {verb} {self.domain}: " + \
            (", ".join(p for p in parts if p) or "defaults")


@dataclass(frozen=True)
class DeleteDestination(Change):
    domain: str

    def edit(self, config: Config) -> None:
        domain = _checked(values.check_destination_domain, self.domain)
        if domain == values.DEFAULT_DESTINATION:
            raise ConfigError("The DEFAULT entry cannot be deleted.")
        remaining = [entry for entry in config.destinations if entry.domain != domain]
        if len(remaining) == len(config.destinations):
            raise ConfigError(f"{domain} was not found in the destination control table.")
        config.destinations[:] = remaining

    def describe(self) -> str:
        return f"Destination controls: deleted {self.domain}"


# -- delivery, DNS and the connector's timers ------------------------------------------


def _set_numbers(target: object, settings: dict[str, tuple[object, tuple]],
                 check: Callable[..., float]) -> None:
    """Check and set every attribute given (not None) on *target*."""
    for name, (value, bounds) in settings.items():
        if value is not None:
            setattr(target, name, _checked(check, value, bounds))


def _describe_numbers(prefix: str, settings: dict[str, float | None]) -> str:
    given = [f"{name.replace('_', ' ')} {values.format_number(value)}"
             for name, value in settings.items() if value is not None]
    return f"{prefix}: {', '.join(given)}"


@dataclass(frozen=True)
class SetDelivery(Change):
    """``deliveryconfig``: fields left as None keep their value."""

    max_concurrency: int | None = None
    initial_retry: float | None = None
    max_retry: float | None = None
    max_queue_time: float | None = None

    def edit(self, config: Config) -> None:
        delivery = config.delivery
        _set_numbers(delivery, {"max_concurrency": (self.max_concurrency, values.SYSTEM_CONCURRENCY)},
                     values.check_int)
        _set_numbers(delivery, {"initial_retry": (self.initial_retry, values.RETRY_SECONDS),
                                "max_retry": (self.max_retry, values.RETRY_SECONDS),
                                "max_queue_time": (self.max_queue_time, values.QUEUE_SECONDS)},
                     values.check_seconds)
        if delivery.initial_retry > delivery.max_retry:
            raise ConfigError(INITIAL_ABOVE_MAX)

    def describe(self) -> str:
        return _describe_numbers("Delivery settings", dataclasses.asdict(self))


@dataclass(frozen=True)
class SetDns(Change):
    """``dnsconfig``: *servers* ``()`` means the host's own resolvers; None keeps them."""

    labels = {"servers": "DNS server"}

    servers: tuple[str, ...] | None = None
    timeout: float | None = None

    def edit(self, config: Config) -> None:
        if self.servers is not None:
            servers = [Endpoint(*_checked(values.check_dns_server, text)) for text in self.servers]
            for number, server in enumerate(servers):
                if server in servers[:number]:
                    raise ConfigError(f"The DNS server {server} is entered more than once.")
            config.dns.servers = servers
        if self.timeout is not None:
            config.dns.timeout = _checked(values.check_seconds, self.timeout, values.DNS_TIMEOUT)

    def describe(self) -> str:
        parts = []
        if self.servers is not None:
            parts.append(f"servers {', '.join(self.servers)}" if self.servers
                         else "use the host's resolvers")
        if self.timeout is not None:
            parts.append(f"timeout {values.format_number(self.timeout)} s")
        return "DNS: " + ", ".join(parts)


@dataclass(frozen=True)
class SetCliTimeout(Change):
    """``adminaccessconfig`` TIMEOUT: the CLI session inactivity timeout, in minutes."""

    minutes: int

    def edit(self, config: Config) -> None:
        config.admin_access.cli_timeout = _checked(values.check_int, self.minutes,
                                                   values.CLI_TIMEOUT_MINUTES)

    def describe(self) -> str:
        return f"CLI session timeout: {self.minutes} minutes"


@dataclass(frozen=True)
class SetTdcTimers(Change):
    """The connector's timers and connection limits; None keeps a value."""

    retry_delay: float | None = None
    attempt_timeout: float | None = None
    idle_timeout: float | None = None
    queue_limit: float | None = None
    time_scale: float | None = None
    min_connections: int | None = None
    max_connections: int | None = None

    def edit(self, config: Config) -> None:
        timers = config.tdc.timers
        _set_numbers(timers, {"retry_delay": (self.retry_delay, values.TDC_RETRY_DELAY),
                              "attempt_timeout": (self.attempt_timeout, values.TDC_SECONDS),
                              "idle_timeout": (self.idle_timeout, values.TDC_SECONDS),
                              "queue_limit": (self.queue_limit, values.TDC_SECONDS),
                              "time_scale": (self.time_scale, values.TIME_SCALE)},
                     values.check_seconds)
        _set_numbers(timers, {"min_connections": (self.min_connections, values.TDC_CONNECTIONS),
                              "max_connections": (self.max_connections, values.TDC_CONNECTIONS)},
                     values.check_int)
        if timers.min_connections > timers.max_connections:
            raise ConfigError(
                f"The minimum number of connections ({timers.min_connections}) must not be "
                f"above the maximum ({timers.max_connections})."
            )

    def describe(self) -> str:
        return _describe_numbers("Threat Defense Connector timers", dataclasses.asdict(self))


# -- per-policy scanning (policyconfig > EDIT > ANTISPAM / ANTIVIRUS) -------------------

#: The scanning services a policy has, by keyword, with the name AsyncOS shows.
SCAN_SERVICES = {"antispam": "Anti-Spam", "antivirus": "Anti-Virus"}


@dataclass(frozen=True)
class SetScan(Change):
    """Enable or disable a policy's ANTISPAM or ANTIVIRUS, or set the action for positives
    (deliver with a subject tag, drop, bounce); None keeps a value."""

    labels = _POLICY_LABELS

    direction: Direction
    name: str
    service: str
    enabled: bool | None = None
    action: ScanAction | None = None
    subject_tag: str | None = None

    def edit(self, config: Config) -> None:
        if self.service not in SCAN_SERVICES:
            raise ConfigError(f"Unknown scanning service {self.service!r}.")
        policy = config.policies(self.direction).get(self.name)
        current: ScanSetting = getattr(policy, self.service)
        updated = ScanSetting(
            current.enabled if self.enabled is None else self.enabled,
            current.action if self.action is None else ScanAction(self.action),
            current.subject_tag if self.subject_tag is None
            else _checked(values.check_subject_tag, self.subject_tag),
        )
        setattr(policy, self.service, updated)

    def describe(self) -> str:
        parts = []
        if self.enabled is not None:
            parts.append("enabled" if self.enabled else "disabled")
        if self.action is not None:
            parts.append(f"positives: {ScanAction(self.action).value}")
        if self.subject_tag is not None:
            parts.append(f'subject tag "{self.subject_tag}"')
        return (f"{self.direction.label} Mail Policies: {self.name}: "
                f"{SCAN_SERVICES.get(self.service, self.service)} {', '.join(parts)}")


# -- trusted certificate authorities (certconfig) and lab addressing (labconfig) --------


def _certificate_subject(pem: str) -> str:
    try:
        return values.certificate_info(pem).subject or "(empty subject)"
    except ValueError:
        return "(unreadable certificate)"


@dataclass(frozen=True)
class AddTrustedCa(Change):
    """Trust one more certificate authority (one PEM certificate) for outbound TLS."""

    labels = {"pem": "certificate"}
    multiline = frozenset({"pem"})

    pem: str

    def edit(self, config: Config) -> None:
        pem = _checked(values.check_certificate, self.pem)
        if pem in config.trusted_cas:
            raise ConfigError(f"The certificate {_certificate_subject(pem)} is already trusted.")
        config.trusted_cas.append(pem)

    def describe(self) -> str:
        return f"Trusted certificate authorities: added {_certificate_subject(self.pem)}"


@dataclass(frozen=True)
class RemoveTrustedCa(Change):
    """Identified by the certificate itself, not its number: another session's commit
    may have renumbered the list by the time this one is replayed."""

    labels = {"pem": "certificate"}
    multiline = frozenset({"pem"})

    pem: str

    def edit(self, config: Config) -> None:
        pem = _checked(values.check_certificate, self.pem)
        if pem not in config.trusted_cas:
            raise ConfigError(f"The certificate {_certificate_subject(pem)} is not in the list.")
        config.trusted_cas.remove(pem)

    def describe(self) -> str:
        return f"Trusted certificate authorities: removed {_certificate_subject(self.pem)}"


@dataclass(frozen=True)
class SetHostPort(Change):
    """Lab addressing (SPEC.md §4 ruling 7): deliveries to *host* go to this loopback port."""

    host: str
    port: int

    def edit(self, config: Config) -> None:
        host = _checked(values.check_lab_host, self.host)
        config.host_ports[host] = _checked(values.check_port, self.port)

    def describe(self) -> str:
        return f"Lab host ports: {self.host} -> port {self.port}"


@dataclass(frozen=True)
class RemoveHostPort(Change):
    host: str

    def edit(self, config: Config) -> None:
        host = self.host.strip().rstrip(".").lower()
        if host not in config.host_ports:
            raise ConfigError(f"{self.host.strip()} has no lab port.")
        del config.host_ports[host]

    def describe(self) -> str:
        return f"Lab host ports: removed {self.host}"


def replay(base: Config, changes: list[Change]) -> Config:
    """Apply *changes* in order to a copy of *base*; the first failure stops the replay."""
    result = base.copy()
    for change in changes:
        change.apply(result)
    return result


__all__ = [
    "DEFAULT_POLICY",
    "SCAN_SERVICES",
    "AddAcceptedDomain",
    "AddMember",
    "AddPolicy",
    "AddRelayHost",
    "AddRoute",
    "AddTrustedCa",
    "Change",
    "ClearRoutes",
    "DeleteDestination",
    "DeletePolicy",
    "DeleteRoute",
    "EditRoute",
    "MovePolicy",
    "RemoveAcceptedDomain",
    "RemoveHostPort",
    "RemoveMember",
    "RemoveRelayHost",
    "RemoveTrustedCa",
    "RenamePolicy",
    "ReplaceConfig",
    "SetCliTimeout",
    "SetDelivery",
    "SetDestination",
    "SetDns",
    "SetHostPort",
    "SetHostname",
    "SetListenerAddress",
    "SetListenerName",
    "SetMaxMessageSize",
    "SetOfferTls",
    "SetScan",
    "SetTdc",
    "SetTdcTimers",
    "SetThreatDefense",
    "replay",
]
