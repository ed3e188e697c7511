#!/usr/bin/env python3
"""SETD down for 120 s at full load (issue 14): what happens to the journal copies, to
ordinary mail, to memory and to the monitoring commands.

    .venv/bin/python benchmarks/setd_outage.py [--rate 100] [--duration 330] [--outage 120]
    .venv/bin/python benchmarks/setd_outage.py --smoke        # the suite's smoke test

What runs, each a process of its own on loopback (free ports):

* the gateway: ``python -m segcli --data DIR --smtp 127.0.0.1:0 --ssh 127.0.0.1:0 --plain``,
  configured like the journal benchmark (relay example.com to the sink, journal every clean
  message to the SETD simulator over verified TLS) with its own one-line commands;
* the SETD intake simulator, the lab DNS zone and a discarding sink, counting arrivals per
  Message-ID: ``python -m benchmarks.peers --sink --ids``;
* the load: ``python -m benchmarks.paced_load``, open loop at ``--rate`` messages/s over 20
  sessions for ``--duration`` seconds (5 KB messages);
* in this process: an SSH shell (paramiko, as ``admin``) asking ``tophosts 1``,
  ``hoststatus the.tdc.queue`` and ``version`` (which reads nothing: the reference for what
  the loaded machine and event loop add) in turn, timed from writing the line to reading the
  next prompt; and a sampler of segcli's RSS (``/proc/PID/status``) and of the arrivals at the
  sink and at the simulator.

The outage is the ``conn-timeout-120s-expiry`` drill's "SETD accepts the connection and
never speaks", for every connection (the simulator's ``down`` command): new connections
get no greeting, and the connections already open never answer their next MAIL, as when
SETD's site or the path to it drops everything.  It starts ``--before`` seconds into the
load and lasts ``--outage`` seconds (120); then the faults are cleared (connections that hung
stay hung: the gateway's own attempt timeout ends them, as after a real outage).

The report, per window (before the outage -- its first seconds left out as warm-up --,
during it, and after it): the offered and the accepted rate, the ordinary delivery rate
(arrivals at the sink) and the journal rate (copies the simulator accepted), the accept
latency (final dot to reply; p50/p99), and the monitoring commands' latency (median, p99,
max).  Memory: segcli's RSS before, its peak (sampled, and VmHWM), the peak number of copies
on ``the.tdc.queue`` (``tophosts``) and the RSS growth per 10,000 queued copies.  Then the
accounting, once the load has ended and the queues drained: from segcli's mail log, every
journal copy enqueued (``TDC: MID m with Message-ID ... enqueued``) must have exactly one
end -- ``successfully delivered``, or ``delivery failed ...: Expired.`` followed by
``Message finished MID m aborted`` at its limit (enqueue + L, within the drills' tolerance
2 s + 5 %) --; the simulator must have every copy logged as delivered, once, and nothing
else but copies logged as expired whose attempt the limit cut after SETD had taken them
(SPEC.md §4 ruling 3: they were handed to a connection, "Delivery start"); the sink must
have every accepted message, once.  Exit status 1 if the accounting fails.

``--time-scale`` scales the connector's timers (``tdcconfig timers scale``): the smoke test
only (``--smoke``: 0.05, so L = 6 s; 20 messages/s for 20 s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: benchmarks/ is the path, not the repository
    sys.path.insert(0, str(REPO))

from benchmarks.common import (  # noqa: E402
    interrupt_on_signals,
    percentile,
)
from benchmarks.gateway import (  # noqa: E402
    LISTENING,
    SINK_DOMAIN,
    TDC_QUEUE,
    Peers,
    configure_segcli,
    parse_tophosts,
    segcli_command,
)
from benchmarks.processes import (  # noqa: E402
    PYTHON,
    BenchmarkError,
    LineReader,
    Processes,
    cpu_seconds,
    memory_kb,
    python_env,
)
from benchmarks.ssh_roundtrip import PASSWORD, USER, Shell, connect  # noqa: E402

QUEUE_LIMIT = 120.0  # L, SPEC.md §1 (before the time scale)
ATTEMPT_TIMEOUT = 60.0  # a, SPEC.md §4 ruling 2


# ------------------------------------------------------------------------------------------
# The gateway


class Gateway:
    """The real ``segcli`` process, its console idle on a pipe; its SMTP and SSH ports."""

    def __init__(self, processes: Processes, data: Path, peers: dict[str, Any], sink_port: int,
                 extra: tuple[str, ...]) -> None:
        self.data = data
        command = segcli_command(data, "127.0.0.1:0")
        configure_segcli(command, peers, sink_port, extra)
        self.process = processes.start(
            [*command, "--plain"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=python_env(), stop=self._quit)
        self.pid = self.process.pid
        self.stderr = LineReader(self.process.stderr)
        self.smtp_port = int(self.stderr.wait_for(LISTENING, 120)[1])
        self.ssh_port = int(self.stderr.wait_for(r"SSH server on [\d.]+:(\d+)", 120)[1])

    def _quit(self) -> None:
        """End of input: the console ends, the appliance stops cleanly."""
        with contextlib.suppress(Exception):
            self.process.stdin.close()  # type: ignore[union-attr]

    def memory(self) -> tuple[int, int]:
        """VmRSS and VmHWM (the peak) in kB."""
        kb = memory_kb(self.pid)
        return kb["VmRSS"], kb["VmHWM"]


# ------------------------------------------------------------------------------------------
# What is sampled while the load runs (threads of this process)


@dataclass
class Sample:
    at: float  # time.monotonic()
    rss_kb: int
    sink: int  # messages the sink took so far
    setd: int  # journal copies the simulator accepted so far


@dataclass
class CommandSample:
    at: float
    command: str
    ms: float
    tdc_active: int | None = None  # from tophosts
    tdc_connections: int | None = None


class SharedPeers:
    """The peers process, asked by the sampler thread and the main thread: one question
    and its answer at a time on its pipe."""

    def __init__(self, peers: Peers) -> None:
        self.peers, self.pid, self.info = peers, peers.pid, peers.info
        self._lock = threading.Lock()

    def ask(self, command: str) -> dict[str, Any]:
        with self._lock:
            return self.peers.ask(command)


class Sampler(threading.Thread):
    """segcli's RSS and the arrivals at both ends, every *every* seconds (the only one that
    asks the peers process while it runs)."""

    def __init__(self, gateway: Gateway, peers: SharedPeers, every: float) -> None:
        super().__init__(name="sampler", daemon=True)
        self.gateway, self.peers, self.every = gateway, peers, every
        self.samples: list[Sample] = []
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                started = time.monotonic()
                stats = self.peers.ask("stats")
                rss, _ = self.gateway.memory()
                self.samples.append(Sample(time.monotonic(), rss, stats["sink"]["count"],
                                           stats["setd"]["count"]))
                self._halt.wait(max(0.0, self.every - (time.monotonic() - started)))
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)


class Console(threading.Thread):
    """An SSH shell asking ``tophosts 1``, ``hoststatus the.tdc.queue`` and ``version`` in
    turn."""

    #: ``version`` reads nothing: the reference for what the loaded machine and loop add
    COMMANDS = ("tophosts 1", f"hoststatus {TDC_QUEUE}", "version")

    def __init__(self, port: int, every: float) -> None:
        super().__init__(name="console", daemon=True)
        self.client = connect(port, USER, password=PASSWORD)
        self.shell = Shell(self.client, "> ")
        self.every = every
        self.samples: list[CommandSample] = []
        self.last_hosts: dict[str, dict[str, int]] = {}
        self.outputs: dict[str, str] = {}
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        turn = 0
        try:
            while not self._halt.is_set():
                command = self.COMMANDS[turn % len(self.COMMANDS)]
                turn += 1
                started = time.perf_counter()
                try:
                    output = self.shell.round_trip(command).decode("utf-8", "replace")
                except TimeoutError:
                    raise BenchmarkError(
                        f"no prompt {self.shell.prompt!r} after {command!r} within the SSH "
                        f"timeout; read: {self.shell._buffer[-500:]!r}") from None
                ms = (time.perf_counter() - started) * 1000
                sample = CommandSample(time.monotonic(), command, ms)
                if command == "tophosts 1":
                    hosts = parse_tophosts(output.replace("\r", ""))
                    self.last_hosts = hosts
                    tdc = hosts.get(TDC_QUEUE, {})
                    sample.tdc_active = tdc.get("active", 0)
                    sample.tdc_connections = tdc.get("connections_out", 0)
                elif TDC_QUEUE not in output and command.startswith("hoststatus"):
                    raise BenchmarkError(f"hoststatus did not answer as expected:\n{output}")
                self.outputs[command] = output
                self.samples.append(sample)
                self._halt.wait(max(0.0, self.every - ms / 1000))
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=60)
        self.client.close()


# ------------------------------------------------------------------------------------------
# The accounting, from segcli's mail log

LOG_TIME = r"(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}) \w+: "
ENQUEUED = re.compile(LOG_TIME + r"TDC: MID (\d+) with Message-ID '([^']*)' enqueued", re.M)
DELIVERED = re.compile(LOG_TIME + r"TDC: MID (\d+) successfully delivered for scanning", re.M)
FAILED = re.compile(LOG_TIME + r"TDC: MID (\d+) delivery failed to Cisco Secure Email Threat "
                    r"Defense: ?([^.]+)\.$", re.M)
STARTED = re.compile(LOG_TIME + r"TDC: Delivery start DCID \d+ MID (\d+)$", re.M)
FINISHED = re.compile(LOG_TIME + r"Message finished MID (\d+) (\w+)$", re.M)


def _log_time(text: str) -> float:
    return datetime.strptime(text, "%a %b %d %H:%M:%S %Y").timestamp()


@dataclass
class Copy:
    mid: int
    message_id: str
    enqueued: float  # wall clock, from the log (1-s resolution)
    ends: list[tuple[str, float]] = field(default_factory=list)  # ("delivered"/why, time)
    finished: list[str] = field(default_factory=list)  # "done" / "aborted"
    attempts: int = 0  # "Delivery start" lines: the copy was handed to a connection


def read_copies(data: Path) -> dict[int, Copy]:
    """Every journal copy of segcli's mail log (all its files) with how it ended."""
    text = "".join(path.read_text(errors="replace")
                   for path in sorted((data / "logs" / "mail_logs").glob("mail*")))
    copies = {int(m[2]): Copy(int(m[2]), m[3], _log_time(m[1])) for m in ENQUEUED.finditer(text)}
    for match in DELIVERED.finditer(text):
        if int(match[2]) in copies:
            copies[int(match[2])].ends.append(("delivered", _log_time(match[1])))
    for match in FAILED.finditer(text):
        if int(match[2]) in copies:
            copies[int(match[2])].ends.append((match[3].strip(), _log_time(match[1])))
    for match in STARTED.finditer(text):
        if int(match[2]) in copies:
            copies[int(match[2])].attempts += 1
    for match in FINISHED.finditer(text):
        if int(match[2]) in copies:
            copies[int(match[2])].finished.append(match[3])
    return copies


