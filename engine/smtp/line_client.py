"""A raw TCP conversation, line by line: what ``telnet`` opens from the gateway.

Nothing here knows SMTP beyond line ends: the lines the server sends are queued as they
arrive (a reader task), the lines the person types are sent with CRLF.  The command decides
when to wait for a reply; :meth:`LineConnection.next_line` waits for one line at most a
given time, and ``closed`` tells when the server has hung up.

Tests: tests/engine/smtp/test_diagnosis_live.py.
"""

from __future__ import annotations

import asyncio
import contextlib

#: A server line longer than this is cut (telnet shows it anyway).
MAX_LINE = 64 * 1024


class LineConnection:
    """One connection.  Make it with :meth:`open`; :meth:`close` when done."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        #: Done when the server closed the connection (or it failed).
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pump = asyncio.ensure_future(self._read())
        peer = writer.get_extra_info("peername") or ("", 0)
        self.peer: tuple[str, int] = (str(peer[0]), int(peer[1]))

    @classmethod
    async def open(cls, host: str, port: int, *, timeout: float) -> LineConnection:
        """Connect to *host* (an address) and *port*; OSError or TimeoutError if it fails."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=MAX_LINE), timeout)
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while True:
                try:
                    raw = await self._reader.readline()
                except ValueError:  # longer than the limit: hand over what there is
                    raw = await self._reader.read(MAX_LINE)
                if not raw:
                    break
                self._lines.put_nowait(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._lines.put_nowait(None)
            if not self.closed.done():
                self.closed.set_result(None)

    async def next_line(self, timeout: float) -> str | None:
        """The next line from the server; None once it has closed and every line was read.
        TimeoutError when nothing came within *timeout* seconds."""
        line = await asyncio.wait_for(self._lines.get(), timeout)
        if line is None:
            self._lines.put_nowait(None)  # stay at the end
        return line

    def pending(self) -> list[str]:
        """The lines received and not read yet (without waiting)."""
        lines = []
        while not self._lines.empty():
            line = self._lines.get_nowait()
            if line is None:
                self._lines.put_nowait(None)
                break
            lines.append(line)
        return lines

    def send_line(self, text: str) -> None:
        """Send *text* and CRLF (ignored once the server has closed)."""
        if not self._writer.is_closing():
            self._writer.write(text.encode("utf-8") + b"\r\n")

    async def close(self) -> None:
        """Close our side and stop reading; never raises."""
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), 5)
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump
