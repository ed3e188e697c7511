"""The lab's control channel: a Unix socket in the data directory that speaks JSON lines.

``segcli lab send``, ``segcli lab setd ...``, ``segcli lab fault ...`` and the drills'
hands-on commands run in other processes than the lab; they reach it here.  One request a
line, one answer a line::

    {"op": "fault.list", "args": {}}
    {"ok": true, "result": [...]}            or        {"ok": false, "error": "..."}

The socket is ``<data>/lab.sock``, mode 0600 (only the lab's user may talk to it), made
under a temporary name and renamed into place so it is never reachable with a wider mode.
A lab refuses to start when another live lab answers on it; a socket nobody answers on is
left over from a lab that died, and is replaced.  It is removed when the lab stops.  (The
appliance's console socket is made the same way: segcli/private_socket.py.)

A request is at most :data:`MAX_REQUEST` bytes; a bad request (not JSON, unknown op, wrong
arguments) gets an error and changes nothing.  Handlers run on the lab's event loop and must
not block it: an op is a plain function ``handler(lab, args)`` returning a JSON value (or
an awaitable of one), added with :func:`register`.  Raising :class:`ControlError` (or a
ValueError, which the lab's own APIs raise for bad values) answers with its text.

The client side: :func:`request` (async) and :func:`request_sync` (for the command line);
both raise :class:`LabNotRunning` when nobody answers and :class:`ControlError` with the
lab's error text.  The lab's own ops are in segcli/lab/control_ops.py.

Tests: tests/lab/test_control.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import json
import logging
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from segcli.private_socket import PrivateSocket

__all__ = [
    "MAX_REQUEST",
    "SOCKET_NAME",
    "ControlError",
    "ControlServer",
    "Handler",
    "LabNotRunning",
    "register",
    "registered",
    "request",
    "request_sync",
    "socket_path",
]

SOCKET_NAME = "lab.sock"
#: The longest request line taken; a longer one is refused and the connection closed.
MAX_REQUEST = 64 * 1024
#: The longest answer a client reads (a dashboard of many messages is long, not endless).
MAX_ANSWER = 64 * 1024 * 1024
#: How long the command line waits for an answer by default.
DEFAULT_TIMEOUT = 60.0

#: handler(lab, args) -> a JSON value, or an awaitable of one.
Handler = Callable[[Any, Mapping[str, Any]], Any]

_OPS: dict[str, Handler] = {}
_log = logging.getLogger(__name__)


class ControlError(Exception):
    """A request the lab refused (the text says why), or a control socket that cannot work."""


class LabNotRunning(ControlError):
    """No lab answers on the data directory's control socket."""


def register(op: str, handler: Handler) -> None:
    """Add (or replace) the handler of *op*; ``handler(lab, args)`` is called per request."""
    if not op or not isinstance(op, str):
        raise ValueError("an op needs a name")
    _OPS[op] = handler


def registered() -> list[str]:
    """The names of the ops a lab answers, sorted."""
    return sorted(_OPS)


def socket_path(data_dir: Path) -> Path:
    """Where the lab of *data_dir* listens for control requests."""
    return Path(data_dir) / SOCKET_NAME


def _private_socket(data_dir: Path) -> PrivateSocket:
    """The lab's socket in *data_dir* (segcli/private_socket.py makes it owner-only)."""
    return PrivateSocket(socket_path(data_dir), "control socket", ControlError,
                         hint="; use a data directory with a shorter path")


# --------------------------------------------------------------------------------------------
# The server


