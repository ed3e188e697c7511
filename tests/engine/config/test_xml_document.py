"""The XML document: a faithful round trip, and all-or-nothing loading with every problem named."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from engine.config.changes import (
    AddAcceptedDomain,
    AddMember,
    AddPolicy,
    AddRelayHost,
    AddRoute,
    AddTrustedCa,
    SetDelivery,
    SetDestination,
    SetDns,
    SetHostname,
    SetHostPort,
    SetListenerAddress,
    SetListenerName,
    SetMaxMessageSize,
    SetOfferTls,
    SetScan,
    SetTdc,
    SetTdcTimers,
    SetThreatDefense,
    replay,
)
from engine.config.model import Config, Direction, ScanAction, TdcMode, TlsMode
from engine.config.xml_document import ConfigXmlError, from_xml, to_xml
from tests.certificates import ca_pem

IN = Direction.INCOMING


def _rich_config() -> Config:
    return replay(Config(), [
        SetHostname("gw.example.com"),
        SetTdc(True, "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"),
        AddPolicy(IN, "sales", recipients=("@sales.example.com", "boss@")),
        AddMember(IN, "sales", "ceo@example.org", sender=True),
        SetThreatDefense(IN, "sales", TdcMode.CUSTOM, "second@mail.eu.cmd.cisco.com"),
        SetThreatDefense(IN, "DEFAULT", TdcMode.DEFAULT),
        AddPolicy(Direction.OUTGOING, "out", senders=("@example.com",)),
    ])


def test_round_trip_is_exact():
    config = _rich_config()
    text = to_xml(config)
    assert from_xml(text) == config
    assert to_xml(from_xml(text)) == text
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<config>')


def test_malformed_xml_names_the_line():
    with pytest.raises(ConfigXmlError, match="Parsing failed: not well-formed XML at line 4"):
        from_xml("<config>\n<hostname>x</hostname>\n<oops>\n</config>")


@pytest.mark.parametrize(("encoding", "problem"), [
    ("bogus", "Parsing failed: the encoding bogus is unknown."),
    ("utf-7", "Parsing failed: the encoding utf-7 cannot be read (use UTF-8)."),
    ("UTF-32", "Parsing failed: the encoding UTF-32 cannot be read (use UTF-8)."),
])
def test_a_declared_encoding_the_parser_cannot_use(encoding, problem):
    """An uploaded document declaring an unknown or a multi-byte encoding ended in an
    application fault (LookupError, ValueError) instead of a problem (found by
    benchmarks/fuzz.py)."""
    document = f'<?xml version="1.0" encoding="{encoding}"?>\n<config/>'.encode()
    with pytest.raises(ConfigXmlError) as refused:
        from_xml(document)
    assert refused.value.problems == [problem]


def test_empty_document():
    with pytest.raises(ConfigXmlError, match="No data to load"):
        from_xml("  \n")


def test_every_problem_is_reported_together():
    text = to_xml(_rich_config())
    text = text.replace("<hostname>gw.example.com", "<hostname>bad_host!")
    text = text.replace("<member>@sales.example.com</member>", "<member>nonsense</member>")
    text = text.replace("<tdc_enabled>1", "<tdc_enabled>yes")
    text = text.replace("</config>", "<colour>blue</colour></config>")
    with pytest.raises(ConfigXmlError) as caught:
        from_xml(text)
    problems = caught.value.problems
    assert any("Unknown element <colour>" in p for p in problems)
    assert any("<tdc_enabled> must be 0 or 1" in p for p in problems)
    assert len(problems) >= 2


def test_semantic_problems_are_reported():
    text = to_xml(_rich_config()).replace("<member>@sales.example.com</member>",
                                          "<member>nonsense</member>")
    with pytest.raises(ConfigXmlError, match=r'policy "sales".*The entry you have entered is invalid'):
        from_xml(text)


@pytest.mark.parametrize(("hosts", "problem"), [
    ("<relay_host>relay.example.com</relay_host>",
     '<relay_list>: "relay.example.com" is not a valid entry: enter an IP address'),
    ("<relay_host>10.1.1.5</relay_host><relay_host>10.1.1.5/32</relay_host>",
     "host access table: RELAYLIST: 10.1.1.5 is entered more than once."),
])
def test_bad_and_repeated_relay_hosts_are_reported(hosts, problem):
    with pytest.raises(ConfigXmlError) as caught:
        from_xml(f"<config><hostname>gw.example.com</hostname><listener><relay_list>{hosts}"
                 "</relay_list></listener></config>")
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_default_policy_must_be_last():
    config = _rich_config()
    config.incoming.policies.reverse()
    with pytest.raises(ConfigXmlError, match="DEFAULT policy must be present and last"):
        from_xml(to_xml(config))


def test_wrong_root_element():
    with pytest.raises(ConfigXmlError, match="not <config>"):
        from_xml("<configuration/>")


# -- the mail settings -----------------------------------------------------------------


def _mail_config() -> Config:
    """Every mail setting away from its factory value."""
    return replay(_rich_config(), [
        SetListenerName("PublicIn"),
        SetListenerAddress("0.0.0.0:2526"),
        AddAcceptedDomain("example.com"),
        AddAcceptedDomain(".Example.org"),
        AddRelayHost("10.1.1.5"),
        AddRelayHost("2001:DB8::/32"),
        SetMaxMessageSize(5 * 1024 * 1024),
        SetOfferTls(False),
        AddRoute("ALL", ("usedns",)),
        AddRoute(".internal.example.com", ("relay1.example.com:2526", "[::1]:2527", "10.0.0.5")),
        AddRoute("junk.example.com", ("/dev/null",)),
        SetDestination("DEFAULT", max_concurrency=100, tls=TlsMode.PREFERRED),
        SetDestination("example.net", create=True, max_messages_per_connection=5,
                       tls=TlsMode.REQUIRED_VERIFY),
        SetDelivery(max_concurrency=200, initial_retry=0.5, max_retry=30, max_queue_time=600),
        SetDns(("127.0.0.1:5353", "::1"), timeout=1.5),
        SetTdcTimers(retry_delay=0, attempt_timeout=6, idle_timeout=0.5, queue_limit=12,
                     time_scale=0.1, min_connections=2, max_connections=4),
        SetScan(IN, "sales", "antispam", enabled=False, action=ScanAction.BOUNCE),
        SetScan(IN, "DEFAULT", "antivirus", action=ScanAction.DELIVER, subject_tag="[VIRUS]"),
        SetScan(Direction.OUTGOING, "out", "antispam", subject_tag=""),
        AddTrustedCa(ca_pem("Lab Root A")),
        AddTrustedCa(ca_pem("Lab Root B")),
        SetHostPort("beta.cmd.cisco.com", 2601),
        SetHostPort("mx.example.net", 2602),
    ])


def test_mail_settings_round_trip_exactly():
    config = _mail_config()
    text = to_xml(config)
    assert from_xml(text) == config
    assert to_xml(from_xml(text)) == text
    for fragment in ("<listener_address>0.0.0.0:2526</listener_address>",
                     "<domain>.example.org</domain>",
                     "<relay_list>\n      <relay_host>10.1.1.5</relay_host>\n"
                     "      <relay_host>2001:db8::/32</relay_host>\n    </relay_list>",
                     "<route_domain>ALL</route_domain>\n      <destination>USEDNS</destination>",
                     "<destination>[::1]:2527</destination>",
                     "<tls>Required - Verify</tls>",
                     "<initial_retry>0.5</initial_retry>",
                     "<server>[::1]:53</server>",
                     "<time_scale>0.1</time_scale>",
                     "<scan_action>bounce</scan_action>",
                     "<certificate>-----BEGIN CERTIFICATE-----\n",
                     "<host>beta.cmd.cisco.com</host>\n      <port>2601</port>"):
        assert fragment in text


def test_factory_document_round_trips():
    text = to_xml(Config())
    assert from_xml(text) == Config()
    assert "<destination_domain>DEFAULT</destination_domain>" in text


def test_left_out_sections_keep_factory_values():
    config = from_xml("<config><hostname>gw.example.com</hostname></config>")
    factory = Config()
    assert (config.listener, config.smtp_routes, config.destinations, config.delivery, config.dns,
            config.tdc.timers, config.trusted_cas, config.host_ports) == (
        factory.listener, factory.smtp_routes, factory.destinations, factory.delivery,
        factory.dns, factory.tdc.timers, factory.trusted_cas, factory.host_ports)


def test_parts_of_a_section_left_out_keep_factory_values():
    config = from_xml("""<config><hostname>gw.example.com</hostname>
      <listener><rcpt_access><domain>Example.COM</domain></rcpt_access></listener>
      <threat_defense_connector><tdc_timers><time_scale>0.01</time_scale></tdc_timers>
      </threat_defense_connector>
      <incoming_policies><policy><policy_name>DEFAULT</policy_name>
        <antivirus><scan_action>bounce</scan_action></antivirus></policy></incoming_policies>
    </config>""")
    assert config.listener.accepted_domains == ["example.com"]  # canonical form
    assert config.listener.address == Config().listener.address
    assert config.tdc.timers.time_scale == 0.01 and config.tdc.timers.queue_limit == 120
    antivirus = config.incoming.default.antivirus
    assert (antivirus.enabled, antivirus.action, antivirus.subject_tag) == (
        True, ScanAction.BOUNCE, "[WARNING: VIRUS DETECTED]")


def test_old_smtp_address_is_read_as_the_listener_address():
    config = from_xml("<config><hostname>gw.example.com</hostname>"
                      "<smtp_address>127.0.0.1:2600</smtp_address></config>")
    assert str(config.listener.address) == "127.0.0.1:2600"
    assert "<smtp_address>" not in to_xml(config)
    same = from_xml("<config><hostname>gw.example.com</hostname>"
                    "<smtp_address>127.0.0.1:2600</smtp_address>"
                    "<listener><listener_address>127.0.0.1:2600</listener_address></listener>"
                    "</config>")
    assert same == config
    with pytest.raises(ConfigXmlError, match="disagree"):
        from_xml("<config><hostname>gw.example.com</hostname>"
                 "<smtp_address>127.0.0.1:2600</smtp_address>"
                 "<listener><listener_address>127.0.0.1:2601</listener_address></listener>"
                 "</config>")


def test_the_example_configuration_still_loads():
    from pathlib import Path

    example = Path(__file__).resolve().parents[3] / "examples" / "minimal-config.xml"
    config = from_xml(example.read_bytes())
    assert config.hostname == "esa1.example.com"


def test_the_lab_example_is_exactly_what_showconfig_prints():
    """README: examples/lab-config.xml is a lab configuration "as showconfig prints it"."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "examples" / "lab-config.xml").read_text()
    assert to_xml(from_xml(text)) == text


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigXmlError) as caught:
        from_xml(text)
    return caught.value.problems


