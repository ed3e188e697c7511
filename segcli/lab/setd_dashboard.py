"""The SETD simulator's dashboard: a small HTML page and a JSON API over twisted.web.

"When everything is set up, journaled mail shows on the SETD dashboard" (SPEC.md §1): the
page lists the intake accounts with what arrived for each, the faults in force and the
latest events.  The JSON API does what the simulator's methods do, so a trainer (curl), the
lab and the tests can drive a running simulator from outside:

=========================================  =================================================
``GET /``                                  the page (refreshes itself every 5 seconds)
``GET /api/status``                        accounts with their totals, hosts, faults,
                                           totals and connection counts, CA path
``GET /api/intake``                        the intake accounts with their totals
``POST /api/intake``                       the §1.1 setup: ``{"seg_present": true,
                                           "seg_type": "Cisco SEG", "direction":
                                           "incoming", "verification": "none", "name": …,
                                           "domains": ["example.com"]}``
``GET /api/intake/<address>``              one account, its totals and faults
``PUT /api/intake/<address>``              ``{"domains": […]}``: the domains it protects
``GET /api/intake/<address>/messages``     the latest that arrived (``?outcome=accepted``
                                           or ``?status=rejected`` filters); each with its
                                           ``status``, ``code``, ``label`` (``rejected
                                           550``, ``accepted, duplicate``…)
``DELETE /api/intake/<address>/messages``  forget them (the totals stay)
``GET /api/totals``                        totals since start (``?address=`` one account)
``GET /api/transactions?message_id=<…>``   every transmission of an original Message-ID
``GET /api/connections``                   per intake host: connections, EHLO, STARTTLS,
                                           TLS ok/failed, MAIL (``?domain=`` one host)
``GET /api/faults``                        the faults (``?address=`` filters)
``POST /api/faults``                       ``{"address": …, "kind": "reply", "stage":
                                           "rcpt", "code": 451, "text": …, "delay": …,
                                           "times": 1}``
``DELETE /api/faults``                     remove all (``?address=`` only those)
``DELETE /api/faults/<id>``                remove one
``GET /api/events``                        the latest events (``?limit=``)
``GET /ca.pem``                            the CA the gateway must trust
=========================================  =================================================
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from twisted.internet import defer
from twisted.protocols.policies import WrappingFactory
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from segcli.lab.intake import SetupError
from segcli.lab.setd_faults import FaultError
from segcli.lab.setd_state import TOTAL_KEYS

if TYPE_CHECKING:
    from segcli.lab.setd_state import SetdState

_MESSAGES_ON_PAGE = 20
_EVENTS_ON_PAGE = 30


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _QuietSite(Site):
    """A site that keeps no access log: its lines would land on the appliance's console."""

    def log(self, request: http.Request) -> None:
        pass


class SetdDashboard:
    """The dashboard of one simulator, listening on loopback."""

    def __init__(self, simulator: SetdState) -> None:
        self.simulator = simulator
        site = _QuietSite(_DashboardResource(simulator))
        site.noisy = False
        self._factory = WrappingFactory(site)  # keeps the connections, to close them at stop
        self._factory.noisy = False
        self._port: Any = None
        self.host = "127.0.0.1"
        self.port = 0

    def listen(self, port: int = 0, host: str = "127.0.0.1") -> int:
        from twisted.internet import reactor

        # listenTCP is typed to take a ServerFactory, yet every reactor listens with any
        # IProtocolFactory; WrappingFactory, Twisted's own wrapper for exactly this, is
        # declared a ClientFactory.
        self._port = reactor.listenTCP(port, self._factory,  # type: ignore[arg-type]
                                       interface=host)
        self.host, self.port = host, self._port.getHost().port
        return self.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def stop(self) -> defer.Deferred[Any]:
        port, self._port = self._port, None
        for protocol in list(self._factory.protocols):
            protocol.transport.loseConnection()
        if port is None:
            return defer.succeed(None)
        return defer.maybeDeferred(port.stopListening)


