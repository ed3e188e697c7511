"""benchmarks/processes.py on real processes: what a benchmark reads of them from /proc,
and that what it starts is stopped (the scripts themselves run in
tests/test_benchmark_smoke.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from benchmarks.gateway import parse_tophosts
from benchmarks.processes import (
    Processes,
    alive,
    machine_cpu,
    memory_kb,
    thread_cpu_seconds,
    thread_waits,
)


def test_memory_is_read_from_proc_in_kb():
    mine = memory_kb()
    assert list(mine) == ["VmRSS", "VmHWM"]  # the order of the reports' columns
    assert 0 < mine["VmRSS"] <= mine["VmHWM"]
    processes = Processes()
    try:
        child = processes.start([sys.executable, "-c", "import time; time.sleep(60)"],
                                stdout=subprocess.DEVNULL)
        assert memory_kb(child.pid)["VmRSS"] > 0
    finally:
        processes.stop_all()
    assert child.poll() is not None and not alive(child.pid)


def spin(seconds: float) -> None:
    """Keep this thread on a core for *seconds* of its CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_the_machines_and_a_threads_cpu_are_read_from_proc():
    """machine_cpu: busy and total seconds of all cores, busy never more than total (equal on
    a machine busy throughout, as under the test suite), and at least what a thread of our
    own spun; thread_cpu_seconds: what this thread spun, not what another one did."""
    me = threading.get_native_id()
    busy_before, total_before = machine_cpu()
    mine_before = thread_cpu_seconds(os.getpid(), me)
    worker = threading.Thread(target=spin, args=(0.3,))
    worker.start()
    worker.join()
    busy_after, total_after = machine_cpu()
    assert thread_cpu_seconds(os.getpid(), me) - mine_before < 0.1  # this one only waited
    busy, total = busy_after - busy_before, total_after - total_before
    assert busy <= total + 1e-6  # seconds from whole ticks: equal up to float rounding
    assert busy >= 0.2  # the spinning thread's 0.3 s, ticks' rounding
    before = thread_cpu_seconds(os.getpid(), me)
    spin(0.2)
    assert thread_cpu_seconds(os.getpid(), me) - before >= 0.15


SPIN_THEN_SLEEP = """
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[2])})
end = time.thread_time() + float(sys.argv[1])
while time.thread_time() < end:
    pass
print("spun", flush=True)
time.sleep(60)
"""


def test_a_threads_wait_for_a_core_is_read_from_proc():
    """thread_waits: three processes spinning on one core took turns, so each waited for it
    about twice as long as it ran (more if anything else wants that core); one that only
    slept did not wait."""
    core = min(os.sched_getaffinity(0))
    processes = Processes()
    try:
        sleeper = processes.start([sys.executable, "-c", SPIN_THEN_SLEEP, "0", str(core)],
                                  stdout=subprocess.PIPE)
        busy = [processes.start([sys.executable, "-c", SPIN_THEN_SLEEP, "0.3", str(core)],
                                stdout=subprocess.PIPE) for _ in range(3)]
        for child in [sleeper, *busy]:
            assert child.stdout is not None and child.stdout.readline() == b"spun\n"
        waited = sum(thread_waits(child.pid, child.pid) for child in busy)
        ran = sum(thread_cpu_seconds(child.pid, child.pid) for child in busy)
        assert ran >= 0.85 and waited > 1.2 * ran, (waited, ran)  # not the time on the core
        assert thread_waits(sleeper.pid, sleeper.pid) < 0.1
    finally:
        processes.stop_all()


def test_tophosts_rows_are_read_by_host():
    # the rows as commands/tophosts.py prints them: rank, a "*" mark or a space, the host
    table = ("                                   Active   Conn.   Deliv.     Soft     Hard\n"
             "  1   the.tdc.queue                   1,204      2    10,000        3        0\n"
             "  2*  example.com                         0      1       500        0        1\n")
    assert parse_tophosts(table) == {
        "the.tdc.queue": {"active": 1204, "connections_out": 2, "delivered": 10000,
                          "soft_bounced": 3, "hard_bounced": 0},
        "example.com": {"active": 0, "connections_out": 1, "delivered": 500,
                        "soft_bounced": 0, "hard_bounced": 1},
    }