def account(copies: dict[int, Copy], setd_ids: dict[str, int], sink_ids: dict[str, int],
            accepted: int, outage: tuple[float, float], limit: float) -> dict[str, Any]:
    """Every copy has one end, logged as SPEC.md says; the far ends agree with the log."""
    tolerance = 2.0 + 0.05 * limit  # the drills' tol (DRILLS.md §2.2); log times are whole seconds
    phases: dict[str, Counter[str]] = defaultdict(Counter)
    problems: list[str] = []
    expiry_ages: list[float] = []
    delivered_ids: Counter[str] = Counter()
    for copy in copies.values():
        phase = ("before" if copy.enqueued < math.floor(outage[0]) else
                 "during" if copy.enqueued < math.floor(outage[1]) else "after")
        if len(copy.ends) != 1:
            phases[phase]["ends != 1"] += 1
            problems.append(f"MID {copy.mid}: {len(copy.ends)} ends {copy.ends}")
            continue
        end, at = copy.ends[0]
        phases[phase][end] += 1
        wanted_finish = "done" if end == "delivered" else "aborted"
        if copy.finished != [wanted_finish]:
            problems.append(f"MID {copy.mid}: {end}, finished {copy.finished}")
        if end == "delivered":
            delivered_ids[copy.message_id.strip("<>")] += 1
        elif end == "Expired":
            age = at - copy.enqueued
            expiry_ages.append(age)
            if not limit - tolerance <= age <= limit + tolerance:
                problems.append(f"MID {copy.mid} expired {age:.0f} s after its enqueue")
        else:
            problems.append(f"MID {copy.mid}: ended '{end}', not delivered nor expired")
    setd = Counter({key.strip().strip("<>"): n for key, n in setd_ids.items()})
    sink = Counter({key.strip().strip("<>"): n for key, n in sink_ids.items()})
    by_id = {c.message_id.strip("<>"): c for c in copies.values()}
    # SETD took a copy the log says expired: the limit cut an attempt in flight after SETD
    # had the final dot, before segcli read the 250 (SPEC.md §4 ruling 3); it must have
    # been handed to a connection ("Delivery start") to count as that, and nothing else.
    unlogged = setd.keys() - delivered_ids.keys()
    cut_in_flight = {key for key in unlogged if key in by_id and by_id[key].attempts
                     and [end for end, _ in by_id[key].ends] == ["Expired"]}
    checks = {
        "copies": len(copies),
        "accepted_by_the_load": accepted,
        "copies_equal_accepted": len(copies) == accepted,
        "logged_delivered_at_setd": delivered_ids.keys() <= setd.keys(),
        "setd_twice": sum(n - 1 for n in setd.values() if n > 1),
        "setd_expired_cut_in_flight": len(cut_in_flight),
        "setd_unexplained": len(unlogged - cut_in_flight),
        "sink_messages": len(sink),
        "sink_twice": sum(n - 1 for n in sink.values() if n > 1),
        "sink_equals_copies": sink.keys() == by_id.keys(),
    }
    ok = (not problems and checks["copies_equal_accepted"] and checks["logged_delivered_at_setd"]
          and checks["setd_twice"] == 0 and checks["setd_unexplained"] == 0
          and checks["sink_equals_copies"] and checks["sink_twice"] == 0)
    return {"ok": ok, "checks": checks, "by_enqueue_phase": {k: dict(v) for k, v in phases.items()},
            "expired_age_s": _spread(expiry_ages), "tolerance_s": tolerance,
            "problems": problems[:20], "problem_count": len(problems)}


