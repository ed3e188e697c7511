"""The AsyncOS XML status pages monitoring tools read: ``/xml/status``, ``/xml/tophosts``
and ``/xml/hoststatus?hostname=<host>``, behind HTTP Basic authentication.

Layout followed (public samples; nothing here is copied from them):

- ``/xml/status``: the document a real appliance (build ``phoebe 10.0.0-203``) served, kept
  as the test fixture of https://github.com/1player/ironport-prometheus-exporter
  (``status_test.go``), and the parsers that read it:
  https://github.com/sshipway/check-ironport (``check_ironport.pl``, which matches
  ``<counter name reset uptime lifetime>``, ``<rate name last_1_min last_5_min>``,
  ``<gauge name current>`` and ``<feature name time_remaining>`` with regular
  expressions, so the attributes come in that order here), the Zabbix template
  "ESA-CISCO XML Status" and the AsyncOS Nagios plugins (``check_asyncos``) that read
  ``birth_time``'s ``timestamp`` as ``YYYYmmddHHMMSS (uptime)``.  Root
  ``<status build hostname timestamp>``, then ``birth_time``, ``last_counter_reset``
  (empty ``timestamp`` before the first ``resetcounters``), ``system status``,
  ``oldest_message secs mid``, ``features``, ``counters``, ``current_ids``, ``rates``,
  ``gauges``, with the sample's names in the sample's order.
- The HTTP realm ``IronPort Web Interface``: the default realm of those plugins.

What segcli decides itself (no public sample of these was found; XML comments mark
segcli's additions in the documents):

- ``build`` is ``segcli <AsyncOS version>`` (the sample's codename slot names the
  emulator); times are GMT, as the CLI's.
- ``features`` lists ``Incoming Mail Handling`` as ``Dormant/Perpetual`` only: the
  emulator has no licensed engines.  Gauges of engines it does not have (anti-virus,
  CASE, Brightmail, quarantines, reporting) are 0, as ``status detail`` shows them.
- ``rates`` are events per hour over 1, 5 and 15 minutes, the figures of ``status detail``.
- The counter ``gen_journal_recips`` (journal copies made for the.tdc.queue, ``status
  detail``'s Gen. Journal Recipients) is segcli's; ``global_unsub_hits`` is always 0.
- ``oldest_message`` has ``secs="0" mid="0"`` when nothing is queued.
- ``/xml/tophosts``: ``<tophosts timestamp sort>`` with one ``<host rank name status
  active_recips conn_out delivered_recips soft_bounced_evts hard_bounced_recips/>`` per
  row of ``tophosts`` (top 20; ``status`` is ``up`` or ``down``).  ``?sort=`` takes the
  status page's names of the columns (``active_recips``, the default, ``conn_out``,
  ``delivered_recips``, ``hard_bounced_recips``, ``soft_bounced_evts``) or the CLI's
  choices ``1``-``5``.
- ``/xml/hoststatus``: ``<hoststatus hostname timestamp status>`` with ``oldest_message``,
  ``last_activity``, ``counters`` (``<counter name reset/>``: since ``resetcounters``, as
  ``hoststatus`` counts) and ``gauges`` (``<gauge name current/>``), the rows of the
  ``hoststatus`` command.  An unknown host is 404 with the CLI's ``No record of host:``;
  the.tdc.queue is known while the connector is enabled, as in ``tophosts``.

Every figure comes from the functions the CLI commands use (``commands/status.py``,
``commands/tophosts.py`` ``ranked``/``row_figures``, ``commands/hoststatus.py``
``report_rows``, ``engine/observe/stats.py``), never from CLI output.  Any role may
read; wrong passwords go through the same :class:`~segcli.ssh.throttle.LoginThrottle` as
SSH logins (pass the web server's, or each root makes its own); password checks (bcrypt)
and store reads run in threads, never on the event loop.

Tests: tests/segcli/web/test_xml_status.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import threads
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.web import pages
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request

from commands.hoststatus import report_rows
from commands.monitor import duration
from commands.status import system_status
from commands.tophosts import SORTS, ranked, row_figures
from engine.appliance import ASYNCOS_VERSION
from engine.config.model import Config
from engine.mail.mail_engine import MailEngine
from engine.observe.counters import Column, HostCounters
from engine.observe.log_lines import TDC_QUEUE
from engine.observe.stats import CPU, QueueUsage, human_bytes, memory_percent, oldest_message
from engine.observe.stats import queue_usage as read_usage
from engine.store import queue_store
from engine.store.users import User, Users
from segcli.ssh.throttle import LoginThrottle

log = logging.getLogger(__name__)

REALM = "IronPort Web Interface"
BUILD = f"segcli {ASYNCOS_VERSION}"
CONTENT_TYPE = b"text/xml; charset=utf-8"

#: ``/xml/status`` counters: (XML name, key of Counters.totals()); None: always 0.
COUNTERS: list[tuple[str, str | None]] = [
    ("inj_msgs", "messages_received"),
    ("inj_recips", "recipients_received"),
    ("gen_bounce_recips", "generated_bounces"),
    ("rejected_recips", "rejected_recipients"),
    ("dropped_msgs", "dropped_messages"),
    ("soft_bounced_evts", "soft_bounced_events"),
    ("completed_recips", "completed"),
    ("hard_bounced_recips", "hard_bounced"),
    ("dns_hard_bounced_recips", "hard_dns"),
    ("5xx_hard_bounced_recips", "hard_5xx"),
    ("filter_hard_bounced_recips", "hard_filter"),
    ("expired_hard_bounced_recips", "hard_expired"),
    ("other_hard_bounced_recips", "hard_other"),
    ("delivered_recips", "delivered"),
    ("deleted_recips", "deleted"),
    ("global_unsub_hits", None),
]
#: ``/xml/status`` rates: (XML name, name in engine.observe.rates.Rates)
RATES = [("inj_msgs", "messages_received"), ("inj_recips", "recipients_received"),
         ("soft_bounced_evts", "soft_bounced"), ("completed_recips", "completed"),
         ("hard_bounced_recips", "hard_bounced"), ("delivered_recips", "delivered")]
#: ``/xml/tophosts`` attributes: (XML name, key of commands.tophosts.row_figures)
TOPHOSTS_FIGURES = [("active_recips", "active"), ("conn_out", "conn_out"),
                    ("delivered_recips", "delivered"), ("soft_bounced_evts", "soft_bounced"),
                    ("hard_bounced_recips", "hard_bounced")]
#: ``?sort=`` names, in the order of commands.tophosts.SORTS (the CLI's choices 1-5)
SORT_NAMES = ["active_recips", "conn_out", "delivered_recips", "hard_bounced_recips",
              "soft_bounced_evts"]
#: ``/xml/hoststatus``: the XML names of the rows of commands.hoststatus.report_rows
HOSTSTATUS_NAMES = {
    "Soft Bounced Events": "soft_bounced_evts", "Completed Recipients": "completed_recips",
    "Hard Bounced Recipients": "hard_bounced_recips",
    "DNS Hard Bounces": "dns_hard_bounced_recips", "5XX Hard Bounces": "5xx_hard_bounced_recips",
    "Filter Hard Bounces": "filter_hard_bounced_recips",
    "Expired Hard Bounces": "expired_hard_bounced_recips",
    "Other Hard Bounces": "other_hard_bounced_recips",
    "Delivered Recipients": "delivered_recips", "Deleted Recipients": "deleted_recips",
    "Active Recipients": "active_recips", "Unattempted Recipients": "unattempted_recips",
    "Attempted Recipients": "attempted_recips", "Current Outbound Connections": "conn_out",
    "Pending Outbound Connections": "pending_conn_out",
}

assert len(SORT_NAMES) == len(SORTS)


class StatusSource(Protocol):
    """What the pages read of the appliance (``engine.appliance.Appliance`` provides it)."""

    mail: MailEngine | None
    users: Users

    @property
    def config(self) -> Config: ...


class PageError(Exception):
    """A request the page cannot answer: the HTTP status and a plain-text reason."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def xml_root(appliance: StatusSource, *, throttle: LoginThrottle | None = None) -> Resource:
    """The ``/xml`` resource: children ``status``, ``tophosts`` and ``hoststatus``.
    *throttle* holds the wrong-password pauses (a new one if None)."""
    guard = throttle if throttle is not None else LoginThrottle()
    root = XmlDirectory()
    root.putChild(b"status", XmlPage(appliance, guard, status_page))
    root.putChild(b"tophosts", XmlPage(appliance, guard, tophosts_page))
    root.putChild(b"hoststatus", XmlPage(appliance, guard, hoststatus_page))
    return root


