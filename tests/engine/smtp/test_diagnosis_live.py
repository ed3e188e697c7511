"""The gateway's own diagnosis tools against a live engine and the lab's DNS zone:
``nslookup``, ``dnsflush``, ``tlsverify`` (success and each failure kind) and ``telnet``."""

from __future__ import annotations

import asyncio
import re

import pytest

from commands.session import CliSession
from engine.smtp.server import Reply
from tests.conftest import CTRL_C, ScriptedTerminal
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


class _Appliance:
    """The live engine and its config; ``attached=True`` is a console of another process."""

    def __init__(self, gateway, *, attached: bool = False) -> None:
        self.mail = None if attached else gateway.engine
        self.config = gateway.config
        self.running = type("V", (), {"id": 1, "config": gateway.config})()


async def _run(gateway, line: str, answers=(), *, attached: bool = False,
               interactive: bool = False) -> tuple[bool, str]:
    terminal = ScriptedTerminal(answers, interactive=interactive)
    session = CliSession(_Appliance(gateway, attached=attached), terminal)
    ok = await session.execute(line)
    return ok, terminal.text


# -- nslookup and dnsflush ------------------------------------------------------------------
async def test_nslookup_shows_mx_and_a_records_with_their_ttls(gateway):
    gateway.dns_zone.add_a("ttl.example.com", "192.0.2.7", ttl=3725)
    ok, text = await gateway.command("nslookup example.com MX")
    assert ok and "\nMX=mx.example.com PREF=10 TTL=5m\n" in text
    ok, text = await gateway.command("nslookup mx.example.com")
    assert ok and "\nA=127.0.0.1 TTL=5m\n" in text
    loop = asyncio.get_running_loop()
    asked = loop.time()
    ok, text = await gateway.command("nslookup ttl.example.com a")
    assert ok and "A=192.0.2.7 TTL=1h2m5s" in text
    # A cached answer: its TTL counts down with time, a second per second.  Ask until it
    # has moved, then compare how far it moved with the time that passed.
    deadline = asked + 10
    while "TTL=1h2m5s" in text:
        assert loop.time() < deadline, "the cached TTL did not count down"
        await asyncio.sleep(0.05)
        ok, text = await gateway.command("nslookup ttl.example.com")
    elapsed = loop.time() - asked
    seconds = re.search(r"A=192\.0\.2\.7 TTL=1h2m(\d)s", text)
    assert ok and seconds, text
    assert elapsed >= 1.0  # not before a second had passed
    assert 1 <= 5 - int(seconds[1]) <= int(elapsed), (text, elapsed)


async def test_nslookup_errors_and_empty_answers(gateway):
    ok, text = await gateway.command("nslookup nosuch.example.net MX")
    assert not ok
    assert "Unable to resolve nosuch.example.net (MX): NXDOMAIN, the domain name does not exist." in text
    gateway.dns_zone.set_fault("broken.example.com", "servfail")
    ok, text = await gateway.command("nslookup broken.example.com")
    assert not ok and "Unable to resolve broken.example.com (A): SERVFAIL" in text
    ok, text = await gateway.command("nslookup example.com TXT")
    assert ok and "No TXT records were found for example.com." in text
    ok, text = await gateway.command("nslookup example.com BOGUS")
    assert not ok and "usage is nslookup <name>" in text


async def test_nslookup_interactive_and_from_an_attached_console(gateway):
    ok, text = await _run(gateway, "nslookup", ["example.com", "4"])
    assert ok and "Please enter the host or IP address to resolve." in text
    assert "Choose the query type:\n1. A      the host's IP address\n" in text
    assert "4. MX     the mail exchanger" in text and "[A]> 4" in text
    assert "MX=mx.example.com PREF=10 TTL=5m" in text
    # no engine in this process: a resolver for the configured servers asks the same zone
    ok, text = await _run(gateway, "nslookup example.com mx", attached=True)
    assert ok and "MX=mx.example.com PREF=10 TTL=5m" in text


async def test_dnsflush_says_how_many_answers_it_dropped(gateway):
    for name in ("example.com MX", "mx.example.com A", "mx.setd.test A"):
        assert (await gateway.command(f"nslookup {name}"))[0]
    assert gateway.engine.resolver.cached == 3
    ok, text = await gateway.command("dnsflush")
    assert ok and "DNS cache flushed: 3 entries removed." in text
    assert gateway.engine.resolver.cached == 0
    ok, text = await gateway.command("dnsflush")
    assert ok and "DNS cache flushed: 0 entries removed." in text
    # at a terminal it asks first
    await gateway.command("nslookup example.com MX")
    ok, text = await _run(gateway, "dnsflush", ["n"], interactive=True)
    assert ok and "Are you sure you want to clear out the DNS cache? [N]>" in text
    assert gateway.engine.resolver.cached == 1
    ok, text = await _run(gateway, "dnsflush", ["y"], interactive=True)
    assert ok and "1 entry removed" in text
    ok, text = await _run(gateway, "dnsflush", attached=True)
    assert not ok and "runs in another segcli process" in text