def _edit(old: str, new: str, config: Config | None = None) -> str:
    text = to_xml(config or _mail_config())
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("<listener_address>0.0.0.0:2526", "<listener_address>nowhere", "not a valid address"),
    ("<listener_address>0.0.0.0:2526", "<listener_address>bad_host!:25", "not a valid host"),
    ("<listener_name>PublicIn", "<listener_name>two words", "Valid characters"),
    ("<max_message_size>5242880", "<max_message_size>12", "maximum message size must be"),
    ("<max_message_size>5242880", "<max_message_size>lots", "not a valid size"),
    ("<offer_tls>0", "<offer_tls>maybe", "<offer_tls> must be 0 or 1"),
    ("<domain>example.com</domain>", "<domain>not a domain</domain>", "not a valid entry"),
    ("<domain>example.com</domain>", "<domain>.example.org</domain>", "entered more than once"),
    ("<route_domain>junk.example.com", "<route_domain>ALL", "entered more than once"),
    ("<route_domain>junk.example.com", "<route_domain>no way", "not a valid domain"),
    ("<destination>/dev/null</destination>", "<destination>bad host</destination>",
     "not a valid destination"),
    ("<destination>USEDNS</destination>", "<destination>USEDNS</destination><destination>a.b</destination>",
     "USEDNS must be entered by itself"),
    ("<destination>/dev/null</destination>", "", "at least one destination"),
    ("<destination_domain>example.net", "<destination_domain>DEFAULT", "entered more than once"),
    ("<destination_domain>DEFAULT", "<destination_domain>example.org", "DEFAULT entry must be present"),
    ("<max_concurrency>100</max_concurrency>", "<max_concurrency>0</max_concurrency>",
     "integer from 1 to 1000"),
    ("<tls>Required - Verify</tls>", "<tls>Always</tls>", "must be one of No, Preferred"),
    ("<max_concurrency>200</max_concurrency>", "<max_concurrency>20000</max_concurrency>",
     "integer from 1 to 10000"),
    ("<initial_retry>0.5", "<initial_retry>60", "initial retry interval must not be longer"),
    ("<max_queue_time>600", "<max_queue_time>-5", "number of seconds"),
    ("<server>127.0.0.1:5353</server>", "<server>dns.example.com</server>", "not a valid DNS server"),
    ("<server>127.0.0.1:5353</server>", "<server>::1</server>", "entered more than once"),
    ("<dns_timeout>1.5", "<dns_timeout>0", "number of seconds"),
    ("<time_scale>0.1", "<time_scale>fast", "number of seconds"),
    ("<min_connections>2", "<min_connections>9", "minimum number of connections (9)"),
    ("<max_connections>4", "<max_connections>0", "integer from 1 to 1000"),
    ("<scan_action>bounce", "<scan_action>quarantine", "must be deliver, drop or bounce"),
    ("<scan_enabled>0", "<scan_enabled>no", "<scan_enabled> must be 0 or 1"),
    ("<subject_tag>[VIRUS]", "<subject_tag>" + "x" * 300, "subject tag must be at most"),
    ("<certificate>-----BEGIN CERTIFICATE-----\nMI", "<certificate>-----BEGIN CERTIFICATE-----\nXX",
     "could not be read"),
    ("<certificate>-----BEGIN", "<certificate>hello", "No certificate was found"),
    ("<host>mx.example.net", "<host>beta.cmd.cisco.com", "entered more than once"),
    ("<port>2602", "<port>70000", "integer from 1 to 65535"),
    ("<host>mx.example.net", "<host>bad host", "<lab_host_ports>/<host>"),
    ("<dns>", "<dns><colour>blue</colour>", "Unknown element <colour> in <dns>"),
    ("<delivery>", "<delivery><max_retry>5</max_retry>", "<max_retry> appears more than once"),
])
def test_bad_mail_settings_are_refused(old, new, expected):
    problems = _problems(_edit(old, new))
    assert any(expected in problem for problem in problems), problems


