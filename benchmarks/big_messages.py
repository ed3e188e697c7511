#!/usr/bin/env python3
"""Big messages: what a 50 MB message costs the gateway, and whether 20 of them stall small mail.

    .venv/bin/python benchmarks/big_messages.py                 # 50 MB, then 20 at once
    .venv/bin/python benchmarks/big_messages.py --size 2M --concurrent 3 --json out.json

What runs (each a process of its own, as in the journal benchmark):

* the gateway: ``python -m segcli --data DIR --smtp 127.0.0.1:0 --plain``, configured with
  its one-line commands like the journal benchmark (relay example.com to the sink, journal
  every clean message to the SETD simulator over verified TLS), plus ``listenerconfig
  maxsize`` to raise the listener's size limit above the big message;
* ``python -m benchmarks.peers --sink --digests --max-size N``: the SETD simulator, the lab
  DNS zone and a discarding sink, keeping the SHA-256 of what arrives per Message-ID;
* the senders: the big ones asyncio SMTP clients of this script, the small ones a process
  of their own (:class:`SmallSender` says why).

Phases, one after the other on the same gateway:

1. *small alone*: small messages (2 KB) at a steady rate over a few sessions; their accept
   latency (final dot to reply) is the reference.
2. *one big message*: the gateway's resident memory is read (``/proc/PID/status``: VmRSS)
   before, its peak (VmHWM, reset first through ``/proc/PID/clear_refs`` when the kernel
   allows) once the message was delivered to the sink and journaled to the simulator.  The
   sink's copy must be, after the gateway's ``Received`` field, byte for byte what was sent,
   and the original attached to the journal copy byte for byte what the sink got.
3. *big ones at once*: ``--concurrent`` big messages on as many connections, while the small
   sender keeps its rate: the small messages' accept latency meanwhile, against phase 1.
   The peak RSS is read again, and every big message checked as in phase 2.

Every process it starts is stopped at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: benchmarks/ is the path, not the repository
    sys.path.insert(0, str(REPO))

from benchmarks.common import interrupt_on_signals  # noqa: E402
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
    descendants,
    memory_kb,
    tree_cpu_times,
)

REPLY_TIMEOUT = 600.0
SMALL_LINE = b"A small message, sent while big ones travel.  0123456789 abcdefghij\r\n"


def parse_size(text: str) -> int:
    """``50M``, ``512k`` or bytes."""
    factor = {"k": 1024, "m": 1024 * 1024}.get(text[-1:].lower(), 1)
    return int(text[:-1] if factor > 1 else text) * factor


# ------------------------------------------------------------------------------------------
# Memory of a process


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of *pid* in bytes."""
    return {key: kb * 1024 for key, kb in memory_kb(pid).items()}


