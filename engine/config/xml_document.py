"""The configuration as an XML document (``showconfig``, ``saveconfig``, ``loadconfig``).

The same document is what the store keeps for every committed version, so there is
one serialisation to trust: everything in :class:`~engine.config.model.Config` is written,
and reading it back gives an equal configuration.  Reading is strict and
all-or-nothing: every problem is collected and reported together, and nothing is
returned unless the whole document is right.  Elements left out keep their factory
values, so a short hand-written document (examples/minimal-config.xml) loads.

Values are read into their canonical form (the form the commands store: domains in
lower case, ``USEDNS`` in upper case, PEM re-encoded), so a document typed by hand
and the same document saved by the appliance describe the same configuration.

Tests: tests/engine/config/test_xml_document.py.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any, TypeVar

from engine.config import values
from engine.config.addresses import InvalidValue
from engine.config.model import (
    AdminAccess,
    Config,
    DeliverySettings,
    DestinationControl,
    Direction,
    DnsSettings,
    Endpoint,
    Listener,
    MailPolicy,
    PolicyTable,
    ScanAction,
    ScanSetting,
    SmtpRoute,
    TdcMode,
    TdcSettings,
    TdcTimers,
    ThreatDefense,
    TlsMode,
)
from engine.config.text import check_text

PRODUCT_COMMENT = " segcli configuration: Threat Defense Connector emulator (AsyncOS 15.5) "
T = TypeVar("T")

#: Element names of the numeric settings, with their attribute names in the model.
_TIMER_TAGS = ("retry_delay", "attempt_timeout", "idle_timeout", "queue_limit", "time_scale")
_TIMER_COUNT_TAGS = ("min_connections", "max_connections")
_DELIVERY_SECONDS = ("initial_retry", "max_retry", "max_queue_time")
_SCAN_TAGS = ("scan_enabled", "scan_action", "subject_tag")


class ConfigXmlError(ValueError):
    """The document is not a configuration this appliance can load."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# -- writing ---------------------------------------------------------------------------


def to_xml(config: Config) -> str:
    root = ET.Element("config")
    root.append(ET.Comment(PRODUCT_COMMENT))
    _sub(root, "hostname", config.hostname)
    _listener_to_xml(ET.SubElement(root, "listener"), config.listener)
    _sub(root, "ssh_address", str(config.ssh_listener))
    _sub(root, "https_address", str(config.https_listener))
    _tdc_to_xml(ET.SubElement(root, "threat_defense_connector"), config.tdc)
    routes = ET.SubElement(root, "smtp_routes")
    for route in config.smtp_routes:
        node = ET.SubElement(routes, "route")
        _sub(node, "route_domain", route.domain)
        for destination in route.destinations:
            _sub(node, "destination", destination)
    controls = ET.SubElement(root, "destination_controls")
    for entry in config.destinations:
        _destination_to_xml(ET.SubElement(controls, "destination"), entry)
    _delivery_to_xml(ET.SubElement(root, "delivery"), config.delivery)
    dns = ET.SubElement(root, "dns")
    _list(dns, "dns_servers", "server", [str(server) for server in config.dns.servers])
    _sub(dns, "dns_timeout", values.format_number(config.dns.timeout))
    access = ET.SubElement(root, "admin_access")
    _sub(access, "cli_timeout", str(config.admin_access.cli_timeout))
    _list(root, "trusted_cas", "certificate", config.trusted_cas)
    ports = ET.SubElement(root, "lab_host_ports")
    for host, port in sorted(config.host_ports.items()):
        node = ET.SubElement(ports, "host_port")
        _sub(node, "host", host)
        _sub(node, "port", str(port))
    for direction in Direction:
        table = ET.SubElement(root, f"{direction.value}_policies")
        for policy in config.policies(direction).policies:
            _policy_to_xml(ET.SubElement(table, "policy"), policy)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    node = ET.SubElement(parent, tag)
    node.text = text
    return node


