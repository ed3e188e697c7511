"""The scanner: big bodies' verdicts found in a process of its own, as the appliance's
anti-spam and anti-virus engines are services of their own beside the mail engine.

Why not a thread: a scan is Python holding the interpreter lock.  In a thread of segcli's
process, each time the event loop let go of the lock (every TLS record and every send of
a big message's slice) it waited for the scanner's next switch to get it back: with 20
messages of 50 MB arriving at once, a slice took 100-300 ms of the loop's time for 5 ms of
its CPU, and small mail waited seconds for its ``250`` (benchmarks/README.md, "Big
messages: the scanner in a process of its own").  The process shares no lock with the loop
and may use the other core.

The body crosses no pipe: a big body is in its spool file, written and synced before the
``250`` (engine/mail/spooling.py), and the scanner reads it there.  One request at a time,
one line each way, JSON: the file's path; ``{"spam": bool, "virus": name or null}`` or
``{"error": text}``.  The process starts with the first big body and is started again
after a failure; a scan it cannot make is made in a thread as before (the caller's
fallback), so no message waits on a broken scanner.  It ends with the mail engine (its
input closed) or when segcli dies (end of input).

Run as ``python -m engine.mail.scanner`` (:func:`main`).
Tests: tests/engine/mail/test_scanner.py, tests/engine/mail/test_big_spool.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from engine.mail.verdicts import Verdicts, scan_in_slices

#: Seconds a scan may take beyond one per MB of its file before the process is replaced.
SCAN_TIMEOUT = 30.0
#: Seconds the process has to end once its input is closed.
CLOSE_TIMEOUT = 2.0
#: The directory holding the ``engine`` package: the process imports the same code.
_ROOT = str(Path(__file__).resolve().parent.parent.parent)


class ScannerError(Exception):
    """The scanner process could not give a verdict (it ended, hung or failed)."""


class Scanner:
    """The parent's side: one scanner process, started when first needed."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._turn = asyncio.Lock()  # one request in flight: answers come in order
        self.starts = 0  # processes started so far

    async def scan(self, path: Path) -> Verdicts:
        """The verdicts of the body in the file *path*."""
        async with self._turn:
            process = await self._running()
            try:
                answer = await asyncio.wait_for(self._ask(process, path), self._timeout(path))
            except BaseException as error:  # its answer may come late: never read it as the next
                self._kill()
                if isinstance(error, (TimeoutError, ConnectionError, ValueError)):
                    raise ScannerError(_describe(error)) from error
                raise
        if "error" in answer:
            raise ScannerError(str(answer["error"]))
        try:
            return Verdicts(spam=bool(answer["spam"]), virus=answer["virus"])
        except (KeyError, TypeError) as error:
            raise ScannerError(f"the scanner process gave no verdict ({answer!r})") from error

    async def close(self) -> None:
        """End the process: its input closed, it ends by itself; killed if it does not."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), CLOSE_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()

    @property
    def pid(self) -> int | None:
        """The running process's id (None before the first big body)."""
        return self._process.pid if self._process is not None else None

    async def _running(self) -> asyncio.subprocess.Process:
        process = self._process
        if process is None or process.returncode is not None:
            path = os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "engine.mail.scanner",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": path})
            self._process = process
            self.starts += 1
        return process

    @staticmethod
    async def _ask(process: asyncio.subprocess.Process, path: Path) -> dict:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(str(path)).encode() + b"\n")
        await process.stdin.drain()
        line = await process.stdout.readline()
        if not line:
            raise ConnectionError("end of the scanner's output")
        return json.loads(line)

    @staticmethod
    def _timeout(path: Path) -> float:
        try:
            return SCAN_TIMEOUT + path.stat().st_size / (1024 * 1024)
        except OSError:
            return SCAN_TIMEOUT

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "the scanner process did not answer in time"
    if isinstance(error, ConnectionError):  # the pipe broke, or the answer never came
        return "the scanner process ended"
    return f"the scanner process gave no verdict ({error})"


# -- the process ---------------------------------------------------------------------------


def main() -> None:
    """Answer each request line until the input ends (the mail engine closed it or died)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for segcli, which closes us
    for line in sys.stdin.buffer:
        sys.stdout.write(json.dumps(_answer(line)) + "\n")
        sys.stdout.flush()


def _answer(request: bytes) -> dict:
    """A slice at a time: the process holds little more than the body (a 50 MB body decoded
    whole, as :func:`~engine.mail.verdicts.scan` does, took it to 274 MB; in slices 67 MB)."""
    try:
        verdicts = scan_in_slices(Path(json.loads(request)).read_bytes())
    except (OSError, ValueError, TypeError) as error:
        return {"error": f"{type(error).__name__}: {error}"}
    return {"spam": verdicts.spam, "virus": verdicts.virus}


if __name__ == "__main__":
    main()