class XmlDirectory(Resource):
    """``/xml`` itself: its pages, and a plain 404 for any other name."""

    def getChild(self, path: bytes, request: Request) -> IResource:
        return pages.notFound()

    def render(self, request: Request) -> bytes:
        return pages.notFound().render(request)


#: Makes a page's document from the appliance, its live engine and the query arguments.
Builder = Callable[[StatusSource, MailEngine, dict[str, str]], Coroutine[Any, Any, ET.Element]]


class XmlPage(Resource):
    """One XML page: Basic authentication through the throttle, then the document."""

    isLeaf = True

    def __init__(self, appliance: StatusSource, throttle: LoginThrottle, build: Builder) -> None:
        super().__init__()
        self.appliance = appliance
        self.throttle = throttle
        self.build = build

    def render(self, request: Request) -> object:
        """GET (and HEAD, which twisted.web answers without the body); any other method
        is 405 with the methods allowed."""
        if request.method not in (b"GET", b"HEAD"):
            request.setHeader(b"Allow", b"GET, HEAD")
            return pages.errorPage(405, "Method Not Allowed",
                                   "The XML status pages are read with GET.").render(request)
        return self.render_GET(request)

    def render_GET(self, request: Request) -> object:
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        task = asyncio.ensure_future(self._answer(request, gone))
        Deferred.fromFuture(task).addErrback(self._failed, request, gone)
        return NOT_DONE_YET

    async def _answer(self, request: Request, gone: list[bool]) -> None:
        """Log in, build the document, answer -- unless the client left meanwhile (a
        refusal can wait for the throttle's pause)."""
        user = await self._login(request)
        if gone:
            return
        if user is None:
            request.setHeader(b"WWW-Authenticate", f'Basic realm="{REALM}"'.encode())
            _finish(request, 401, b"Authentication required\n", b"text/plain; charset=utf-8")
            return
        try:
            mail = self.appliance.mail
            if mail is None:
                raise PageError(503, "Couldn't obtain mail stats: the mail engine runs in "
                                     "another segcli process")
            document = await self.build(self.appliance, mail, _arguments(request))
        except PageError as exc:
            if gone:
                return
            _finish(request, exc.code, f"{exc.text}\n".encode(), b"text/plain; charset=utf-8")
            return
        if gone:
            return
        ET.indent(document)
        _finish(request, 200, ET.tostring(document, encoding="utf-8", xml_declaration=True),
                CONTENT_TYPE)

    async def _login(self, request: Request) -> User | None:
        """The user whose Basic credentials the request carries; None without any or
        when they are wrong (a wrong one answers only after the throttle's pause)."""
        if not request.getHeader(b"authorization"):
            return None
        name, password = request.getUser(), request.getPassword()
        account = name.decode("utf-8", "replace")
        users = self.appliance.users

        def check() -> Deferred[User]:
            return threads.deferToThread(_authenticate, users, name, password)

        attempt = self.throttle.attempt(_client(request), account, check)
        try:
            return await attempt.asFuture(asyncio.get_running_loop())
        except UnauthorizedLogin:
            return None

    def _failed(self, failure: Any, request: Request, gone: list[bool]) -> None:
        log.error("XML status page %s failed", request.path, exc_info=failure.value)
        if not gone and not request.finished:
            _finish(request, 500, b"Internal error\n", b"text/plain; charset=utf-8")


