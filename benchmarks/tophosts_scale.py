#!/usr/bin/env python3
"""How long ``tophosts`` takes with 100,000 recipients queued (issue 4: well under 100 ms).

A real mail engine (real store, real queues) gets N queued recipients spread over many
destination hosts and ``the.tdc.queue``, with delivery suspended so they stay queued; then
``tophosts`` runs through the real CLI session, many times.  The reference, measured in the
same run, is the same command over the same hosts with 10 recipients each: the ratio shows
that the answer does not grow with the queue (the counters are kept as events happen,
never counted on demand).

    .venv/bin/python benchmarks/tophosts_scale.py [--recipients 100000] [--hosts 500]
        [--runs 50] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.commands_in_process import CommandRunner
from benchmarks.common import figures_ms, publish
from commands import load_all
from engine.config.model import Config
from engine.mail.delivery import Shipment
from engine.mail.mail_engine import MailEngine
from engine.mail.tdc_queue import JournalCopy
from engine.store.database import Store


class _View:
    """What ``tophosts`` reads of an appliance: here a bare mail engine and its config."""

    def __init__(self, engine: MailEngine, config: Config) -> None:
        self.mail, self.config = engine, config
        self.running = type("Version", (), {"id": 1, "config": config})()


async def _time_tophosts(engine: MailEngine, config: Config, runs: int) -> tuple[list[float], str]:
    """Run ``tophosts 1`` *runs* times; the times in ms and the last output."""
    return await CommandRunner(_View(engine, config)).time("tophosts 1", runs)


def _fill(engine: MailEngine, recipients: int, hosts: int) -> None:
    """Queue *recipients* (10 per message) over *hosts* domains, a tenth as journal copies."""
    now = time.time()
    body = b"Subject: queued\r\n\r\n" + b"x" * 5000 + b"\r\n"
    mid = 1
    for n in range(recipients // 10):
        host = f"host{n % hosts}.example.net"
        shipment = Shipment(mid, "a@example.org", host,
                            [(r, f"u{r}@{host}") for r in range(10)], body, now, now + 86400,
                            row_ids=list(range(10)))
        engine.delivery.enqueue(shipment)
        mid += 1
    for n in range(recipients // 100):
        engine.tdc.enqueue(JournalCopy(mid + n, n + 1, 0, "x@beta.cmd.cisco.com", "<m>", body,
                                       now, now + 86400), log_enqueued=False)


async def main_async(args: argparse.Namespace) -> dict:
    load_all()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config()
        config.tdc.enabled, config.tdc.intake_address = True, "x@beta.cmd.cisco.com"
        store = Store.open(Path(tmp))
        engine = MailEngine(store, Path(tmp), lambda: config, version="bench", serial="bench")
        engine.suspend_delivery()  # everything stays queued
        _fill(engine, args.hosts * 10, args.hosts)
        reference, _ = await _time_tophosts(engine, config, args.runs)
        started = time.perf_counter()
        _fill(engine, args.recipients - args.hosts * 10, args.hosts)
        fill_s = time.perf_counter() - started
        active = sum(h.active for h in engine.counters.hosts.values())
        loaded, output = await _time_tophosts(engine, config, args.runs)
        await engine.stop()
        store.close()
    return {"recipients": args.recipients, "hosts": args.hosts, "runs": args.runs,
            "queued_recipients": active, "fill_seconds": round(fill_s, 1),
            "reference": figures_ms(reference), "loaded": figures_ms(loaded),
            "output": output}


def _report(result: dict) -> str:
    reference, loaded = result["reference"], result["loaded"]
    return "\n".join([
        "\n".join(result["output"].strip("\n").splitlines()[:9]) + "\n  ...\n",
        f"queued recipients: {result['queued_recipients']:,} over {result['hosts']} hosts "
        f"+ the.tdc.queue (filled in {result['fill_seconds']:.1f} s)",
        f"tophosts, {result['hosts'] * 10:,} queued (reference):  median "
        f"{reference['median_ms']:.2f} ms",
        f"tophosts, {result['queued_recipients']:,} queued:        median "
        f"{loaded['median_ms']:.2f} ms, p99 {loaded['p99_ms']:.2f} ms, "
        f"max {loaded['max_ms']:.2f} ms",
        f"ratio loaded/reference: {loaded['median_ms'] / reference['median_ms']:.2f}x  "
        "(target: well under 100 ms)"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    publish(_report(result), result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