def _list(parent: ET.Element, tag: str, item: str, entries: list[str]) -> None:
    node = ET.SubElement(parent, tag)
    for entry in entries:
        _sub(node, item, entry)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _listener_to_xml(node: ET.Element, listener: Listener) -> None:
    _sub(node, "listener_name", listener.name)
    _sub(node, "listener_address", str(listener.address))
    _list(node, "rcpt_access", "domain", listener.accepted_domains)
    _list(node, "relay_list", "relay_host", listener.relay_hosts)
    _sub(node, "max_message_size", str(listener.max_message_size))
    _sub(node, "offer_tls", _flag(listener.offer_tls))


def _tdc_to_xml(node: ET.Element, tdc: TdcSettings) -> None:
    _sub(node, "tdc_enabled", _flag(tdc.enabled))
    _sub(node, "tdc_intake_address", tdc.intake_address)
    timers = ET.SubElement(node, "tdc_timers")
    for tag in _TIMER_TAGS:
        _sub(timers, tag, values.format_number(getattr(tdc.timers, tag)))
    for tag in _TIMER_COUNT_TAGS:
        _sub(timers, tag, str(getattr(tdc.timers, tag)))


def _destination_to_xml(node: ET.Element, entry: DestinationControl) -> None:
    _sub(node, "destination_domain", entry.domain)
    _sub(node, "max_concurrency", str(entry.max_concurrency))
    _sub(node, "max_messages_per_connection", str(entry.max_messages_per_connection))
    _sub(node, "tls", entry.tls.value)


def _delivery_to_xml(node: ET.Element, delivery: DeliverySettings) -> None:
    _sub(node, "max_concurrency", str(delivery.max_concurrency))
    for tag in _DELIVERY_SECONDS:
        _sub(node, tag, values.format_number(getattr(delivery, tag)))


def _policy_to_xml(node: ET.Element, policy: MailPolicy) -> None:
    _sub(node, "policy_name", policy.name)
    for tag, members in (("policy_senders", policy.senders), ("policy_recipients", policy.recipients)):
        _list(node, tag, "member", members)
    _sub(node, "threat_defense", policy.threat_defense.mode.value)
    if policy.threat_defense.mode is TdcMode.CUSTOM:
        _sub(node, "threat_defense_address", policy.threat_defense.custom_address)
    for tag, scan in (("antispam", policy.antispam), ("antivirus", policy.antivirus)):
        service = ET.SubElement(node, tag)
        _sub(service, "scan_enabled", _flag(scan.enabled))
        _sub(service, "scan_action", scan.action.value)
        _sub(service, "subject_tag", scan.subject_tag)


# -- reading ---------------------------------------------------------------------------


def from_xml(text: str | bytes) -> Config:
    """Parse and validate a whole document, or raise ConfigXmlError listing every problem."""
    if not text.strip():
        raise ConfigXmlError(["No data to load."])
    if isinstance(text, str):
        _check_encodable(text)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, column = exc.position
        raise ConfigXmlError(
            [f"Parsing failed: not well-formed XML at line {line}, column {column + 1}."]
        ) from None
    except LookupError:  # the declaration names an encoding Python does not know
        raise ConfigXmlError(
            [f"Parsing failed: the encoding {_declared_encoding(text)} is unknown."]
        ) from None
    except ValueError:  # expat reads no multi-byte encoding but UTF-8 (UTF-16 it detects)
        raise ConfigXmlError([f"Parsing failed: the encoding {_declared_encoding(text)} cannot be "
                              "read (use UTF-8)."]) from None
    reader = _Reader()
    config = reader.read(root)
    problems = reader.problems or config.problems()
    if problems:
        raise ConfigXmlError(problems)
    return config


_ENCODING = re.compile(r"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")


def _declared_encoding(text: str | bytes) -> str:
    """The encoding the XML declaration names, for a message (only a plain name is quoted)."""
    head = text[:200].decode("latin-1") if isinstance(text, bytes) else text[:200]
    match = _ENCODING.match(head)
    return match[1] if match else "declared"


