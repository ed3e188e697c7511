#!/usr/bin/env python3
"""How long the monitoring commands take with a long history in the store (issue 14:
under 50 ms each with 1,000,000 messages stored).

A data directory gets N messages of history, then a real appliance (``Appliance.open`` and
``start_mail``, as ``segcli`` does) starts on it; its start-up is timed (counters restored,
queue recovered, SMTP listening), then each monitoring command runs many times through the
command engine (a real ``CliSession``) and the XML pages are built by their real handlers.
The reference, measured in the same run, is ``version`` (reads nothing of the store).

Why bulk rows are a fair stand-in for real history: a delivered message leaves exactly
these rows behind -- its ``messages`` row in state ``done`` with its body emptied (the
store drops it when the last delivery is done), its journal copy's ``messages`` row (kind
``journal``, also done), a ``delivered`` row in ``deliveries`` for each, and its message
tracking events.  The rows here are inserted through the store's own SQLAlchemy tables
(engine/store/models.py), with the same columns and values, in a few large transactions
instead of one per message; the queries the commands run see the same tables and indexes
either way.  A few messages stay queued (active deliveries to an unreachable host, bodies
kept) so the queue figures and the oldest message are not trivially empty.

    .venv/bin/python benchmarks/monitoring_history.py [--messages 1000000] [--runs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.internet import asyncioreactor

LOOP = asyncio.new_event_loop()  # the reactor runs on it, as in segcli (segcli/main.py)
asyncioreactor.install(LOOP)
asyncio.set_event_loop(LOOP)

from sqlalchemy import insert  # noqa: E402

from benchmarks.commands_in_process import CommandRunner  # noqa: E402
from benchmarks.common import figures_ms, publish, timed  # noqa: E402
from commands import load_all  # noqa: E402
from engine.appliance import Appliance, StartOptions  # noqa: E402
from engine.config.model import Endpoint  # noqa: E402
from engine.store.database import Store  # noqa: E402
from engine.store.models import DeliveryRow, MessageRow, TrackingEventRow  # noqa: E402
from segcli.web.xml_status import status_page, tophosts_page  # noqa: E402

MESSAGES, DELIVERIES = MessageRow.__table__, DeliveryRow.__table__
TRACKING = TrackingEventRow.__table__
COMMANDS = ["version", "status", "status detail", "tophosts 1", "hoststatus the.tdc.queue",
            "workqueue status", "rate 1 1", "dnsstatus"]
CHUNK = 50_000  # rows per executemany
PER_TRANSACTION = 250_000  # messages per transaction
QUEUED = 50  # messages left queued (active deliveries)
QUEUED_HOST = "queued.invalid"


# -- the history -------------------------------------------------------------------------
def _message(mid: int, at: float, *, journal: bool, queued: bool) -> dict:
    body = b"Subject: history\r\n\r\n" + b"x" * 5000 + b"\r\n"
    return {"mid": mid, "icid": mid, "origin_mid": mid - 1 if journal else None,
            "kind": "journal" if journal else "inbound", "state": "queued" if queued else "done",
            "direction": "incoming", "policy": "DEFAULT", "sender": "a@example.org",
            "envelope": json.dumps(["x@beta.cmd.cisco.com" if journal else "b@example.com"]),
            "received_at": at, "size": len(body), "message_id": f"<{mid}@example.org>",
            "subject": "history", "body": body if queued else b""}


def _delivery(mid: int, at: float, *, journal: bool, queued: bool) -> dict:
    destination = "the.tdc.queue" if journal else QUEUED_HOST if queued else "example.com"
    return {"mid": mid, "rid": 0, "recipient": "x@beta.cmd.cisco.com" if journal else
            f"b@{destination}", "destination": destination,
            "state": "active" if queued else "delivered", "attempts": 0 if queued else 1,
            "next_attempt": at, "expires_at": at + 86400, "last_error": ""}


def fill_history(data_dir: Path, messages: int) -> float:
    """Store *messages* rows of delivered history (originals and their journal copies,
    alternately) and QUEUED queued ones; returns the seconds it took."""
    started = time.perf_counter()
    store = Store.open(data_dir)
    now = time.time()
    first = now - 86400 * 30  # a month of history, evenly spread
    step = (now - first) / max(1, messages)
    try:
        for start in range(1, messages + 1, PER_TRANSACTION):
            with store.engine.begin() as connection:
                for chunk in range(start, min(start + PER_TRANSACTION, messages + 1), CHUNK):
                    mids = range(chunk, min(chunk + CHUNK, start + PER_TRANSACTION, messages + 1))
                    _insert(connection, mids, first, step, queued=False)
        with store.engine.begin() as connection:
            _insert(connection, range(messages + 1, messages + 1 + QUEUED), now - 3600, 1.0,
                    queued=True)
            # The IDs carry on after the history, as the appliance keeps them.
            connection.exec_driver_sql(
                "INSERT OR REPLACE INTO appliance_settings (key, value) VALUES ('next_mid', ?)",
                (str(messages + QUEUED + 1),))
    finally:
        store.close()
    return time.perf_counter() - started


def _insert(connection, mids: range, first: float, step: float, *, queued: bool) -> None:
    rows, deliveries, events = [], [], []
    for mid in mids:
        at = first + (mid - mids.start) * step if queued else first + mid * step
        journal = not queued and mid % 2 == 0
        rows.append(_message(mid, at, journal=journal, queued=queued))
        deliveries.append(_delivery(mid, at, journal=journal, queued=queued))
        events.append({"mid": mid, "at": at, "text": f"Message {mid} received"})
        if not queued:
            events.append({"mid": mid, "at": at + 1, "text": f"Message {mid} delivered"})
    connection.execute(insert(MESSAGES), rows)
    connection.execute(insert(DELIVERIES), deliveries)
    connection.execute(insert(TRACKING), events)


# -- the timings -------------------------------------------------------------------------
async def measure(data_dir: Path, runs: int) -> dict:
    loopback = Endpoint("127.0.0.1", 0)
    started = time.perf_counter()
    appliance = Appliance.open(StartOptions(data_dir, smtp=loopback, ssh=loopback,
                                            https=loopback))
    # A DNS server that never answers (the discard port): the queued messages' deliveries
    # time out and stay queued, as in an outage, instead of bouncing at once.
    appliance.config.dns.servers = [Endpoint("127.0.0.1", 9)]
    await appliance.start_mail()
    start_s = time.perf_counter() - started
    mail = appliance.mail
    assert mail is not None
    mail.suspend_delivery()  # the queued ones stay queued
    results: dict[str, dict] = {}
    outputs: dict[str, str] = {}
    try:
        commands = CommandRunner(appliance, user="admin")
        for line in COMMANDS:
            times, outputs[line] = await commands.time(line, runs)
            results[line] = figures_ms(times)
        for name, page in (("/xml/status", status_page), ("/xml/tophosts", tophosts_page)):
            async def build(page=page) -> None:
                ET.tostring(await page(appliance, mail, {}))
            results[name] = figures_ms(await timed(build, runs))
    finally:
        await appliance.stop()
    return {"start_seconds": round(start_s, 3), "timings": results,
            "status_output": outputs["status"]}


async def main_async(args: argparse.Namespace) -> dict:
    load_all()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        data_dir = Path(tmp)
        fill_s = fill_history(data_dir, args.messages)
        result = await measure(data_dir, args.runs)
    result.update(messages=args.messages, queued=QUEUED, runs=args.runs,
                  fill_seconds=round(fill_s, 1))
    return result


def _report(result: dict) -> str:
    lines = [result["status_output"].rstrip(), "",
             f"history: {result['messages']:,} messages (+{result['queued']} queued), "
             f"filled in {result['fill_seconds']} s; appliance started in "
             f"{result['start_seconds']} s", f"{'command':<28}{'median ms':>10}{'p99 ms':>10}"]
    for name, figures in result["timings"].items():
        lines.append(f"{name:<28}{figures['median_ms']:>10.2f}{figures['p99_ms']:>10.2f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--workdir", default=None, help="where the data directory is made")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    result = LOOP.run_until_complete(main_async(args))
    publish(_report(result), result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
