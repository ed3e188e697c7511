"""A control socket served for parts of a lab (a real SETD simulator and DNS zone, no
gateway), for the tests of the lab's control ops; and small clients of those parts."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import dns.asyncquery
import dns.message
import pytest

from segcli.lab.control import ControlServer
from segcli.lab.control_ops import register_lab_ops
from tests.lab.setd_client import Target, attempt, journal, original


class _Parts:
    """The parts of a lab the SETD, DNS and fault ops read."""

    def __init__(self, setd, zone, data_dir) -> None:
        self.setd = setd
        self.zone = zone
        self.appliance = SimpleNamespace(options=SimpleNamespace(data_dir=data_dir))

    def describe_ports(self):
        return {"smtp": {"host": "127.0.0.1", "port": 0}}

    def smtp_address(self):
        return "127.0.0.1", 0


@pytest.fixture
def lab(run, setd, dns_zone, tmp_path):
    register_lab_ops()
    dns_zone.add_mail_domain(setd.domain, setd.mx_host_of(setd.domain))
    parts = _Parts(setd, dns_zone, tmp_path)
    server = ControlServer(parts, tmp_path)
    run(server.start())
    yield parts
    run(server.stop())


def deliver(setd, intake, n):
    """One journal of original <mN@example.org> to *intake*, from a worker thread."""
    return asyncio.to_thread(attempt, Target.of(setd), intake,
                             journal(intake, original(f"report {n}", n)))


async def ask_dns(zone, name, rdtype="MX"):
    query = dns.message.make_query(name, rdtype)
    return await dns.asyncquery.udp(query, zone.host, port=zone.port, timeout=2)