# ------------------------------------------------------------------------------------------
# Figures


def _percentile(values: list[float], p: float) -> float | None:
    """Nearest rank (benchmarks/common.py); None for a window with no samples."""
    return percentile(values, p) if values else None


def _spread(values: list[float]) -> dict[str, float | int | None]:
    return {"count": len(values), "median": statistics.median(values) if values else None,
            "p99": _percentile(values, 99), "max": max(values) if values else None,
            "min": min(values) if values else None}


def _count_at(samples: list[Sample], at: float, key: str) -> float:
    """The arrivals counted by *at*, interpolated between the samples around it."""
    before = [s for s in samples if s.at <= at]
    after = [s for s in samples if s.at >= at]
    if not before:
        return float(getattr(samples[0], key))
    if not after:
        return float(getattr(samples[-1], key))
    low, high = before[-1], after[0]
    if high.at == low.at:
        return float(getattr(low, key))
    share = (at - low.at) / (high.at - low.at)
    return getattr(low, key) + share * (getattr(high, key) - getattr(low, key))


def window_figures(name: str, start: float, end: float, load: dict[str, Any],
                   samples: list[Sample], commands: list[CommandSample]) -> dict[str, Any]:
    seconds = max(end - start, 1e-9)
    messages = load["messages"]
    replied = [m for m in messages if start <= m[3] < end]
    accepted = [m for m in replied if m[4] == 250]
    latencies = [(m[3] - m[2]) * 1000 for m in accepted]
    due = [m for m in messages if start <= m[1] < end]
    late = [(m[2] - m[1]) * 1000 for m in due]
    figures: dict[str, Any] = {
        "window": name, "seconds": seconds,
        "offered_per_s": len(due) / seconds,
        "accepted_per_s": len(accepted) / seconds,
        "refused_or_failed": len(replied) - len(accepted),
        "accept_p50_ms": _percentile(latencies, 50), "accept_p99_ms": _percentile(latencies, 99),
        "accept_max_ms": max(latencies) if latencies else None,
        "sent_late_p99_ms": _percentile(late, 99),
        "delivered_per_s": (_count_at(samples, end, "sink") - _count_at(samples, start, "sink"))
                           / seconds,
        "journaled_per_s": (_count_at(samples, end, "setd") - _count_at(samples, start, "setd"))
                           / seconds,
    }
    for command in Console.COMMANDS:
        ms = [c.ms for c in commands if c.command == command and start <= c.at < end]
        figures[command] = _spread(ms)
    return figures