def _authenticate(users: Users, name: bytes, password: bytes) -> User:
    """Blocking (bcrypt): the user, or UnauthorizedLogin.  Bytes that are not UTF-8
    match no account."""
    try:
        user = users.authenticate(name.decode("utf-8"), password.decode("utf-8"))
    except UnicodeDecodeError:
        user = None
    if user is None:
        raise UnauthorizedLogin("wrong user name or password")
    return user


def _client(request: Request) -> str:
    address = request.getClientAddress()
    return address.host if isinstance(address, IPv4Address | IPv6Address) else ""


def _arguments(request: Request) -> dict[str, str]:
    """The query's arguments, the first value of each (bytes that are not UTF-8 are
    replaced, so they match nothing)."""
    args: dict[bytes, list[bytes]] = request.args or {}
    return {key.decode("utf-8", "replace"): values[0].decode("utf-8", "replace")
            for key, values in args.items() if values}


def _finish(request: Request, code: int, body: bytes, content_type: bytes) -> None:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", content_type)
    request.setHeader(b"Cache-Control", b"no-store")
    request.write(body)
    request.finish()


# -- /xml/status ---------------------------------------------------------------------------
async def status_page(appliance: StatusSource, mail: MailEngine, args: dict[str, str]
                      ) -> ET.Element:
    usage, oldest = await asyncio.to_thread(_store_figures, mail)
    return status_document(appliance, mail, usage, oldest)