class _DashboardResource(Resource):
    """Every path, routed by method and path segments."""

    isLeaf = True

    def __init__(self, simulator: SetdState) -> None:
        super().__init__()
        self.simulator = simulator

    def render(self, request: Request) -> bytes:
        method = request.method.decode("ascii", "replace")
        path = [unquote(p.decode("utf-8", "replace")) for p in request.postpath or () if p]
        try:
            if not path and method in ("GET", "HEAD"):
                return _html(request, render_page(self.simulator))
            if path == ["ca.pem"] and method == "GET":
                request.setHeader(b"content-type", b"application/x-pem-file")
                return self.simulator.ca_pem().encode("ascii")
            if path and path[0] == "api":
                status, body = self._api(method, path[1:], request)
                return _json(request, body, status)
            raise _HttpError(404, "no such page")
        except _HttpError as error:
            return _json(request, {"error": str(error)}, error.status)
        except (FaultError, SetupError) as error:
            return _json(request, {"error": str(error)}, 400)

    def _api(self, method: str, path: list[str], request: Request) -> tuple[int, Any]:
        sim = self.simulator
        args = {k.decode(): v[0].decode() for k, v in request.args.items() if v}
        route = (method, *path[:1], *(["*"] if len(path) > 1 else []), *path[2:])
        if route == ("GET", "status"):
            return 200, sim.summary()
        if route == ("GET", "intake"):
            return 200, sim.summary()["accounts"]
        if route == ("POST", "intake"):
            return 201, sim.setup_intake(**_setup_answers(_body(request))).to_json()
        if route == ("GET", "intake", "*"):
            account = self._account(path[1])
            return 200, {**account.to_json(), "totals": sim.totals(account.address),
                         "faults": [f.to_json() for f in sim.list_faults(account.address)]}
        if route == ("PUT", "intake", "*"):
            account = self._account(path[1])
            data = _body(request)
            _only(data, {"domains"})
            if not isinstance(data.get("domains"), list):
                raise _HttpError(400, "domains must be a list of domain names")
            return 200, sim.set_domains(account.address, data["domains"]).to_json()
        if route in (("GET", "intake", "*", "messages"), ("DELETE", "intake", "*", "messages")):
            account = self._account(path[1])
            if method == "DELETE":
                return 200, {"cleared": sim.clear_messages(account.address)}
            wanted, status = args.get("outcome"), args.get("status")
            return 200, [m.to_json() for m in sim.messages(account.address)
                         if wanted in (None, m.outcome) and status in (None, m.status)]
        if route == ("GET", "totals"):
            address = args.get("address")
            if address is not None:
                address = self._account(address).address
            return 200, sim.totals(address)
        if route == ("GET", "transactions"):
            if not args.get("message_id"):
                raise _HttpError(400, "give the original's Message-ID: ?message_id=<...>")
            return 200, [t.to_json() for t in sim.transactions(args["message_id"])]
        if route == ("GET", "connections"):
            return 200, sim.connections(args.get("domain"))
        if route == ("GET", "faults"):
            return 200, [f.to_json() for f in sim.list_faults(args.get("address"))]
        if route == ("POST", "faults"):
            return 201, sim.add_fault(**_fault_settings(_body(request))).to_json()
        if route == ("DELETE", "faults"):
            return 200, {"cleared": sim.clear_faults(args.get("address"))}
        if route == ("DELETE", "faults", "*"):
            if not path[1].isdigit() or not sim.remove_fault(int(path[1])):
                raise _HttpError(404, f"no fault {path[1]}")
            return 200, {"removed": int(path[1])}
        if route == ("GET", "events"):
            limit = args.get("limit", "100")
            return 200, sim.events(int(limit) if limit.isdigit() else 100)
        raise _HttpError(404 if method in ("GET", "POST", "DELETE") else 405,
                         f"no {method} /api/{'/'.join(path)}")

    def _account(self, address: str) -> Any:
        account = self.simulator.find_intake(address)
        if account is None:
            raise _HttpError(404, f"{address} is not an intake address of this SETD")
        return account


def _body(request: Request) -> dict[str, Any]:
    try:
        raw = request.content.read() if request.content is not None else b""
        data = json.loads(raw or b"{}")
    except ValueError as exc:
        raise _HttpError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _HttpError(400, "the body must be a JSON object")
    return data


def _setup_answers(data: dict[str, Any]) -> dict[str, Any]:
    allowed = {"seg_present", "seg_type", "direction", "verification", "name", "domain",
               "domains"}
    _only(data, allowed)
    if "domains" in data and not isinstance(data["domains"], list):
        raise _HttpError(400, "domains must be a list of domain names")
    return data


