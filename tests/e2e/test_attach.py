"""A second console on a running appliance: ``segcli --data DIR`` while the appliance of
DIR runs attaches to it through ``<DIR>/cli.sock`` (segcli/attach/).

The appliance is a real process (``segcli lab``, or plain ``segcli``); the consoles are
real ``segcli`` processes, through a pipe and under a pseudo-terminal, while real mail
flows over SMTP.  Another uid's refusal is shown for real: a forked child of this test
becomes ``nobody`` and connects (the socket's mode is widened for it, as a careless
administrator might, so that the kernel's peer uid is what refuses it).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from segcli.attach import wire
from tests.conftest import REPO, SEGCLI, run_segcli, segcli_env
from tests.e2e.lab_process import LabProcess, wait_for
from tests.e2e.pty_console import CTRL_C, CTRL_D, START_TIMEOUT

NOBODY = 65534


@pytest.fixture(scope="module")
def lab() -> Iterator[LabProcess]:
    """One lab for the module, in a directory others may pass through (0711): the
    refusal test connects as another uid."""
    base = Path(tempfile.mkdtemp(prefix="segcli-attach-"))
    base.chmod(0o711)
    data_dir = base / "data"
    data_dir.mkdir(mode=0o711)
    process = LabProcess.start(data_dir)
    try:
        yield process
    finally:
        process.terminate()
        shutil.rmtree(base, ignore_errors=True)


def _received(output: str) -> int:
    """The Uptime figure of ``Messages Received`` in ``status`` output."""
    match = re.search(r"Messages Received\s+(\d+)\s+(\d+)\s+(\d+)", output)
    assert match, output
    return int(match[2])


def test_a_piped_console_sees_the_live_counters(lab):
    first = run_segcli(lab.data_dir, "status\n")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("mail1.example.com> status\n")  # the plain transcript
    before = _received(first.stdout)
    lab.send("bob@example.com", "attach-pipe")
    wait_for(lambda: _received(run_segcli(lab.data_dir, "status\n").stdout) == before + 1,
             what="the attached console sees the message")
    assert "already runs" not in first.stderr and "another process" not in first.stderr


def test_a_piped_console_fails_as_its_commands_do(lab):
    result = run_segcli(lab.data_dir, "version\nnosuchcommand\n")
    assert result.returncode == 1
    assert "Current Version" in result.stdout
    assert "Unknown command or missing feature key: nosuchcommand" in result.stdout


def test_a_piped_console_ends_when_its_reader_goes(lab):
    """``tail`` writes nothing while no mail flows: the console still ends at once when
    the reader of its output goes away, with the status of a tool SIGPIPE ended."""
    console = subprocess.Popen([*SEGCLI, "--data", str(lab.data_dir)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=segcli_env(), cwd=REPO)
    assert console.stdin is not None and console.stdout is not None
    try:
        console.stdin.write(b"tail mail_logs\n")
        console.stdin.flush()
        assert console.stdout.readline().startswith(b"mail1.example.com> tail mail_logs")
        console.stdout.close()
        assert console.wait(timeout=60) == 128 + signal.SIGPIPE
    finally:
        if console.poll() is None:
            console.kill()
            console.wait()
        console.stdin.close()


def _console_connections(path: Path) -> int:
    """How many sockets have *path* as their address (/proc/net/unix): the appliance's
    listening socket, and one for each console it still holds (an accepted connection
    bears the listener's address).  The kernel keeps the name the socket was bound to:
    its temporary ``.new`` name, before it was renamed into place."""
    names = {os.fspath(path), os.fspath(path) + ".new"}
    lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[-1] in names)


def test_a_console_that_hangs_up_during_tail_leaves_nothing_behind(data_dir):
    """A console killed while ``tail`` follows a quiet log (no end of input, no line
    written to notice it by): the appliance lets go of it at once, and ``segcli lab`` then
    stops on SIGTERM, cleanly, with no session left to wait for."""
    data_dir.mkdir()
    lab = LabProcess.start(data_dir)
    path = data_dir / wire.SOCKET_NAME
    console = subprocess.Popen([*SEGCLI, "--data", str(data_dir)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=segcli_env(), cwd=REPO)
    try:
        assert console.stdin is not None and console.stdout is not None
        console.stdin.write(b"tail mail_logs\n")
        console.stdin.flush()
        while b"Press Ctrl-C to stop." not in (line := console.stdout.readline()):
            assert line, "the console ended before tail ran"
        assert _console_connections(path) == 2  # listening, and this console's
        console.kill()  # the console hangs up
        assert console.wait(timeout=60) == -signal.SIGKILL
        wait_for(lambda: _console_connections(path) == 1,
                 what="the appliance lets go of the console that hung up")
    finally:
        if console.poll() is None:
            console.kill()
            console.wait()
        for pipe in (console.stdin, console.stdout):
            if pipe is not None:
                pipe.close()
        status = lab.terminate() if lab.process.poll() is None else lab.process.returncode
    assert status == 0
    assert not path.exists() and not (data_dir / "lab.sock").exists()


def test_a_terminal_console_is_live_and_its_changes_are_its_own(lab, spawn):
    console = spawn(data=lab.data_dir).started()
    assert "Last login:" in console.text and "Welcome to the Cisco" in console.text
    before = _received(console.run("status"))
    lab.send("bob@example.com", "attach-pty")
    deadline = time.monotonic() + 60
    while (now := _received(console.run("status"))) == before:
        assert time.monotonic() < deadline, "the counters did not move"
    assert now == before + 1

    # tail follows the mail log live, and Ctrl-C ends it, not the console
    console.command("tail mail_logs")
    lab.send("bob@example.com", "attach-tail")
    console.expect('Subject "attach-tail"')
    console.keys(CTRL_C)
    console.prompt()
    assert "Current Version" in console.run("version")  # still answering after ^C

    # a pending change belongs to this console's session only
    console.run("sethostname gw.example.com")
    assert "gw.example.com" in console.run("showchanges")
    other = run_segcli(lab.data_dir, "showchanges\n")
    assert "No changes have been made since the last commit." in other.stdout, other.stdout
    console.keys(CTRL_D)
    console.expect("Are you sure you wish to exit? [N]>")
    console.keys("Y\r")
    assert console.wait_exit() == 0

    again = spawn(data=lab.data_dir).started()
    assert re.search(r"Last login: .* from local console \(uid \d+\)", again.text), again.text
    again.keys(CTRL_D)
    assert again.wait_exit() == 0


@pytest.mark.skipif(os.getuid() != 0, reason="becoming another uid takes root")
def test_another_uid_is_refused(lab):
    path = lab.data_dir / wire.SOCKET_NAME
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o666)  # let the connection through the file system: the uid check remains
    opened = _searchable_by_all(path.parent)
    try:
        answer = _connect_as(NOBODY, path)
    finally:
        path.chmod(0o600)
        for directory, mode in opened:
            directory.chmod(mode)
    assert answer.startswith(b"R"), answer
    assert f"uid {NOBODY} may not attach".encode() in answer


def _searchable_by_all(directory: Path) -> list[tuple[Path, int]]:
    """Let every user pass through *directory* and the ones above it (pytest's temporary
    directories are private to their owner); the modes to put back."""
    changed = []
    for each in (directory, *directory.parents):
        mode = each.stat().st_mode & 0o7777
        if not mode & 0o001:
            each.chmod(mode | 0o001)
            changed.append((each, mode))
    return changed


def _connect_as(uid: int, path: Path) -> bytes:
    """Fork; the child becomes *uid*, connects, says hello and sends what it read back."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest, no loop, only a socket
        status = 1
        try:
            os.close(read_end)
            os.setgid(uid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(30)
                sock.connect(os.fspath(path))
                # refused at once, before the hello: the refusal is still there to read
                with contextlib.suppress(BrokenPipeError):
                    sock.sendall(wire.hello(wire.Hello(False, 0, 0, "dumb")))
                answer = b""
                try:
                    while chunk := sock.recv(65536):
                        answer += chunk
                except ConnectionResetError:
                    pass
            os.write(write_end, answer or b"nothing")
            status = 0
        except OSError as exc:  # say why, rather than an empty answer
            os.write(write_end, f"child failed: {exc!r}".encode())
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer_pipe:
        answer = answer_pipe.read()
    os.waitpid(pid, 0)
    return answer


def test_plain_segcli_serves_consoles_and_a_stale_socket_is_replaced(data_dir, spawn):
    data_dir.mkdir()
    appliance = subprocess.Popen(
        [*SEGCLI, "--data", str(data_dir), "--smtp", "127.0.0.1:0", "--ssh", "127.0.0.1:0"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=segcli_env(), cwd=REPO)
    try:
        wait_for((data_dir / wire.SOCKET_NAME).exists, START_TIMEOUT, "the console socket")
        attached = run_segcli(data_dir, "version\n")
        assert attached.returncode == 0 and "Current Version" in attached.stdout
    finally:
        appliance.send_signal(signal.SIGKILL)  # no cleanup: the socket stays behind
        appliance.wait(timeout=30)
        assert appliance.stdin is not None
        appliance.stdin.close()
    assert (data_dir / wire.SOCKET_NAME).exists()

    console = spawn("--smtp", "127.0.0.1:0", "--ssh", "127.0.0.1:0").started()  # its own
    assert "Last login:" not in console.text  # the appliance's own console, not attached
    attached = run_segcli(data_dir, "version\n")
    assert attached.returncode == 0 and "Current Version" in attached.stdout
    console.keys(CTRL_D)
    assert console.wait_exit() == 0
    assert not (data_dir / wire.SOCKET_NAME).exists()  # removed when the appliance stops
