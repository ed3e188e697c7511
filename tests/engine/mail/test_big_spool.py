"""Big messages through the spool, on loopback: real SMTP in, a real sink and SETD stand-in,
real files in the data directory (engine/store/spool.py, engine/mail/spooling.py)."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import smtplib

import pytest
from sqlalchemy import select

from engine.config.model import Endpoint
from engine.mail.journal import attached_original
from engine.mail.mail_engine import MailEngine
from engine.mail.verdicts import EICAR
from engine.store import queue_store
from engine.store.spool import SPOOL_FROM, Spool
from tests.engine.gateway_lab import INTAKE, until

pytestmark = pytest.mark.usefixtures("run")

SIZE = SPOOL_FROM + 300_000


def _big_message(subject: str, size: int = SIZE) -> bytes:
    """A message of about *size* bytes: 76-character lines of random base64-ish text."""
    line = os.urandom(size // 2).hex().encode()
    body = b"\r\n".join(line[at: at + 76] for at in range(0, size - 200, 76))
    return (f"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@example.org>\r\n\r\n").encode() + body + b"\r\n"


def _infected_message() -> bytes:
    """A big message (a base64 attachment of about 1.8 MB) with EICAR deep inside it."""
    payload = base64.encodebytes(os.urandom(SIZE) + EICAR + os.urandom(1000))
    return (b"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: infected\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + payload.replace(b"\n", b"\r\n"))


def _rows(gateway) -> dict[int, dict]:
    with gateway.engine.store.engine.connect() as connection:
        return {row.mid: dict(row._mapping) for row in
                connection.execute(select(queue_store.MESSAGES))}


def _spooled(gateway) -> set[str]:
    return {path.name for path in (gateway.engine.data_dir / "spool").iterdir()}


async def _send_raw(gateway, raw: bytes, *, seen_at_reply=None) -> tuple[int, bytes]:
    """Send *raw*; *seen_at_reply* is called the moment the reply to the final dot is read
    (before anything else happens on the client's side)."""
    def send() -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=60) as client:
            client.ehlo()
            client.mail("alice@example.org")
            client.rcpt("bob@example.com")
            reply = client.data(raw)
            if seen_at_reply is not None:
                seen_at_reply(reply)
            return reply
    return await asyncio.to_thread(send)


async def test_a_big_body_is_in_its_file_when_250_comes_then_delivered_and_the_file_goes(gateway):
    await gateway.start()
    gateway.engine.spooling.interval = 3600.0  # no sweep but the test's own
    raw = _big_message("big-one")
    at_reply: dict[str, object] = {}

    def seen(reply: tuple[int, bytes]) -> None:
        at_reply["files"] = {p.name: p.stat().st_size
                             for p in (gateway.engine.data_dir / "spool").iterdir()}

    code, text = await _send_raw(gateway, raw, seen_at_reply=seen)
    assert code == 250, text
    mid = int(text.split()[-2])  # "2.0.0 Ok: Message <mid> accepted"
    name = f"{mid}.eml"
    assert list(at_reply["files"]) == [name]  # type: ignore[arg-type]
    assert at_reply["files"][name] > len(raw)  # type: ignore[index]  # Received field added

    await until(lambda: gateway.sink.messages and gateway.setd.messages)
    await until(lambda: gateway.engine.tdc.active == 0
                and gateway.engine.counters.host("example.com").active == 0)
    delivered = gateway.sink.messages[0][2]
    assert delivered.endswith(raw) and delivered.startswith(b"Received: from ")
    assert attached_original(gateway.setd.messages[0][2]) == delivered
    assert gateway.setd.messages[0][1] == [INTAKE]
    assert (gateway.engine.data_dir / "spool" / name).read_bytes() == delivered

    await gateway.engine.settled()
    rows = _rows(gateway)
    original = rows[mid]
    [copy] = [row for row in rows.values() if row["kind"] == "journal"]
    # the original's row names its file; the copy names the same file, holding only its
    # own head and tail (the big body is stored once)
    assert (original["spool"], original["spool_at"], original["size"]) == (name, 0, len(delivered))
    assert copy["spool"] == name and copy["state"] == "done"
    assert copy["size"] == len(gateway.setd.messages[0][2])

    assert await gateway.engine.spooling.sweep() == [name]
    assert _spooled(gateway) == set()
    assert queue_store.spooled_names(gateway.engine.store.engine) == set()  # rows forgot it


