"""The configuration as an XML document (``showconfig``, ``saveconfig``, ``loadconfig``).

The same document is what the store keeps for every committed version, so there is
one serialisation to trust.  Reading is strict and all-or-nothing: every problem is
collected and reported together, and nothing is returned unless the whole document
is right.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

from engine.addresses import InvalidValue
from engine.config import (
    Config,
    Direction,
    Endpoint,
    MailPolicy,
    PolicyTable,
    TdcMode,
    TdcSettings,
    ThreatDefense,
)

PRODUCT_COMMENT = " segcli configuration: Threat Defense Connector emulator (AsyncOS 15.5) "


class ConfigXmlError(ValueError):
    """The document is not a configuration this appliance can load."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def to_xml(config: Config) -> str:
    root = ET.Element("config")
    root.append(ET.Comment(PRODUCT_COMMENT))
    ET.SubElement(root, "hostname").text = config.hostname
    ET.SubElement(root, "smtp_address").text = str(config.listener.address)
    ET.SubElement(root, "ssh_address").text = str(config.ssh_listener)
    tdc = ET.SubElement(root, "threat_defense_connector")
    ET.SubElement(tdc, "tdc_enabled").text = "1" if config.tdc.enabled else "0"
    ET.SubElement(tdc, "tdc_intake_address").text = config.tdc.intake_address
    for direction in Direction:
        table = ET.SubElement(root, f"{direction.value}_policies")
        for policy in config.policies(direction).policies:
            _policy_to_xml(ET.SubElement(table, "policy"), policy)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _policy_to_xml(node: ET.Element, policy: MailPolicy) -> None:
    ET.SubElement(node, "policy_name").text = policy.name
    for tag, members in (("policy_senders", policy.senders), ("policy_recipients", policy.recipients)):
        group = ET.SubElement(node, tag)
        for member in members:
            ET.SubElement(group, "member").text = member
    ET.SubElement(node, "threat_defense").text = policy.threat_defense.mode.value
    if policy.threat_defense.mode is TdcMode.CUSTOM:
        ET.SubElement(node, "threat_defense_address").text = policy.threat_defense.custom_address


def from_xml(text: str | bytes) -> Config:
    """Parse and validate a whole document, or raise ConfigXmlError listing every problem."""
    if not text.strip():
        raise ConfigXmlError(["No data to load."])
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, column = exc.position
        raise ConfigXmlError(
            [f"Parsing failed: not well-formed XML at line {line}, column {column + 1}."]
        ) from None
    reader = _Reader()
    config = reader.read(root)
    problems = reader.problems or config.problems()
    if problems:
        raise ConfigXmlError(problems)
    return config


class _Reader:
    """Walks the tree once, noting problems instead of stopping at the first."""

    _TOP = ("hostname", "smtp_address", "ssh_address", "threat_defense_connector",
            "incoming_policies", "outgoing_policies")

    def __init__(self) -> None:
        self.problems: list[str] = []

    def read(self, root: ET.Element) -> Config:
        config = Config()
        if root.tag != "config":
            self.problems.append(f"Parsing failed: the document element is <{root.tag}>, not <config>.")
            return config
        self._only(root, self._TOP, "<config>")
        config.hostname = self._text(root, "hostname", required=True) or config.hostname
        config.listener.address = self._endpoint(root, "smtp_address", config.listener.address)
        config.ssh_listener = self._endpoint(root, "ssh_address", config.ssh_listener)
        config.tdc = self._tdc(root.find("threat_defense_connector"))
        config.incoming = self._table(root, Direction.INCOMING)
        config.outgoing = self._table(root, Direction.OUTGOING)
        return config

    def _only(self, node: ET.Element, allowed: tuple[str, ...], where: str) -> None:
        for child in node:
            if isinstance(child.tag, str) and child.tag not in allowed:
                self.problems.append(f"Unknown element <{child.tag}> in {where}.")

    def _text(self, node: ET.Element, tag: str, *, required: bool = False) -> str:
        child = node.find(tag)
        if child is None:
            if required:
                self.problems.append(f"Missing element <{tag}> in <{node.tag}>.")
            return ""
        return (child.text or "").strip()

    def _endpoint(self, root: ET.Element, tag: str, default: Endpoint) -> Endpoint:
        text = self._text(root, tag)
        return self._parse(Endpoint.parse, text, f"<{tag}>") if text else default

    def _parse(self, parse: Callable, text: str, where: str):
        try:
            return parse(text)
        except (InvalidValue, ValueError) as exc:
            self.problems.append(f"{where}: {exc}")
            return None

    def _tdc(self, node: ET.Element | None) -> TdcSettings:
        if node is None:
            return TdcSettings()
        self._only(node, ("tdc_enabled", "tdc_intake_address"), "<threat_defense_connector>")
        flag = self._text(node, "tdc_enabled") or "0"
        if flag not in ("0", "1"):
            self.problems.append(f"<tdc_enabled> must be 0 or 1, not {flag!r}.")
        return TdcSettings(flag == "1", self._text(node, "tdc_intake_address"))

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
                          "threat_defense", "threat_defense_address"), f"<{where}>/<policy>")
        name = self._text(node, "policy_name", required=True)
        mode_text = self._text(node, "threat_defense") or TdcMode.DISABLED.value
        try:
            mode = TdcMode(mode_text)
        except ValueError:
            self.problems.append(
                f'policy "{name}": <threat_defense> must be disabled, default or custom, '
                f"not {mode_text!r}."
            )
            mode = TdcMode.DISABLED
        return MailPolicy(
            name,
            senders=self._members(node, "policy_senders"),
            recipients=self._members(node, "policy_recipients"),
            threat_defense=ThreatDefense(mode, self._text(node, "threat_defense_address")),
        )

    def _members(self, node: ET.Element, tag: str) -> list[str]:
        group = node.find(tag)
        if group is None:
            return []
        self._only(group, ("member",), f"<{tag}>")
        return [(m.text or "").strip().lower() for m in group.findall("member")]
