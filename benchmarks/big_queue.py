#!/usr/bin/env python3
"""A big queue: a million recipients waiting for a host that is down (issue 14).

    .venv/bin/python benchmarks/big_queue.py [--recipients 1000000] [--copies 100000]

Targets: RSS under 500 MB, ``tophosts`` under 50 ms, and after ``kill -9`` at that size the
restarted gateway listens for SMTP within 10 s and recovers the whole queue in the
background, nothing lost and nothing delivered twice that had been delivered already.

What runs, all real processes on loopback:

* the far ends: ``python -m benchmarks.peers --sink --ids`` (the SETD simulator, the lab
  DNS zone and a sink, each counting arrivals per Message-ID);
* the gateway: ``python -m segcli --data DIR --plain``, configured like the journal
  benchmark, except that example.com is routed to a closed port: that destination is down.

The queue is built straight into the gateway's store before it starts, in bulk, with the
engine's own insert statements (``engine.store.queue_store``: the rows ``record_work``
writes after the work queue) and MIDs reserved through the engine's ``IdAllocator`` --
pushing a million recipients through SMTP would take the better part of an hour and
measure the intake, not the queue.  *recipients* recipients of example.com, 10 per message,
and *copies* journal copies on ``the.tdc.queue`` (real journal copies of those messages);
a tenth more of each are stored as already delivered: they must never arrive.

Then: the gateway starts and recovers that queue (first start); ``suspenddel`` as soon as
its console answers (the SETD simulator is up: the copies, recovered last, stay queued;
any it took before are counted as recovered); the time until the whole queue is back
(``tophosts`` shows every recipient and copy active again), RSS (VmRSS and VmHWM of its
/proc status) and ``tophosts`` / ``hoststatus`` / ``version`` timings through its console
(median and p99 of the time from the command line to the next prompt; ``version`` is the
reference: the cost of the console itself).  Once no connection is out (nothing in flight),
``kill -9``, and a new process on the same data: the time to SMTP listening (a connection
gets its ``220``) and to the whole queue recovered, the same figures again.  Then the route
is pointed at the sink (``smtproutes edit``, ``commit``, ``resumedel``, ``delivernow all``)
and once the queues are empty the arrivals are counted per Message-ID: lost (0 arrivals),
twice (more than 1), and delivered again (any arrival of those stored as delivered).
``--no-drain`` stops before that last part.  Progress goes to stderr, the report (JSON) to
stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: benchmarks/ is the path, not the repository
    sys.path.insert(0, str(REPO))

from benchmarks.common import publish  # noqa: E402
from benchmarks.gateway import (  # noqa: E402
    SINK_DOMAIN,
    TDC_QUEUE,
    Peers,
    configure_segcli,
    parse_tophosts,
    segcli_command,
)
from benchmarks.processes import (  # noqa: E402
    BenchmarkError,
    LineReader,
    Processes,
    free_port,
    memory_kb,
    python_env,
)
from engine.mail.journal import journal_copy  # noqa: E402
from engine.store import queue_store  # noqa: E402
from engine.store.database import Store  # noqa: E402
from engine.store.ids import IdAllocator  # noqa: E402
from engine.store.queue_store import NewMessage  # noqa: E402

PER_MESSAGE = 10
PROMPT = r"(?m)^\S*> "
BODY_LINE = b"A big queue: waiting for a host that is down.  0123456789abcdefghij\r\n"


def _body(message_id: str, lines: int) -> bytes:
    return (f"From: a@example.org\r\nTo: u@{SINK_DOMAIN}\r\nMessage-ID: {message_id}\r\n"
            f"Subject: big queue\r\n\r\n").encode() + BODY_LINE * lines


def build_queue(data: Path, recipients: int, copies: int, intake: str,
                lines: int) -> dict[str, Any]:
    """Store the queue in *data*'s store; returns the Message-IDs queued and delivered."""
    store = Store.open(data)
    messages = recipients // PER_MESSAGE
    done_messages, done_copies = messages // 10, copies // 10
    ids = IdAllocator(store.engine, block=messages + done_messages + copies + done_copies + 10)
    now, far = time.time(), time.time() + 30 * 86400
    queued: list[str] = []
    delivered: list[str] = []
    copy_queued: list[str] = []
    copy_delivered: list[str] = []
    raw = store.engine.raw_connection()
    try:
        db = raw.driver_connection
        assert db is not None
        batch_messages: list[tuple] = []
        batch_deliveries: list[tuple] = []

        def flush() -> None:
            # The store's connections leave BEGIN to SQLAlchemy (isolation_level None): one
            # explicit transaction per batch, not one commit (and fsync) per row.
            db.execute("BEGIN")
            db.executemany(queue_store._INSERT_MESSAGE, batch_messages)
            db.executemany(queue_store._INSERT_DELIVERY, batch_deliveries)
            db.commit()
            batch_messages.clear()
            batch_deliveries.clear()

        def add(message: NewMessage, destination: str, state: str) -> None:
            batch_messages.append(queue_store._message_row(message))
            for rid, address in enumerate(message.recipients):
                batch_deliveries.append((message.mid, rid, address, destination, state,
                                         0, now, far, ""))
            if len(batch_deliveries) >= 20_000:
                flush()

        for n in range(messages + done_messages):
            mid = ids.next("mid")
            message_id = f"<big{n}@bench>"
            done = n >= messages
            body = b"" if done else _body(message_id, lines)
            (delivered if done else queued).append(message_id)
            add(NewMessage(mid, 0, "a@example.org",
                           [f"u{n}.{r}@{SINK_DOMAIN}" for r in range(PER_MESSAGE)], body, now,
                           message_id, "big queue", "incoming",
                           state="done" if done else "queued"), SINK_DOMAIN,
                "delivered" if done else "active")
        for n in range(copies + done_copies):
            mid = ids.next("mid")
            message_id = f"<copy{n}@bench>"
            done = n >= copies
            (copy_delivered if done else copy_queued).append(message_id)
            body = b"" if done else journal_copy(
                _body(message_id, lines), gateway="bench.example", intake=intake, mid=mid,
                original_mid=mid, original_message_id=message_id, when=datetime.now(UTC))
            add(NewMessage(mid, 0, "", [intake], body, now, message_id, "big queue", "incoming",
                           kind="journal", origin_mid=mid, state="done" if done else "queued"),
                TDC_QUEUE, "delivered" if done else "active")
        flush()
    finally:
        raw.close()
        store.close()
    return {"queued": queued, "delivered": delivered, "copy_queued": copy_queued,
            "copy_delivered": copy_delivered}