async def test_a_small_body_stays_in_the_store(gateway):
    await gateway.start()
    assert await gateway.send("small") == {}
    await until(lambda: gateway.sink.messages and gateway.setd.messages)
    assert _spooled(gateway) == set()
    assert all(row["spool"] is None for row in _rows(gateway).values())


async def test_the_sweep_removes_files_of_finished_messages_by_itself(gateway):
    gateway.engine.spooling.interval = 0.05
    await gateway.start()
    code, _ = await _send_raw(gateway, _big_message("swept"))
    assert code == 250
    await until(lambda: gateway.sink.messages and gateway.setd.messages)
    await until(lambda: _spooled(gateway) == set())


async def test_a_file_that_cannot_be_written_answers_451_and_stores_nothing(gateway, monkeypatch):
    await gateway.start()

    def disk_full(self, name: str, body: bytes) -> None:  # the disk is the edge we cannot reach
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Spool, "write_now", disk_full)
    code, text = await _send_raw(gateway, _big_message("no-room"))
    assert code == 451, text
    await gateway.engine.settled()
    assert _rows(gateway) == {} and _spooled(gateway) == set()
    assert "storage error: [Errno 28] No space left on device" in gateway.log()


async def _restart(gateway) -> MailEngine:
    engine = MailEngine(gateway.engine.store, gateway.engine.data_dir, lambda: gateway.config,
                        version="15.5.1-055", serial="S")
    gateway.port = await engine.start(Endpoint("127.0.0.1", 0))
    await engine.recovery  # the stored queue is back (start recovers it in the background)
    return engine


async def test_a_restart_resumes_spooled_messages_and_removes_orphan_files(gateway, unused_port):
    sink_port = gateway.config.host_ports["mx.example.com"]
    gateway.config.host_ports["mx.example.com"] = unused_port  # nothing delivered yet
    gateway.config.tdc.enabled = False  # journaling is not what this test is about
    await gateway.start()
    raw = _big_message("kept")
    code, text = await _send_raw(gateway, raw)
    assert code == 250
    mid = int(text.split()[-2])
    await gateway.engine.stop()
    spool = gateway.engine.data_dir / "spool"
    (spool / "999.eml").write_bytes(b"a body whose row never committed")

    gateway.config.host_ports["mx.example.com"] = sink_port
    engine = await _restart(gateway)
    try:
        assert {p.name for p in spool.iterdir()} == {f"{mid}.eml"}  # the orphan went at start
        engine.deliver_now()
        await until(lambda: gateway.sink.messages)
        assert gateway.sink.messages[0][2].endswith(raw)
        await until(lambda: engine.counters.host("example.com").active == 0)
        await engine.settled()
        assert await engine.spooling.sweep() == [f"{mid}.eml"]
        assert list(spool.iterdir()) == []
    finally:
        await engine.stop()


async def test_a_missing_file_is_reported_and_the_engine_runs_on(gateway, unused_port):
    gateway.config.host_ports["mx.example.com"] = unused_port
    await gateway.start()
    code, text = await _send_raw(gateway, _big_message("lost"))
    assert code == 250
    mid = int(text.split()[-2])
    await until(lambda: gateway.engine.tdc.active == 0)  # its journal copy is at SETD
    await gateway.engine.stop()
    (gateway.engine.data_dir / "spool" / f"{mid}.eml").unlink()

    engine = await _restart(gateway)
    try:
        path = gateway.engine.data_dir / "spool" / f"{mid}.eml"
        warning = (f"Warning: MID {mid} cannot be delivered: its body file {path} is missing; "
                   "it is removed from the queue")
        assert warning in gateway.log()
        await engine.settled()
        row = _rows(gateway)[mid]
        assert row["state"] == "done"
        with engine.store.engine.connect() as connection:
            states = connection.execute(
                select(queue_store.DELIVERIES.c.state, queue_store.DELIVERIES.c.last_error)
                .where(queue_store.DELIVERIES.c.mid == mid)).all()
        assert [tuple(s) for s in states] == [("deleted", "body file missing")]
        assert engine.counters.host("example.com").active == 0
        # the engine takes mail as before
        assert await gateway.send("after") == {}
    finally:
        await engine.stop()


