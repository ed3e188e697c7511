"""The XML status pages served by twisted.web on a loopback port, fetched by a real HTTP
client (urllib) and parsed with xml.etree, after real mail went through a live gateway
(tests/engine/gateway_lab.py): real SMTP in, real SMTP out to the sink and the SETD
stand-in, real accounts in the store."""

from __future__ import annotations

import asyncio
import base64
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import Message

import pytest
from twisted.internet import defer, task
from twisted.internet.interfaces import IOpenSSLContextFactory
from twisted.web.resource import Resource
from twisted.web.server import Site
from zope.interface import implementer

from engine.config.model import Config
from engine.mail.mail_engine import MailEngine
from engine.store.users import FACTORY_PASSWORD, Role, Users
from segcli.ssh.throttle import LoginThrottle
from segcli.web.xml_status import REALM, xml_root
from tests.engine.gateway_lab import until, until_final

pytestmark = pytest.mark.usefixtures("run")

ADMIN = ("admin", FACTORY_PASSWORD)
VIEWER = ("viewer", "Viewer#pass1")


class Source:
    """What the pages read: the live gateway's engine and configuration, and real
    accounts in its store (the appliance's own Users, with a cheap bcrypt cost)."""

    def __init__(self, mail: MailEngine, config: Config) -> None:
        self.mail: MailEngine | None = mail
        self._config = config
        self.users = Users(mail.store.engine, rounds=4)
        self.users.ensure_factory_admin()
        self.users.add(VIEWER[0], "Read-only viewer", Role.READONLY, VIEWER[1])

    @property
    def config(self) -> Config:
        return self._config


@dataclass
class Answer:
    code: int
    headers: Message
    body: bytes

    def xml(self) -> ET.Element:
        assert self.code == 200, (self.code, self.body)
        assert self.headers["Content-Type"].startswith("text/xml")
        return ET.fromstring(self.body)


