"""segcli/lab/traffic.py against the real mail engine on loopback (tests/engine/gateway_lab.py):
each kind of message takes its path through the gateway, refusals raise with the reply."""

from __future__ import annotations

import asyncio
import email
from email.policy import default as default_policy
from pathlib import Path

import pytest

from engine.mail.journal import attached_original
from engine.mail.verdicts import EICAR, scan
from segcli.lab import traffic
from segcli.lab.traffic import TRAFFIC_KINDS, TrafficError, compose, send
from tests.engine.conftest import server_tls, smtp_servers, tls_dir, tls_material  # noqa: F401
from tests.engine.gateway_lab import dns_zone, gateway, until  # noqa: F401


def test_each_kind_carries_what_the_gateway_judges_by():
    verdicts = {}
    for kind in TRAFFIC_KINDS:
        message_id, data = compose(kind, sender="alice@example.org", to=["bob@example.com"],
                                   subject=f"{kind} test", size=200_000)
        parsed = email.message_from_bytes(data, policy=default_policy)
        assert parsed["Message-ID"] == message_id and message_id.startswith("<")
        assert parsed["Subject"] == f"{kind} test" and parsed["To"] == "bob@example.com"
        assert b"\r\n" in data and data.count(b"\n") == data.count(b"\r\n")
        verdicts[kind] = scan(data)
        if kind == "large":
            assert 190_000 < len(data) < 210_000
    assert [v.spam for v in verdicts.values()] == [False, True, False, False]
    assert [v.virus for v in verdicts.values()] == [None, None, "EICAR-AV-Test", None]
    # the module's own source carries no test string an anti-virus would flag
    assert EICAR not in Path(traffic.__file__).read_bytes()


def test_compose_refuses_what_makes_no_message():
    with pytest.raises(ValueError, match="unknown kind"):
        compose("phish", sender="a@example.org", to=["b@example.com"], subject="x")
    with pytest.raises(ValueError, match="recipient"):
        compose("clean", sender="a@example.org", to=[], subject="x")
    message_id, _ = compose("clean", sender="a@example.org", to=["b@example.com"], subject="x",
                            message_id="<given@example.org>")
    assert message_id == "<given@example.org>"


async def test_kinds_take_their_paths_through_the_gateway(gateway):  # noqa: F811
    await gateway.start()
    sent = []
    for kind in ("clean", "gtube", "eicar"):
        sent += await send("127.0.0.1", gateway.port, kind=kind, subject=f"{kind} path")
    assert [m.reply.split()[0] for m in sent] == ["250"] * 3
    assert all(m.sender == "alice@example.org" and m.recipients == ("bob@example.com",)
               for m in sent)
    await until(lambda: len(gateway.sink.messages) == 2 and len(gateway.setd.messages) == 1)
    await gateway.engine.settled()
    sunk = [data for _, _, data, _ in gateway.sink.messages]
    assert any(b"Subject: clean path" in d for d in sunk)
    assert any(b"Subject: [SPAM] gtube path" in d for d in sunk)  # delivered, tagged
    assert not any(b"eicar path" in d for d in sunk)  # dropped by antivirus
    journaled = attached_original(gateway.setd.messages[0][2])
    assert f"Message-ID: {sent[0].message_id}".encode() in journaled  # only the clean one
    assert len(gateway.setd.messages) == 1


async def test_count_spread_over_sessions_and_time(gateway):  # noqa: F811
    await gateway.start()
    loop = asyncio.get_running_loop()
    began = loop.time()
    sent = await send("127.0.0.1", gateway.port, count=4, sessions=2, over_s=0.4,
                      to=["bob@example.com", "carol@example.com"], subject="burst")
    assert loop.time() - began >= 0.3  # the last message was due at 0.3 s
    assert len({m.message_id for m in sent}) == 4 and all(m.subject == "burst" for m in sent)
    assert all(m.recipients == ("bob@example.com", "carol@example.com") for m in sent)
    await until(lambda: len(gateway.sink.messages) == 4)
    log = gateway.log()
    assert log.count("New SMTP ICID") == 2, "two connections, two messages on each"


async def test_a_refused_message_raises_with_the_reply(gateway):  # noqa: F811
    await gateway.start()
    with pytest.raises(TrafficError, match=r"refused at rcpt: 550 .*") as refused:
        await send("127.0.0.1", gateway.port, to="x@elsewhere.org")
    assert refused.value.sent == []
    with pytest.raises(ValueError, match="count"):
        await send("127.0.0.1", gateway.port, count=0)


async def test_no_gateway_listening_is_a_traffic_error(unused_port):
    with pytest.raises(TrafficError, match=f"not sent to 127.0.0.1:{unused_port}"):
        await send("127.0.0.1", unused_port)
