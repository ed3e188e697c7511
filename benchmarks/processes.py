"""The processes a benchmark starts, and what it reads of them: every one started through
:class:`Processes` is stopped by it (in reverse order; on failure and on Ctrl-C too, and
by the kernel should the benchmark itself die), their pipes read in threads
(:class:`LineReader`), their CPU read from ``/proc`` (:func:`cpu_times`,
:func:`tree_cpu_times`, :func:`thread_cpu_seconds`; the machine's: :func:`machine_cpu`),
their ports waited for (:func:`wait_listening`).

Every benchmark script builds on this module; it knows nothing of segcli (that is
``benchmarks/gateway.py``) nor of figures (``benchmarks/common.py``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

#: The repository (the working directory and ``PYTHONPATH`` of what is started here) and
#: the Python that runs the benchmark (and the Python processes it starts).
REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchmarkError(RuntimeError):
    """A measurement that cannot go on (a process failed, a figure would mean nothing):
    the script says it and stops what it started."""


def die_with_parent() -> None:
    """In the child: SIGTERM when the benchmark dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class Processes:
    """The processes this run started, stopped in reverse order: politely after a
    measurement, quickly (SIGTERM, then SIGKILL) after a failure or an interruption."""

    def __init__(self) -> None:
        self._started: list[tuple[subprocess.Popen, Any, Any]] = []

    def start(self, argv: list[str], *, stop: Any = None, hurry: Any = None,
              **kwargs: Any) -> subprocess.Popen:
        """*stop* ends the process politely, *hurry* quickly (default: both SIGTERM)."""
        kwargs.setdefault("cwd", REPO)
        process = subprocess.Popen(argv, preexec_fn=die_with_parent, **kwargs)
        self._started.append((process, stop, hurry))
        return process

    def stop(self, process: subprocess.Popen, *, timeout: float = 20.0, polite: bool = True) -> None:
        for entry in list(self._started):
            if entry[0] is process:
                self._started.remove(entry)
                _stop_one(*entry, timeout=timeout, polite=polite)

    def stop_all(self) -> None:
        while self._started:
            _stop_one(*self._started.pop(), timeout=10.0, polite=False)


def _stop_one(process: subprocess.Popen, stop: Any, hurry: Any, *, timeout: float,
              polite: bool) -> None:
    ending = stop if polite else hurry
    if process.poll() is None:
        try:
            if ending is not None:
                ending()  # closing a console's input, ``postfix stop``
            else:
                process.terminate()
            process.wait(timeout=timeout)
        except Exception:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            with contextlib.suppress(Exception):
                process.wait(timeout=10)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()


def alive(pid: int) -> bool:
    """Whether a process *pid* exists (one not started here, such as Postfix's master)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def free_port() -> int:
    """A loopback port free a moment ago, for a program that cannot bind port 0 and say."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_times(pid: int, *, children: bool = False) -> tuple[float, float]:
    """User and system CPU seconds of *pid* (all its threads), plus its reaped children's
    if asked."""
    return _stat_cpu(f"/proc/{pid}/stat", children=children)


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User plus system CPU seconds of *pid* (see :func:`cpu_times`)."""
    return sum(cpu_times(pid, children=children))


def thread_cpu_seconds(pid: int, tid: int) -> float:
    """User plus system CPU seconds of thread *tid* of process *pid* (the main thread's tid
    is the pid)."""
    return sum(_stat_cpu(f"/proc/{pid}/task/{tid}/stat"))


def thread_waits(pid: int, tid: int) -> float:
    """Seconds thread *tid* of process *pid* has spent runnable but waiting for a core (the
    scheduler's run queue, second field of ``/proc/<pid>/task/<tid>/schedstat``): what a busy
    thread loses to the other processes when every core is taken."""
    with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as handle:
        return int(handle.read().split()[1]) / 1e9


def _stat_cpu(path: str, *, children: bool = False) -> tuple[float, float]:
    """User and system CPU seconds from a ``stat`` file of ``/proc`` (a process's or a
    thread's), plus the reaped children's if asked."""
    with open(path, encoding="ascii") as handle:
        fields = handle.read().rpartition(")")[2].split()
    user, system = int(fields[11]), int(fields[12])  # utime, stime
    if children:
        user, system = user + int(fields[13]), system + int(fields[14])  # cutime, cstime
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def machine_cpu() -> tuple[float, float]:
    """The whole machine's busy and total CPU seconds so far, all cores together, from the
    first line of ``/proc/stat``: busy is all but idle and waiting for I/O.  Two readings
    give how busy the machine was between them: every process on it, the benchmark's and
    any other."""
    with open("/proc/stat", encoding="ascii") as handle:
        # user nice system idle iowait irq softirq steal (guest time is within user)
        ticks = [int(value) for value in handle.readline().split()[1:9]]
    total = sum(ticks)
    return (total - ticks[3] - ticks[4]) / CLOCK_TICKS, total / CLOCK_TICKS


def descendants(root: int) -> list[int]:
    """The live processes below *root*, from ``/proc`` (they need not be our children)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                parents[int(entry)] = int(handle.read().rpartition(")")[2].split()[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent:
                found.append(pid)
                frontier.append(pid)
    return found


def tree_cpu_times(root: int) -> tuple[float, float]:
    """A process tree's CPU: the root with its reaped children, and every live descendant
    with its own reaped children (Postfix's daemons come and go)."""
    user, system = cpu_times(root, children=True)
    for pid in descendants(root):
        with contextlib.suppress(OSError, ValueError, IndexError):
            more = cpu_times(pid, children=True)
            user, system = user + more[0], system + more[1]
    return user, system


def memory_kb(pid: int | str = "self") -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (its peak) of process *pid* (``"self"``: this one),
    in kB, from ``/proc/PID/status``, in that order (the order of a report's columns)."""
    found = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            found[key] = value
    return {key: int(found[key].split()[0]) for key in ("VmRSS", "VmHWM")}


class LineReader:
    """Collects a pipe's output in a thread (so the writer never blocks on it)."""

    def __init__(self, stream: Any, *, on_chunk: Any = None) -> None:
        self.text = ""
        self._stream = stream
        self._on_chunk = on_chunk
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fd = self._stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            text = chunk.decode("utf-8", "replace")
            if self._on_chunk is not None:
                self._on_chunk(text)
            with self._changed:
                self.text += text
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float, start: int = 0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.MULTILINE)
        with self._changed:
            while True:
                match = regex.search(self.text, start)
                if match:
                    return match
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    raise BenchmarkError(f"did not see {pattern!r} in:\n{self.text[-2000:]}")
                self._changed.wait(min(left, 0.5))


def wait_listening(port: int, process: subprocess.Popen, name: str, timeout: float = 20.0) -> None:
    """Until *process* (called *name* in errors) accepts connections on loopback *port*;
    BenchmarkError when it exits first or does not listen within *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(f"{name} exited with status {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise BenchmarkError(f"{name} does not listen on port {port}")


def python_env() -> dict[str, str]:
    """The environment of a Python process started here: the repository importable, no
    ``SEGCLI_DATA`` of the caller's, a dumb terminal (no colours to parse)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.pop("SEGCLI_DATA", None)
    env["TERM"] = "dumb"
    return env

