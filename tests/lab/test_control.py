"""segcli/lab/control.py on a real Unix socket: requests and answers, bad requests, the
socket's life (mode, a second lab refused, a stale socket replaced, removed on stop), and
both clients when no lab runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
from pathlib import Path

import pytest

from segcli.lab import control
from segcli.lab.control import ControlError, ControlServer, LabNotRunning, request, request_sync


class _Lab:
    """What the test ops read: a counter they change."""

    def __init__(self) -> None:
        self.changes = 0
        self.gate = asyncio.Event()


def _echo(lab, args):
    return {"args": dict(args), "changes": lab.changes}


def _change(lab, args):
    if not isinstance(args.get("by"), int):
        raise ValueError("by must be a whole number")
    lab.changes += args["by"]
    return lab.changes


def _broken(lab, args):
    raise KeyError("a defect")


async def _wait_for_gate(lab, args):
    await lab.gate.wait()
    return "opened"


def _open_gate(lab, args):
    lab.gate.set()
    return "set"


@pytest.fixture
def ops(monkeypatch):
    for name, handler in (("t.echo", _echo), ("t.change", _change), ("t.broken", _broken),
                          ("t.wait", _wait_for_gate), ("t.open", _open_gate)):
        monkeypatch.setitem(control._OPS, name, handler)


@pytest.fixture
def served(run, tmp_path: Path, ops):
    lab = _Lab()
    server = ControlServer(lab, tmp_path)
    run(server.start())
    yield lab, server
    run(server.stop())


async def _raw(path: Path, *lines: bytes) -> list[dict]:
    """Send *lines* on one connection; the answers, one per line, until the server closes or
    every line is answered."""
    reader, writer = await asyncio.open_unix_connection(os.fspath(path))
    try:
        answers = []
        for line in lines:
            try:
                writer.write(line)
                await writer.drain()
            except ConnectionError:  # a server that stops reading a long line closes
                pass
            try:
                answer = await reader.readline()
            except ConnectionError:
                break
            if not answer:
                break
            answers.append(json.loads(answer))
        return answers
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_ops_answer_with_their_result_and_change_the_lab(served, tmp_path):
    lab, _ = served
    assert await request(tmp_path, "t.echo", a=1, b=["x"]) == {"args": {"a": 1, "b": ["x"]},
                                                               "changes": 0}
    assert await request(tmp_path, "t.change", by=2) == 2
    assert await asyncio.to_thread(request_sync, tmp_path, "t.change", by=3) == 5
    assert lab.changes == 5


async def test_bad_requests_get_an_error_and_change_nothing(served, tmp_path):
    lab, server = served
    answers = await _raw(server.path, b"not json\n", b"[1, 2]\n", b'{"args": {}}\n',
                         b'{"op": "t.change", "args": []}\n', b'{"op": "t.nope"}\n',
                         b'{"op": "t.change", "args": {"by": "many"}}\n',
                         b'{"op": "t.echo", "extra": 1}\n', b'{"op": "t.echo"}\n')
    errors = [a.get("error", "") for a in answers[:-1]]
    assert [a["ok"] for a in answers] == [False] * 7 + [True], answers
    assert errors[0].startswith("not a JSON request")
    assert "JSON object" in errors[1] and '"op"' in errors[2] and '"args"' in errors[3]
    assert errors[4].startswith("unknown op 't.nope'; the lab knows:") and "t.echo" in errors[4]
    assert errors[5] == "by must be a whole number"
    assert "unknown field(s) in the request: extra" in errors[6]
    assert lab.changes == 0
    with pytest.raises(ControlError, match="unknown op"):
        await request(tmp_path, "t.nope")


async def test_a_handler_defect_is_an_error_and_the_lab_keeps_answering(served, tmp_path):
    with pytest.raises(ControlError, match="internal error in the lab: 'a defect'"):
        await request(tmp_path, "t.broken")
    assert (await request(tmp_path, "t.echo"))["changes"] == 0


async def test_an_oversized_request_is_refused_and_the_connection_closed(served, tmp_path):
    lab, server = served
    huge = json.dumps({"op": "t.change", "args": {"by": 1, "pad": "x" * control.MAX_REQUEST}})
    answers = await _raw(server.path, huge.encode() + b"\n", b'{"op": "t.echo"}\n')
    assert answers == [{"ok": False, "error": f"request too long (at most "
                                              f"{control.MAX_REQUEST} bytes)"}]
    assert lab.changes == 0
    with pytest.raises(ControlError, match="request too long"):
        await request(tmp_path, "t.change", by=1, pad="x" * control.MAX_REQUEST)


async def test_a_waiting_op_does_not_hold_up_the_others(served, tmp_path):
    waiting = asyncio.ensure_future(request(tmp_path, "t.wait"))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    assert await request(tmp_path, "t.open") == "set"
    assert await asyncio.wait_for(waiting, 5) == "opened"


async def test_the_socket_is_private_and_removed_on_stop(tmp_path, ops):
    server = ControlServer(_Lab(), tmp_path)
    path = await server.start()
    assert path == tmp_path / "lab.sock"
    assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (tmp_path / "lab.sock.new").exists()
    await server.stop()
    assert not path.exists()
    with pytest.raises(LabNotRunning, match=r"no lab is running in .* \(no control socket"):
        await request(tmp_path, "t.echo")


async def test_a_second_lab_is_refused_while_the_first_answers(served, tmp_path):
    _, first = served
    assert first.path.exists()
    with pytest.raises(ControlError, match="another lab is running in"):
        await ControlServer(_Lab(), tmp_path).start()
    assert (await request(tmp_path, "t.echo"))["changes"] == 0  # the first one is untouched


async def test_a_stale_socket_of_a_dead_lab_is_replaced(tmp_path, ops):
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(os.fspath(tmp_path / "lab.sock"))
    dead.close()  # the file stays, nobody listens: what a killed lab leaves
    with pytest.raises(LabNotRunning, match="nobody answers on it"):
        await asyncio.to_thread(request_sync, tmp_path, "t.echo")
    server = ControlServer(_Lab(), tmp_path)
    await server.start()
    try:
        assert (await request(tmp_path, "t.echo"))["changes"] == 0
    finally:
        await server.stop()


def test_no_lab_is_a_clear_error_for_the_command_line(tmp_path):
    with pytest.raises(LabNotRunning) as error:
        request_sync(tmp_path / "nowhere", "info")
    assert str(error.value) == (
        f"no lab is running in {tmp_path / 'nowhere'} (no control socket: "
        f"{tmp_path / 'nowhere' / 'lab.sock'}); start one with: segcli --data "
        f"{tmp_path / 'nowhere'} lab")


async def test_a_path_too_long_for_a_unix_socket_is_a_clear_error(tmp_path, ops):
    deep = tmp_path / ("d" * 120)
    with pytest.raises(ControlError, match="too long for a Unix socket"):
        await ControlServer(_Lab(), deep).start()
    with pytest.raises(ControlError, match="too long for a Unix socket"):
        await request(deep, "t.echo")


def test_register_adds_an_op(monkeypatch):
    monkeypatch.setattr(control, "_OPS", {})
    control.register("drill.status", _echo)
    assert control.registered() == ["drill.status"]
    with pytest.raises(ValueError):
        control.register("", _echo)