def memory_figures(samples: list[Sample], commands: list[CommandSample], before: tuple[float, float],
                   outage: tuple[float, float], hwm_kb: int) -> dict[str, Any]:
    """RSS before, its peak, and its growth per 10,000 copies on the.tdc.queue."""
    base = [s.rss_kb for s in samples if before[0] <= s.at < before[1]]
    base_kb = statistics.median(base) if base else samples[0].rss_kb
    actives = [(c.at, c.tdc_active) for c in commands if c.tdc_active is not None]
    peak_active = max((a for _, a in actives), default=0)
    peak_rss = max(s.rss_kb for s in samples)
    # RSS against the queue while it grew: least squares over the outage's samples, each
    # RSS sample paired with the tophosts answer nearest in time.
    pairs = []
    for sample in samples:
        if outage[0] <= sample.at < outage[1] and actives:
            at, active = min(actives, key=lambda pair: abs(pair[0] - sample.at))
            if abs(at - sample.at) < 2.0:
                pairs.append((float(active), float(sample.rss_kb)))
    slope = None
    if len(pairs) >= 3 and len({a for a, _ in pairs}) > 1:
        slope = statistics.linear_regression([a for a, _ in pairs], [r for _, r in pairs]).slope
    growth = peak_rss - base_kb
    return {
        "rss_before_mb": base_kb / 1024, "rss_peak_sampled_mb": peak_rss / 1024,
        "vmhwm_mb": hwm_kb / 1024, "rss_end_mb": samples[-1].rss_kb / 1024,
        "peak_queued_copies": peak_active,
        "growth_per_10k_copies_mb": (growth / peak_active * 10_000 / 1024) if peak_active else None,
        "slope_per_10k_copies_mb": slope * 10_000 / 1024 if slope is not None else None,
        "peak_connections_out": max((c.tdc_connections or 0 for c in commands), default=0),
    }


