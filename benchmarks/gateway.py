"""The gateway under test and its far ends, as real processes: the ``segcli`` CLI on a
data directory (:func:`segcli_command`), configured by its one-line commands as an
administrator would (:func:`configure_segcli`), serving with its console idle on a pipe
(:class:`SegcliProcess`) and its queues read with ``tophosts`` (:func:`parse_tophosts`);
and the peers process, the SETD intake simulator with the lab DNS zone and a sink
(:class:`Peers`, ``python -m benchmarks.peers``).

Everything is started through the run's :class:`~benchmarks.processes.Processes`, so it is
stopped on failure and on Ctrl-C too.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.processes import (
    PYTHON,
    REPO,
    BenchmarkError,
    LineReader,
    Processes,
    die_with_parent,
    python_env,
)

#: The domain the benchmarks' mail is for (relayed to the sink), and the journal's queue.
SINK_DOMAIN = "example.com"
TDC_QUEUE = "the.tdc.queue"
#: What segcli says on stderr once its SMTP listener is up, with the port it took.
LISTENING = r"SMTP listener \S+ on [\d.]+:(\d+)"
#: The end of ``tophosts`` output (its column heads, then the rows up to the next prompt).
TOPHOSTS_DONE = r"Soft\s+Hard\n.*Bounced\s+Bounced\n((?:.*\n)*?)(?=\S*> |\Z)"


# ------------------------------------------------------------------------------------------
# The far ends: SETD simulator + DNS zone (+ Python sink)


class Peers:
    """``python -m benchmarks.peers``: asked for its figures over a pipe."""

    def __init__(self, processes: Processes, state: Path, *, python_sink: bool,
                 ids: bool = False, extra: tuple[str, ...] = ()) -> None:
        argv = [PYTHON, "-m", "benchmarks.peers", "--state", str(state), *extra]
        if python_sink:
            argv.append("--sink")
        if ids:  # count arrivals per Message-ID (the kill -9 benchmark)
            argv.append("--ids")
        self.process = processes.start(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       env=python_env())
        self.info = self._read()
        self.pid = self.process.pid

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise BenchmarkError("the peers process (SETD simulator, DNS zone) ended early")
        return json.loads(line)

    def ask(self, command: str) -> dict[str, Any]:
        """Send *command* (``stats``, ``reset``, ``ids``...); its answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()
        return self._read()


# ------------------------------------------------------------------------------------------
# segcli


def segcli_command(data: Path, smtp: str) -> list[str]:
    """``segcli`` on the data directory *data*, listening for SMTP on *smtp* (HOST:PORT)."""
    return [PYTHON, "-m", "segcli", "--data", str(data), "--smtp", smtp, "--ssh", "127.0.0.1:0",
            "--https", "127.0.0.1:0"]


def configure_segcli(command: list[str], peers: dict[str, Any], sink_port: int,
                     extra: tuple[str, ...] = ()) -> None:
    """Configure a new gateway with its one-line commands, as an administrator would: accept
    mail for example.com, relay it to the sink, journal every clean message to the
    simulator's intake address over verified TLS (and whatever *extra* commands say)."""
    script = "\n".join([
        *extra,
        "listenerconfig rcptaccess add example.com",
        f"dnsconfig servers 127.0.0.1:{peers['dns_port']}",
        f"smtproutes new example.com 127.0.0.1:{sink_port}",
        f"labconfig hostport {peers['mx_host']} {peers['setd_port']}",
        f"certconfig import {peers['ca']}",
        f"tdcconfig enable {peers['intake']}",
        "policyconfig incoming edit DEFAULT threatdefense default",
        'commit "journal benchmark"',
    ]) + "\n"
    configured = subprocess.run(
        command,
        input=script, capture_output=True, text=True, timeout=120, env=python_env(), cwd=REPO,
        preexec_fn=die_with_parent)
    if configured.returncode != 0:
        raise BenchmarkError(f"configuring segcli failed:\n{configured.stdout}\n{configured.stderr}")


def parse_tophosts(table: str) -> dict[str, dict[str, int]]:
    """The rows of ``tophosts`` output, by host name."""
    hosts = {}
    for match in re.finditer(r"^\s*\d+[ *]\s+(\S+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)"
                             r"\s+([\d,]+)\s*$", table, re.MULTILINE):
        active, out, delivered, soft, hard = (int(g.replace(",", "")) for g in match.groups()[1:])
        hosts[match[1]] = {"active": active, "connections_out": out, "delivered": delivered,
                           "soft_bounced": soft, "hard_bounced": hard}
    return hosts


class SegcliProcess:
    """The real ``segcli`` (*command*: see :func:`segcli_command`), its console
    idle on a pipe (``--plain``) to ask ``tophosts`` through, started and stopped by the
    run's :class:`Processes` (so it is stopped on failure and on Ctrl-C too)."""

    def __init__(self, processes: Processes, command: list[str]) -> None:
        self.processes = processes
        self.command = command
        self.process: subprocess.Popen | None = None
        self.stdout: LineReader | None = None
        self.stderr: LineReader | None = None

    def start(self, timeout: float = 120.0) -> int:
        """Start it (it recovers what its store holds) and wait until it listens for SMTP;
        the port it listens on."""
        process = self.processes.start(
            [*self.command, "--plain"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=python_env(), stop=self._quit)
        self.process = process
        self.stdout = LineReader(process.stdout)
        self.stderr = LineReader(process.stderr)
        return int(self.stderr.wait_for(LISTENING, timeout=timeout)[1])

    def _quit(self) -> None:
        """End of input: the console ends, the appliance stops cleanly."""
        process = self.running()
        assert process.stdin is not None
        process.stdin.close()

    def running(self) -> subprocess.Popen:
        assert self.process is not None, "segcli was not started"
        return self.process

    def stop(self, timeout: float = 60.0) -> None:
        """Stop it cleanly (its console's input ends), killing it after *timeout* s."""
        self.processes.stop(self.running(), timeout=timeout)

    def queue_state(self, timeout: float = 30.0) -> dict[str, dict[str, int]]:
        """``tophosts 3`` of the running process (its live counters), by host."""
        process, stdout = self.running(), self.stdout
        assert process.stdin is not None and stdout is not None
        start = len(stdout.text)
        process.stdin.write(b"tophosts 3\n")
        process.stdin.flush()
        stdout.wait_for(TOPHOSTS_DONE, timeout, start)
        return parse_tophosts(stdout.text[start:])

    def drained(self, deadline: float,
                hosts: Sequence[str] = (SINK_DOMAIN, TDC_QUEUE)) -> dict[str, dict[str, int]]:
        """Wait until nothing is active for *hosts* (time.monotonic() *deadline*); the last
        ``tophosts``.  BenchmarkError when they do not drain in time."""
        while True:
            state = self.queue_state()
            if all(state.get(name, {}).get("active", 0) == 0 for name in hosts):
                return state
            if time.monotonic() > deadline:
                raise BenchmarkError(f"segcli's queues did not drain: {state}")
            time.sleep(0.2)