async def test_a_big_message_is_scanned_too(gateway):
    """A big body's verdicts are found by the scanner process (engine/mail/scanner.py):
    EICAR deep in a big base64 attachment still drops the message, unjournaled."""
    gateway.engine.spooling.interval = 0.05
    await gateway.start()
    raw = _infected_message()
    code, text = await _send_raw(gateway, raw)
    assert code == 250
    mid = int(text.split()[-2])
    await until(lambda: f"Message aborted MID {mid} Dropped by antivirus" in gateway.lines())
    await until(lambda: _spooled(gateway) == set())  # done: its file went
    assert gateway.sink.messages == [] and gateway.setd.messages == []
    assert gateway.engine.scanner.starts == 1  # found by the scanner process


async def test_big_bodies_are_scanned_by_the_scanner_process(gateway, monkeypatch):
    """A scan in a thread of segcli's process holds the interpreter lock, which the loop
    then waits for at every send (engine/mail/scanner.py): three big messages at once are
    scanned by the one scanner process, none in a thread; all three arrive, and the
    process ends with the mail engine."""
    from engine.mail import mail_engine

    in_a_thread: list[int] = []
    scan = mail_engine.scan_in_slices

    def recorded(body: bytes):
        in_a_thread.append(len(body))
        return scan(body)

    monkeypatch.setattr(mail_engine, "scan_in_slices", recorded)
    await gateway.start()
    replies = await asyncio.gather(*[_send_raw(gateway, _big_message(f"big{n}")) for n in range(3)])
    assert [code for code, _ in replies] == [250, 250, 250]
    await until(lambda: len(gateway.sink.messages) == 3 and len(gateway.setd.messages) == 3)
    assert in_a_thread == []
    assert gateway.engine.scanner.starts == 1
    pid = gateway.engine.scanner.pid
    assert pid is not None and os.path.exists(f"/proc/{pid}")
    await gateway.engine.stop()
    assert not os.path.exists(f"/proc/{pid}")  # ended and reaped


async def test_a_scanner_that_cannot_run_leaves_the_scan_to_a_thread(gateway, monkeypatch, caplog):
    """No message waits on a broken scanner: when its process ends without an answer (here
    its program is ``false``), the body is scanned in the scan thread, EICAR deep in a big
    attachment still drops the message, and the failure is logged."""
    import sys

    gateway.engine.spooling.interval = 0.05
    await gateway.start()
    monkeypatch.setattr(sys, "executable", "/bin/false")
    raw = _infected_message()
    with caplog.at_level(logging.WARNING, logger="engine.mail.mail_engine"):
        code, text = await _send_raw(gateway, raw)
        assert code == 250
        mid = int(text.split()[-2])
        await until(lambda: f"Message aborted MID {mid} Dropped by antivirus" in gateway.lines())
    assert gateway.sink.messages == [] and gateway.setd.messages == []
    assert f"MID {mid} scanned in a thread: the scanner process ended" in caplog.text


async def test_a_big_message_is_made_one_piece_off_the_loop(gateway, monkeypatch):
    """Issue 14 (big messages): at a big message's final dot the server joins the pieces it
    took as they came, and the listener puts its Received field before them: two copies
    of the whole message, 100-200 ms each for 50 MB when 20 end at once, which held the
    loop (and small mail's replies) for seconds.  Both are made in executor threads
    (``bytes.join`` lets go of the interpreter lock); a small message's at once."""
    import functools

    from engine.smtp.server import JOIN_OFF_LOOP_FROM

    await gateway.start()
    loop = asyncio.get_running_loop()
    joined: list[int] = []  # the size of each join handed to a thread
    run_in_executor = loop.run_in_executor

    def spy(executor, func, *args):
        call = func.args if isinstance(func, functools.partial) else ()
        if call and call[0] == b"".join:  # asyncio.to_thread's partial(context.run, f, *args)
            joined.append(sum(map(len, call[1])))
        return run_in_executor(executor, func, *args)

    monkeypatch.setattr(loop, "run_in_executor", spy)
    small, big = _big_message("small", 20_000), _big_message("big", JOIN_OFF_LOOP_FROM + 300_000)
    assert (await _send_raw(gateway, small))[0] == 250
    assert joined == []
    assert (await _send_raw(gateway, big))[0] == 250
    assert len(joined) == 2 and all(size >= len(big) - 1000 for size in joined)
    await until(lambda: len(gateway.sink.messages) == 2 and len(gateway.setd.messages) == 2)
    delivered = sorted((message[2] for message in gateway.sink.messages), key=len)
    assert delivered[0].endswith(small) and delivered[1].endswith(big)
    assert attached_original(max(gateway.setd.messages, key=lambda m: len(m[2]))[2]) == delivered[1]