class Gateway:
    """The real segcli process, its console on pipes."""

    def __init__(self, processes: Processes, command: list[str], port: int) -> None:
        self.processes, self.command, self.port = processes, command, port
        self.process: subprocess.Popen | None = None
        self.stdout: LineReader | None = None

    def start(self) -> tuple[float, float]:
        """Start it; the seconds until a connection gets ``220``, and until the console
        answers."""
        started = time.monotonic()
        process = self.process = self.processes.start(
            [*self.command, "--plain"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=python_env(), stop=self._quit)
        self.stdout = LineReader(process.stdout)
        LineReader(process.stderr)
        greeting = _wait_greeting(self.port, process, started + 120) - started
        self.stdout.wait_for(PROMPT, 120)
        return greeting, time.monotonic() - started

    def _quit(self) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)
        self.processes.stop(self.process)

    def run(self, command: str, timeout: float = 60.0) -> tuple[float, str]:
        """One console command: the seconds until the next prompt, and its output."""
        assert self.process is not None and self.process.stdin is not None
        assert self.stdout is not None
        start = len(self.stdout.text)
        began = time.perf_counter()
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()
        match = self.stdout.wait_for(PROMPT, timeout, start)
        return time.perf_counter() - began, self.stdout.text[start:match.start()]

    def hosts(self) -> dict[str, dict[str, int]]:
        return parse_tophosts(self.run("tophosts 3")[1])

    def memory(self) -> dict[str, float]:
        """VmRSS and VmHWM of the process, in MB."""
        assert self.process is not None
        return {key: kb / 1024 for key, kb in memory_kb(self.process.pid).items()}


