"""The scanner process (engine/mail/scanner.py): real processes, real files."""

from __future__ import annotations

import asyncio
import base64
import os
import signal

import pytest

from engine.mail import scanner as scanner_module
from engine.mail.scanner import Scanner, ScannerError
from engine.mail.verdicts import EICAR, EICAR_NAME, GTUBE, Verdicts, scan

pytestmark = pytest.mark.usefixtures("run")


def _attachment(inner: bytes) -> bytes:
    payload = base64.encodebytes(os.urandom(300_000) + inner + os.urandom(1000))
    return (b"Subject: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + payload.replace(b"\n", b"\r\n"))


@pytest.fixture
def scanner(run):
    scanner = Scanner()
    yield scanner
    run(scanner.close())


async def test_verdicts_are_those_of_a_scan_here(scanner, tmp_path):
    bodies = {"clean": _attachment(b"nothing"), "spam": b"Subject: x\r\n\r\n" + GTUBE + b"\r\n",
              "virus": _attachment(EICAR)}
    for name, body in bodies.items():
        (tmp_path / name).write_bytes(body)
    found = {name: await scanner.scan(tmp_path / name) for name in bodies}
    assert found == {name: scan(body) for name, body in bodies.items()}
    assert found["virus"] == Verdicts(spam=False, virus=EICAR_NAME)
    assert found["spam"].spam and found["clean"] == Verdicts(spam=False, virus=None)
    assert scanner.starts == 1  # one process for every scan


async def test_a_missing_file_is_an_error_and_the_process_goes_on(scanner, tmp_path):
    with pytest.raises(ScannerError, match="FileNotFoundError"):
        await scanner.scan(tmp_path / "gone.eml")
    (tmp_path / "here.eml").write_bytes(b"Subject: x\r\n\r\n" + GTUBE)
    assert (await scanner.scan(tmp_path / "here.eml")).spam
    assert scanner.starts == 1


async def test_a_scan_that_never_ends_is_given_up_and_the_process_replaced(scanner, tmp_path,
                                                                          monkeypatch):
    """A read that never ends (a FIFO nobody writes to) stands for a hung scanner: the
    scan fails after the timeout, that process is killed, the next scan has a new one."""
    monkeypatch.setattr(scanner_module, "SCAN_TIMEOUT", 0.5)
    fifo = tmp_path / "never.eml"
    os.mkfifo(fifo)
    with pytest.raises(ScannerError, match="did not answer in time"):
        await scanner.scan(fifo)
    (tmp_path / "clean.eml").write_bytes(b"Subject: x\r\n\r\nhello\r\n")
    assert await scanner.scan(tmp_path / "clean.eml") == Verdicts(spam=False, virus=None)
    assert scanner.starts == 2


async def test_a_killed_process_is_started_again(scanner, tmp_path):
    (tmp_path / "virus.eml").write_bytes(_attachment(EICAR))
    assert (await scanner.scan(tmp_path / "virus.eml")).virus == EICAR_NAME
    os.kill(scanner.pid, signal.SIGKILL)
    outcomes = []
    for _ in range(2):  # the first may still find the dead one's pipe: an error, never a verdict
        try:
            outcomes.append(await scanner.scan(tmp_path / "virus.eml"))
        except ScannerError as error:
            outcomes.append(str(error))
    assert outcomes[-1] == Verdicts(spam=False, virus=EICAR_NAME)
    assert all(o in ("the scanner process ended", outcomes[-1]) for o in outcomes)
    assert scanner.starts == 2


async def test_ctrl_c_is_for_segcli_and_closing_ends_the_process(scanner, tmp_path):
    """Ctrl-C at a terminal reaches the whole process group: the scanner ignores it and
    ends when segcli closes its input."""
    await scanner.close()  # before the first scan: nothing to end
    (tmp_path / "spam.eml").write_bytes(b"Subject: x\r\n\r\n" + GTUBE)
    assert (await scanner.scan(tmp_path / "spam.eml")).spam
    pid = scanner.pid
    os.kill(pid, signal.SIGINT)
    await asyncio.sleep(0.2)
    assert (await scanner.scan(tmp_path / "spam.eml")).spam
    assert scanner.starts == 1
    await scanner.close()
    assert scanner.pid is None and not os.path.exists(f"/proc/{pid}")