# ------------------------------------------------------------------------------------------
# One run


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    processes = Processes()
    sampler: Sampler | None = None
    console: Console | None = None
    try:
        peers = SharedPeers(Peers(processes, work / "setd", python_sink=True, ids=True))
        extra = (f"tdcconfig timers scale {args.time_scale:g}",) if args.time_scale != 1 else ()
        gateway = Gateway(processes, work / "segcli-data", peers.info, peers.info["sink_port"],
                          extra)
        console = Console(gateway.ssh_port, args.sample_every)
        sampler = Sampler(gateway, peers, args.sample_every)
        console.start()
        sampler.start()
        cpu_before = {"segcli": cpu_seconds(gateway.pid), "peers": cpu_seconds(peers.pid)}
        load_process = processes.start(
            [PYTHON, "-m", "benchmarks.paced_load", "--port", str(gateway.smtp_port),
             "--rate", f"{args.rate:g}", "--seconds", f"{args.duration:g}",
             "--connections", str(args.connections), "--size", str(args.size)],
            stdout=subprocess.PIPE, env=python_env())
        load_started = time.monotonic()
        print(f"# load: {args.rate:g} messages/s for {args.duration:g} s; SETD down at "
              f"{args.before:g} s for {args.outage:g} s (L = {args.limit:g} s)", flush=True)
        _sleep_until(load_started + args.before, sampler, console)
        down = (time.monotonic(), time.time())
        print(f"# SETD down: {peers.ask('down')}", flush=True)
        _sleep_until(down[0] + args.outage, sampler, console)
        up = (time.monotonic(), time.time())
        print(f"# SETD up: {peers.ask('up')}", flush=True)
        out, _ = load_process.communicate(timeout=args.duration + 600)
        processes.stop(load_process)
        load = json.loads(out)
        load_end = max((m[3] for m in load["messages"]), default=time.monotonic())
        drained = _wait_drained(console, sampler, deadline=time.monotonic() + args.limit * 2 + 120)
        cpu = {"segcli": cpu_seconds(gateway.pid) - cpu_before["segcli"],
               "peers": cpu_seconds(peers.pid) - cpu_before["peers"], "load": load["cpu"]}
        sampler.stop()
        console.stop()
        _, hwm = gateway.memory()
        ids = peers.ask("ids")
        processes.stop(gateway.process, timeout=60)  # the mail log is complete after a clean stop
        copies = read_copies(gateway.data)
        accepted = sum(1 for m in load["messages"] if m[4] == 250)
        warm = load["start"] + min(10.0, args.before / 4)
        windows = [window_figures("before", warm, down[0], load, sampler.samples, console.samples),
                   window_figures("during", down[0], up[0], load, sampler.samples, console.samples),
                   window_figures("after", up[0], load_end, load, sampler.samples, console.samples)]
        overall = {command: _spread([c.ms for c in console.samples if c.command == command])
                   for command in Console.COMMANDS}
        resumed = [s.at - up[0] for s in sampler.samples
                   if s.at >= up[0] and s.setd > _count_at(sampler.samples, up[0], "setd")]
        return {
            "settings": {k: str(v) for k, v in vars(args).items()},
            "load_average": {"start": args.load_average, "end": os.getloadavg()},
            "cpus": os.cpu_count(),
            "windows": windows, "commands_overall": overall,
            "memory": memory_figures(sampler.samples, console.samples, (warm, down[0]), (down[0], up[0]),
                                     hwm),
            "journal_resumed_after_s": resumed[0] if resumed else None,
            "accounting": account(copies, ids["setd"], ids["sink"] or {}, accepted,
                                  (down[1], up[1]), args.limit),
            "load_errors": load["error_count"], "load_error_samples": load["errors"][:5],
            "cpu_seconds": cpu, "queues_at_end": drained,
            "outputs": console.outputs,
        }
    finally:
        for thread in (sampler, console):
            if thread is not None and thread.is_alive():
                with contextlib.suppress(Exception):
                    thread.stop()
        processes.stop_all()