def _store_figures(mail: MailEngine) -> tuple[QueueUsage, tuple[int, float] | None]:
    """Blocking: the queue's size and disk figures, and its oldest message."""
    return read_usage(mail.store.engine, mail.data_dir), oldest_message(mail.store.engine)


def status_document(appliance: StatusSource, mail: MailEngine, usage: QueueUsage,
                    oldest: tuple[int, float] | None) -> ET.Element:
    counters = mail.counters
    root = ET.Element("status", build=BUILD, hostname=appliance.config.hostname,
                      timestamp=stamp(time.time()))
    started = counters.started_at
    ET.SubElement(root, "birth_time",
                  timestamp=f"{stamp(started)} ({duration(time.time() - started)})")
    ET.SubElement(root, "last_counter_reset",
                  timestamp=stamp(counters.reset_at) if counters.reset_at else "")
    ET.SubElement(root, "system", status=system_status(mail).lower())
    mid, received = oldest if oldest is not None else (0, None)
    ET.SubElement(root, "oldest_message",
                  secs=str(max(0, int(time.time() - received)) if received else 0), mid=str(mid))
    features = ET.SubElement(root, "features")
    ET.SubElement(features, "feature", name="Incoming Mail Handling",
                  time_remaining="Dormant/Perpetual")
    _counters(root, counters.totals())
    ET.SubElement(root, "current_ids", message_id=_id(mail, "mid"),
                  injection_conn_id=_id(mail, "icid"), delivery_conn_id=_id(mail, "dcid"))
    rates = ET.SubElement(root, "rates")
    for name, key in RATES:
        one, five, fifteen = getattr(counters.rates, key).per_hour_windows()
        ET.SubElement(rates, "rate", name=name, last_1_min=str(one), last_5_min=str(five),
                      last_15_min=str(fifteen))
    _gauges(root, mail, usage)
    return root


def _counters(root: ET.Element, totals: dict[str, Column]) -> None:
    element = ET.SubElement(root, "counters")
    for name, key in COUNTERS:
        _counter(element, name, totals[key] if key is not None else Column())
        if name == "gen_bounce_recips":
            element.append(ET.Comment(" segcli: journal copies generated for the.tdc.queue "))
            _counter(element, "gen_journal_recips", totals["generated_journals"])


def _counter(parent: ET.Element, name: str, column: Column) -> None:
    ET.SubElement(parent, "counter", name=name, reset=str(column.reset),
                  uptime=str(column.uptime), lifetime=str(column.lifetime))


