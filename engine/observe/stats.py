"""Figures ``status`` and ``rate`` read besides the counters: the queue's size and its
oldest message (from the store), the disk the data directory lives on, and this
process's memory and CPU.  The process is the appliance (DESIGN.md), so its own RSS
and CPU time are the honest RAM and CPU figures.

Store and disk reads are blocking: :func:`read_queue_usage` runs them in a worker thread.

Tests: tests/engine/observe/test_status_live.py.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select

from engine.store.models import MessageRow
from engine.store.queue_store import QUEUED_STATES

MESSAGES = MessageRow.__table__


@dataclass(frozen=True)
class QueueUsage:
    kilobytes_used: int  # bodies of the messages still queued (in the work queue or delivery)
    kilobytes_free: int  # free space of the data directory's file system
    oldest_received_at: float | None  # the oldest queued message, None when none is
    logging_disk_percent: int
    logging_available: int  # bytes


def queue_usage(engine: Engine, data_dir: Path) -> QueueUsage:
    """Blocking: one query over the queued messages and two ``statvfs`` calls.

    The query reads only the queued messages' entries of ``ix_messages_state_received``
    (state, received_at, size): never the rows, nor the history of done messages."""
    query = select(func.coalesce(func.sum(MESSAGES.c.size), 0),
                   func.min(MESSAGES.c.received_at)).where(MESSAGES.c.state.in_(QUEUED_STATES))
    with engine.connect() as connection:
        used, oldest = connection.execute(query).one()
    data = shutil.disk_usage(data_dir)
    logs_dir = data_dir / "logs"
    logs = shutil.disk_usage(logs_dir if logs_dir.exists() else data_dir)
    return QueueUsage(
        kilobytes_used=-(-int(used) // 1024), kilobytes_free=data.free // 1024,
        oldest_received_at=oldest,
        logging_disk_percent=round(100 * logs.used / logs.total) if logs.total else 0,
        logging_available=logs.free)


async def read_queue_usage(engine: Engine, data_dir: Path) -> QueueUsage:
    return await asyncio.get_running_loop().run_in_executor(None, queue_usage, engine, data_dir)


def oldest_message(engine: Engine) -> tuple[int, float] | None:
    """Blocking: the MID and reception time of the oldest message still queued (the
    XML status page names it, ``status`` only says how old it is); None when none is."""
    oldest: list[tuple[float, int]] = []
    with engine.connect() as connection:
        for state in QUEUED_STATES:
            # One state at a time: the index is then in (received_at, mid) order, so each
            # query reads one index entry however many messages are queued or done.
            query = (select(MESSAGES.c.mid, MESSAGES.c.received_at)
                     .where(MESSAGES.c.state == state)
                     .order_by(MESSAGES.c.received_at, MESSAGES.c.mid).limit(1))
            row = connection.execute(query).first()
            if row is not None:
                oldest.append((float(row.received_at), int(row.mid)))
    if not oldest:
        return None
    received_at, mid = min(oldest)
    return mid, received_at


# -- this process ------------------------------------------------------------------------
def memory_percent() -> int:
    """This process's resident memory as a share of the machine's memory."""
    rss, total = _proc_kib("/proc/self/status", "VmRSS:"), _proc_kib("/proc/meminfo", "MemTotal:")
    if rss is None:  # no /proc (not Linux): the peak is the best the kernel tells
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if not total:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        total = pages * page_size // 1024
    return round(100 * rss / total) if total else 0


def _proc_kib(path: str, label: str) -> int | None:
    try:
        with open(path) as file:
            for line in file:
                if line.startswith(label):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class CpuLoad:
    """This process's CPU use, in percent of one CPU, since the previous reading.

    A reading less than a second after the previous one repeats it (too short a window
    says nothing); the first reading covers the time since the process started.
    """

    MIN_WINDOW = 1.0

    def __init__(self) -> None:
        self._wall = time.monotonic() - _process_age()
        self._cpu = 0.0
        self._last = 0

    def percent(self) -> int:
        wall, cpu = time.monotonic(), time.process_time()
        if wall - self._wall >= self.MIN_WINDOW:
            self._last = round(100 * (cpu - self._cpu) / (wall - self._wall))
            self._wall, self._cpu = wall, cpu
        return self._last


def _process_age() -> float:
    """Seconds since this process started (from /proc; else since this module loaded)."""
    try:
        with open("/proc/self/stat") as file:
            start_ticks = int(file.read().rpartition(")")[2].split()[19])
        with open("/proc/uptime") as file:
            uptime = float(file.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


#: One per process: the process is the appliance.
CPU = CpuLoad()


def human_bytes(count: int) -> str:
    """``148G``, ``512M``, ``20K``: sizes as ``Logging Disk Available`` shows them."""
    for unit, size in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if count >= size:
            return f"{count // size}{unit}"
    return f"{count}B"