def _check_encodable(text: str) -> None:
    """A pasted document is parsed as UTF-8: an unpaired surrogate (not text at all, but a
    Python string can hold one) would otherwise fail deep in the parser."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise ConfigXmlError([f"Parsing failed: the unpaired surrogate U+{ord(text[exc.start]):04X} "
                              f"at line {line} is not text."]) from None


class _Reader:
    """Walks the tree once, noting problems instead of stopping at the first."""

    _TOP = ("hostname", "listener", "smtp_address", "ssh_address", "https_address",
            "threat_defense_connector", "smtp_routes", "destination_controls", "delivery", "dns",
            "admin_access",
            "trusted_cas", "lab_host_ports", "incoming_policies", "outgoing_policies")

    def __init__(self) -> None:
        self.problems: list[str] = []

    def read(self, root: ET.Element) -> Config:
        config = Config()
        if root.tag != "config":
            self.problems.append(f"Parsing failed: the document element is <{root.tag}>, not <config>.")
            return config
        self._only(root, self._TOP, "<config>")
        config.hostname = self._text(root, "hostname", required=True) or config.hostname
        config.listener = self._listener(root)
        config.ssh_listener = self._endpoint(root, "ssh_address", config.ssh_listener)
        config.https_listener = self._endpoint(root, "https_address", config.https_listener)
        config.tdc = self._tdc(root.find("threat_defense_connector"))
        config.smtp_routes = self._routes(root.find("smtp_routes"))
        config.destinations = self._destinations(root.find("destination_controls"))
        config.delivery = self._delivery(root.find("delivery"))
        config.dns = self._dns(root.find("dns"))
        config.admin_access = self._admin_access(root.find("admin_access"))
        config.trusted_cas = self._entries(root, "trusted_cas", "certificate",
                                           values.check_certificate, allow="\r\n")
        config.host_ports = self._host_ports(root.find("lab_host_ports"))
        config.incoming = self._table(root, Direction.INCOMING)
        config.outgoing = self._table(root, Direction.OUTGOING)
        return config

    # -- generic helpers -----------------------------------------------------------
    def _only(self, node: ET.Element, allowed: tuple[str, ...], where: str) -> None:
        """*node* holds elements only: each one known, none twice unless it is a list item.

        Text beside them would be dropped without a word (``<rcpt_access>example.com
        </rcpt_access>`` would load as an empty table), so it is a problem too."""
        if _stray_text(node):
            self.problems.append(f"{where} must hold elements, not text.")
        for child in node:
            if isinstance(child.tag, str) and child.tag not in allowed:
                self.problems.append(f"Unknown element <{child.tag}> in {where}.")
        for tag in allowed:
            if len(node.findall(tag)) > 1 and tag not in _REPEATABLE:
                self.problems.append(f"Element <{tag}> appears more than once in {where}.")

    def _text(self, node: ET.Element, tag: str, *, required: bool = False,
              may_be_empty: bool = False) -> str | None:
        """The value the child *tag* of *node* holds; None when the child is left out (a
        problem when *required*) or does not hold a value (see :meth:`_content`)."""
        child = node.find(tag)
        if child is None:
            if required:
                self.problems.append(f"Missing element <{tag}> in <{node.tag}>.")
            return None
        return self._content(child, f"<{node.tag}>", may_be_empty=may_be_empty)

    def _content(self, element: ET.Element, where: str, *, may_be_empty: bool = False,
                 allow: str = "") -> str | None:
        """The text of an element that holds one value, without surrounding white space.

        None, and the problem noted, when the element holds elements (the value would be
        lost), is empty (only a few values may be: *may_be_empty*) or holds text that is
        not printable (:mod:`engine.config.text`; *allow* names the control characters a
        value may hold, the line breaks of PEM text).  Only ASCII white space is stripped
        first, so a control character at either end is refused, not quietly dropped.
        """
        name = f"{where}/<{element.tag}>"
        if len(element):
            self.problems.append(f"{name} must hold a value, not elements "
                                 f"(found <{element[0].tag}>).")
            return None
        text = (element.text or "").strip(" \t\r\n")
        if not text and not may_be_empty:
            self.problems.append(f"{name} is empty.")
            return None
        try:
            return check_text(text, "value", allow=allow)
        except InvalidValue as exc:
            self.problems.append(f"{name}: {exc}")
            return None

    def _endpoint(self, node: ET.Element, tag: str, default: Endpoint) -> Endpoint:
        text = self._text(node, tag)
        return (self._parse(Endpoint.parse, text, f"<{tag}>") or default) if text else default

    def _parse(self, parse: Callable[..., T], text: str, where: str, *args: Any) -> T | None:
        try:
            return parse(text, *args)
        except (InvalidValue, ValueError) as exc:
            self.problems.append(f"{where}: {exc}")
            return None

    def _value(self, node: ET.Element | None, tag: str, parse: Callable[..., T], default: T,
               *args: Any, may_be_empty: bool = False) -> T:
        """An optional child parsed with *parse* (a config_values parser); the factory
        value when the element is left out, and a problem when it is wrong."""
        if node is None:
            return default
        text = self._text(node, tag, may_be_empty=may_be_empty)
        if text is None:
            return default
        result = self._parse(parse, text, f"<{node.tag}>/<{tag}>", *args)
        return default if result is None else result

    def _flag(self, node: ET.Element | None, tag: str, default: bool) -> bool:
        """``0`` or ``1``; left out, the factory value.  Empty or holding elements is a
        problem, never a quiet 0."""
        text = None if node is None else self._text(node, tag)
        if text is None:
            return default
        if text not in ("0", "1"):
            self.problems.append(f"<{tag}> must be 0 or 1, not {text!r}.")
            return default
        return text == "1"

    def _entries(self, parent: ET.Element, tag: str, item: str,
                 check: Callable[[str], str], *, allow: str = "") -> list[str]:
        """A list element (``<tag><item>..</item>...</tag>``), each entry canonical."""
        node = parent.find(tag)
        if node is None:
            return []
        self._only(node, (item,), f"<{tag}>")
        found = [self._parse(check, text, f"<{tag}>") for text in self._items(node, item, allow)]
        return [entry for entry in found if entry is not None]

    def _items(self, node: ET.Element, item: str, allow: str = "") -> list[str]:
        """The values of the *item* children of a list element; problems noted."""
        texts = [self._content(child, f"<{node.tag}>", allow=allow) for child in node.findall(item)]
        return [text for text in texts if text is not None]

    # -- sections ------------------------------------------------------------------
    def _listener(self, root: ET.Element) -> Listener:
        """``<listener>``; the older ``<smtp_address>`` is still read as its address."""
        listener = Listener()
        node = root.find("listener")
        if node is not None:
            self._only(node, ("listener_name", "listener_address", "rcpt_access",
                              "relay_list", "max_message_size", "offer_tls"), "<listener>")
            listener.name = self._text(node, "listener_name") or listener.name
            listener.address = self._endpoint(node, "listener_address", listener.address)
            listener.accepted_domains = self._entries(node, "rcpt_access", "domain",
                                                      values.check_accepted_domain)
            listener.relay_hosts = self._entries(node, "relay_list", "relay_host",
                                                 values.check_relay_host)
            listener.max_message_size = self._value(node, "max_message_size", values.parse_size,
                                                    listener.max_message_size)
            listener.offer_tls = self._flag(node, "offer_tls", listener.offer_tls)
        if root.find("smtp_address") is not None:
            old = self._endpoint(root, "smtp_address", listener.address)
            if node is not None and node.find("listener_address") is not None \
                    and old != listener.address:
                self.problems.append("<smtp_address> and <listener>/<listener_address> disagree: "
                                     "keep only <listener_address>.")
            listener.address = old
        return listener

    def _tdc(self, node: ET.Element | None) -> TdcSettings:
        if node is None:
            return TdcSettings()
        self._only(node, ("tdc_enabled", "tdc_intake_address", "tdc_timers"),
                   "<threat_defense_connector>")
        return TdcSettings(self._flag(node, "tdc_enabled", False),
                           self._text(node, "tdc_intake_address", may_be_empty=True) or "",
                           self._timers(node.find("tdc_timers")))

    def _timers(self, node: ET.Element | None) -> TdcTimers:
        timers = TdcTimers()
        if node is None:
            return timers
        self._only(node, (*_TIMER_TAGS, *_TIMER_COUNT_TAGS), "<tdc_timers>")
        bounds = {"retry_delay": values.TDC_RETRY_DELAY, "time_scale": values.TIME_SCALE}
        for tag in _TIMER_TAGS:
            setattr(timers, tag, self._value(node, tag, values.parse_seconds, getattr(timers, tag),
                                             bounds.get(tag, values.TDC_SECONDS)))
        for tag in _TIMER_COUNT_TAGS:
            setattr(timers, tag, self._value(node, tag, values.parse_int, getattr(timers, tag),
                                             values.TDC_CONNECTIONS))
        return timers

    def _routes(self, node: ET.Element | None) -> list[SmtpRoute]:
        if node is None:
            return []
        self._only(node, ("route",), "<smtp_routes>")
        routes = []
        for route in node.findall("route"):
            self._only(route, ("route_domain", "destination"), "<smtp_routes>/<route>")
            text = self._text(route, "route_domain", required=True)
            domain = None if text is None else self._parse(values.check_route_domain, text,
                                                           "<route_domain>")
            destinations = [self._parse(values.check_route_destination, destination,
                                        f"<route> {domain}: <destination>")
                            for destination in self._items(route, "destination")]
            if domain is not None:
                routes.append(SmtpRoute(domain, [d for d in destinations if d is not None]))
        return routes

    def _destinations(self, node: ET.Element | None) -> list[DestinationControl]:
        if node is None:
            return [DestinationControl()]
        self._only(node, ("destination",), "<destination_controls>")
        return [entry for entry in map(self._destination, node.findall("destination"))
                if entry is not None]

    def _destination(self, node: ET.Element) -> DestinationControl | None:
        self._only(node, ("destination_domain", "max_concurrency", "max_messages_per_connection",
                          "tls"), "<destination_controls>/<destination>")
        text = self._text(node, "destination_domain", required=True)
        domain = None if text is None else self._parse(values.check_destination_domain, text,
                                                       "<destination_domain>")
        if domain is None:
            return None
        entry = DestinationControl(domain)
        entry.max_concurrency = self._value(node, "max_concurrency", values.parse_int,
                                            entry.max_concurrency, values.DESTINATION_CONCURRENCY)
        entry.max_messages_per_connection = self._value(
            node, "max_messages_per_connection", values.parse_int,
            entry.max_messages_per_connection, values.MESSAGES_PER_CONNECTION)
        entry.tls = self._value(node, "tls", _tls_mode, entry.tls)
        return entry

    def _delivery(self, node: ET.Element | None) -> DeliverySettings:
        delivery = DeliverySettings()
        if node is None:
            return delivery
        self._only(node, ("max_concurrency", *_DELIVERY_SECONDS), "<delivery>")
        delivery.max_concurrency = self._value(node, "max_concurrency", values.parse_int,
                                               delivery.max_concurrency, values.SYSTEM_CONCURRENCY)
        bounds = {"initial_retry": values.RETRY_SECONDS, "max_retry": values.RETRY_SECONDS,
                  "max_queue_time": values.QUEUE_SECONDS}
        for tag in _DELIVERY_SECONDS:
            setattr(delivery, tag, self._value(node, tag, values.parse_seconds,
                                               getattr(delivery, tag), bounds[tag]))
        return delivery

    def _dns(self, node: ET.Element | None) -> DnsSettings:
        dns = DnsSettings()
        if node is None:
            return dns
        self._only(node, ("dns_servers", "dns_timeout"), "<dns>")
        servers = self._entries(node, "dns_servers", "server",
                                lambda text: str(Endpoint(*values.check_dns_server(text))))
        dns.servers = [Endpoint.parse(server) for server in servers]
        dns.timeout = self._value(node, "dns_timeout", values.parse_seconds, dns.timeout,
                                  values.DNS_TIMEOUT)
        return dns

    def _admin_access(self, node: ET.Element | None) -> AdminAccess:
        access = AdminAccess()
        if node is None:
            return access
        self._only(node, ("cli_timeout",), "<admin_access>")
        access.cli_timeout = self._value(node, "cli_timeout", values.parse_int,
                                         access.cli_timeout, values.CLI_TIMEOUT_MINUTES)
        return access

    def _host_ports(self, node: ET.Element | None) -> dict[str, int]:
        """Host names are unique: a repeat would silently win in a dict, so it is reported."""
        if node is None:
            return {}
        self._only(node, ("host_port",), "<lab_host_ports>")
        ports: dict[str, int] = {}
        for entry in node.findall("host_port"):
            self._only(entry, ("host", "port"), "<lab_host_ports>/<host_port>")
            host_text = self._text(entry, "host", required=True)
            port_text = self._text(entry, "port", required=True)
            host = None if host_text is None else self._parse(
                values.check_lab_host, host_text, "<lab_host_ports>/<host>")
            port = None if port_text is None else self._parse(
                values.parse_int, port_text, f"<lab_host_ports> {host}: <port>", (1, 65535))
            if host in ports:
                self.problems.append(f"<lab_host_ports>: {host} is entered more than once.")
            if host is not None and port is not None:
                ports[host] = port
        return ports

    def _table(self, root: ET.Element, direction: Direction) -> PolicyTable:
        tag = f"{direction.value}_policies"
        node = root.find(tag)
        if node is None:
            return PolicyTable()
        self._only(node, ("policy",), f"<{tag}>")
        policies = [self._policy(p, tag) for p in node.findall("policy")]
        return PolicyTable(policies)

    def _policy(self, node: ET.Element, where: str) -> MailPolicy:
        self._only(node, ("policy_name", "policy_senders", "policy_recipients",
                          "threat_defense", "threat_defense_address", "antispam", "antivirus"),
                   f"<{where}>/<policy>")
        name = self._text(node, "policy_name", required=True) or ""
        mode_text = self._text(node, "threat_defense") or TdcMode.DISABLED.value
        try:
            mode = TdcMode(mode_text)
        except ValueError:
            self.problems.append(
                f'policy "{name}": <threat_defense> must be disabled, default or custom, '
                f"not {mode_text!r}."
            )
            mode = TdcMode.DISABLED
        policy = MailPolicy(
            name,
            senders=self._members(node, "policy_senders"),
            recipients=self._members(node, "policy_recipients"),
            threat_defense=ThreatDefense(
                mode, self._text(node, "threat_defense_address", may_be_empty=True) or ""),
        )
        policy.antispam = self._scan(node.find("antispam"), policy.antispam, name)
        policy.antivirus = self._scan(node.find("antivirus"), policy.antivirus, name)
        return policy

    def _scan(self, node: ET.Element | None, default: ScanSetting, policy: str) -> ScanSetting:
        """A policy's ANTISPAM or ANTIVIRUS setting; parts left out keep the factory value."""
        if node is None:
            return default
        self._only(node, _SCAN_TAGS, f'policy "{policy}": <{node.tag}>')
        return ScanSetting(
            enabled=self._flag(node, "scan_enabled", default.enabled),
            action=self._value(node, "scan_action", _scan_action, default.action),
            subject_tag=self._value(node, "subject_tag", values.check_subject_tag,
                                    default.subject_tag, may_be_empty=True),
        )

    def _members(self, node: ET.Element, tag: str) -> list[str]:
        group = node.find(tag)
        if group is None:
            return []
        self._only(group, ("member",), f"<{tag}>")
        return [member.lower() for member in self._items(group, "member")]


#: Elements that hold a list of same-named children.
_REPEATABLE = {"policy", "member", "route", "destination", "domain", "relay_host", "server",
               "certificate", "host_port"}


def _stray_text(node: ET.Element) -> bool:
    """Whether an element that should hold only elements holds text too."""
    return bool((node.text or "").strip()) or any((child.tail or "").strip() for child in node)


def _tls_mode(text: str) -> TlsMode:
    for mode in TlsMode:
        if mode.value.lower() == text.lower():
            return mode
    raise InvalidValue(f"must be one of {', '.join(m.value for m in TlsMode)}, not {text!r}.")


def _scan_action(text: str) -> ScanAction:
    try:
        return ScanAction(text.lower())
    except ValueError:
        raise InvalidValue(f"must be deliver, drop or bounce, not {text!r}.") from None
