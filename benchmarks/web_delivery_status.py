#!/usr/bin/env python3
"""How long Reporting > Delivery Status takes with 500 destination hosts and 100,000 queued
recipients (issue 13: renders in under 200 ms).

A real appliance (real store, real mail engine, real HTTPS server of segcli/web) gets N
queued recipients spread over H destination hosts and ``the.tdc.queue``, with delivery
suspended so they stay queued.  The queue is built the way ``benchmarks/tophosts_scale.py``
builds it, through the engine's own queue API: ``DeliveryQueues.enqueue`` of shipments (10
recipients each) and ``TdcQueue.enqueue`` of journal copies, which count each recipient in
the live counters as the mail flow does, without sending 10,000 messages over SMTP first
(the page reads only the counters, so how they got there does not change what it costs).

Two measurements, each RUNS times, of the page and of its JSON endpoint (``?format=json``,
what the page's script fetches every few seconds):

* **render**: the page's handler in the appliance process (rows from the counters, sort,
  the Jinja2 template or JSON), timed around the call;
* **HTTPS**: a whole GET from a client thread over one kept-alive TLS connection, logged
  in with a session cookie (request parsing, the session, the handler, TLS, the client).

    .venv/bin/python benchmarks/web_delivery_status.py [--recipients 100000] [--hosts 500]
        [--runs 100] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.internet import asyncioreactor

LOOP = asyncio.new_event_loop()  # the reactor runs on it, as in segcli (segcli/main.py)
asyncioreactor.install(LOOP)
asyncio.set_event_loop(LOOP)

from twisted.web.test.requesthelper import DummyRequest  # noqa: E402

from benchmarks.tophosts_scale import _fill  # noqa: E402 - the same queue, built the same way
from commands import load_all  # noqa: E402
from engine.appliance import Appliance, StartOptions  # noqa: E402
from engine.config.model import Endpoint  # noqa: E402
from engine.store.users import Role  # noqa: E402
from segcli.web.app import PageContext  # noqa: E402
from segcli.web.pages import reporting  # noqa: E402
from segcli.web.server import WebServer  # noqa: E402
from segcli.web.sessions import COOKIE  # noqa: E402

PATH = "/reporting/delivery"


def _figures(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median_ms": statistics.median(ordered),
            "p99_ms": ordered[max(0, -(-len(ordered) * 99 // 100) - 1)],
            "max_ms": ordered[-1], "runs": len(ordered)}


async def _time_handler(server: WebServer, session, query: dict[bytes, list[bytes]],
                        runs: int) -> tuple[list[float], bytes]:
    """The page's handler, called as the web app calls it; the times in ms, the last body."""
    times, body = [], b""
    for _ in range(runs):
        request = DummyRequest([b"reporting", b"delivery"])
        request.args = dict(query)
        ctx = PageContext(server.app, request, session, PATH)
        started = time.perf_counter()
        response = await reporting.delivery_status(ctx)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, response.body[:300]
        body = response.body
    return times, body


def _time_https(port: int, token: str, target: str, runs: int) -> list[float]:
    """GET *target* *runs* times over one TLS connection (the appliance's self-signed
    certificate is not verified: this measures, it does not check trust)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60)
    headers = {"Cookie": f"{COOKIE.decode()}={token}"}
    times = []
    try:
        for _ in range(runs):
            started = time.perf_counter()
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            body = response.read()
            times.append((time.perf_counter() - started) * 1000)
            assert response.status == 200, (response.status, body[:300])
    finally:
        connection.close()
    return times


async def main_async(args: argparse.Namespace) -> dict:
    load_all()
    with tempfile.TemporaryDirectory() as tmp:
        loopback = Endpoint("127.0.0.1", 0)
        appliance = Appliance.open(StartOptions(Path(tmp), smtp=loopback, ssh=loopback,
                                                https=loopback))
        await appliance.start_mail()
        mail = appliance.mail
        assert mail is not None
        mail.suspend_delivery()  # everything stays queued
        server = WebServer(appliance, loopback)
        port = await server.start()
        try:
            started = time.perf_counter()
            _fill(mail, args.recipients, args.hosts)
            fill_s = time.perf_counter() - started
            active = sum(h.active for h in mail.counters.hosts.values())
            session = server.app.sessions.create("admin", Role.ADMIN)
            page, html = await _time_handler(server, session, {}, args.runs)
            data, body = await _time_handler(server, session, {b"format": [b"json"]}, args.runs)
            rows = json.loads(body)["rows"]
            https_page = await asyncio.to_thread(_time_https, port, session.token, PATH,
                                                 args.runs)
            https_json = await asyncio.to_thread(_time_https, port, session.token,
                                                 PATH + "?format=json", args.runs)
        finally:
            await server.stop()
            await appliance.stop()
    assert html.count(b"<tr data-host=") == len(rows) == args.hosts + 1
    return {"hosts": len(rows), "queued_recipients": active, "fill_seconds": fill_s,
            "page_bytes": len(html), "json_bytes": len(body),
            "render_page": _figures(page), "render_json": _figures(data),
            "https_page": _figures(https_page), "https_json": _figures(https_json)}


def _report(result: dict) -> str:
    lines = [f"queued recipients: {result['queued_recipients']:,} over {result['hosts'] - 1} "
             f"hosts + the.tdc.queue (filled in {result['fill_seconds']:.1f} s); page "
             f"{result['page_bytes']:,} bytes, JSON {result['json_bytes']:,} bytes"]
    for key, what in (("render_page", "page, render"), ("render_json", "JSON, render"),
                      ("https_page", "page, HTTPS GET"), ("https_json", "JSON, HTTPS GET")):
        f = result[key]
        lines.append(f"{what:<17} median {f['median_ms']:7.2f} ms   p99 {f['p99_ms']:7.2f} ms   "
                     f"max {f['max_ms']:7.2f} ms   ({f['runs']} runs)")
    lines.append("target: the page renders in under 200 ms")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    args = parser.parse_args()
    if args.recipients < args.hosts * 10 or args.hosts < 1 or args.runs < 1:
        parser.error("give at least 1 host, 10 recipients per host and 1 run")
    from twisted.internet import reactor

    reactor.startRunning(installSignalHandlers=False)
    result = LOOP.run_until_complete(main_async(args))
    print(_report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
