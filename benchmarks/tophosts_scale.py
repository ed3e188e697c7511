#!/usr/bin/env python3
"""How long ``tophosts`` takes with 100,000 recipients queued (issue 4: well under 100 ms).

A real mail engine (real store, real queues) gets N queued recipients spread over many
destination hosts and ``the.tdc.queue``, with delivery suspended so they stay queued; then
``tophosts`` runs through the real CLI session, many times.  The reference, measured in the
same run, is the same command over the same hosts with 10 recipients each: the ratio shows
that the answer does not grow with the queue (the counters are kept as events happen,
never counted on demand).

    .venv/bin/python benchmarks/tophosts_scale.py [--recipients 100000] [--hosts 500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commands import load_all
from commands.session import CliSession
from engine.config.model import Config
from engine.mail.delivery import Shipment
from engine.mail.mail_engine import MailEngine
from engine.mail.tdc_queue import JournalCopy
from engine.store.database import Store


class _Terminal:
    interactive = False
    width = 80

    def __init__(self) -> None:
        self.text: list[str] = []

    def write(self, text: str) -> None:
        self.text.append(text)

    error = write

    def show(self, renderable) -> None:
        self.text.append(str(renderable))

    async def ask(self, prompt, *, choices=(), secret=False):  # pragma: no cover - unused
        raise RuntimeError("tophosts 1 asks nothing")

    read_command = ask


class _View:
    def __init__(self, engine: MailEngine, config: Config) -> None:
        self.mail, self.config = engine, config
        self.running = type("Version", (), {"id": 1, "config": config})()


async def _time_tophosts(engine: MailEngine, config: Config, runs: int) -> tuple[list[float], str]:
    """Run ``tophosts 1`` *runs* times; the times in ms and the last output."""
    times, terminal = [], _Terminal()
    session = CliSession(_View(engine, config), terminal)
    for _ in range(runs):
        terminal.text.clear()
        started = time.perf_counter()
        assert await session.execute("tophosts 1")
        times.append((time.perf_counter() - started) * 1000)
    return times, "".join(terminal.text)


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


async def main_async(args: argparse.Namespace) -> None:
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
    ref_median, median = statistics.median(reference), statistics.median(loaded)
    p99 = sorted(loaded)[max(0, int(len(loaded) * 0.99) - 1)]
    print("\n".join(output.strip("\n").splitlines()[:9]) + "\n  ...\n")
    print(f"queued recipients: {active:,} over {args.hosts} hosts + the.tdc.queue "
          f"(filled in {fill_s:.1f} s)")
    print(f"tophosts, {args.hosts * 10:,} queued (reference):  median {ref_median:.2f} ms")
    print(f"tophosts, {active:,} queued:        median {median:.2f} ms, p99 {p99:.2f} ms, "
          f"max {max(loaded):.2f} ms")
    print(f"ratio loaded/reference: {median / ref_median:.2f}x  (target: well under 100 ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--runs", type=int, default=50)
    asyncio.run(main_async(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
