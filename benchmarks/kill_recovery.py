#!/usr/bin/env python3
"""Recovery after ``kill -9``: nothing acknowledged is lost, and how much is delivered twice.

    .venv/bin/python benchmarks/kill_recovery.py [--messages 2000] [--kills 3] [--rate 250]
    .venv/bin/python benchmarks/kill_recovery.py --runs 3 --json out.json

Delivery is at-least-once (DESIGN.md, "Durability and throughput"): when the next hop has
answered ``250`` but the delivery's "delivered" state is not yet in the store, a crash
makes the restarted gateway deliver it again.  This script measures that window end to end,
over real SMTP on loopback, against the real processes:

* the gateway: ``python -m segcli --data DIR --smtp 127.0.0.1:PORT --plain`` (configured
  like the journal benchmark: relay example.com to the sink, journal every clean message to
  the SETD simulator over verified TLS), its console idle on a pipe;
* the SETD intake simulator, the lab DNS zone and a discarding sink, each counting
  arrivals per Message-ID: ``python -m benchmarks.peers --sink --ids``;
* the sender: a thread of this process, *connections* SMTP sessions sharing a steady
  *rate* of messages, each message with a Message-ID of its own.

One run: N messages are sent at the steady rate; each time the acknowledged count passes
N*k/(K+1) the gateway gets SIGKILL and is started again on the same data directory and
port (it recovers its queue; the sender's sessions reconnect).  A message whose final dot
got no reply (the gateway died in between) is not sent again: it may arrive or not.  Once
everything is sent, the script waits until every acknowledged message is at the sink and
at the simulator and the gateway's queues are empty (``tophosts``), then counts by
Message-ID: *lost* (acknowledged, never arrived: must be 0) and *duplicates* (arrivals
beyond the first) at each end, per kill.  It prints the CPU time of each process too.

Each duplicate is one of two kinds, told apart by segcli's own mail log (the lines
``Message done ... MID m`` and ``TDC: MID m successfully delivered``, written at the loop
turn after the ``250`` was read, and kept by a SIGKILL):

* *after the 250*: the log says segcli had the next hop's ``250`` before it died, yet the
  store did not say "delivered" -- the window between the reply and the durable state;
* *in flight*: the next hop had taken the message, but segcli had not yet read (or not
  yet logged) its ``250`` -- no gateway can close that one, short of exactly-once delivery.

Every process it starts is stopped at the end, on failure and on Ctrl-C (children also get
SIGTERM if the script itself is killed); each run is bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: benchmarks/ is the path, not the repository
    sys.path.insert(0, str(REPO))

from benchmarks.common import (  # noqa: E402
    interrupt_on_signals,
    settings,
    spread,
    write_json,
)
from benchmarks.gateway import (  # noqa: E402
    SINK_DOMAIN,
    Peers,
    SegcliProcess,
    configure_segcli,
    segcli_command,
)
from benchmarks.processes import (  # noqa: E402
    BenchmarkError,
    Processes,
    cpu_seconds,
    free_port,
)

REPLY_TIMEOUT = 30.0
LINE = b"Kill -9 benchmark: at least once, and as few twice as we can.  0123456789\r\n"


# ------------------------------------------------------------------------------------------
# The gateway: started, killed and started again on the same data directory


class Gateway(SegcliProcess):
    """The real ``segcli`` process on one data directory and one SMTP port, across kills:
    configured like the journal benchmark, its console idle on a pipe."""

    def __init__(self, processes: Processes, data: Path, port: int, peers: dict[str, Any],
                 sink_port: int) -> None:
        super().__init__(processes, segcli_command(data, f"127.0.0.1:{port}"))
        configure_segcli(self.command, peers, sink_port)
        self.port = port
        self.data = data
        self.cpu = 0.0  # CPU seconds of the processes that ended (killed or stopped)
        self.restarts: list[float] = []  # seconds from SIGKILL to listening again

    def kill_and_restart(self) -> None:
        """``kill -9``, then a new process on the same data directory and port."""
        process = self.running()
        killed_at = time.monotonic()
        self.cpu += cpu_seconds(process.pid)  # a moment before the kill: what it used
        process.kill()
        process.wait(timeout=30)
        self.processes.stop(process)  # already gone: only its pipes are closed
        self.start()
        self.restarts.append(time.monotonic() - killed_at)

    def stop(self, timeout: float = 60.0) -> None:
        self.cpu += cpu_seconds(self.running().pid)
        super().stop(timeout)

    def cpu_now(self) -> float:
        """CPU seconds of every process so far, the running one included."""
        return self.cpu + cpu_seconds(self.running().pid)


# ------------------------------------------------------------------------------------------
# The sender: a steady rate over a few SMTP sessions that outlive the gateway's deaths


class SendFailed(Exception):
    """The session broke; *after_dot*: the final dot was written, the reply never came."""

    def __init__(self, why: str, *, after_dot: bool) -> None:
        super().__init__(why)
        self.after_dot = after_dot


class Pacer:
    """One message every 1/rate seconds over all sessions; no catching up after an outage
    (a burst after the restart would measure a different load)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(self._next, now)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