def reset_peak(pid: int) -> bool:
    """Make VmHWM start again from the current RSS (``echo 5 > /proc/PID/clear_refs``)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# ------------------------------------------------------------------------------------------
# Messages


def big_body(size: int) -> bytes:
    """A base64 attachment of about *size* bytes (76-character lines): what a big message
    usually is, and what the gateway's scanner has to read through."""
    raw = os.urandom(size * 3 // 4 // 57 * 57 + 57)
    return base64.encodebytes(raw).replace(b"\n", b"\r\n")


def big_head(number: int, tag: str) -> bytes:
    return (f"From: <sender@example.org>\r\nTo: <user@{SINK_DOMAIN}>\r\n"
            f"Subject: big message {number}\r\nMessage-ID: <{big_id(tag, number)}>\r\n"
            "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="big-boundary"\r\n\r\n'
            "--big-boundary\r\nContent-Type: text/plain\r\n\r\nA big attachment follows.\r\n"
            "--big-boundary\r\nContent-Type: application/octet-stream\r\n"
            'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; '
            'filename="big.bin"\r\n\r\n').encode()


BIG_TAIL = b"--big-boundary--\r\n"


def big_id(tag: str, number: int) -> str:
    return f"big-{tag}-{number}@example.org"


def small_message(tag: str, number: int, size: int = 2048) -> bytes:
    head = (f"From: <sender@example.org>\r\nTo: <user@{SINK_DOMAIN}>\r\n"
            f"Subject: small message {number}\r\nMessage-ID: <small-{tag}-{number}@example.org>\r\n"
            "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n").encode()
    return head + SMALL_LINE * max(1, (size - len(head)) // len(SMALL_LINE))


# ------------------------------------------------------------------------------------------
# An SMTP client session (asyncio)


class Session:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Session:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
        session = cls(reader, writer)
        await session._expect(220, None)
        await session._expect(250, b"EHLO sender.big.example.org\r\n")
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
            raise BenchmarkError(f"expected {code}, got {got} to {command!r}")

    async def send(self, *pieces: bytes) -> tuple[int, float]:
        """One message (its pieces written one after the other, not joined); the final
        reply code and the accept latency (from the final dot written to the reply)."""
        await self._expect(250, b"MAIL FROM:<sender@example.org>\r\n")
        await self._expect(250, f"RCPT TO:<user@{SINK_DOMAIN}>\r\n".encode())
        await self._expect(354, b"DATA\r\n")
        for piece in pieces:
            self._writer.write(piece)
            await self._writer.drain()
        self._writer.write(b".\r\n")
        await self._writer.drain()
        dot = time.monotonic()
        code = await self._reply()
        return code, time.monotonic() - dot

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.write(b"QUIT\r\n")
            await self._writer.drain()
            self._writer.close()


class SmallSender:
    """Small messages at a steady rate over a few sessions, in a process of its own, until
    told to stop; the accept latency of each.  Not a thread of this script: it would share
    the interpreter lock with the big senders, whose writes of 50 MB hold it for a quarter
    of a second at a time, and the small messages' latencies would be partly this
    script's own."""

    def __init__(self, port: int, rate: float, sessions: int, tag: str) -> None:
        context = multiprocessing.get_context("spawn")  # nothing of this process's threads
        self._stop = context.Event()
        self._results, results = context.Pipe(duplex=False)
        self._process = context.Process(target=_send_small, name="small-sender", daemon=True,
                                        args=(port, rate, sessions, tag, self._stop, results))
        self.latencies: list[float] = []
        self.refused = 0

    def start(self) -> SmallSender:
        self._process.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        try:
            if not self._results.poll(REPLY_TIMEOUT):
                raise BenchmarkError("the small-mail sender did not stop")
            outcome = self._results.recv()
        finally:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
        if "error" in outcome:
            raise BenchmarkError(f"the small-mail sender failed: {outcome['error']}")
        self.latencies, self.refused = outcome["latencies"], outcome["refused"]


def _send_small(port: int, rate: float, sessions: int, tag: str, stop: Any, results: Any) -> None:
    """The small sender's process: send until *stop* is set, then report on *results*."""
    sending = _SmallSessions(port, rate, sessions, tag, stop)
    try:
        asyncio.run(sending.run())
    except BaseException as exc:
        results.send({"error": repr(exc)})
    else:
        results.send({"latencies": sending.latencies, "refused": sending.refused})


class _SmallSessions:
    def __init__(self, port: int, rate: float, sessions: int, tag: str, stop: Any) -> None:
        self.port, self.rate, self.sessions, self.tag = port, rate, sessions, tag
        self.latencies: list[float] = []
        self.refused = 0
        self._stop = stop
        self._next = 0.0
        self._number = 0

    async def run(self) -> None:
        self._next = time.monotonic()
        await asyncio.gather(*(self._session() for _ in range(self.sessions)))

    async def _session(self) -> None:
        session = await Session.open(self.port)
        try:
            while not self._stop.is_set():
                slot, self._next = self._next, max(self._next, time.monotonic()) + 1 / self.rate
                if slot > time.monotonic():
                    await asyncio.sleep(slot - time.monotonic())
                self._number += 1
                code, latency = await session.send(small_message(self.tag, self._number))
                if code == 250:
                    self.latencies.append(latency)
                else:
                    self.refused += 1
        finally:
            await session.close()


def latency_figures(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    if not ordered:
        return {"count": 0}
    return {"count": len(ordered), "median_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
            "max_ms": ordered[-1] * 1000}


async def send_big(port: int, pieces: list[tuple[bytes, ...]]) -> list[tuple[int, float, float]]:
    """Each message on a connection of its own, all at once; per message the reply code,
    the accept latency and the seconds from connecting to the reply."""
    async def one(message: tuple[bytes, ...]) -> tuple[int, float, float]:
        started = time.monotonic()
        session = await Session.open(port)
        try:
            code, latency = await session.send(*message)
        finally:
            await session.close()
        return code, latency, time.monotonic() - started

    return list(await asyncio.gather(*(one(message) for message in pieces)))


# ------------------------------------------------------------------------------------------
# The gateway


class Gateway(SegcliProcess):
    """The real ``segcli``, its listener's size limit raised with ``listenerconfig maxsize``."""

    def __init__(self, processes: Processes, data: Path, peers: dict[str, Any], sink_port: int,
                 max_size: int) -> None:
        super().__init__(processes, segcli_command(data, "127.0.0.1:0"))
        configure_segcli(self.command, peers, sink_port,
                         extra=(f"listenerconfig maxsize {max_size}",))
        self.data = data
        self.port = self.start(timeout=120)
        self.pid = self.running().pid

    def queue_state(self, timeout: float = 60.0) -> dict[str, dict[str, int]]:
        """``tophosts 3``, given a minute: a gateway busy with big messages answers late."""
        return super().queue_state(timeout)


# ------------------------------------------------------------------------------------------
# One run


@dataclass
class Result:
    size: int
    concurrent: int
    rss_before: int = 0
    one_peak_growth: int = 0
    one_accept_s: float = 0.0
    one_delivered_s: float = 0.0
    many_rss_before: int = 0
    many_peak_growth: int = 0
    many_accept_s: list[float] = field(default_factory=list)
    many_delivered_s: float = 0.0
    small_alone: dict[str, float] = field(default_factory=dict)
    small_during: dict[str, float] = field(default_factory=dict)
    peers_peak: int = 0
    peak_reset: bool = False
    segcli_cpu_s: float = 0.0
    scanner_peak: int = 0
    verified: int = 0

    def lines(self) -> str:
        mb = 1024 * 1024
        a, d = self.small_alone, self.small_during

        def small(figures: dict[str, float]) -> str:
            if not figures.get("count"):
                return "no small message"
            return (f"median {figures['median_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
                    f"max {figures['max_ms']:.1f} ms ({figures['count']:.0f} messages)")

        return "\n".join([
            f"one message of {self.size / mb:.1f} MB: accepted in {self.one_accept_s:.2f} s, "
            f"delivered and journaled {self.one_delivered_s:.2f} s after the dot; segcli RSS "
            f"{self.rss_before / mb:.0f} MB before, peak +{self.one_peak_growth / mb:.0f} MB "
            f"(x{self.one_peak_growth / self.size:.1f} the message)",
            f"{self.concurrent} at once: accepted in {min(self.many_accept_s):.2f}-"
            f"{max(self.many_accept_s):.2f} s, all delivered and journaled after "
            f"{self.many_delivered_s:.1f} s; segcli RSS {self.many_rss_before / mb:.0f} MB "
            f"before, peak +{self.many_peak_growth / mb:.0f} MB "
            f"(x{self.many_peak_growth / self.size:.1f} one message)",
            f"small mail alone:      {small(a)}",
            f"small mail meanwhile:  {small(d)}",
            f"byte-equal at the sink and inside the journal: {self.verified} of "
            f"{self.concurrent + 1}; segcli CPU {self.segcli_cpu_s:.1f} s (its scanner process's "
            f"included; its peak RSS {self.scanner_peak / mb:.0f} MB); peers peak RSS "
            f"{self.peers_peak / mb:.0f} MB"
            + ("" if self.peak_reset else " (peak RSS could not be reset between phases)"),
        ])


def run(args: argparse.Namespace, work: Path) -> Result:
    processes = Processes()
    tag = f"{os.getpid()}"
    result = Result(size=args.size, concurrent=args.concurrent)
    deadline = time.monotonic() + args.timeout
    try:
        peers = Peers(processes, work / "setd", python_sink=True,
                      extra=("--digests", "--max-size", str(args.size * 2)))
        gateway = Gateway(processes, work / "segcli-data", peers.info, peers.info["sink_port"],
                          args.size * 2)
        body = big_body(args.size - len(big_head(0, tag)) - len(BIG_TAIL))
        cpu_before = sum(tree_cpu_times(gateway.pid))  # with its scanner process

        # 1. small mail alone: the reference
        sender = SmallSender(gateway.port, args.small_rate, args.small_sessions, tag + "a").start()
        time.sleep(args.reference_seconds)
        sender.stop()
        result.small_alone = latency_figures(sender.latencies)
        gateway.drained(deadline)

        # 2. one big message
        time.sleep(1.0)  # let the allocator settle after the small mail
        result.rss_before = memory(gateway.pid)["VmRSS"]
        result.peak_reset = reset_peak(gateway.pid)
        message = (big_head(0, tag), body, BIG_TAIL)
        started = time.monotonic()
        [(code, latency, _)] = asyncio.run(send_big(gateway.port, [message]))
        if code != 250:
            raise BenchmarkError(f"the big message was refused: {code}")
        result.one_accept_s = latency
        _wait_arrived(peers, [big_id(tag, 0)], deadline)
        result.one_delivered_s = time.monotonic() - started - latency
        gateway.drained(deadline)
        result.one_peak_growth = memory(gateway.pid)["VmHWM"] - result.rss_before
        result.verified += _verify(peers, {big_id(tag, 0): message})

        # 3. many big ones at once, small mail meanwhile
        time.sleep(1.0)
        result.many_rss_before = memory(gateway.pid)["VmRSS"]
        reset_peak(gateway.pid)
        messages = {big_id(tag, n): (big_head(n, tag), body, BIG_TAIL)
                    for n in range(1, args.concurrent + 1)}
        sender = SmallSender(gateway.port, args.small_rate, args.small_sessions, tag + "b").start()
        started = time.monotonic()
        try:
            outcomes = asyncio.run(send_big(gateway.port, list(messages.values())))
            if any(code != 250 for code, _, _ in outcomes):
                raise BenchmarkError(f"big messages refused: {[c for c, _, _ in outcomes]}")
            result.many_accept_s = [total for _, _, total in outcomes]
            _wait_arrived(peers, list(messages), deadline)
            result.many_delivered_s = time.monotonic() - started
        finally:
            sender.stop()
        result.small_during = latency_figures(sender.latencies)
        gateway.drained(deadline)
        result.many_peak_growth = memory(gateway.pid)["VmHWM"] - result.many_rss_before
        result.verified += _verify(peers, messages)
        result.segcli_cpu_s = sum(tree_cpu_times(gateway.pid)) - cpu_before
        result.scanner_peak = max((memory(pid)["VmHWM"] for pid in descendants(gateway.pid)),
                                  default=0)
        result.peers_peak = memory(peers.pid)["VmHWM"]
        return result
    finally:
        processes.stop_all()


def _wait_arrived(peers: Peers, ids: list[str], deadline: float) -> None:
    """Until every one of *ids* is at the sink and at the simulator."""
    while True:
        digests = peers.ask("digests")
        if all(key in (digests[end] or {}) for key in ids for end in ("sink", "setd")):
            return
        if time.monotonic() > deadline:
            raise BenchmarkError(f"not everything arrived in time: {digests}")
        time.sleep(0.2)


def _verify(peers: Peers, messages: dict[str, tuple[bytes, ...]]) -> int:
    """Every message byte-equal at the sink (after the gateway's Received field) and inside
    its journal copy (equal to what the sink got); how many."""
    digests = peers.ask("digests")
    for key, pieces in messages.items():
        sent = hashlib.sha256()
        for piece in pieces:
            sent.update(piece)
        sink, setd = digests["sink"][key], digests["setd"][key]
        if sink["sent"]["sha256"] != sent.hexdigest():
            raise BenchmarkError(f"{key}: the sink's copy is not what was sent")
        if setd["sha256"] != sink["whole"]["sha256"]:
            raise BenchmarkError(f"{key}: the journaled original is not what the sink got")
    return len(messages)


# ------------------------------------------------------------------------------------------
# The whole benchmark


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=50 * 1024 * 1024,
                        help="big message size (bytes, or with k/M): 50M")
    parser.add_argument("--concurrent", type=int, default=20, help="big messages at once: 20")
    parser.add_argument("--small-rate", type=float, default=20.0,
                        help="small messages per second meanwhile: 20")
    parser.add_argument("--small-sessions", type=int, default=2, help="their sessions: 2")
    parser.add_argument("--reference-seconds", type=float, default=10.0,
                        help="seconds of small mail alone (the reference): 10")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed: 900")
    parser.add_argument("--workdir", type=Path, help="kept afterwards (default: a temporary "
                        "directory, removed)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.size < 1024 or args.concurrent < 1 or args.small_rate <= 0 \
            or args.small_sessions < 1 or args.reference_seconds <= 0:
        parser.error("sizes, counts, rates and seconds must be positive (size at least 1k)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="segcli-big-"))
    work.mkdir(parents=True, exist_ok=True)

    interrupt_on_signals()
    print(f"# a message of {args.size} bytes, then {args.concurrent} at once; small mail at "
          f"{args.small_rate:g}/s over {args.small_sessions} sessions", flush=True)
    try:
        result = run(args, work)
    except KeyboardInterrupt:
        print("interrupted; every process stopped", file=sys.stderr)
        return 130
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(result.lines(), flush=True)
    if args.json:
        args.json.write_text(json.dumps({**asdict(result), "settings": {
            k: str(v) for k, v in vars(args).items()}}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
