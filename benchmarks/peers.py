"""The far ends of the benchmark, in a process of their own: the SETD intake simulator,
the lab DNS zone and (when Postfix's ``smtp-sink`` is not used) a discarding delivery sink.

    python -m benchmarks.peers --state DIR [--sink]

It prints one JSON line when it is ready (ports, the intake address, the CA file) and then
answers a line on stdin with a line of JSON on stdout:

* ``stats``: what arrived so far -- journal copies accepted by the simulator (its own
  ``totals``, not a guess), messages taken by the sink, and when the first and last of each
  arrived (``time.monotonic()``: CLOCK_MONOTONIC is the same clock in every process);
* ``reset``: forget the figures (between the segcli and the Postfix phase);
* ``ids`` (with ``--ids``): how many times each Message-ID arrived, at the simulator (the
  attached original's) and at the sink -- what the kill -9 benchmark counts duplicates by;
* ``digests`` (with ``--digests``): per Message-ID, the SHA-256 and size of the message as
  the sink took it, of the same without the first (the gateway's) ``Received`` field, and
  of the original attached to the journal copy the simulator accepted -- what the
  big-message benchmark checks byte for byte;
* ``down``: SETD goes down as the ``conn-timeout-120s-expiry`` drill has it, for every
  connection: new connections are accepted and never greeted, and the connections already
  open never answer their next MAIL (persistent hang faults on the intake's host);
  ``up``: the faults are cleared (connections that hung stay hung, as after a real
  outage: the gateway's timeouts end them) -- what the SETD outage benchmark does.

``--max-size`` raises both listeners' SIZE limit (10 MB by default).

End of input (or SIGTERM) stops it.  The simulator keeps only a few records per intake
address (``keep``): the benchmark reads counts, not messages.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from engine.smtp.server import BaseSmtpHandler, Envelope, SmtpServerConfig, SmtpServerFactory, listen_smtp
from segcli.lab.dns_zone import DnsZone
from segcli.lab.setd_simulator import SetdSimulator
from segcli.lab.setd_state import ReceivedMessage
from segcli.process import settle_heap

#: The Message-ID header of a message as the sink receives it (the header ends at a blank line).
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


def message_id(data: bytes) -> str:
    """The Message-ID of a raw message, or "" (only the header is searched)."""
    end = data.find(b"\r\n\r\n")
    found = MESSAGE_ID.search(data, 0, end if end >= 0 else len(data))
    return found[1].decode("ascii", "replace") if found else ""


def without_first_received(data: bytes) -> memoryview:
    """*data* without its first header field when that is ``Received`` (the gateway's trace
    field, folded over several lines): what the client sent, when the gateway added
    nothing else.  A view: a big message is not copied."""
    view = memoryview(data)
    if data[:9].lower() != b"received:":
        return view
    end = 0
    while True:
        end = data.find(b"\r\n", end) + 2
        if end < 2 or data[end:end + 1] not in (b" ", b"\t"):
            return view[end:] if end >= 2 else view


def digest(data: bytes | memoryview) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


class Arrivals:
    """How many arrived, and when the first and the last did (and, when asked, how many
    times each Message-ID did)."""

    def __init__(self, *, ids: bool = False) -> None:
        self.ids: Counter[str] | None = Counter() if ids else None
        self.count = 0
        self.connections = 0  # connections made to this end (TLS handshakes for the SETD)
        self.first: float | None = None
        self.last: float | None = None
        self.tls: Counter[str] = Counter()  # what protected them ("" for plain SMTP)

    def note(self, n: int = 1, tls: str = "", message_id: str = "") -> None:
        if self.ids is not None:
            self.ids[message_id] += n
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.last = now
        self.count += n
        self.tls[tls] += n

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "first": self.first, "last": self.last, "tls": dict(self.tls),
                "connections": self.connections}


class BenchmarkSetd(SetdSimulator):
    """The lab's simulator, counting accepted journal copies as they are recorded."""

    def __init__(self, *args: Any, ids: bool = False, digests: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals = Arrivals(ids=ids)
        #: Message-ID -> the attached original's digest (with ``--digests``)
        self.digests: dict[str, dict[str, Any]] | None = {} if digests else None

    def event(self, text: str, *, host: str = "") -> None:
        if " TLS success " in text:
            self.arrivals.connections += 1
        super().event(text, host=host)

    def record_message(self, intakes, **kwargs: Any) -> list[ReceivedMessage]:
        records = super().record_message(intakes, **kwargs)
        for record in records:
            if record.outcome == "accepted":
                self.arrivals.note(1, record.tls, record.original_message_id)
                if self.digests is not None:
                    self.digests[record.original_message_id.strip("<>")] = {
                        "sha256": record.sha256, "size": record.original_size}
        return records


class DiscardSink:
    """Takes every message and forgets it (counts only): the relay's destination when
    Postfix's smtp-sink is not there."""

    def __init__(self, *, ids: bool = False, digests: bool = False,
                 max_message_size: int = SmtpServerConfig.max_message_size) -> None:
        self.arrivals = Arrivals(ids=ids)
        #: Message-ID -> digests of the message taken (with ``--digests``)
        self.digests: dict[str, dict[str, Any]] | None = {} if digests else None
        self.max_message_size = max_message_size
        self._port: Any = None

    def start(self) -> int:
        sink = self

        class Handler(BaseSmtpHandler):
            def connected(self, peer: tuple[str, int], local: tuple[str, int]) -> None:
                sink.arrivals.connections += 1

            def message(self, envelope: Envelope, data: bytes) -> None:
                wanted = sink.arrivals.ids is not None or sink.digests is not None
                found = message_id(data) if wanted else ""
                sink.arrivals.note(1, envelope.tls_protocol or "", found)
                if sink.digests is not None:
                    sink.digests[found.strip("<>")] = {"whole": digest(data),
                                           "sent": digest(without_first_received(data))}

        factory = SmtpServerFactory(Handler, SmtpServerConfig(
            hostname="sink.bench", max_message_size=sink.max_message_size))
        self._port = listen_smtp(factory, 0)
        return self._port.getHost().port


async def serve(state: Path, with_sink: bool, ids: bool = False, digests: bool = False,
                max_size: int = SmtpServerConfig.max_message_size) -> None:
    zone = DnsZone()
    zone.start(0)
    setd = BenchmarkSetd(state, keep=10, accept_non_journal=True, ids=ids, digests=digests,
                         max_message_size=max_size)
    intake = setd.ensure_default_intake()
    await setd.start(smtp_port=0, dashboard_port=None, zone=zone)
    sink = DiscardSink(ids=ids, digests=digests, max_message_size=max_size) \
        if with_sink else None
    sink_port = sink.start() if sink is not None else None
    mx_host = setd.mx_host_of(intake.domain)
    print(json.dumps({
        "dns_port": zone.port, "setd_port": setd.host_ports()[mx_host], "mx_host": mx_host,
        "intake": intake.address, "intake_domain": intake.domain, "ca": str(setd.ca_path),
        "sink_port": sink_port,
    }), flush=True)
    settle_heap()  # as segcli does once started: no full collection walks the imports

    loop = asyncio.get_running_loop()
    done = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: done.done() or done.set_result(None))

    def answer(line: str) -> None:
        command = line.strip()
        if command == "reset":
            setd.arrivals = Arrivals(ids=ids)
            if sink is not None:
                sink.arrivals = Arrivals(ids=ids)
            reply: dict[str, Any] = {"ok": True}
        elif command == "stats":
            reply = {"setd": setd.arrivals.to_json(), "setd_totals": setd.totals(),
                     "sink": sink.arrivals.to_json() if sink is not None else None}
        elif command == "ids" and ids:
            reply = {"setd": dict(setd.arrivals.ids or {}),
                     "sink": dict(sink.arrivals.ids or {}) if sink is not None else None}
        elif command == "down":
            for stage in ("connect", "mail"):
                setd.add_fault(intake.address, "hang", stage=stage)
            reply = {"ok": True, "faults": [f.describe() for f in setd.list_faults()]}
        elif command == "up":
            reply = {"ok": True, "cleared": setd.clear_faults()}
        elif command == "digests" and digests:
            reply = {"setd": setd.digests,
                     "sink": sink.digests if sink is not None else None}
        else:
            reply = {"error": f"unknown command {command!r}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()

    pending = bytearray()

    def readable() -> None:
        chunk = os.read(sys.stdin.fileno(), 4096)
        if not chunk:
            loop.remove_reader(sys.stdin.fileno())
            if not done.done():
                done.set_result(None)
            return
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            answer(line.decode())

    loop.add_reader(sys.stdin.fileno(), readable)
    try:
        await done
    finally:
        loop.remove_reader(sys.stdin.fileno())
        await setd.stop()
        await zone.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", type=Path, required=True, help="the simulator's state directory")
    parser.add_argument("--sink", action="store_true", help="also run a discarding delivery sink")
    parser.add_argument("--ids", action="store_true",
                        help="count arrivals per Message-ID (the ``ids`` command)")
    parser.add_argument("--digests", action="store_true",
                        help="keep each message's SHA-256 per Message-ID (the ``digests`` command)")
    parser.add_argument("--max-size", type=int, default=SmtpServerConfig.max_message_size,
                        help="the listeners' message size limit in bytes")
    args = parser.parse_args(argv)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    from twisted.internet import asyncioreactor

    asyncioreactor.install(loop)
    loop.run_until_complete(serve(args.state, args.sink, args.ids, args.digests, args.max_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