# -- tlsverify ---------------------------------------------------------------------------------
async def test_tlsverify_succeeds_against_the_setd_stand_in(gateway):
    port = gateway.config.host_ports["mx.setd.test"]
    ok, text = await gateway.command("tlsverify setd.test")
    assert ok, text
    steps = [
        "Checking TLS connection to setd.test.",
        f"Delivery host: MX 10 mx.setd.test 127.0.0.1 port {port} (lab port)",
        f"Connecting to mx.setd.test (127.0.0.1) port {port}.",
        "Connection to 127.0.0.1 succeeded.",
        "EHLO gw.example.com: 250, STARTTLS is offered.",
        "Sending STARTTLS command.",
        "TLS handshake succeeded: protocol TLSv1.",
        "Peer certificate: CN=mx.setd.test, issued by CN=segcli lab CA",
        "Verifying the certificate chain against the trusted CAs (1 from certconfig and the "
        "system's): verified.",
        "Verifying the host name mx.setd.test against the certificate (DNS:mx.setd.test, "
        "DNS:localhost, IP:127.0.0.1): matches.",
        "TLS certificate verified.",
        "TLS connection to setd.test succeeded.",
    ]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)  # step by step, in this order
    ok, text = await gateway.command("tlsverify the.tdc.queue")  # the default intake's domain
    assert ok and "TLS connection to setd.test succeeded." in text


async def test_tlsverify_without_starttls(gateway):
    gateway.setd.starttls = False
    ok, text = await gateway.command("tlsverify setd.test")
    assert not ok
    assert "EHLO gw.example.com: 250, STARTTLS is NOT offered." in text
    assert "TLS connection to setd.test failed: the server does not offer STARTTLS." in text
    assert "Sending STARTTLS" not in text


async def test_tlsverify_with_an_untrusted_ca(gateway):
    gateway.config.trusted_cas = []
    ok, text = await gateway.command("tlsverify setd.test")
    assert not ok
    assert ("Verifying the certificate chain against the trusted CAs (0 from certconfig and the "
            "system's): FAILED: unable to get local issuer certificate.") in text
    assert "against the certificate (DNS:mx.setd.test, DNS:localhost, IP:127.0.0.1): matches." in text
    assert ("TLS connection to setd.test failed: the certificate chain did not verify (unable to "
            "get local issuer certificate).") in text


async def test_tlsverify_with_the_wrong_name(gateway):
    gateway.dns_zone.add_mail_domain("wrong.test", "mx.wrong.test")
    gateway.config.host_ports["mx.wrong.test"] = gateway.config.host_ports["mx.setd.test"]
    ok, text = await gateway.command("tlsverify wrong.test")
    assert not ok
    assert "certificate chain against the trusted CAs (1 from certconfig and the system's): verified." in text
    assert ("Verifying the host name mx.wrong.test against the certificate (DNS:mx.setd.test, "
            "DNS:localhost, IP:127.0.0.1): FAILED: the certificate does not name it.") in text
    assert "TLS connection to wrong.test failed: the certificate does not name mx.wrong.test" in text


async def test_tlsverify_dns_and_connection_failures(gateway, unused_port):
    ok, text = await gateway.command("tlsverify nosuch.example.net")
    assert not ok and ("TLS connection to nosuch.example.net failed: Unable to resolve "
                       "nosuch.example.net (MX): NXDOMAIN") in text
    ok, text = await gateway.command(f"tlsverify setd.test 127.0.0.1:{unused_port}")
    assert not ok and f"cannot connect to 127.0.0.1 port {unused_port}: connection refused" in text


# -- telnet ------------------------------------------------------------------------------------
async def test_telnet_holds_an_smtp_conversation_with_the_sink(gateway):
    conversation = ["EHLO gw.example.com", "MAIL FROM:<alice@example.org>",
                    "RCPT TO:<bob@example.com>", "DATA", "Subject: by telnet", "", "hello", ".",
                    "QUIT"]
    ok, text = await _run(gateway, "telnet mx.example.com", conversation)
    assert ok, text
    port = gateway.config.host_ports["mx.example.com"]
    assert f"Trying 127.0.0.1 port {port} (lab port)...\nConnected to mx.example.com." in text
    for reply in ("220 ", "250-", "250 ", "354 ", "221 "):
        assert f"\n{reply}" in text, reply
    assert text.rstrip().endswith("Connection closed by foreign host.")
    [(sender, recipients, data, _tls)] = gateway.sink.messages
    assert sender == "alice@example.org" and recipients == ["bob@example.com"]
    assert b"Subject: by telnet" in data and b"hello" in data
    assert gateway.sink.open_connections == 0


async def test_telnet_ends_when_the_server_closes_and_on_ctrl_c(gateway):
    gateway.sink.faults["connect"] = [Reply(421, "4.3.2 Service not available")]
    ok, text = await _run(gateway, "telnet mx.example.com 25", ["EHLO x", "QUIT"])
    assert ok and "421 4.3.2 Service not available" in text
    assert "Connection closed by foreign host." in text and "EHLO x" not in text

    ok, text = await _run(gateway, "telnet mx.example.com", ["EHLO gw.example.com", CTRL_C])
    assert not ok and "250 " in text  # cancelled like any command
    await until(lambda: gateway.sink.open_connections == 0)


async def test_telnet_to_an_unknown_host_or_closed_port_fails(gateway, unused_port):
    ok, text = await gateway.command("telnet nosuch.example.net 25")
    assert not ok
    assert "Unknown host nosuch.example.net: Unable to resolve nosuch.example.net (A): NXDOMAIN" in text
    ok, text = await gateway.command(f"telnet 127.0.0.1 {unused_port}")
    assert not ok and f"Unable to connect to 127.0.0.1 port {unused_port}: " in text
    ok, text = await gateway.command("telnet mx.example.com 99999")
    assert not ok and "usage is telnet <host> [<port>]" in text
