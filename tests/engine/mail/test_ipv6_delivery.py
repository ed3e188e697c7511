"""An MX host with only an IPv6 address (AAAA) is delivered to over IPv6, as a real
gateway would, and the delivery lines show the IPv6 address."""

from __future__ import annotations

import re

import pytest

from tests.engine.gateway_lab import Endpoint_, ScriptedHandler, until

pytestmark = pytest.mark.usefixtures("run")


async def test_delivery_to_an_ipv6_only_mx_host(gateway, smtp_servers):
    six = Endpoint_()
    _, port = smtp_servers.start(lambda: ScriptedHandler(six), interface="::1")
    gateway.dns_zone.add_mx("v6.example.com", "mx6.example.com")
    gateway.dns_zone.add_aaaa("mx6.example.com", "::1")
    gateway.config.host_ports["mx6.example.com"] = port
    await gateway.start()
    await gateway.send("over six", recipients=("carol@v6.example.com",))
    # the gateway counts the delivery once it has read the 250, a moment after the sink
    await until(lambda: gateway.engine.counters.host("v6.example.com").delivered == 1)
    assert len(six.messages) == 1 and six.messages[0][1] == ["carol@v6.example.com"]
    assert any(re.fullmatch(rf"New SMTP DCID \d+ interface \S+ address ::1 port {port}", line)
               for line in gateway.lines()), gateway.lines()