def message_id(tag: str, number: int) -> str:
    return f"kill-{tag}-{number}@example.org"


def make_message(tag: str, number: int, size: int) -> bytes:
    """A message of about *size* bytes with its own Message-ID, CRLF line ends."""
    head = (f"From: <sender@example.org>\r\nTo: <user@{SINK_DOMAIN}>\r\n"
            f"Subject: kill -9 benchmark message {number}\r\n"
            f"Message-ID: <{message_id(tag, number)}>\r\n"
            "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n").encode()
    return head + LINE * max(1, (size - len(head)) // len(LINE))


class Session:
    """One SMTP client connection to the gateway (plain SMTP, no pipelining)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Session:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        session = cls(reader, writer)
        await session._expect(220, None)
        await session._expect(250, b"EHLO sender.kill.example.org\r\n")
        return session

    async def _reply(self) -> int:
        while True:
            line = await asyncio.wait_for(self._reader.readline(), REPLY_TIMEOUT)
            if not line:
                raise ConnectionResetError("connection closed")
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3])

    async def _expect(self, code: int, command: bytes | None) -> None:
        if command is not None:
            self._writer.write(command)
        got = await self._reply()
        if got != code:
            raise ConnectionError(f"expected {code}, got {got}")

    async def send(self, body: bytes) -> int:
        """One message; its final reply code.  SendFailed when the connection breaks."""
        try:
            for command in (b"MAIL FROM:<sender@example.org>\r\n",
                            f"RCPT TO:<user@{SINK_DOMAIN}>\r\n".encode()):
                self._writer.write(command)
                code = await self._reply()
                if code != 250:
                    return code
            self._writer.write(b"DATA\r\n")
            code = await self._reply()
            if code != 354:
                return code
        except (OSError, ValueError) as exc:  # TimeoutError is an OSError
            raise SendFailed(repr(exc), after_dot=False) from exc
        try:
            self._writer.write(body + b".\r\n")
            return await self._reply()
        except (OSError, ValueError) as exc:  # TimeoutError is an OSError
            raise SendFailed(repr(exc), after_dot=True) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()


def _closed(session: Session | None) -> None:
    """Close *session* if there is one; None, to forget it."""
    if session is not None:
        session.close()


class SteadySender:
    """Sends messages 1..N at a steady rate over *connections* sessions, in a thread of its
    own; reconnects while the gateway is down.  ``acked`` are the numbers answered 250."""

    def __init__(self, *, port: int, messages: int, rate: float, connections: int, size: int,
                 tag: str, deadline: float) -> None:
        self.port, self.size, self.tag, self.deadline = port, size, tag, deadline
        self.connections = connections
        self.pending: deque[int] = deque(range(1, messages + 1))
        self.acked: set[int] = set()
        self.unanswered: set[int] = set()  # final dot written, no reply: the gateway died
        self.refused: dict[int, int] = {}  # number -> 5xx code
        self.broken_sessions = 0
        self.error: BaseException | None = None
        self.cpu = 0.0  # CPU seconds of the sender's thread
        self._pacer = Pacer(rate)
        self._in_flight = 0
        self._stop = False
        self._thread = threading.Thread(target=self._main, name="sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._thread.join(timeout=10)

    def wait(self) -> None:
        """Until every message is sent (or the run's deadline passes)."""
        self._thread.join(timeout=max(0.0, self.deadline - time.monotonic()))
        if self._thread.is_alive():
            raise BenchmarkError(f"the sender did not finish in time: {len(self.pending)} not sent")
        if self.error is not None:
            raise BenchmarkError(f"the sender failed: {self.error!r}")

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:
            self.error = exc
        finally:
            self.cpu = time.thread_time()

    async def _run(self) -> None:
        await asyncio.gather(*(self._session() for _ in range(self.connections)))

    async def _session(self) -> None:
        session: Session | None = None
        try:
            while (not self._stop and time.monotonic() < self.deadline
                   and (self.pending or self._in_flight)):
                if not self.pending:  # another session may give one back
                    await asyncio.sleep(0.01)
                    continue
                number = self.pending.popleft()
                self._in_flight += 1
                try:
                    await self._pacer.wait()
                    if session is None:
                        session = await self._connect()
                    code = await session.send(make_message(self.tag, number, self.size))
                except SendFailed as failure:
                    self.broken_sessions += 1
                    session = _closed(session)
                    if failure.after_dot:
                        self.unanswered.add(number)
                    else:
                        self.pending.appendleft(number)  # never reached the gateway's store
                else:
                    self._note(number, code)
                    if code != 250:  # a refusal mid-transaction: start over on a new session
                        session = _closed(session)
                finally:
                    self._in_flight -= 1
        finally:
            _closed(session)

    def _note(self, number: int, code: int) -> None:
        if code == 250:
            self.acked.add(number)
        elif 400 <= code < 500:
            self.pending.append(number)  # not taken: send it again later
        else:
            self.refused[number] = code

    async def _connect(self) -> Session:
        """A session with the gateway, trying every 50 ms while it is down or restarting."""
        while True:
            try:
                return await Session.open(self.port)
            except (OSError, ValueError) as exc:  # TimeoutError is an OSError
                if self._stop or time.monotonic() > self.deadline:
                    raise SendFailed(f"cannot reach the gateway: {exc!r}", after_dot=False) \
                        from exc
                await asyncio.sleep(0.05)


# ------------------------------------------------------------------------------------------
# What the gateway's mail log says it delivered


@dataclass
class Delivered:
    """How many times segcli logged each Message-ID as delivered, at each end."""

    sink: Counter[str]
    setd: Counter[str]

    @classmethod
    def from_mail_log(cls, data: Path) -> Delivered:
        """Read every mail log file of the data directory (the current one and rolled ones):
        a message's Message-ID and MID, its journal copies' MIDs, and their deliveries."""
        text = "".join(path.read_text(errors="replace")
                       for path in sorted((data / "logs" / "mail_logs").glob("mail*")))
        ids = {int(m[1]): m[2] for m in re.finditer(r"MID (\d+) Message-ID '<([^>]*)>'", text)}
        copies = {int(m[1]): m[2] for m in re.finditer(
            r"TDC: MID (\d+) with Message-ID '<([^>]*)>' enqueued", text)}
        sink = Counter(ids.get(int(m[1]), "") for m in re.finditer(
            r"Message done DCID \d+ MID (\d+) to RID", text))
        setd = Counter(copies.get(int(m[1]), "") for m in re.finditer(
            r"TDC: MID (\d+) successfully delivered", text))
        return cls(sink, setd)

    def after_250(self, end: str, arrived: dict[str, int]) -> int:
        """Duplicates at *end* whose earlier delivery segcli had logged (it had the 250)."""
        logged: Counter[str] = getattr(self, end)
        return sum(min(n - 1, max(0, logged[key] - 1)) for key, n in arrived.items() if n > 1)


# ------------------------------------------------------------------------------------------
# One run


@dataclass
class RunResult:
    run: int
    messages: int
    kills: int
    acknowledged: int
    unanswered: int  # final dot written when the gateway died: no reply, not sent again
    unanswered_delivered: int  # of those, how many reached the sink anyway
    refused: int
    lost_sink: int
    lost_setd: int
    duplicates_sink: int
    duplicates_setd: int
    #: of the duplicates, those whose first delivery segcli had logged (it had read the 250)
    after_250_sink: int
    after_250_setd: int
    seconds: float
    restart_seconds: list[float] = field(default_factory=list)
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def per_kill(self) -> tuple[float, float]:
        kills = max(1, self.kills)
        return self.duplicates_sink / kills, self.duplicates_setd / kills

    @property
    def after_250_per_kill(self) -> tuple[float, float]:
        kills = max(1, self.kills)
        return self.after_250_sink / kills, self.after_250_setd / kills

    def line(self) -> str:
        sink, setd = self.per_kill
        cpu = ", ".join(f"{name} {value:.2f} s" for name, value in self.cpu_seconds.items())
        return (f"run {self.run}: {self.messages} messages, {self.acknowledged} acknowledged, "
                f"{self.unanswered} unanswered ({self.unanswered_delivered} of them delivered), "
                f"{self.refused} refused; {self.kills} kills, restart "
                f"{statistics.median(self.restart_seconds or [0]):.1f} s (median)\n"
                f"       lost: sink {self.lost_sink}, SETD {self.lost_setd}; duplicates: sink "
                f"{self.duplicates_sink} ({sink:.1f} per kill; {self.after_250_sink} after the "
                f"250), SETD {self.duplicates_setd} ({setd:.1f} per kill; {self.after_250_setd} "
                "after the 250)\n"
                f"       CPU: {cpu} (segcli {self.segcli_ms_per_message:.2f} ms/message); "
                f"{self.seconds:.1f} s")

    @property
    def segcli_ms_per_message(self) -> float:
        return self.cpu_seconds.get("segcli", 0.0) / max(1, self.acknowledged) * 1000


def run_once(args: argparse.Namespace, run: int, work: Path) -> RunResult:
    started = time.monotonic()
    deadline = started + args.timeout
    processes = Processes()
    sender: SteadySender | None = None
    try:
        peers = Peers(processes, work / "setd", python_sink=True, ids=True)
        gateway = Gateway(processes, work / "segcli-data", free_port(), peers.info,
                          peers.info["sink_port"])
        gateway.start()
        peers_cpu = cpu_seconds(peers.pid)
        sender = SteadySender(port=gateway.port, messages=args.messages, rate=args.rate,
                              connections=args.connections, size=args.size, tag=f"{os.getpid()}-{run}",
                              deadline=deadline)
        sender.start()
        for k in range(1, args.kills + 1):
            _wait_acked(sender, args.messages * k // (args.kills + 1), deadline)
            gateway.kill_and_restart()
        sender.wait()
        _wait_delivered(peers, sender, deadline)
        gateway.drained(deadline)
        arrived = _ids(peers)  # after the queues drained: nothing more is on its way
        (work / "arrivals.json").write_text(json.dumps(arrived))  # for a closer look (--workdir)
        cpu = {"segcli": gateway.cpu_now(), "peers": cpu_seconds(peers.pid) - peers_cpu,
               "sender": sender.cpu}
        gateway.stop()
        delivered = Delivered.from_mail_log(gateway.data)
        return _count(args, run, sender, arrived, delivered, gateway, cpu,
                      time.monotonic() - started)
    finally:
        if sender is not None:
            sender.stop()
        processes.stop_all()


def _wait_acked(sender: SteadySender, count: int, deadline: float) -> None:
    while len(sender.acked) < count:
        if sender.finished or time.monotonic() > deadline:
            raise BenchmarkError(f"only {len(sender.acked)} of {count} messages acknowledged "
                                 f"before the kill ({sender.error!r})")
        time.sleep(0.005)


def _ids(peers: Peers) -> dict[str, dict[str, int]]:
    """Arrivals per Message-ID at each end, the angle brackets taken off."""
    reply = peers.ask("ids")
    return {end: {key.strip().strip("<>"): n for key, n in (reply[end] or {}).items()}
            for end in ("sink", "setd")}


def _wait_delivered(peers: Peers, sender: SteadySender, deadline: float) -> None:
    """Until every acknowledged message has arrived at the sink and at the simulator."""
    wanted = {message_id(sender.tag, n) for n in sender.acked}
    while True:
        stats = peers.ask("stats")
        if min(stats["sink"]["count"], stats["setd"]["count"]) >= len(wanted):
            arrived = _ids(peers)
            if all(wanted <= arrived[end].keys() for end in ("sink", "setd")):
                return
        if time.monotonic() > deadline:
            raise BenchmarkError(f"not everything arrived in time: sink {stats['sink']['count']}, "
                                 f"SETD {stats['setd']['count']} of {len(wanted)}")
        time.sleep(0.2)


def _count(args: argparse.Namespace, run: int, sender: SteadySender,
           arrived: dict[str, dict[str, int]], delivered: Delivered, gateway: Gateway,
           cpu: dict[str, float], seconds: float) -> RunResult:
    acked = {message_id(sender.tag, n) for n in sender.acked}
    unanswered = {message_id(sender.tag, n) for n in sender.unanswered}

    def duplicates(end: str) -> int:
        return sum(n - 1 for n in arrived[end].values() if n > 1)

    return RunResult(
        run=run, messages=args.messages, kills=args.kills, acknowledged=len(acked),
        unanswered=len(unanswered), unanswered_delivered=len(unanswered & arrived["sink"].keys()),
        refused=len(sender.refused), lost_sink=len(acked - arrived["sink"].keys()),
        lost_setd=len(acked - arrived["setd"].keys()), duplicates_sink=duplicates("sink"),
        duplicates_setd=duplicates("setd"), after_250_sink=delivered.after_250("sink", arrived["sink"]),
        after_250_setd=delivered.after_250("setd", arrived["setd"]), seconds=seconds,
        restart_seconds=gateway.restarts,
        cpu_seconds=cpu)


# ------------------------------------------------------------------------------------------
# The whole benchmark


def summary(results: list[RunResult]) -> dict[str, Any]:
    """Medians (and extremes) over the runs, per kill."""
    return {
        "duplicates_per_kill_sink": spread([r.per_kill[0] for r in results]),
        "duplicates_per_kill_setd": spread([r.per_kill[1] for r in results]),
        "after_250_per_kill_sink": spread([r.after_250_per_kill[0] for r in results]),
        "after_250_per_kill_setd": spread([r.after_250_per_kill[1] for r in results]),
        "lost": sum(r.lost_sink + r.lost_setd for r in results),
        "segcli_cpu_ms_per_message": spread([r.segcli_ms_per_message for r in results]),
    }


def print_summary(report: dict[str, Any]) -> None:
    def show(figure: dict[str, float]) -> str:
        return f"{figure['median']:.1f} [{figure['min']:.1f}..{figure['max']:.1f}]"

    print(f"\nduplicates per kill, median [min..max]: sink {show(report['duplicates_per_kill_sink'])}, "
          f"SETD {show(report['duplicates_per_kill_setd'])}\n"
          f"  of which after the 250:            sink {show(report['after_250_per_kill_sink'])}, "
          f"SETD {show(report['after_250_per_kill_setd'])}\n"
          f"lost: {report['lost']}; segcli CPU {show(report['segcli_cpu_ms_per_message'])} ms/message")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Duplicates (and losses) after kill -9 of segcli mid-flow, end to end.")
    parser.add_argument("--messages", type=int, default=2000, help="messages per run")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs per run, evenly spread")
    parser.add_argument("--rate", type=float, default=250.0, help="messages per second sent")
    parser.add_argument("--connections", type=int, default=8, help="client SMTP sessions")
    parser.add_argument("--size", type=int, default=2048, help="message size in bytes")
    parser.add_argument("--runs", type=int, default=1, help="runs (a new data directory each)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per run")
    parser.add_argument("--workdir", type=Path, help="where the data directories go, kept "
                        "afterwards with each run's arrivals per Message-ID (arrivals.json) "
                        "(default: a new temporary directory, removed afterwards)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.kills < 0 or args.rate <= 0 or args.connections < 1:
        parser.error("--messages, --rate and --connections must be positive, --kills at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="segcli-kill-"))
    work.mkdir(parents=True, exist_ok=True)
    interrupt_on_signals()
    print(f"# {args.messages} messages of {args.size} bytes at {args.rate:g}/s over "
          f"{args.connections} sessions, {args.kills} kills per run", flush=True)
    results: list[RunResult] = []
    try:
        for run in range(1, args.runs + 1):
            result = run_once(args, run, work / f"run{run}")
            results.append(result)
            print(result.line(), flush=True)
    except KeyboardInterrupt:
        print("interrupted; every process stopped", file=sys.stderr)
        return 130
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    report = summary(results)
    print_summary(report)
    if args.json:
        write_json(args.json, {
            "results": [{**asdict(r), "duplicates_per_kill": r.per_kill,
                         "after_250_per_kill": r.after_250_per_kill} for r in results],
            **report, "settings": settings(args)})
    return 1 if report["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
