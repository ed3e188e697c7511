"""The configuration model and its changes: validation, first match, replay."""

from __future__ import annotations

import pytest

from engine.config.changes import (
    AddAcceptedDomain,
    AddMember,
    AddPolicy,
    AddRoute,
    AddTrustedCa,
    ClearRoutes,
    DeleteDestination,
    DeletePolicy,
    DeleteRoute,
    EditRoute,
    MovePolicy,
    RemoveAcceptedDomain,
    RemoveHostPort,
    RemoveMember,
    RemoveTrustedCa,
    RenamePolicy,
    ReplaceConfig,
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
from engine.config.model import (
    Config,
    ConfigError,
    Direction,
    Endpoint,
    Listener,
    ScanAction,
    SmtpRoute,
    TdcMode,
    TlsMode,
)
from tests.certificates import ca_pem

IN = Direction.INCOMING
INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"


def _config_with(*names_members: tuple[str, str]) -> Config:
    changes = [AddPolicy(IN, name, recipients=(member,)) for name, member in names_members]
    return replay(Config(), changes)


def test_factory_config_is_valid_and_has_default_policies():
    config = Config()
    assert config.problems() == []
    assert config.incoming.names == ["DEFAULT"] and config.outgoing.names == ["DEFAULT"]


def test_first_match_wins_and_default_is_last():
    config = _config_with(("sales", "@sales.example.com"), ("all-sub", "@.example.com"))
    table = config.incoming
    assert table.match("x@ext.org", "bob@sales.example.com").name == "sales"
    assert table.match("x@ext.org", "bob@hr.example.com").name == "all-sub"
    assert table.match("x@ext.org", "bob@example.net").name == "DEFAULT"
    moved = replay(config, [MovePolicy(IN, "all-sub", 1)])
    assert moved.incoming.match("x@ext.org", "bob@sales.example.com").name == "all-sub"


def test_new_policies_go_above_default_and_names_are_unique():
    config = _config_with(("a", "@a.com"), ("b", "@b.com"))
    assert config.incoming.names == ["a", "b", "DEFAULT"]
    with pytest.raises(ConfigError, match='There is already a policy named "a"'):
        replay(config, [AddPolicy(IN, "A", recipients=("@c.com",))])


def test_default_cannot_be_deleted_moved_or_renamed():
    config = _config_with(("a", "@a.com"))
    for change in (DeletePolicy(IN, "DEFAULT"), MovePolicy(IN, "DEFAULT", 1),
                   RenamePolicy(IN, "DEFAULT", "x")):
        with pytest.raises(ConfigError):
            replay(config, [change])


def test_move_refuses_the_default_position():
    config = _config_with(("a", "@a.com"), ("b", "@b.com"))
    with pytest.raises(ConfigError, match="position of default entry"):
        replay(config, [MovePolicy(IN, "a", 3)])


def test_members():
    config = _config_with(("a", "@a.com"))
    config = replay(config, [AddMember(IN, "a", "Boss@", sender=True)])
    assert config.incoming.get("a").senders == ["boss@"]
    with pytest.raises(ConfigError, match="already a member"):
        replay(config, [AddMember(IN, "a", "@A.com")])
    config = replay(config, [RemoveMember(IN, "a", "@a.com")])
    with pytest.raises(ConfigError, match="only one member"):
        replay(config, [RemoveMember(IN, "a", "boss@")])


def test_threat_defense_intake_address_follows_global_switch():
    config = _config_with(("sales", "@sales.example.com"))
    config = replay(config, [
        SetThreatDefense(IN, "sales", TdcMode.CUSTOM, "other@mail.cmd.cisco.com"),
        SetThreatDefense(IN, "DEFAULT", TdcMode.DEFAULT),
    ])
    sales, default = config.incoming.get("sales"), config.incoming.default
    assert sales.threat_defense.intake_address(config.tdc) is None  # TDC globally disabled
    config = replay(config, [SetTdc(True, INTAKE)])
    sales, default = config.incoming.get("sales"), config.incoming.default
    assert sales.threat_defense.intake_address(config.tdc) == "other@mail.cmd.cisco.com"
    assert default.threat_defense.intake_address(config.tdc) == INTAKE


def test_tdc_cannot_be_enabled_without_an_address_nor_on_outgoing_policies():
    with pytest.raises(ConfigError, match="You must enter a Default Message Intake Address"):
        replay(Config(), [SetTdc(True)])
    with pytest.raises(ConfigError, match="incoming mail only"):
        replay(Config(), [SetThreatDefense(Direction.OUTGOING, "DEFAULT", TdcMode.DEFAULT)])
    with pytest.raises(ConfigError, match="An email address"):
        replay(Config(), [SetThreatDefense(IN, "DEFAULT", TdcMode.CUSTOM, "nope")])


def test_a_failed_replay_leaves_the_base_untouched():
    base = Config()
    with pytest.raises(ConfigError):
        replay(base, [SetHostname("gw.example.com"), SetHostname("bad host")])
    assert base.hostname == "mail1.example.com"


def test_replace_config_refuses_an_invalid_config():
    bad = Config()
    bad.incoming.policies.reverse()
    bad.incoming.policies.insert(0, bad.incoming.policies[0])  # duplicate DEFAULT first
    with pytest.raises(ConfigError, match="DEFAULT"):
        replay(Config(), [ReplaceConfig(bad, "load")])


# -- the mail settings' changes --------------------------------------------------------


def _refused(config: Config, change, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        replay(config, [change])


def test_listener_changes_are_checked_and_canonical():
    config = replay(Config(), [SetListenerName("PublicIn"), SetListenerAddress("LOCALHOST:2600"),
                               AddAcceptedDomain("Example.COM"), AddAcceptedDomain(".example.org"),
                               SetMaxMessageSize(2048), SetOfferTls(False)])
    listener = config.listener
    assert (listener.name, str(listener.address), listener.accepted_domains,
            listener.max_message_size, listener.offer_tls) == (
        "PublicIn", "localhost:2600", ["example.com", ".example.org"], 2048, False)
    assert listener.accepts("bob@example.com") and listener.accepts("bob@a.example.org")
    assert not listener.accepts("bob@example.org")
    _refused(config, AddAcceptedDomain("EXAMPLE.com"), "already in the recipient access table")
    _refused(config, AddAcceptedDomain("ALL"), "not a valid entry")
    _refused(config, RemoveAcceptedDomain("example.net"), "not in the recipient access table")
    assert replay(config, [RemoveAcceptedDomain("Example.com")]).listener.accepted_domains == [
        ".example.org"]
    _refused(config, SetListenerAddress("2600"), "not a valid address")
    _refused(config, SetListenerAddress("127.0.0.1:2222"), "SSH server's address")
    _refused(config, SetMaxMessageSize(100), "maximum message size must be")
    _refused(config, SetListenerName(""), "A listener name is a non-empty string")


def test_routes():
    config = replay(Config(), [AddRoute("ALL", ("usedns",)),
                               AddRoute(".Example.com", ("Relay.example.net:2526", "10.0.0.1"))])
    assert [(r.domain, r.destinations) for r in config.smtp_routes] == [
        ("ALL", ["USEDNS"]), (".example.com", ["relay.example.net:2526", "10.0.0.1"])]
    assert config.route_for("a.example.com").domain == ".example.com"
    assert config.route_for("example.org").domain == "ALL"
    _refused(config, AddRoute("all", ("a.example.net",)), "There is already a default route set.")
    _refused(config, AddRoute(".example.com", ("a.example.net",)),
             "The value .example.com is already in the routing table.")
    _refused(config, AddRoute("x.example.com", ("/dev/null", "a.example.net")),
             "/dev/null must be entered by itself")
    _refused(config, AddRoute("x.example.com", ("a.example.net", "A.example.net")),
             "entered more than once")
    _refused(config, AddRoute("x.example.com", ()), "at least one destination")
    _refused(config, AddRoute("x.example.com", ("a:b:c:d:e",)), "not a valid destination")
    _refused(config, AddRoute("x.example.com", tuple(f"h{i}.example.net" for i in range(17))),
             "Routes may not contain more than 16 destinations.")
    _refused(config, EditRoute("nowhere.example.com", ("a.example.net",)), "There is no route")
    edited = replay(config, [EditRoute(".EXAMPLE.com", ("/dev/null",)), DeleteRoute("all")])
    assert [(r.domain, r.destinations) for r in edited.smtp_routes] == [
        (".example.com", ["/dev/null"])]
    assert replay(config, [ClearRoutes()]).smtp_routes == []


def test_route_limit(monkeypatch):
    monkeypatch.setattr("engine.config.values.MAX_ROUTES", 2)
    config = replay(Config(), [AddRoute("a.example.com", ("x.example.net",)),
                               AddRoute("b.example.com", ("x.example.net",))])
    _refused(config, AddRoute("c.example.com", ("x.example.net",)), "There is a maximum of 2 routes.")


def test_destination_controls():
    config = replay(Config(), [SetDestination("default", max_concurrency=100),
                               SetDestination("Example.net", create=True, tls=TlsMode.REQUIRED)])
    entry = config.destination("example.net")
    # a new entry starts from the DEFAULT entry's values
    assert (entry.domain, entry.max_concurrency, entry.max_messages_per_connection, entry.tls) == (
        "example.net", 100, 50, TlsMode.REQUIRED)
    assert config.destination("elsewhere.example").domain == "DEFAULT"
    _refused(config, SetDestination("example.net", create=True), "already in the destination")
    _refused(config, SetDestination("DEFAULT", create=True), "always exists")
    _refused(config, SetDestination("example.org", max_concurrency=5), "was not found")
    _refused(config, SetDestination("example.net", max_concurrency=0), "integer from 1 to 1000")
    _refused(config, SetDestination("example.net", max_messages_per_connection=1001),
             "integer from 1 to 1000")
    _refused(config, SetDestination("no_domain", create=True), "not a valid domain")
    _refused(config, DeleteDestination("DEFAULT"), "cannot be deleted")
    _refused(config, DeleteDestination("example.org"), "was not found")
    assert [d.domain for d in replay(config, [DeleteDestination("EXAMPLE.net")]).destinations] == [
        "DEFAULT"]


def test_delivery_dns_and_timers():
    config = replay(Config(), [SetDelivery(initial_retry=1, max_retry=2, max_queue_time=30),
                               SetDns(("127.0.0.1:5353", "10.0.0.2"), timeout=0.5),
                               SetTdcTimers(time_scale=0.01, max_connections=5)])
    assert (config.delivery.initial_retry, config.delivery.max_retry,
            config.delivery.max_queue_time, config.delivery.max_concurrency) == (1, 2, 30, 10000)
    assert [str(s) for s in config.dns.servers] == ["127.0.0.1:5353", "10.0.0.2:53"]
    assert config.dns.timeout == 0.5
    assert config.tdc.timers.scaled(120) == pytest.approx(1.2)
    assert replay(config, [SetDns(())]).dns.servers == []
    _refused(config, SetDelivery(initial_retry=5), "initial retry interval must not be longer")
    _refused(config, SetDelivery(max_concurrency=0), "integer from 1 to 10000")
    _refused(config, SetDelivery(max_queue_time=0), "number of seconds")
    _refused(config, SetDns(("dns.example.com",)), "not a valid DNS server")
    _refused(config, SetDns(("10.0.0.2", "10.0.0.2:53")), "entered more than once")
    _refused(config, SetDns(timeout=301), "number of seconds")
    _refused(config, SetTdcTimers(min_connections=6), "must not be above the maximum")
    _refused(config, SetTdcTimers(queue_limit=0), "number of seconds")


def test_scan_settings():
    config = replay(Config(), [SetScan(IN, "DEFAULT", "antispam", enabled=False),
                               SetScan(IN, "default", "antivirus", action=ScanAction.BOUNCE),
                               SetScan(Direction.OUTGOING, "DEFAULT", "antispam",
                                       action=ScanAction.DELIVER, subject_tag="  [JUNK] ")])
    assert config.incoming.default.antispam.enabled is False
    assert config.incoming.default.antispam.subject_tag == "[SPAM]"  # kept
    assert config.incoming.default.antivirus.action is ScanAction.BOUNCE
    assert config.outgoing.default.antispam.subject_tag == "[JUNK]"
    _refused(config, SetScan(IN, "nope", "antispam", enabled=True), 'no policy named "nope"')
    _refused(config, SetScan(IN, "DEFAULT", "graymail", enabled=True), "Unknown scanning service")
    _refused(config, SetScan(IN, "DEFAULT", "antispam", subject_tag="a\nb"), "subject tag")


def test_trusted_cas_and_host_ports():
    pem = ca_pem("Lab Root A")
    config = replay(Config(), [AddTrustedCa("\n" + pem + "\n\n"),
                               SetHostPort("Beta.CMD.cisco.com.", 2601)])
    assert config.trusted_cas == [pem]
    assert config.host_ports == {"beta.cmd.cisco.com": 2601}
    _refused(config, AddTrustedCa(pem), "is already trusted")
    _refused(config, AddTrustedCa("hello"), "No certificate was found")
    _refused(config, AddTrustedCa(pem + "\n" + ca_pem("Lab Root B")), "Expected one certificate")
    _refused(config, RemoveTrustedCa(ca_pem("Lab Root B")), "is not in the list")
    assert replay(config, [RemoveTrustedCa(pem)]).trusted_cas == []
    _refused(config, SetHostPort("bad host", 2601), "host name must contain")
    _refused(config, SetHostPort("mx.example.net", 0), "port must be an integer")
    _refused(config, RemoveHostPort("mx.example.net"), "has no lab port")
    assert replay(config, [RemoveHostPort("BETA.cmd.cisco.com")]).host_ports == {}


def test_mail_changes_describe_themselves():
    changes = [SetListenerAddress("127.0.0.1:2600"), AddAcceptedDomain("example.com"),
               SetMaxMessageSize(10 * 1024 * 1024), AddRoute("ALL", ("USEDNS",)),
               SetDestination("example.net", create=True, max_concurrency=5),
               SetDelivery(initial_retry=0.5), SetDns(()), SetTdcTimers(time_scale=0.1),
               SetScan(IN, "DEFAULT", "antispam", enabled=False),
               AddTrustedCa(ca_pem("Lab Root A")), SetHostPort("mx.example.net", 2602)]
    assert [c.describe() for c in changes] == [
        "listener: address 127.0.0.1:2600",
        "listener: recipient access table: accept example.com",
        "listener: maximum message size 10M",
        "SMTP routes: new route ALL -> USEDNS",
        "Destination controls: new entry example.net: concurrency 5",
        "Delivery settings: initial retry 0.5",
        "DNS: use the host's resolvers",
        "Threat Defense Connector timers: time scale 0.1",
        "Incoming Mail Policies: DEFAULT: Anti-Spam disabled",
        "Trusted certificate authorities: added O=segcli tests,CN=Lab Root A",
        "Lab host ports: mx.example.net -> port 2602",
    ]


def test_config_problems_name_every_bad_mail_setting():
    config = Config()
    config.listener.accepted_domains = ["example.com", "example.com"]
    config.smtp_routes = [SmtpRoute("a.example.com", [])]
    config.destinations = []
    config.delivery.initial_retry = 7200.0
    config.dns.servers = [Endpoint("dns.example.com", 53)]
    config.tdc.timers.min_connections = 50
    config.trusted_cas = ["not a certificate"]
    config.host_ports = {"mx.example.net": 0}
    config.ssh_listener = config.listener.address
    problems = config.problems()
    for expected in ("recipient access table: example.com is entered more than once",
                     "SMTP routes: a.example.com: You must enter at least one destination",
                     "Destination controls: the DEFAULT entry must be present",
                     "initial retry interval must not be longer",
                     "DNS servers: \"dns.example.com:53\" is not a valid DNS server",
                     "minimum number of connections (50) is above the maximum (20)",
                     "Trusted certificate authorities: No certificate was found",
                     "Lab host ports: mx.example.net: The port must be",
                     "cannot both use 127.0.0.1:2525"):
        assert any(expected in problem for problem in problems), (expected, problems)


@pytest.mark.parametrize(("peer", "entry"), [
    ("10.1.1.7", "10.1.1.0/24"),
    ("::ffff:10.1.1.7", "10.1.1.0/24"),  # an IPv4 client of a listener on "::"
    ("127.0.0.2", "127.0.0.2"),
    ("2001:db8::25", "2001:db8::/32"),
    ("10.1.2.7", None),
    ("not an address", None),
])
def test_the_relaylist_entry_a_connecting_host_matches(peer, entry):
    listener = Listener(relay_hosts=["10.1.1.0/24", "127.0.0.2", "2001:db8::/32"])
    assert listener.relay_entry(peer) == entry
