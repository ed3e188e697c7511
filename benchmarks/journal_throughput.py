#!/usr/bin/env python3
"""Journal throughput: segcli against Postfix doing the same work, measured in the same run.

    .venv/bin/python benchmarks/journal_throughput.py [--messages 5000] [--runs 3]
    .venv/bin/python benchmarks/journal_throughput.py --messages 50 --runs 1 --no-reference

The work: N messages of 5 KB over 20 client connections into the gateway; each one relayed
to a sink and journaled to the SETD intake simulator over STARTTLS (TLS 1.2, certificate and
name verified).  segcli journals through ``the.tdc.queue`` (a message/rfc822 journal copy);
the reference, a private Postfix instance, relays with an ``always_bcc`` copy to the same
intake address of the same simulator, under a TLS policy ``secure`` (verified) as well.  Both
keep the durability they ship with: segcli its SQLite store in WAL mode with
``synchronous=FULL`` and group commit, Postfix its fsync'ed queue files.

What runs where (every one of them a process of its own; on 2 cores they all compete):

* the gateway: ``python -m segcli --data DIR --smtp 127.0.0.1:0`` (the real CLI, configured
  with its one-line commands; its console is idle on a pipe), or Postfix's master and its
  daemons;
* the SETD intake simulator and the lab DNS zone: ``python -m benchmarks.peers``;
* the relay's sink: Postfix's ``smtp-sink`` (C) when it is installed, else a discarding
  Python sink inside the peers process;
* the load: ``python -m benchmarks.load`` (asyncio, 20 persistent pipelining sessions).

Figures, per system and run:

* accepted/s: N / (last ``250`` after DATA - first connection), from the load generator;
* journaled/s: N / (last delivery - first connection), the last delivery being the later of
  the simulator's Nth accepted journal copy and the sink's Nth message (both counted where
  they arrive); afterwards the queue must be empty (segcli: ``tophosts`` of the running
  gateway shows nothing active and N delivered on ``the.tdc.queue``; Postfix: no queue file
  left);
* p99 accept latency: from writing the final dot to reading the reply;
* CPU/message: user + system CPU seconds of the gateway from ``/proc`` (segcli: its process,
  all threads; Postfix: the master and every daemon, live or reaped) over the same window,
  divided by N.

The script installs nothing.  Without ``postfix`` and ``smtp-sink`` it says how to install
them (or runs segcli alone with ``--no-reference``).  Every process it starts is stopped at
the end, on failure and on Ctrl-C; the Postfix instance lives in the work directory, which
is removed unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import interrupt_on_signals, percentile
from benchmarks.gateway import (
    SINK_DOMAIN,
    TDC_QUEUE,
    Peers,
    SegcliProcess,
    configure_segcli,
    segcli_command,
)
from benchmarks.processes import (
    PYTHON,
    BenchmarkError,
    LineReader,
    Processes,
    alive,
    cpu_seconds,
    cpu_times,
    free_port,
    machine_cpu,
    python_env,
    thread_cpu_seconds,
    thread_waits,
    tree_cpu_times,
    wait_listening,
)

INSTALL_HINT = """\
The reference needs Postfix (postfix, smtp-sink) from Debian's postfix package.  Install it
without letting it configure the host's own mail system:

    echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y postfix