def test_second_certificate_in_one_element_is_refused():
    two = ca_pem("Lab Root A") + "\n" + ca_pem("Lab Root C")
    problems = _problems(_edit("<certificate>" + ca_pem("Lab Root A"), "<certificate>" + two))
    assert any("Expected one certificate, found 2" in p for p in problems), problems


def test_listener_and_ssh_cannot_share_an_address():
    text = _edit("<ssh_address>127.0.0.1:2222", "<ssh_address>0.0.0.0:2526")
    assert any("cannot both use 0.0.0.0:2526" in p for p in _problems(text))


def test_several_mail_problems_are_reported_together():
    text = _edit("<max_message_size>5242880", "<max_message_size>12")
    text = text.replace("<tls>Required - Verify</tls>", "<tls>Always</tls>")
    text = text.replace("<port>2602", "<port>0")
    problems = _problems(text)
    assert len(problems) == 3, problems


# -- text that is not printable (issue 9: a control character once bricked the appliance) --


#: Elements that hold a list (possibly empty), never a value.
_LISTS = {"policy_senders", "policy_recipients", "rcpt_access", "relay_list", "smtp_routes",
          "destination_controls", "dns_servers", "trusted_cas", "lab_host_ports",
          "incoming_policies", "outgoing_policies"}


def _value_elements(root: ET.Element) -> list[tuple[ET.Element, ET.Element]]:
    """``(parent, element)`` for every element that holds a value, in document order."""
    return [(parent, child) for parent in root.iter() for child in parent
            if len(child) == 0 and child.tag not in _LISTS]