def _wait_greeting(port: int, process: subprocess.Popen, deadline: float) -> float:
    """When a connection to *port* first read a ``220`` greeting (time.monotonic())."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(f"segcli exited with status {process.returncode}")
        with socket.socket() as probe:
            probe.settimeout(5)
            with contextlib.suppress(OSError):
                probe.connect(("127.0.0.1", port))
                if probe.recv(512).startswith(b"220"):
                    return time.monotonic()
        time.sleep(0.02)
    raise BenchmarkError(f"segcli did not greet on port {port}")


def _wait_recovered(gateway: Gateway, peers: Peers, recipients: int, copies: int,
                    started: float, timeout: float) -> float:
    """Poll ``tophosts`` until every queued recipient and copy is active again (the copies
    the simulator took before delivery was suspended count as recovered)."""
    while True:
        hosts = gateway.hosts()
        taken = peers.ask("stats")["setd"]["count"]
        active = (hosts.get(SINK_DOMAIN, {}).get("active", 0),
                  hosts.get(TDC_QUEUE, {}).get("active", 0) + taken)
        if active >= (recipients, copies):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise BenchmarkError(f"only {active} of {(recipients, copies)} recovered")
        time.sleep(0.1)


def _quiet(gateway: Gateway, timeout: float) -> None:
    """Wait until no connection is out (delivery is suspended): what the kill then leaves
    is what the store says, with nothing in flight (an in-flight message may arrive twice
    after a restart, by design: delivery is at least once)."""
    deadline = time.monotonic() + timeout
    while any(host["connections_out"] for host in gateway.hosts().values()):
        if time.monotonic() > deadline:
            raise BenchmarkError("connections stayed open while delivery was suspended")
        time.sleep(0.1)


def _timings(gateway: Gateway, command: str, runs: int) -> dict[str, float]:
    times = sorted(gateway.run(command)[0] * 1000 for _ in range(runs))
    return {"median_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[math.ceil(len(times) * 0.99) - 1], 2)}  # nearest rank


def _console_figures(gateway: Gateway, runs: int) -> dict[str, Any]:
    return {"version": _timings(gateway, "version", runs),
            "tophosts": _timings(gateway, "tophosts 3", runs),
            f"hoststatus {SINK_DOMAIN}": _timings(gateway, f"hoststatus {SINK_DOMAIN}", runs),
            f"hoststatus {TDC_QUEUE}": _timings(gateway, f"hoststatus {TDC_QUEUE}", runs)}


def _counted(arrived: dict[str, int], queued: list[str], delivered: list[str]) -> dict[str, int]:
    return {"lost": sum(1 for m in queued if arrived.get(m, 0) == 0),
            "twice": sum(max(0, arrived.get(m, 0) - 1) for m in queued),
            "delivered_again": sum(arrived.get(m, 0) for m in delivered)}


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    processes = Processes()
    try:
        peers = Peers(processes, work / "setd", python_sink=True, ids=True)
        data, port = work / "data", free_port()
        command = [*segcli_command(data, f"127.0.0.1:{port}"), "--https", "127.0.0.1:0"]
        configure_segcli(command, peers.info, free_port())  # example.com: a closed port
        began = time.monotonic()
        built = build_queue(data, args.recipients, args.copies, peers.info["intake"], args.lines)
        report: dict[str, Any] = {"recipients": args.recipients, "copies": args.copies,
                                  "build_s": round(time.monotonic() - began, 1)}
        print(f"built in {report['build_s']} s", file=sys.stderr, flush=True)
        gateway = Gateway(processes, command, port)
        for phase in ("first start", "after kill -9"):
            if phase != "first start":
                _quiet(gateway, args.timeout)
                gateway.kill()
            started = time.monotonic()
            greeting, console = gateway.start()
            # The SETD simulator is up: the copies stay queued only while delivery is
            # suspended (they are recovered last: their rows were stored last).
            gateway.run("suspenddel")
            recovered = _wait_recovered(gateway, peers, args.recipients, args.copies,
                                        started, args.timeout)
            report[phase] = {"smtp_220_s": round(greeting, 2), "console_s": round(console, 2),
                             "recovered_s": round(recovered, 1), **gateway.memory(),
                             **_console_figures(gateway, args.runs)}
            print(phase, json.dumps(report[phase]), file=sys.stderr, flush=True)
        if args.no_drain:
            return report
        gateway.run(f"smtproutes edit {SINK_DOMAIN} replace 127.0.0.1:{peers.info['sink_port']}")
        gateway.run('commit "the host is back"')
        gateway.run("resumedel")
        gateway.run("delivernow all")
        started = time.monotonic()
        while True:
            hosts = gateway.hosts()
            if all(hosts.get(h, {}).get("active", 0) == 0 for h in (SINK_DOMAIN, TDC_QUEUE)):
                break
            if time.monotonic() - started > args.timeout:
                raise BenchmarkError(f"the queues did not drain: {hosts}")
            time.sleep(0.5)
        report["drained_s"] = round(time.monotonic() - started, 1)
        arrived = peers.ask("ids")
        report["sink"] = _counted(arrived["sink"], built["queued"], built["delivered"])
        report["setd"] = _counted(arrived["setd"], built["copy_queued"], built["copy_delivered"])
        return report
    finally:
        processes.stop_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--copies", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=10, help="body lines (72 bytes each)")
    parser.add_argument("--runs", type=int, default=30, help="runs of each console command")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--no-drain", action="store_true",
                        help="stop after the restart's figures (no delivery, no counting)")
    parser.add_argument("--keep", type=Path, help="work in this new directory and keep it "
                        "(the gateway's data and mail logs), instead of a temporary one")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True)
        report = run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="bigq") as tmp:
            report = run(args, Path(tmp))
    publish(json.dumps(report, indent=2), report, args.json)
    ok = all(report[end][key] == 0 for end in ("sink", "setd") if end in report
             for key in ("lost", "twice", "delivered_again"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