def _sleep_until(at: float, *threads: Sampler | Console) -> None:
    while (left := at - time.monotonic()) > 0:
        for thread in threads:
            if thread.error is not None:
                raise BenchmarkError(f"{thread.name} failed: {thread.error!r}")
        time.sleep(min(left, 0.2))


def _wait_drained(console: Console, sampler: Sampler, deadline: float) -> dict[str, Any]:
    """Until tophosts shows nothing active on the.tdc.queue and the sink's domain."""
    while True:
        _sleep_until(time.monotonic() + 0.5, console, sampler)
        hosts = console.last_hosts
        if all(hosts.get(name, {}).get("active", 0) == 0 for name in (TDC_QUEUE, SINK_DOMAIN)) \
                and hosts:
            return hosts
        if time.monotonic() > deadline:
            raise BenchmarkError(f"the queues did not drain: {hosts}")


# ------------------------------------------------------------------------------------------
# The report


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_report(report: dict[str, Any]) -> None:
    print()
    print("| window | seconds | offered/s | accepted/s | delivered/s (sink) | journaled/s (SETD) "
          "| accept p50 / p99 ms | tophosts median / p99 / max ms "
          "| hoststatus median / p99 / max ms | version median / p99 / max ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |")
    for w in report["windows"]:
        top, host, version = w["tophosts 1"], w[f"hoststatus {TDC_QUEUE}"], w["version"]
        print(f"| {w['window']} | {w['seconds']:.0f} | {w['offered_per_s']:.1f} "
              f"| {w['accepted_per_s']:.1f} | {w['delivered_per_s']:.1f} "
              f"| {w['journaled_per_s']:.1f} | {_ms(w['accept_p50_ms'])} / {_ms(w['accept_p99_ms'])} "
              f"| {_ms(top['median'])} / {_ms(top['p99'])} / {_ms(top['max'])} "
              f"| {_ms(host['median'])} / {_ms(host['p99'])} / {_ms(host['max'])} "
              f"| {_ms(version['median'])} / {_ms(version['p99'])} / {_ms(version['max'])} |")
    for command, figures in report["commands_overall"].items():
        print(f"{command}, whole run: {figures['count']} samples, median {_ms(figures['median'])} ms, "
              f"p99 {_ms(figures['p99'])} ms, max {_ms(figures['max'])} ms")
    memory = report["memory"]
    print(f"memory: RSS before {memory['rss_before_mb']:.1f} MB, peak {memory['rss_peak_sampled_mb']:.1f} MB "
          f"(VmHWM {memory['vmhwm_mb']:.1f} MB), at the end {memory['rss_end_mb']:.1f} MB; "
          f"peak {memory['peak_queued_copies']:,} copies on {TDC_QUEUE} "
          f"({memory['peak_connections_out']} connections out at most); growth per 10k copies "
          f"{_ms(memory['growth_per_10k_copies_mb'])} MB (slope {_ms(memory['slope_per_10k_copies_mb'])} MB)")
    resumed = report["journal_resumed_after_s"]
    print(f"journal copies accepted by SETD again {_ms(resumed)} s after it came back")
    accounting = report["accounting"]
    checks = accounting["checks"]
    print(f"accounting: {checks['copies']} journal copies for {checks['accepted_by_the_load']} "
          f"accepted messages; by enqueue time: " + "; ".join(
              f"{phase}: " + ", ".join(f"{end} {n}" for end, n in sorted(ends.items()))
              for phase, ends in accounting["by_enqueue_phase"].items()))
    ages = accounting["expired_age_s"]
    print(f"  expired copies left the queue {_ms(ages['min'])}-{_ms(ages['max'])} s after their "
          f"enqueue (limit {report['settings']['limit']} s, tolerance {accounting['tolerance_s']:.1f} s)")
    print(f"  SETD has every copy logged delivered: {checks['logged_delivered_at_setd']} (twice: "
          f"{checks['setd_twice']}), and {checks['setd_expired_cut_in_flight']} logged expired "
          f"whose attempt the limit cut after SETD took it ({checks['setd_unexplained']} "
          f"unexplained); sink: "
          f"{checks['sink_messages']} messages, twice {checks['sink_twice']}, the same as the copies: "
          f"{checks['sink_equals_copies']}")
    print(f"  {'OK' if accounting['ok'] else 'FAILED'}: {accounting['problem_count']} problems "
          + "; ".join(accounting["problems"][:5]))
    cpu = report["cpu_seconds"]
    print(f"CPU seconds: segcli {cpu['segcli']:.1f}, simulator+DNS+sink {cpu['peers']:.1f}, "
          f"load {cpu['load']:.1f}; load errors {report['load_errors']}; load average "
          f"{report['load_average']['start'][0]:.1f} at the start, "
          f"{report['load_average']['end'][0]:.1f} at the end ({report['cpus']} CPUs)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="messages per second offered")
    parser.add_argument("--duration", type=float, default=330.0, help="seconds of load in all")
    parser.add_argument("--before", type=float, default=60.0,
                        help="seconds of load before SETD goes down")
    parser.add_argument("--outage", type=float, help="seconds SETD stays down (default: L, 120 s "
                        "times the time scale)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="the connector's timer scale (tdcconfig timers scale); 1 = real time")
    parser.add_argument("--connections", type=int, default=20, help="client SMTP sessions")
    parser.add_argument("--size", type=int, default=5120, help="message size in bytes")
    parser.add_argument("--sample-every", type=float, default=0.5,
                        help="seconds between two monitoring commands (they alternate)")
    parser.add_argument("--smoke", action="store_true",
                        help="a quick run for the test suite: time scale 0.05 (L = 6 s), 20 "
                        "messages/s for 20 s, SETD down from 4 s for L")
    parser.add_argument("--workdir", type=Path, help="kept afterwards (default: a temporary "
                        "directory, removed)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.time_scale, args.rate, args.duration, args.before = 0.05, 20.0, 20.0, 4.0
        args.sample_every = min(args.sample_every, 0.25)
    args.limit = QUEUE_LIMIT * args.time_scale
    if args.outage is None:
        args.outage = args.limit
    if args.rate <= 0 or args.outage <= 0 or args.before <= 0 or args.time_scale <= 0:
        parser.error("--rate, --outage, --before and --time-scale must be positive")
    if args.duration <= args.before + args.outage:
        parser.error("--duration must leave some load after the outage (before + outage)")
    args.load_average = os.getloadavg()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="segcli-outage-"))
    work.mkdir(parents=True, exist_ok=True)
    interrupt_on_signals()
    try:
        report = run(args, work)
    except KeyboardInterrupt:
        print("interrupted; every process stopped", file=sys.stderr)
        return 130
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0 if report["accounting"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