def _leaves(text: str) -> list[tuple[str, str]]:
    """``(parent tag, tag)`` of every element of *text* that holds a value, in order."""
    return [(parent.tag, child.tag) for parent, child in _value_elements(ET.fromstring(text))]


def _spoil_leaf(text: str, number: int, bad: str) -> str:
    """*text* with *bad* put into the value of its leaf element *number*."""
    root = ET.fromstring(text)
    leaf = _value_elements(root)[number][1]
    value = leaf.text or ""
    leaf.text = value[:1] + bad + value[1:]
    return ET.tostring(root, encoding="unicode")


MAIL_LEAVES = _leaves(to_xml(_mail_config()))


@pytest.mark.parametrize("bad", ["\x7f", "\x85", "\x9b", "\u2028", "\u202e"])
@pytest.mark.parametrize("number", range(len(MAIL_LEAVES)),
                         ids=[f"{parent}-{tag}" for parent, tag in MAIL_LEAVES])
def test_every_value_refuses_a_character_xml_can_hold_but_a_value_must_not(number, bad):
    """DEL, the C1 controls, line separators and bidirectional overrides are legal XML, so
    the parser lets them through: the loader itself refuses them, naming the element."""
    parent, tag = MAIL_LEAVES[number]
    problems = _problems(_spoil_leaf(to_xml(_mail_config()), number, bad))
    assert any(p.startswith(f"<{parent}>/<{tag}>: The value cannot contain the ")
               and f"U+{ord(bad):04X}" in p for p in problems), problems
    assert not any(bad in p for p in problems)