@dataclass
class Server:
    base: str

    async def get(self, path: str, credentials: tuple[str, str] | None = ADMIN,
                  authorization: str | None = None) -> Answer:
        request = urllib.request.Request(self.base + path)
        if credentials is not None:
            token = base64.b64encode(":".join(credentials).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        if authorization is not None:
            request.add_header("Authorization", authorization)

        def fetch() -> Answer:
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return Answer(response.status, response.headers, response.read())
            except urllib.error.HTTPError as error:
                with error:
                    return Answer(error.code, error.headers, error.read())
        return await asyncio.to_thread(fetch)


@pytest.fixture
def source(gateway) -> Source:
    return Source(gateway.engine, gateway.config)


@asynccontextmanager
async def _serve(source: Source, throttle: LoginThrottle | None = None
                 ) -> AsyncIterator[Server]:
    from twisted.internet import reactor

    port = reactor.listenTCP(0, Site(xml_root(source, throttle=throttle)), interface="127.0.0.1")
    try:
        yield Server(f"http://127.0.0.1:{port.getHost().port}")
    finally:
        await defer.maybeDeferred(port.stopListening).asFuture(asyncio.get_running_loop())
        await asyncio.sleep(0.05)  # let the closed connections go


def _by_name(parent: ET.Element, tag: str) -> dict[str, dict[str, str]]:
    return {element.get("name", ""): dict(element.attrib) for element in parent.iter(tag)}


async def test_status_counters_move_after_real_mail(gateway, source):
    await gateway.start()
    async with _serve(source) as server:
        before = (await server.get("/status")).xml()
        assert _by_name(before, "counter")["inj_msgs"]["lifetime"] == "0"
        for n in range(2):
            await gateway.send(f"m{n}")
        await until_final(gateway, copies=2, delivered=2)
        answer = await server.get("/status")
    root = answer.xml()
    assert root.tag == "status"
    assert root.get("build", "").startswith("segcli ") and root.get("hostname") == "gw.example.com"
    assert re.fullmatch(r"\d{14}", root.get("timestamp", ""))
    birth = root.find("birth_time")
    assert birth is not None and re.fullmatch(r"\d{14} \((\d+[dhm] )*\d+s\)", birth.get("timestamp", ""))
    assert [child.tag for child in root] == [
        "birth_time", "last_counter_reset", "system", "oldest_message", "features", "counters",
        "current_ids", "rates", "gauges"]
    assert root.find("last_counter_reset").get("timestamp") == ""  # type: ignore[union-attr]
    assert root.find("system").get("status") == "online"  # type: ignore[union-attr]
    counters = _by_name(root, "counter")
    assert counters["inj_msgs"] == {"name": "inj_msgs", "reset": "2", "uptime": "2", "lifetime": "2"}
    assert counters["inj_recips"]["lifetime"] == "2"
    # two deliveries to example.com and two journal copies delivered to SETD
    assert counters["delivered_recips"]["reset"] == "4"
    assert counters["completed_recips"]["reset"] == "4"
    assert counters["gen_journal_recips"]["reset"] == "2"
    assert counters["hard_bounced_recips"]["reset"] == "0"
    assert counters["global_unsub_hits"]["lifetime"] == "0"
    ids = root.find("current_ids")
    assert ids is not None and ids.get("message_id") == str(gateway.engine.ids.current("mid"))
    assert int(ids.get("injection_conn_id", "0")) >= 2
    rates = _by_name(root, "rate")
    assert rates["inj_msgs"]["last_1_min"] == "120"  # 2 in the last minute: 120 an hour
    gauges = _by_name(root, "gauge")
    assert gauges["active_recips"]["current"] == "0"
    assert gauges["dests_in_memory"]["current"] == "2"  # example.com and the.tdc.queue
    assert int(gauges["kbytes_free"]["current"]) > 0
    oldest = root.find("oldest_message")
    assert oldest is not None and oldest.attrib == {"secs": "0", "mid": "0"}
    # what check_ironport.pl's regular expressions read (attributes in this order)
    text = answer.body.decode()
    assert re.search(r'<counter\s+name="inj_msgs"\s+reset="\d+"\s+uptime="\d+"\s+lifetime="2"', text)
    assert re.search(r'<rate\s+name="inj_msgs"\s+last_1_min="\d+"\s+last_5_min="24"', text)
    assert re.search(r'<gauge\s+name="conn_out"\s+current="0"', text)


async def test_status_names_the_oldest_queued_message(gateway, source, unused_port):
    gateway.config.host_ports["mx.example.com"] = unused_port  # nothing can be delivered
    await gateway.start()
    await gateway.send("stuck")
    await until(lambda: gateway.engine.counters.host("example.com").active == 1)
    async with _serve(source) as server:
        root = (await server.get("/status")).xml()
    oldest = root.find("oldest_message")
    assert oldest is not None and int(oldest.get("mid", "0")) >= 1
    assert int(oldest.get("secs", "-1")) >= 0
    assert _by_name(root, "gauge")["active_recips"]["current"] != "0"


async def test_tophosts_and_hoststatus_show_the_tdc_queue(gateway_after_traffic, source):
    gateway = gateway_after_traffic
    async with _serve(source) as server:
        top = (await server.get("/tophosts?sort=delivered_recips")).xml()
        by_number = (await server.get("/tophosts?sort=5")).xml()
        default = (await server.get("/tophosts")).xml()
        host = (await server.get("/hoststatus?hostname=the.tdc.queue")).xml()
        upper = (await server.get("/hoststatus?hostname=THE.TDC.QUEUE")).xml()
        unknown = await server.get("/hoststatus?hostname=nowhere.test")
        missing = await server.get("/hoststatus")
        bad_sort = await server.get("/tophosts?sort=size")
    assert top.tag == "tophosts" and top.get("sort") == "delivered_recips"
    assert by_number.get("sort") == "soft_bounced_evts" and default.get("sort") == "active_recips"
    rows = {row.get("name"): row.attrib for row in top.iter("host")}
    assert rows["example.com"]["rank"] == "1"  # most delivered first
    assert {k: rows["example.com"][k] for k in ("active_recips", "conn_out", "delivered_recips",
                                                "soft_bounced_evts", "hard_bounced_recips")} \
        == {"active_recips": "0", "conn_out": "0", "delivered_recips": "3",
            "soft_bounced_evts": "0", "hard_bounced_recips": "0"}
    assert rows["the.tdc.queue"]["delivered_recips"] == "2"
    assert rows["the.tdc.queue"]["hard_bounced_recips"] == "1"

    assert host.tag == "hoststatus" and host.get("hostname") == "the.tdc.queue"
    assert host.get("status") in ("up", "down")
    assert ET.tostring(upper) == ET.tostring(host).replace(
        host.get("timestamp", "").encode(), upper.get("timestamp", "").encode())
    counters = {c.get("name"): c.get("reset") for c in host.iter("counter")}
    assert counters["delivered_recips"] == "2" and counters["hard_bounced_recips"] == "1"
    assert counters["5xx_hard_bounced_recips"] == "1" and counters["completed_recips"] == "3"
    gauges = {g.get("name"): g.get("current") for g in host.iter("gauge")}
    assert gauges["active_recips"] == "0" and gauges["conn_out"] == "0"
    assert re.fullmatch(r"\d{14}", host.find("last_activity").get("timestamp", ""))  # type: ignore[union-attr]
    # the CLI's hoststatus says the same
    ok, text = await gateway.command("hoststatus the.tdc.queue")
    assert ok and re.search(r"Delivered Recipients\s+2\b", text)

    assert unknown.code == 404 and b"No record of host: nowhere.test" in unknown.body
    assert missing.code == 400 and b"hostname" in missing.body
    assert bad_sort.code == 400 and b"active_recips" in bad_sort.body


async def test_the_tdc_queue_is_known_before_its_first_copy(gateway, source):
    async with _serve(source) as server:
        host = (await server.get("/hoststatus?hostname=the.tdc.queue")).xml()
        top = (await server.get("/tophosts")).xml()
    assert {c.get("name"): c.get("reset") for c in host.iter("counter")}["delivered_recips"] == "0"
    assert [row.get("name") for row in top.iter("host")] == ["the.tdc.queue"]


async def test_basic_authentication_against_the_appliance_users(gateway, source):
    async with _serve(source) as server:
        nobody = await server.get("/status", credentials=None)
        wrong = await server.get("/status", credentials=("admin", "wrong"))
        unknown = await server.get("/tophosts", credentials=("ghost", FACTORY_PASSWORD))
        bearer = await server.get("/status", credentials=None, authorization="Bearer abc")
        viewer = await server.get("/status", credentials=VIEWER)
        other = await server.get("/nothing")
        post = await asyncio.to_thread(_post, server.base + "/status")
    for refused in (nobody, wrong, unknown, bearer):
        assert refused.code == 401
        assert refused.headers["WWW-Authenticate"] == f'Basic realm="{REALM}"'
        assert b"<status" not in refused.body
    assert viewer.xml().tag == "status"  # any role may read
    assert other.code == 404
    assert post == 405


def _post(url: str) -> int:
    request = urllib.request.Request(url, data=b"x", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        with error:
            return error.code


async def test_wrong_passwords_are_throttled_as_over_ssh(gateway, source):
    clock = task.Clock()
    throttle = LoginThrottle(clock=clock, base=5.0, cap=20.0, account_base=5.0, account_cap=5.0)
    async with _serve(source, throttle) as server:
        guess = asyncio.ensure_future(server.get("/status", credentials=("admin", "guess")))
        await until(lambda: _failures(throttle) == 1)
        await asyncio.sleep(0.3)
        assert not guess.done()  # the refusal waits for the pause
        clock.advance(5.0)
        refused = await guess
        assert refused.code == 401
        # the right password, once the account's pause has passed, is let in
        right = asyncio.ensure_future(server.get("/status"))
        await asyncio.sleep(0.2)
        clock.advance(5.0)
        assert (await right).xml().tag == "status"


async def test_a_client_that_leaves_during_the_pause_is_no_error(gateway, source, caplog):
    clock = task.Clock()
    throttle = LoginThrottle(clock=clock, base=5.0, cap=20.0, account_base=0.0, account_cap=0.0)
    token = base64.b64encode(b"admin:guess").decode()
    async with _serve(source, throttle) as server:
        port = int(server.base.rpartition(":")[2])
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n\r\n"
                     .encode())
        await writer.drain()
        await until(lambda: _failures(throttle) == 1)
        writer.close()  # gone before the refusal
        await writer.wait_closed()
        await asyncio.sleep(0.2)
        clock.advance(20.0)
        await asyncio.sleep(0.2)
        clock.advance(20.0)
        assert (await server.get("/status")).xml().tag == "status"
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text


def _failures(throttle: LoginThrottle) -> int:
    """The recent wrong passwords the throttle holds against the loopback address."""
    record = throttle.sources.peek("127.0.0.1")
    return 0 if record is None else len(record.failures)


async def test_curl_reads_the_pages_over_https(gateway, source, tls_material):
    """Mounted at ``/xml`` of an HTTPS site, as the web server mounts it, and fetched as
    monitoring tools fetch it: ``curl -u`` checking the certificate against the CA."""
    from OpenSSL import SSL
    from twisted.internet import reactor

    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.use_certificate_chain_file(str(tls_material.cert))
    context.use_privatekey_file(str(tls_material.key))
    options = _ContextFactory(context)
    top = Resource()
    top.putChild(b"xml", xml_root(source))
    port = reactor.listenSSL(0, Site(top), options, interface="127.0.0.1")
    base = f"https://127.0.0.1:{port.getHost().port}/xml"
    trust = ("--cacert", str(tls_material.ca_cert))
    try:
        tophosts = await _curl(*trust, "-u", ":".join(ADMIN), f"{base}/tophosts?sort=active_recips")
        status = await _curl(*trust, "-u", ":".join(VIEWER), f"{base}/status")
        refused = await _curl(*trust, "-u", "admin:nope", "-o", "/dev/null", "-w", "%{http_code}",
                              f"{base}/status")
    finally:
        await defer.maybeDeferred(port.stopListening).asFuture(asyncio.get_running_loop())
        await asyncio.sleep(0.05)
    assert [h.get("name") for h in ET.fromstring(tophosts).iter("host")] == ["the.tdc.queue"]
    assert ET.fromstring(status).get("hostname") == "gw.example.com"
    assert refused == b"401"


@implementer(IOpenSSLContextFactory)
class _ContextFactory:
    """A server context made from the certificate and key files, as listenSSL takes it."""

    def __init__(self, context: object) -> None:
        self.context = context

    def getContext(self) -> object:
        return self.context


async def _curl(*args: str) -> bytes:
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--max-time", "30", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err
    return out


async def test_no_mail_engine_here_is_a_clear_error(gateway, source):
    source.mail = None  # an extra console's appliance: no engine in this process
    async with _serve(source) as server:
        answer = await server.get("/status")
    assert answer.code == 503 and b"Couldn't obtain mail stats" in answer.body
