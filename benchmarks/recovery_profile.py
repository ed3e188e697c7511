#!/usr/bin/env python3
"""The big queue's recovery alone, in this process: where its time and memory go (issue 14).

    .venv/bin/python benchmarks/recovery_profile.py [--recipients 1000000] [--copies 100000]
        [--profile out.prof] [--memory 25] [--json out.json]

``benchmarks/big_queue.py`` measures a real segcli from the outside; this one runs the
engine's recovery in-process so that a profiler can see it.  The queue is built like
big_queue.py's (``big_queue.build_queue``: the engine's own insert statements, 10 recipients
per message, real journal copies, a tenth stored as delivered), a ``MailEngine`` is started
on it with delivery suspended (nothing leaves, as in big_queue.py once ``suspenddel`` is
in), and the script waits for ``MailEngine.recovery``.  It reports the time to listening and
to the whole queue recovered, VmRSS/VmHWM before and after, and the time ``hoststatus``'s
Oldest Message takes from the queues and, for comparison, from the store
(``queue_store.oldest_active``), which must agree.  ``--profile`` writes a cProfile of the
start and recovery (read it with ``python -m pstats``); ``--memory N`` traces allocations
(tracemalloc: slower, and more RSS) and prints the N lines that hold the most.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: benchmarks/ is the path, not the repository
    sys.path.insert(0, str(REPO))

from benchmarks.big_queue import build_queue  # noqa: E402
from benchmarks.common import publish  # noqa: E402
from benchmarks.gateway import SINK_DOMAIN, TDC_QUEUE  # noqa: E402
from benchmarks.processes import memory_kb  # noqa: E402

INTAKE = "intake@setd.test"


def memory() -> dict[str, float]:
    """VmRSS and VmHWM of this process, in MB."""
    return {key: kb / 1024 for key, kb in memory_kb().items()}


async def recover(data: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Start an engine on *data*, wait for its recovery; the figures."""
    from engine.config.model import Config, Endpoint
    from engine.mail.mail_engine import MailEngine
    from engine.store import queue_store
    from engine.store.database import Store

    config = Config()
    config.hostname = "gw.example.com"
    config.tdc.enabled, config.tdc.intake_address = True, INTAKE
    store = Store.open(data)
    engine = MailEngine(store, data, lambda: config, version="bench", serial="bench")
    engine.suspend_delivery()
    report: dict[str, Any] = {"before": memory()}
    profile = cProfile.Profile() if args.profile else None
    if args.memory:
        tracemalloc.start(3)
    try:
        started = time.monotonic()
        if profile:
            profile.enable()
        await engine.start(Endpoint("127.0.0.1", 0))
        report["listening_s"] = round(time.monotonic() - started, 2)
        assert engine.recovery is not None
        await engine.recovery
        report["recovered_s"] = round(time.monotonic() - started, 1)
        if profile:
            profile.disable()
            profile.dump_stats(args.profile)
        report["recovered"] = engine.recovered_recipients
        gc.collect()
        report["after"] = memory()
        if args.memory:
            top = tracemalloc.take_snapshot().statistics("lineno")[:args.memory]
            report["allocations"] = [str(stat) for stat in top]
            tracemalloc.stop()
        report["oldest"] = {host: await _oldest(engine, store, host, queue_store)
                            for host in (SINK_DOMAIN, TDC_QUEUE)}
    finally:
        await engine.stop()
        store.close()
    return report


async def _oldest(engine: Any, store: Any, host: str, queue_store: Any) -> dict[str, Any]:
    began = time.perf_counter()
    from_queues = await engine.oldest_queued(host)
    queues_ms = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    from_store = queue_store.oldest_active(store.engine, host)
    store_ms = (time.perf_counter() - began) * 1000
    return {"queues_ms": round(queues_ms, 1), "store_ms": round(store_ms, 1),
            "agree": from_queues == from_store}


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    began = time.monotonic()
    build_queue(work, args.recipients, args.copies, INTAKE, args.lines)
    built = round(time.monotonic() - began, 1)
    print(f"built in {built} s", file=sys.stderr, flush=True)
    from twisted.internet import asyncioreactor

    loop = asyncio.new_event_loop()
    asyncioreactor.install(loop)
    from twisted.internet import reactor

    asyncio.set_event_loop(loop)
    reactor.startRunning(installSignalHandlers=False)  # type: ignore[attr-defined]
    report = loop.run_until_complete(recover(work, args))
    return {"recipients": args.recipients, "copies": args.copies, "build_s": built, **report}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--copies", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=10, help="body lines (72 bytes each)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of start and recovery")
    parser.add_argument("--memory", type=int, default=0, metavar="N",
                        help="trace allocations and print the N biggest lines")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="recovery") as tmp:
        report = run(args, Path(tmp))
    publish(json.dumps(report, indent=2), report, args.json)
    total = args.recipients + args.copies
    ok = report["recovered"] == total and all(o["agree"] for o in report["oldest"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