def _gauges(root: ET.Element, mail: MailEngine, usage: QueueUsage) -> None:
    hosts = mail.counters.hosts.values()
    unattempted = sum(h.unattempted for h in hosts)
    attempted = sum(h.attempted for h in hosts)
    cpu = CPU.percent()
    values: list[tuple[str, int | str]] = [
        ("ram_utilization", memory_percent()), ("total_utilization", cpu),
        ("cpu_utilization", cpu), ("av_utilization", 0), ("case_utilization", 0),
        ("bm_utilization", 0), ("disk_utilization", 0), ("resource_conservation", 0),
        ("log_used", usage.logging_disk_percent),
        ("log_available", human_bytes(usage.logging_available)),
        ("conn_in", mail.counters.system.connections_in),
        ("conn_out", sum(h.connections_out + h.pending_connections for h in hosts)),
        ("active_recips", unattempted + attempted), ("unattempted_recips", unattempted),
        ("attempted_recips", attempted),
        ("msgs_in_work_queue", mail.counters.system.messages_in_work_queue),
        ("dests_in_memory", len(mail.counters.hosts)),
        ("kbytes_used", usage.kilobytes_used), ("kbytes_free", usage.kilobytes_free),
        ("msgs_in_policy_virus_outbreak_quarantine", 0),
        ("kbytes_in_policy_virus_outbreak_quarantine", 0),
        ("reporting_utilization", 0), ("quarantine_utilization", 0),
    ]
    element = ET.SubElement(root, "gauges")
    for name, value in values:
        ET.SubElement(element, "gauge", name=name, current=str(value))


def _id(mail: MailEngine, kind: str) -> str:
    return str(max(0, mail.ids.current(kind)))


def stamp(moment: float) -> str:
    """``20170329115551``: a time as the XML pages write it (GMT)."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y%m%d%H%M%S")


# -- /xml/tophosts ---------------------------------------------------------------------------
async def tophosts_page(appliance: StatusSource, mail: MailEngine, args: dict[str, str]
                        ) -> ET.Element:
    choice = sort_choice(args.get("sort", SORT_NAMES[0]))
    root = ET.Element("tophosts", timestamp=stamp(time.time()), sort=SORT_NAMES[choice])
    for rank, host in enumerate(ranked(mail.counters.hosts, choice,
                                       tdc_enabled=appliance.config.tdc.enabled), 1):
        figures = row_figures(host)
        attributes = {"rank": str(rank), "name": host.host, "status": "up" if host.up else "down"}
        attributes.update((name, str(figures[key])) for name, key in TOPHOSTS_FIGURES)
        ET.SubElement(root, "host", attributes)
    return root


def sort_choice(value: str) -> int:
    """The index in commands.tophosts.SORTS of a ``?sort=`` value (a name or ``1``-``5``)."""
    text = value.strip().lower()
    if text in SORT_NAMES:
        return SORT_NAMES.index(text)
    if text in {str(n) for n in range(1, len(SORTS) + 1)}:
        return int(text) - 1
    raise PageError(400, f"Unknown sort: use one of {', '.join(SORT_NAMES)} (or 1-{len(SORTS)})")


# -- /xml/hoststatus -------------------------------------------------------------------------
async def hoststatus_page(appliance: StatusSource, mail: MailEngine, args: dict[str, str]
                          ) -> ET.Element:
    host = args.get("hostname", "").strip().lower()
    if not host:
        raise PageError(400, "Missing hostname: use /xml/hoststatus?hostname=<host>")
    counters = mail.counters.hosts.get(host)
    if counters is None and host == TDC_QUEUE and appliance.config.tdc.enabled:
        counters = HostCounters(TDC_QUEUE)
    if counters is None:
        raise PageError(404, f"No record of host: {host}")
    oldest = await asyncio.to_thread(queue_store.oldest_active, mail.store.engine, host)
    return hoststatus_document(counters, oldest)


def hoststatus_document(host: HostCounters, oldest: float | None) -> ET.Element:
    root = ET.Element("hoststatus", hostname=host.host, timestamp=stamp(time.time()),
                      status="up" if host.up else "down")
    ET.SubElement(root, "oldest_message", timestamp=stamp(oldest) if oldest else "",
                  secs=str(max(0, int(time.time() - oldest)) if oldest else 0))
    ET.SubElement(root, "last_activity",
                  timestamp=stamp(host.last_activity) if host.last_activity else "")
    section: ET.Element | None = None
    for label, value, _indent in report_rows(host):
        if label in ("Counters:", "Gauges:"):
            section = ET.SubElement(root, label[:-1].lower())
        elif value is not None and section is not None:
            name = HOSTSTATUS_NAMES.get(label, label.lower().replace(" ", "_"))
            if section.tag == "counters":
                ET.SubElement(section, "counter", name=name, reset=str(value))
            else:
                ET.SubElement(section, "gauge", name=name, current=str(value))
    return root