@pytest.mark.parametrize("reference", ["&#1;", "&#x1b;", "&#0;", "&#xFFFE;"])
def test_characters_xml_cannot_hold_are_refused_by_the_parser(reference):
    text = _edit("<policy_name>sales", f"<policy_name>sa{reference}les")
    assert _problems(text) == [_problems(text)[0]]
    assert _problems(text)[0].startswith("Parsing failed: not well-formed XML at line ")


def test_an_unpaired_surrogate_in_a_pasted_document_is_a_problem_not_a_fault():
    text = _edit("<policy_name>sales", "<policy_name>sa\ud800les")
    assert _problems(text) == ["Parsing failed: the unpaired surrogate U+D800 at line "
                               f"{text[:text.index(chr(0xD800))].count(chr(10)) + 1} is not text."]


def test_a_configuration_holding_control_characters_is_never_written_and_read_back():
    """The old bug: the model took ``p\\x01x`` and to_xml wrote a document nobody could
    read.  The model now refuses it (problems), and so does the loader."""
    config = _mail_config()
    config.incoming.policies[0].name = "p\x01x"
    assert config.problems() == ["incoming.policies[1].name: The value cannot contain the "
                                 "control character U+0001 at position 2: enter printable text."]
    assert _problems(to_xml(config))[0].startswith("Parsing failed")


def test_line_breaks_stay_allowed_in_certificates_and_nowhere_else():
    assert from_xml(to_xml(_mail_config())) == _mail_config()  # PEM text has line breaks
    problems = _problems(_edit("<listener_name>PublicIn", "<listener_name>Public&#10;In"))
    assert problems == ["<listener>/<listener_name>: The value cannot contain the control "
                        "character U+000A at position 7: enter printable text."]


# -- elements that should hold a value (issue 9, item 6) -------------------------------------

#: The values that may be left empty: no intake address, no subject tag, no custom address.
MAY_BE_EMPTY = {"tdc_intake_address", "subject_tag", "threat_defense_address"}