class ControlServer:
    """Serves the registered ops for *lab* on ``<data_dir>/lab.sock``."""

    def __init__(self, lab: Any, data_dir: Path) -> None:
        self.lab = lab
        self._socket = _private_socket(data_dir)
        self.path = self._socket.path
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> Path:
        """Listen; ControlError when another live lab owns the socket or it cannot be made."""
        self._server = await self._socket.listen(
            lambda sock: asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_REQUEST),
            busy=f"another lab is running in {self.path.parent} (it answers on "
                 f"{self.path}); stop it first")
        return self.path

    async def stop(self) -> None:
        """Stop listening, end the open connections, remove the socket."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()
        self._socket.remove()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._conversation(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to answer
        except asyncio.CancelledError:
            # stop() ends the open connections so: the connection's task is the top of its
            # stack and stop() waits for it.  Let out, the cancellation makes Python 3.11's
            # StreamReaderProtocol print "Exception in callback ... CancelledError".
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _conversation(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        """Requests in order, one answer each, until the client closes."""
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # longer than MAX_REQUEST: the rest cannot be trusted
                await _write(writer, _failure(f"request too long (at most {MAX_REQUEST} bytes)"))
                return
            if not line:
                return
            if not line.strip():
                continue
            await _write(writer, await self.answer(line))

    async def answer(self, line: bytes) -> dict[str, Any]:
        """The answer to one request line."""
        try:
            op, args = _parse(line)
            handler = _OPS.get(op)
            if handler is None:
                raise ControlError(f"unknown op {op!r}; the lab knows: {', '.join(registered())}")
            result = handler(self.lab, args)
            if inspect.isawaitable(result):
                result = await result
            json.dumps(result)  # an answer that cannot be sent is the handler's fault
        except (ControlError, ValueError) as exc:
            return _failure(str(exc))
        except Exception as exc:  # a defect in a handler: the lab keeps running
            _log.exception("control op failed: %r", line[:200])
            return _failure(f"internal error in the lab: {exc}")
        return {"ok": True, "result": result}


def _parse(line: bytes) -> tuple[str, dict[str, Any]]:
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ControlError(f"not a JSON request: {exc}") from None
    if not isinstance(data, dict):
        raise ControlError('a request is a JSON object: {"op": ..., "args": {...}}')
    unknown = set(data) - {"op", "args"}
    if unknown:
        raise ControlError(f"unknown field(s) in the request: {', '.join(sorted(unknown))}")
    op, args = data.get("op"), data.get("args", {})
    if not isinstance(op, str) or not op:
        raise ControlError('a request needs "op", the name of an operation')
    if not isinstance(args, dict):
        raise ControlError('"args" must be a JSON object')
    return op, args


def _failure(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


async def _write(writer: asyncio.StreamWriter, answer: dict[str, Any]) -> None:
    writer.write(json.dumps(answer).encode() + b"\n")
    await writer.drain()


# --------------------------------------------------------------------------------------------
# The clients


def _encode(op: str, args: Mapping[str, Any]) -> bytes:
    line = json.dumps({"op": op, "args": dict(args)}).encode() + b"\n"
    if len(line) > MAX_REQUEST:
        raise ControlError(f"request too long (at most {MAX_REQUEST} bytes)")
    return line


def _result(data_dir: Path, raw: bytes) -> Any:
    if not raw.endswith(b"\n"):
        raise ControlError(f"the lab in {data_dir} closed the connection without an answer")
    try:
        answer = json.loads(raw)
    except ValueError as exc:
        raise ControlError(f"the lab in {data_dir} answered something that is not JSON: "
                           f"{exc}") from None
    if not isinstance(answer, dict) or "ok" not in answer:
        raise ControlError(f"the lab in {data_dir} answered something that is not an answer")
    if not answer["ok"]:
        raise ControlError(str(answer.get("error") or "the lab refused the request"))
    return answer.get("result")


def _not_running(data_dir: Path, exc: OSError) -> LabNotRunning:
    if exc.errno == errno.ENOENT:
        reason = "no control socket"
    elif exc.errno == errno.ECONNREFUSED:
        reason = "nobody answers on it"
    else:
        reason = exc.strerror or str(exc)
    return LabNotRunning(f"no lab is running in {data_dir} ({reason}: "
                         f"{socket_path(data_dir)}); start one with: segcli --data {data_dir} lab")


async def request(data_dir: Path, op: str, **args: Any) -> Any:
    """Ask the lab of *data_dir* to do *op*; its result.  Wrap it in ``asyncio.wait_for``
    to bound the wait."""
    line = _encode(op, args)
    path = _private_socket(data_dir).checked_path()
    try:
        reader, writer = await asyncio.open_unix_connection(path, limit=MAX_ANSWER)
    except OSError as exc:
        raise _not_running(data_dir, exc) from None
    try:
        writer.write(line)
        await writer.drain()
        raw = await reader.readline()
    except (OSError, ValueError) as exc:
        raise ControlError(f"talking to the lab in {data_dir} failed: {exc}") from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return _result(data_dir, raw)


def request_sync(data_dir: Path, op: str, *, timeout: float | None = DEFAULT_TIMEOUT,
                 **args: Any) -> Any:
    """:func:`request` for a program without an event loop (the command line); waits at
    most *timeout* seconds for the answer (an op cannot take an argument named timeout)."""
    line = _encode(op, args)
    path = _private_socket(data_dir).checked_path()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as exc:
            raise _not_running(data_dir, exc) from None
        try:
            sock.sendall(line)
            raw = _read_line(sock)
        except TimeoutError:
            raise ControlError(f"the lab in {data_dir} did not answer within "
                               f"{timeout:g} s") from None
        except OSError as exc:
            raise ControlError(f"talking to the lab in {data_dir} failed: {exc}") from None
    return _result(data_dir, raw)


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n"):  # one answer per request: the line ends the answer
            break
        if size > MAX_ANSWER:
            raise ControlError(f"the lab's answer is longer than {MAX_ANSWER} bytes")
    return b"".join(chunks)