(or run segcli alone with --no-reference)."""


# ------------------------------------------------------------------------------------------
# The far end the peers process does not hold: Postfix's smtp-sink


class SmtpSink:
    """Postfix's ``smtp-sink -c``: its running counter, timed as it is printed."""

    def __init__(self, processes: Processes) -> None:
        self.port = free_port()
        self.count = 0
        self.sessions = 0
        self.last: float | None = None
        self.first: float | None = None
        self._baseline = (0, 0)
        self.process = processes.start(
            ["smtp-sink", "-u", "nobody", "-c", f"127.0.0.1:{self.port}", "512"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.pid = self.process.pid
        self._reader = LineReader(self.process.stdout, on_chunk=self._counted)
        wait_listening(self.port, self.process, "smtp-sink")

    def _counted(self, text: str) -> None:
        counters = re.findall(r"sess=(\d+) quit=\d+ mesg=(\d+)", text)
        if counters:
            now = time.monotonic()
            sessions, count = (int(n) for n in counters[-1])
            self.sessions = max(self.sessions, sessions)
            if count > self.count:
                if self.first is None:
                    self.first = now
                self.count, self.last = count, now

    def reset(self) -> None:
        self._baseline, self.first, self.last = (self.count, self.sessions), None, None

    def arrivals(self) -> dict[str, Any]:
        return {"count": self.count - self._baseline[0], "first": self.first, "last": self.last,
                "connections": self.sessions - self._baseline[1]}


# ------------------------------------------------------------------------------------------
# The systems under test


class Segcli:
    """The real ``segcli`` process: configured by its one-line commands, then serving with
    its console idle on a pipe (the benchmark asks ``tophosts`` through it at the end)."""

    name = "segcli"

    def __init__(self, processes: Processes, work: Path, peers: dict[str, Any], sink_port: int) -> None:
        self.processes = processes
        self.data = work / "segcli-data"
        self.gateway = SegcliProcess(processes, segcli_command(self.data, "127.0.0.1:0"))
        configure_segcli(self.gateway.command, peers, sink_port)
        self.port = self.gateway.start(timeout=120)
        self.process = self.gateway.running()
        self.pid = self.process.pid
        # The listener is up before the rest (SSH, the web interface, the console) has been
        # imported and started: measuring from here would charge that start-up to the mail.
        assert self.gateway.stdout is not None
        self.gateway.stdout.wait_for(r"\S+> ", timeout=120)

    def cpu(self) -> tuple[float, float]:
        return cpu_times(self.pid)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            log = self.data / "logs" / "mail_logs" / "mail.current"
            return "\n".join(log.read_text().splitlines()[-lines:])
        return ""

    def drained(self, expected: int, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the TDC queue and the sink's destination have nothing active left."""
        deadline = time.monotonic() + timeout
        while True:
            hosts = self.gateway.queue_state()  # live counters, nothing estimated
            tdc = hosts.get(TDC_QUEUE, {})
            sink = hosts.get(SINK_DOMAIN, {})
            if tdc.get("active") == 0 and sink.get("active") == 0 \
                    and tdc.get("delivered", 0) >= expected and sink.get("delivered", 0) >= expected:
                return hosts
            if time.monotonic() > deadline:
                raise BenchmarkError(f"segcli's queues did not drain: {hosts}")
            time.sleep(0.2)


# Postfix 3.7's own master.cf services (Debian's file), without chroot (the instance lives in
# a temporary directory) and with smtpd on a loopback port instead of port 25.
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
tlsproxy  unix  -       -       n       -       0       tlsproxy
"""

# Only what a private loopback instance needs; everything else (fsync of queue files,
# concurrency, connection caching) stays as Postfix ships it.
MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {work}/queue
data_directory = {work}/data
meta_directory = /etc/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = {work}
maillog_file = {work}/maillog
myhostname = postfix.bench.example.org
mydomain = bench.example.org
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_transport = discard:
default_transport = discard:
relay_domains = example.com
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
transport_maps = inline:{{ example.com=smtp:[127.0.0.1]:{sink_port},
    {intake_domain}=smtp:[127.0.0.1]:{setd_port} }}
always_bcc = {intake}
smtp_tls_CAfile = {work}/etc/setd-ca.pem
smtp_tls_policy_maps = inline:{{ {{ [127.0.0.1]:{setd_port} = secure match={mx_host} }} }}
smtp_tls_mandatory_protocols = >=TLSv1.2
{tuning}"""

#: What --postfix-tls adds to MAIN_CF: "shipped" is Postfix's defaults (a new TLS
#: connection, with a full handshake, for every delivery to the SETD simulator);
#: "reuse" (the default) lets it keep TLS connections open across deliveries, as it does
#: for plain ones, and resume TLS sessions (Debian's own TLS client setting).
POSTFIX_TLS = {
    "shipped": "",
    "reuse": "smtp_tls_connection_reuse = yes\n"
             "smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache\n",
}


class Postfix:
    """A private Postfix instance: its own config and queue directories, smtpd on loopback."""

    name = "postfix"

    def __init__(self, processes: Processes, work: Path, peers: dict[str, Any], sink_port: int,
                 tls: str = "reuse") -> None:
        self.processes = processes
        self.work = work / "postfix"
        self.etc = self.work / "etc"
        self.etc.mkdir(parents=True)
        (self.work / "queue").mkdir()
        for path in (work, self.work):
            path.chmod(0o755)  # the postfix user walks into its queue and data directories
        closed = [str(p) for p in self.work.parents if not os.stat(p).st_mode & 0o001]
        if closed:
            raise BenchmarkError(f"the postfix user cannot reach {self.work}: {closed[0]} is not "
                                 "searchable by others (choose another --workdir)")
        shutil.copyfile(peers["ca"], self.etc / "setd-ca.pem")
        (self.etc / "setd-ca.pem").chmod(0o644)
        self.port = free_port()
        settings = {**peers, "work": self.work, "sink_port": sink_port,
                    "tuning": POSTFIX_TLS[tls]}
        (self.etc / "main.cf").write_text(MAIN_CF.format(**settings))
        (self.etc / "master.cf").write_text(MASTER_CF.format(port=self.port))
        checked = subprocess.run(["postfix", "-c", str(self.etc), "check"], capture_output=True,
                                 text=True, timeout=60)
        if checked.returncode != 0:
            raise BenchmarkError(f"postfix check failed:\n{checked.stderr}{self.log_tail()}")
        self.pid = 0  # the master's, once it runs
        self.process = processes.start(
            ["postfix", "-c", str(self.etc), "start-fg"], stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, stop=self._stop, hurry=self._stop)
        try:
            wait_listening(self.port, self.process, "postfix")
        except BenchmarkError as exc:
            raise BenchmarkError(f"{exc}:\n{self.process.stderr.read().decode()}{self.log_tail()}") \
                from None
        self.pid = self._master_pid()

    def log_tail(self, lines: int = 20) -> str:
        """The end of the instance's own log (Postfix says what went wrong only there)."""
        with contextlib.suppress(OSError):
            return "\n".join((self.work / "maillog").read_text().splitlines()[-lines:])
        return ""

    def _master_pid(self) -> int:
        pid_file = self.work / "queue" / "pid" / "master.pid"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                return int(pid_file.read_text().split()[0])
            time.sleep(0.05)
        raise BenchmarkError("postfix master did not write its pid file")

    def _stop(self) -> None:
        """``postfix stop``; a master still there afterwards is killed (and its daemons
        follow it: they leave when the master's pipe closes)."""
        with contextlib.suppress(Exception):
            subprocess.run(["postfix", "-c", str(self.etc), "stop"], capture_output=True,
                           timeout=30)
        deadline = time.monotonic() + 20
        while self.pid and alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.pid and alive(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def cpu(self) -> tuple[float, float]:
        return tree_cpu_times(self.pid)

    def queued_files(self) -> int:
        queue = self.work / "queue"
        return sum(len(files) for name in ("maildrop", "incoming", "active", "deferred", "hold")
                   for _, _, files in os.walk(queue / name))

    def drained(self, expected: int, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = self.queued_files()
            if left == 0:
                return {"queue_files": 0}
            if time.monotonic() > deadline:
                raise BenchmarkError(f"Postfix's queue did not drain: {left} files left")
            time.sleep(0.1)


# ------------------------------------------------------------------------------------------
# One measurement


@dataclass
class Result:
    system: str
    run: int
    messages: int
    accepted: int
    accepted_per_s: float
    journaled_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_message: float
    cpu_system_ms_per_message: float  # the kernel's part of it
    seconds_to_journal: float
    queue: dict[str, Any] = field(default_factory=dict)
    setd_tls: dict[str, int] = field(default_factory=dict)
    #: connections the system opened: to the SETD simulator (TLS handshakes), to the sink
    connections: dict[str, int] = field(default_factory=dict)
    #: CPU ms per message of the other processes (they share the 2 cores with the gateway)
    others_cpu_ms_per_message: dict[str, float] = field(default_factory=dict)
    #: How much of all the machine's cores was busy from the load's start until everything
    #: arrived (every process on the machine, the benchmark's own included)
    machine_busy: float = 0.0
    cores: int = 1
    #: The CPU seconds all the machine's cores had in that time (busy or not)
    machine_seconds: float = 0.0
    #: segcli: its event loop's thread (the main thread), in cores (CPU seconds per second)
    loop_thread_cores: float | None = None
    #: segcli: the share of the time that thread was runnable but waited for a core
    loop_thread_waiting: float | None = None

    def figures(self) -> dict[str, Any]:
        """Everything measured and what follows from it, for the JSON report."""
        return {**vars(self), "all_cpu_ms_per_message": self.all_cpu_ms_per_message,
                "ceiling_per_s": self.ceiling_per_s, "unmeasured_share": self.unmeasured_share}

    @property
    def all_cpu_ms_per_message(self) -> float:
        """The CPU per message of every process measured: the system and the others."""
        return self.cpu_ms_per_message + sum(self.others_cpu_ms_per_message.values())

    @property
    def ceiling_per_s(self) -> float:
        """The rate at which this run's CPU per message of all its processes would keep
        every core busy: more needs less CPU per message, not more parallel work."""
        return self.cores * 1000 / self.all_cpu_ms_per_message

    @property
    def unmeasured_share(self) -> float:
        """The share of the machine's cores that was busy with work none of the measured
        processes did: other jobs on a shared machine (and the benchmark's own bookkeeping).
        It is what makes one run of a tree slower than the next, and why a run with a
        large share says little about the tree.  Exact to a few percent either way: the
        clocks count whole ticks and are read one process after another."""
        measured = self.all_cpu_ms_per_message * self.messages / 1000
        return self.machine_busy - measured / self.machine_seconds if self.machine_seconds else 0.0

    def line(self) -> str:
        return (f"{self.system:<8} run {self.run}: accepted {self.accepted_per_s:8.1f}/s   "
                f"journaled {self.journaled_per_s:8.1f}/s   p99 accept {self.p99_ms:7.1f} ms   "
                f"CPU {self.cpu_ms_per_message:6.3f} ms/message "
                f"({self.cpu_system_ms_per_message:.3f} system; others: "
                + ", ".join(f"{k} {v:.3f}" for k, v in self.others_cpu_ms_per_message.items())
                + f"); connections: {self.connections.get('setd')} to SETD, "
                f"{self.connections.get('sink')} to the sink\n"
                + " " * 15 + f"machine {self.machine_busy:.0%} busy ({self.cores} cores; "
                f"{self.unmeasured_share:.0%} with work not measured here)"
                + ("" if self.loop_thread_cores is None or self.loop_thread_waiting is None
                   else f", event loop thread {self.loop_thread_cores:.2f} of a core "
                   f"({self.loop_thread_waiting:.2f} waiting for one, "
                   f"{1 - self.loop_thread_cores - self.loop_thread_waiting:.2f} asleep)")
                + f"; all processes {self.all_cpu_ms_per_message:.3f} ms CPU per message: "
                f"at most {self.ceiling_per_s:.0f}/s on {self.cores} cores")


def measure(system: Any, run: int, args: argparse.Namespace, peers: Peers, sink: Any,
            processes: Processes) -> Result:
    messages = args.messages
    if args.warmup:
        _load(processes, system.port, args.warmup, args, first=1_000_000)
        _wait_arrivals(peers, sink, args.warmup, args.timeout)
        system.drained(args.warmup)
    peers.ask("reset")
    sink_reset = getattr(sink, "reset", None)
    if sink_reset is not None:
        sink_reset()
    others = {"setd simulator + DNS": peers.pid}
    if sink is not None:
        others["smtp-sink"] = sink.pid
    others_before = {name: cpu_seconds(pid) for name, pid in others.items()}
    profilers = _profile(processes, args, system, peers, run)
    cpu_before = system.cpu()
    machine_before, loop_before = machine_cpu(), _loop_thread_reading(system)
    load = _load(processes, system.port, messages, args)
    if load["accepted"] != messages:
        raise BenchmarkError(f"{system.name}: {load['accepted']} of {messages} accepted: {load}")
    try:
        setd, sink_arrivals = _wait_arrivals(peers, sink, messages, args.timeout)
    except BenchmarkError as exc:
        raise BenchmarkError(f"{system.name}: {exc}\n{system.log_tail()}") from None
    cpu_after = system.cpu()
    machine_after, loop_after = machine_cpu(), _loop_thread_reading(system)
    for profiler in profilers:
        processes.stop(profiler, timeout=60)
    others_cpu = {name: (cpu_seconds(pid) - others_before[name]) / messages * 1000
                  for name, pid in others.items()}
    others_cpu["load generator"] = load["cpu"] / messages * 1000
    queue = system.drained(messages + args.warmup)
    start = load["start"]
    journaled_at = max(setd["last"], sink_arrivals["last"])
    return Result(
        system=system.name, run=run, messages=messages, accepted=load["accepted"],
        accepted_per_s=messages / (load["last"] - start),
        journaled_per_s=messages / (journaled_at - start),
        p50_ms=load["latency"]["p50"] * 1000, p99_ms=load["latency"]["p99"] * 1000,
        cpu_ms_per_message=(sum(cpu_after) - sum(cpu_before)) / messages * 1000,
        cpu_system_ms_per_message=(cpu_after[1] - cpu_before[1]) / messages * 1000,
        seconds_to_journal=journaled_at - start, queue=queue, setd_tls=setd["tls"],
        connections={"setd": setd["connections"], "sink": sink_arrivals["connections"]},
        others_cpu_ms_per_message=others_cpu,
        machine_busy=(machine_after[0] - machine_before[0]) / (machine_after[1] - machine_before[1]),
        cores=os.cpu_count() or 1,
        machine_seconds=machine_after[1] - machine_before[1],
        **_loop_thread_shares(loop_before, loop_after))


def _loop_thread_reading(system: Any) -> tuple[float, float, float] | None:
    """segcli's event loop thread so far: its CPU seconds, its seconds waiting for a core,
    and the time of the reading (None for Postfix)."""
    if system.name != "segcli":
        return None
    pid = system.pid  # the main thread runs the loop
    return thread_cpu_seconds(pid, pid), thread_waits(pid, pid), time.monotonic()


def _loop_thread_shares(before: tuple[float, float, float] | None,
                        after: tuple[float, float, float] | None) -> dict[str, float]:
    """The loop thread's time between two readings: on a core (in cores) and waiting for
    one; the rest it slept (for the interpreter lock, held by the commit writer, or for
    work).  Nothing for Postfix."""
    if before is None or after is None:
        return {}
    seconds = after[2] - before[2]
    return {"loop_thread_cores": (after[0] - before[0]) / seconds,
            "loop_thread_waiting": (after[1] - before[1]) / seconds}


class _Interrupt:
    """Ends a process as Ctrl-C would (what py-spy needs to write its output)."""

    process: subprocess.Popen | None = None

    def __call__(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)


def _profile(processes: Processes, args: argparse.Namespace, system: Any, peers: Peers,
             run: int) -> list[subprocess.Popen]:
    """With ``--profile DIR``: py-spy records segcli and the peers process (simulator, DNS)
    from just before the load until everything arrived, as flame graphs
    ``DIR/segcli-runN.svg`` and ``DIR/peers-runN.svg`` (only the thread holding the GIL:
    Python CPU, not waits; the kernel's part is not in them).  Its own sampling takes
    CPU on the same cores, so figures of a profiled run are not comparable."""
    if args.profile is None or system.name != "segcli":
        return []
    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    args.profile.mkdir(parents=True, exist_ok=True)
    started = []
    for name, pid in (("segcli", system.pid), ("peers", peers.pid)):
        output = args.profile / f"{name}-run{run}.svg"
        interrupt = _Interrupt()  # py-spy writes its graph when interrupted
        interrupt.process = processes.start(
            [spy, "record", "--pid", str(pid), "--rate", "250", "--gil", "--nolineno",
             "--nonblocking", "--format", "flamegraph", "--output", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stop=interrupt, hurry=interrupt)
        started.append(interrupt.process)
    time.sleep(1.0)  # attached before the load starts
    return started


def _load(processes: Processes, port: int, messages: int, args: argparse.Namespace,
          first: int = 1) -> dict[str, Any]:
    if args.rate:
        return _paced_load(processes, port, messages, args, first)
    result = _run_load(processes, args, [
        "benchmarks.load", "--port", str(port), "--messages", str(messages),
        "--connections", str(args.connections), "--size", str(args.size), "--first", str(first)])
    if result["failed_sessions"]:
        raise BenchmarkError(f"load sessions failed: {result['errors']}")
    return result


def _run_load(processes: Processes, args: argparse.Namespace, module: list[str]) -> dict[str, Any]:
    """Run a load generator (``python -m`` *module*...) to its end; its one line of JSON."""
    process = processes.start([PYTHON, "-m", *module], stdout=subprocess.PIPE, env=python_env())
    try:
        out, _ = process.communicate(timeout=args.timeout)
    finally:
        processes.stop(process)
    if process.returncode != 0 or not out:
        raise BenchmarkError(f"the load generator {module[0]} failed (status {process.returncode})")
    return json.loads(out)


def _paced_load(processes: Processes, port: int, messages: int, args: argparse.Namespace,
                first: int) -> dict[str, Any]:
    """With ``--rate``: the same messages offered at a fixed rate (``benchmarks.paced_load``,
    open loop), so that both systems carry the same load and their accept latencies can be
    compared; its result in the shape of ``benchmarks.load``'s."""
    result = _run_load(processes, args, [
        "benchmarks.paced_load", "--port", str(port), "--rate", str(args.rate),
        "--seconds", str(messages / args.rate), "--connections", str(args.connections),
        "--size", str(args.size), "--first", str(first)])
    if result["error_count"]:
        raise BenchmarkError(f"paced load: {result['error_count']} messages failed: {result['errors']}")
    accepted = [(dot, reply) for _, _, dot, reply, code in result["messages"] if code == 250]
    latencies = sorted(reply - dot for dot, reply in accepted)
    return {"accepted": len(accepted), "start": result["start"], "cpu": result["cpu"],
            "last": max((reply for _, reply in accepted), default=result["start"]),
            "latency": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99)},
            "late": max((dot - due for _, due, dot, _, _ in result["messages"]), default=0.0)}


def _wait_arrivals(peers: Peers, sink: Any, expected: int, timeout: float, *, stall: float = 60.0
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Until the simulator and the sink each have *expected* more messages; a failure when
    nothing arrives for *stall* seconds (a system that defers does not finish in time)."""
    deadline = time.monotonic() + timeout
    progress, progress_at = (-1, -1), time.monotonic()
    while True:
        stats = peers.ask("stats")
        setd = stats["setd"]
        sink_arrivals = stats["sink"] if sink is None else sink.arrivals()
        if setd["count"] >= expected and sink_arrivals["count"] >= expected:
            return setd, sink_arrivals
        now = time.monotonic()
        if (setd["count"], sink_arrivals["count"]) != progress:
            progress, progress_at = (setd["count"], sink_arrivals["count"]), now
        if now > deadline or now - progress_at > stall:
            raise BenchmarkError(f"not everything arrived: SETD {setd}, sink {sink_arrivals}, "
                                 f"simulator totals {stats['setd_totals']}")
        time.sleep(0.02)


# ------------------------------------------------------------------------------------------
# The whole benchmark


def run_benchmark(args: argparse.Namespace, work: Path) -> list[Result]:
    reference = not args.no_reference
    processes = Processes()
    results: list[Result] = []
    try:
        use_smtp_sink = shutil.which("smtp-sink") is not None and not args.python_sink
        peers = Peers(processes, work / "setd", python_sink=not use_smtp_sink)
        sink = SmtpSink(processes) if use_smtp_sink else None
        sink_port = sink.port if sink is not None else peers.info["sink_port"]
        print(f"# {args.messages} messages of {args.size} bytes over {args.connections} connections; "
              f"sink: {'smtp-sink' if sink else 'Python sink (peers process)'}; "
              f"SETD simulator pid {peers.pid}", flush=True)
        for run in range(1, args.runs + 1):
            order = ["segcli", "postfix"] if run % 2 else ["postfix", "segcli"]
            for name in order:
                if name == "postfix" and not reference:
                    continue
                if name == "segcli":
                    system: Any = Segcli(processes, work / f"run{run}", peers.info, sink_port)
                else:
                    system = Postfix(processes, work / f"run{run}", peers.info, sink_port,
                                     tls=args.postfix_tls)
                result = measure(system, run, args, peers, sink, processes)
                processes.stop(system.process, timeout=60)  # politely; a failure: stop_all
                results.append(result)
                print(result.line(), flush=True)
    finally:
        processes.stop_all()
    return results


def summary(results: list[Result]) -> dict[str, Any]:
    by_system: dict[str, list[Result]] = {}
    for result in results:
        by_system.setdefault(result.system, []).append(result)
    figures = {}
    for system, runs in by_system.items():
        figures[system] = {
            key: {"median": statistics.median(getattr(r, key) for r in runs),
                  "min": min(getattr(r, key) for r in runs), "max": max(getattr(r, key) for r in runs)}
            for key in ("accepted_per_s", "journaled_per_s", "p99_ms", "cpu_ms_per_message")}
    ratios = []
    if "postfix" in by_system:
        reference = {r.run: r for r in by_system["postfix"]}
        for mine in by_system.get("segcli", []):
            theirs = reference.get(mine.run)
            if theirs is not None:
                ratios.append({
                    "run": mine.run,
                    "journaled": mine.journaled_per_s / theirs.journaled_per_s,
                    "accepted": mine.accepted_per_s / theirs.accepted_per_s,
                    "p99": mine.p99_ms / theirs.p99_ms,
                    "cpu_per_message": mine.cpu_ms_per_message / theirs.cpu_ms_per_message,
                    "ceiling": mine.ceiling_per_s / theirs.journaled_per_s,
                })
    return {"figures": figures, "ratios": ratios}


def print_summary(report: dict[str, Any], *, paced: bool = False) -> None:
    """The medians and the per-run ratios; *paced* (``--rate``): both systems were offered
    the same rate, so the ceiling over Postfix's rate (the offered one) says nothing."""
    print()
    for system, figures in report["figures"].items():
        parts = [f"{key} {f['median']:.3f} [{f['min']:.3f}..{f['max']:.3f}]"
                 for key, f in figures.items()]
        print(f"{system:<8} median [min..max]: " + ", ".join(parts))
    if report["ratios"]:
        print("segcli / Postfix, per run (same run):")
        for ratio in report["ratios"]:
            print(f"  run {ratio['run']}: journaled x{ratio['journaled']:.2f}, "
                  f"accepted x{ratio['accepted']:.2f}, p99 x{ratio['p99']:.2f}, "
                  f"CPU/message x{ratio['cpu_per_message']:.2f}"
                  + ("" if paced else f"; at most x{ratio['ceiling']:.2f} with every core busy"))
        journaled = [r["journaled"] for r in report["ratios"]]
        print(f"journaled ratio: median x{statistics.median(journaled):.2f} "
              f"(min x{min(journaled):.2f}, max x{max(journaled):.2f}); target: at least x3.5 (issue 14)")
        if paced:
            return
        ceiling = statistics.median(r["ceiling"] for r in report["ratios"])
        print(f"at most (every core busy with the CPU per message of segcli's runs' processes): "
              f"median x{ceiling:.2f} of Postfix's journaled rate")


def missing_tools() -> list[str]:
    return [tool for tool in ("postfix", "smtp-sink", "smtp-source") if shutil.which(tool) is None]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="segcli's journal throughput against Postfix (relay + always_bcc), same run.")
    parser.add_argument("--messages", type=int, default=5000, help="messages per measurement")
    parser.add_argument("--connections", type=int, default=20, help="concurrent client connections")
    parser.add_argument("--size", type=int, default=5120, help="message size in bytes")
    parser.add_argument("--runs", type=int, default=3, help="runs (each measures both systems)")
    parser.add_argument("--warmup", type=int, default=0,
                        help="messages sent before each measurement, not counted")
    parser.add_argument("--rate", type=float, metavar="PER_SECOND",
                        help="offer the messages at this fixed rate (open loop) instead of as "
                        "fast as each system takes them: both systems then carry the same load, "
                        "for comparing accept latencies (the throughput ratio then says nothing)")
    parser.add_argument("--no-reference", action="store_true", help="segcli alone, no Postfix")
    parser.add_argument("--postfix-tls", choices=sorted(POSTFIX_TLS), default="reuse",
                        help="Postfix's TLS client towards the SETD simulator: 'reuse' keeps TLS "
                        "connections open and resumes sessions (default), 'shipped' is Postfix's "
                        "default of one TLS connection per delivery")
    parser.add_argument("--python-sink", action="store_true",
                        help="use the Python sink even when smtp-sink is installed")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds allowed for one measurement's load and its deliveries")
    parser.add_argument("--workdir", type=Path, help="where data directories and Postfix live "
                        "(default: a new temporary directory, removed afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record py-spy flame graphs of segcli and the peers process during "
                        "each segcli measurement into DIR (py-spy must be installed)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.no_reference:
        missing = missing_tools()
        if missing:
            print(f"missing: {', '.join(missing)}\n\n{INSTALL_HINT}", file=sys.stderr)
            return 2
        if os.geteuid() != 0:
            print("the Postfix reference runs a private Postfix instance, which needs root "
                  "(or use --no-reference)", file=sys.stderr)
            return 2
    work = args.workdir or Path(tempfile.mkdtemp(prefix="segcli-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.workdir is None:
        work.chmod(0o755)  # Postfix's daemons run as the postfix user

    interrupt_on_signals()  # even where a shell started us ignoring SIGINT
    try:
        results = run_benchmark(args, work)
    except KeyboardInterrupt:
        print("interrupted; every process stopped", file=sys.stderr)
        return 130
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    report = summary(results)
    print_summary(report, paced=args.rate is not None)
    if args.json:
        args.json.write_text(json.dumps({"results": [r.figures() for r in results], **report,
                                         "settings": {k: str(v) for k, v in vars(args).items()}},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