def _replace_leaf(number: int, fill) -> str:
    """The mail document with the value element *number* emptied, then passed to *fill*."""
    root = ET.fromstring(to_xml(_mail_config()))
    leaf = _value_elements(root)[number][1]
    leaf.text = None
    fill(leaf)
    return ET.tostring(root, encoding="unicode")


@pytest.mark.parametrize("number", range(len(MAIL_LEAVES)),
                         ids=[f"{parent}-{tag}" for parent, tag in MAIL_LEAVES])
def test_a_value_element_holding_elements_is_refused_by_name(number):
    """``<tdc_enabled><x>1</x></tdc_enabled>`` once loaded as Disabled, and ``<hostname>``
    with child elements as "No changes detected"."""
    parent, tag = MAIL_LEAVES[number]
    text = _replace_leaf(number, lambda leaf: ET.SubElement(leaf, "x").__setattr__("text", "1"))
    assert f"<{parent}>/<{tag}> must hold a value, not elements (found <x>)." in _problems(text)


@pytest.mark.parametrize("number", [n for n, (_, tag) in enumerate(MAIL_LEAVES)
                                    if tag not in MAY_BE_EMPTY],
                         ids=[f"{parent}-{tag}" for parent, tag in MAIL_LEAVES
                              if tag not in MAY_BE_EMPTY])
def test_an_empty_value_element_is_refused_by_name(number):
    parent, tag = MAIL_LEAVES[number]
    assert f"<{parent}>/<{tag}> is empty." in _problems(_replace_leaf(number, lambda leaf: None))


def test_the_values_that_may_be_empty_load_empty():
    config = from_xml(_edit("<subject_tag>[VIRUS]</subject_tag>", "<subject_tag />"))
    assert config.incoming.default.antivirus.subject_tag == ""
    factory = from_xml(to_xml(Config()))
    assert "<tdc_intake_address />" in to_xml(Config()) and factory.tdc.intake_address == ""
    custom = from_xml("<config><hostname>gw.example.com</hostname><incoming_policies><policy>"
                      "<policy_name>DEFAULT</policy_name><threat_defense>default</threat_defense>"
                      "<threat_defense_address /></policy></incoming_policies></config>")
    assert custom.incoming.default.threat_defense.mode is TdcMode.DEFAULT


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("<tdc_enabled>1</tdc_enabled>", "<tdc_enabled><x>1</x></tdc_enabled>",
     "<threat_defense_connector>/<tdc_enabled> must hold a value, not elements (found <x>)."),
    ("<tdc_enabled>1</tdc_enabled>", "<tdc_enabled />",
     "<threat_defense_connector>/<tdc_enabled> is empty."),
    ("<hostname>gw.example.com</hostname>", "<hostname><name>gw.example.com</name></hostname>",
     "<config>/<hostname> must hold a value, not elements (found <name>)."),
    ("<hostname>gw.example.com</hostname>", "<hostname>gw.example.com<!-- x --><b/></hostname>",
     "<config>/<hostname> must hold a value, not elements (found <b>)."),
    ("<hostname>gw.example.com</hostname>", "<hostname>  </hostname>", "<config>/<hostname> is empty."),
    ("<policy_name>sales</policy_name>", "<policy_name />", "<policy>/<policy_name> is empty."),
    ("<member>@sales.example.com</member>", "<member />", "<policy_recipients>/<member> is empty."),
])
def test_the_issue_s_examples(old, new, problem):
    assert problem in _problems(_edit(old, new))


@pytest.mark.parametrize(("old", "new", "where"), [
    ("<rcpt_access>", "<rcpt_access>example.net", "<rcpt_access>"),
    ("<smtp_routes>", "<smtp_routes>ALL", "<smtp_routes>"),
    ("<antispam>", "<antispam>on", 'policy "sales": <antispam>'),
    ("</listener_name>", "</listener_name>stray", "<listener>"),
    ("</config>", "tail</config>", "<config>"),
])
def test_text_where_only_elements_belong_is_refused(old, new, where):
    """``<rcpt_access>example.com</rcpt_access>`` would otherwise load as an empty table."""
    assert f"{where} must hold elements, not text." in _problems(_edit(old, new))