def _fault_settings(data: dict[str, Any]) -> dict[str, Any]:
    _only(data, {"address", "kind", "stage", "code", "text", "delay", "times"})
    if "address" not in data or "kind" not in data:
        raise _HttpError(400, "a fault needs an address and a kind")
    try:
        for key, kind in (("code", int), ("times", int), ("delay", float)):
            if data.get(key) is not None:
                data[key] = kind(data[key])
    except (TypeError, ValueError) as exc:
        raise _HttpError(400, f"bad number: {exc}") from None
    return data


def _only(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _HttpError(400, f"unknown field(s): {', '.join(unknown)}")


def _json(request: Request, body: Any, status: int = 200) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    return (json.dumps(body, indent=2) + "\n").encode("utf-8")


def _html(request: Request, page: str) -> bytes:
    request.setHeader(b"content-type", b"text/html; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    return page.encode("utf-8")


# -- the page ------------------------------------------------------------------------------


def render_page(sim: SetdState) -> str:
    """The dashboard page: accounts, what arrived, faults, events."""
    summary = sim.summary()
    sections = [_accounts_table(summary["accounts"])]
    for account in summary["accounts"]:
        sections.append(_messages_table(account["address"],
                                        sim.messages(account["address"])[-_MESSAGES_ON_PAGE:]))
    sections.append(_table("Faults in force", ["#", "intake address", "fault", "hits"],
                           [[f["id"], f["address"], f["description"], f["hits"]]
                            for f in summary["faults"]]))
    sections.append(_table("Events", ["time", "host", "event"],
                           [[e["time"], e["host"], e["text"]]
                            for e in reversed(sim.events(_EVENTS_ON_PAGE))]))
    hosts = ", ".join(f"{h['mx_host']} → {sim.host}:{h['port']}" for h in summary["hosts"])
    return _PAGE.format(hosts=_esc(hosts or "not serving"), body="\n".join(sections))


#: The totals' columns on the page (the keys of SetdState.totals, as people read them).
_TOTAL_HEADINGS = {"accepted": "accepted", "rejected": "rejected", "deferred": "deferred",
                   "dropped_after_dot": "dropped after dot", "tls_failed": "TLS failed",
                   "foreign_domain": "foreign-domain", "duplicate": "duplicate"}


def _accounts_table(accounts: list[dict[str, Any]]) -> str:
    """The accounts and their totals since start (not only the messages still listed)."""
    rows = [[a["address"], a["name"], ", ".join(a["domains"]) or "any",
             a["verification"], *(a["totals"][k] for k in TOTAL_KEYS), a["last"] or "—"]
            for a in accounts]
    return _table("Message Intake Addresses (totals since start)",
                  ["intake address", "account", "domains", "verification",
                   *(_TOTAL_HEADINGS[k] for k in TOTAL_KEYS), "last message"], rows)


def _messages_table(address: str, messages: list[Any]) -> str:
    rows = [[m.received, m.label, m.original_from, m.subject, m.original_message_id,
             m.original_size or m.size, m.tls or "none", m.reply or m.queue_id]
            for m in reversed(messages)]
    return _table(f"Journaled mail for {address} (latest)",
                  ["received", "status", "from", "subject", "Message-ID", "size", "TLS",
                   "reply / queue id"], rows)


def _table(title: str, headings: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(headings)}" class="none">none</td></tr>'
    return f"<h2>{_esc(title)}</h2>\n<table><tr>{head}</tr>{body}</table>"


def _esc(value: Any) -> str:
    return html.escape(str(value))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Secure Email Threat Defense (simulated): message intake</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #1e2a36; }}
h1 {{ font-size: 1.3em; }} h2 {{ font-size: 1.05em; margin-top: 1.6em; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
th, td {{ border: 1px solid #c8d0d8; padding: 0.25em 0.6em; text-align: left; }}
th {{ background: #eef2f5; }} td.none {{ color: #7a8591; font-style: italic; }}
</style></head><body>
<h1>Cisco Secure Email Threat Defense — message intake (simulated)</h1>
<p>Intake hosts: {hosts}. JSON API under <code>/api/</code>;
the CA to trust: <a href="/ca.pem">ca.pem</a>.</p>
{body}
</body></html>
"""
