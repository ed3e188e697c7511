#!/usr/bin/env python3
"""How long a command takes over SSH: a paramiko shell round trip and an exec request.

    .venv/bin/python benchmarks/ssh_roundtrip.py [--runs 300] [--connect-runs 30]
    .venv/bin/python benchmarks/ssh_roundtrip.py --runs 5 --connect-runs 2 --json out.json

What runs, each a process of its own on loopback:

* the system under test: ``python -m segcli --data <temporary dir> --smtp 127.0.0.1:0
  --ssh 127.0.0.1:0 --plain``, its console idle on a pipe, a new data directory (the
  factory ``admin``, and an Ed25519 key made for the run registered for it with
  ``userconfig sshkey add`` and ``commit`` over SSH);
* the reference: a minimal Twisted Conch server (``--serve-echo``, this script again) on
  the same asyncio reactor as segcli, whose shell echoes each line followed by a prompt
  and whose exec request answers with the command, and a plain TCP echo server, both
  with TCP_NODELAY: the floor that SSH itself, paramiko and Twisted leave;
* the client: paramiko in this process (its default: no TCP_NODELAY on its side).

What is measured, interleaved (one sample of each in turn, so that both systems see the
same load on a shared machine):

* **shell**: one ``invoke_shell()`` (paramiko's pty, ``vt100``: segcli's plain renderer)
  kept open; a round trip is from writing ``version\\n`` (``tophosts 1\\n``, an empty
  line) to reading the next prompt;
* **exec, open connection**: a new session channel on an open connection, ``exec
  version``, until the channel closes with its exit status;
* **exec, new connection**: ``ssh host version`` as paramiko does it: connect, key
  exchange, public-key login, the exec request, close (``--connect-runs``); and, when
  OpenSSH's ``ssh`` is installed, the ``ssh`` command itself (a process per request).

It prints the median, p99 (nearest rank), minimum and mean of each, in milliseconds.
Every process it starts is stopped at the end, on failure and on Ctrl-C (children also
get SIGTERM if the script itself is killed); the work directory is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: benchmarks/ is the path, not the repository
    sys.path.insert(0, str(REPO))

from benchmarks.processes import (  # noqa: E402
    PYTHON,
    BenchmarkError,
    LineReader,
    Processes,
    python_env,
)

USER, PASSWORD = "admin", "ironport"
ECHO_USER = "bench"
ECHO_PROMPT = "echo> "
TIMEOUT = 30.0


# ------------------------------------------------------------------------------------------
# The reference: a minimal Conch server and a TCP echo (run as ``--serve-echo``)


def serve_echo(public_key: str) -> int:
    """A Twisted Conch server whose shell echoes lines, and a TCP echo server, on free
    loopback ports (printed as ``ssh PORT tcp PORT``); runs until stdin closes."""
    from twisted.internet import asyncioreactor

    asyncioreactor.install()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from twisted.conch.avatar import ConchUser
    from twisted.conch.checkers import InMemorySSHKeyDB, SSHPublicKeyChecker
    from twisted.conch.interfaces import ISession
    from twisted.conch.ssh import connection, factory, keys, session, userauth
    from twisted.cred import portal
    from twisted.internet import protocol, reactor, stdio
    from twisted.python import components
    from zope.interface import implementer

    class Avatar(ConchUser):
        def __init__(self) -> None:
            super().__init__()
            self.channelLookup[b"session"] = session.SSHSession

    @implementer(portal.IRealm)
    class Realm:
        def requestAvatar(self, avatar_id: Any, mind: Any, *interfaces: Any) -> Any:
            return interfaces[0], Avatar(), lambda: None

    class EchoShell(protocol.Protocol):
        """Each line back, then the prompt, in one write."""

        def connectionMade(self) -> None:
            self.pending = b""
            self.transport.write(ECHO_PROMPT.encode())

        def dataReceived(self, data: bytes) -> None:
            self.pending += data
            while b"\n" in self.pending:
                line, _, self.pending = self.pending.partition(b"\n")
                self.transport.write(line + b"\r\n" + ECHO_PROMPT.encode())

    @implementer(ISession)
    class EchoSession:
        def __init__(self, avatar: Avatar) -> None:
            pass

        def getPty(self, term: bytes, size: Any, modes: Any) -> None:
            pass

        def openShell(self, proto: Any) -> None:
            shell = EchoShell()
            shell.makeConnection(proto)
            proto.makeConnection(session.wrapProtocol(shell))

        def execCommand(self, proto: Any, command: bytes) -> None:
            # After Conch has answered the request (as segcli's CLI task does).
            reactor.callLater(0, self._answer, proto, command)

        def _answer(self, proto: Any, command: bytes) -> None:
            proto.write(command + b"\r\n")
            channel = proto.session
            channel.conn.sendRequest(channel, b"exit-status", struct.pack(">L", 0))
            proto.loseConnection()

        def windowChanged(self, size: Any) -> None:
            pass

        def eofReceived(self) -> None:
            pass

        def closed(self) -> None:
            pass

    components.registerAdapter(EchoSession, Avatar, ISession)

    class Transport(factory.SSHFactory.protocol):  # type: ignore[name-defined,misc]
        """Sends at once and acknowledges at once, as segcli's (segcli/ssh/server.py):
        without TCP_QUICKACK, paramiko's window adjustments (small writes it does not
        wait an answer for) hold its next request for the server's delayed ACK."""

        def connectionMade(self) -> None:
            self.transport.setTcpNoDelay(True)
            super().connectionMade()

        def dataReceived(self, data: bytes) -> None:
            super().dataReceived(data)
            quickack = getattr(socket, "TCP_QUICKACK", None)
            if quickack is not None and self.transport.connected:
                self.transport.getHandle().setsockopt(socket.IPPROTO_TCP, quickack, 1)

    host_key = keys.Key(Ed25519PrivateKey.generate())
    ssh = factory.SSHFactory()
    ssh.protocol = Transport
    ssh.privateKeys = {b"ssh-ed25519": host_key}
    ssh.publicKeys = {b"ssh-ed25519": host_key.public()}
    ssh.services = {b"ssh-userauth": userauth.SSHUserAuthServer,
                    b"ssh-connection": connection.SSHConnection}
    key_db = InMemorySSHKeyDB({ECHO_USER.encode(): [keys.Key.fromString(public_key)]})
    ssh.portal = portal.Portal(Realm(), [SSHPublicKeyChecker(key_db)])

    class TcpEcho(protocol.Protocol):
        def connectionMade(self) -> None:
            self.transport.setTcpNoDelay(True)

        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    class StopOnEof(protocol.Protocol):
        def connectionLost(self, reason: Any = None) -> None:
            reactor.stop()

    ssh_port = reactor.listenTCP(0, ssh, interface="127.0.0.1").getHost().port
    tcp_port = reactor.listenTCP(0, protocol.Factory.forProtocol(TcpEcho),
                                 interface="127.0.0.1").getHost().port
    print(f"ssh {ssh_port} tcp {tcp_port}", flush=True)
    stdio.StandardIO(StopOnEof())
    reactor.run()
    return 0


# ------------------------------------------------------------------------------------------
# Keys, servers and clients


def client_key() -> tuple[Any, str, str]:
    """A new Ed25519 key: (paramiko key, OpenSSH public line, OpenSSH private text)."""
    import paramiko
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    text = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                 serialization.NoEncryption()).decode("ascii")
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode("ascii")
    return paramiko.Ed25519Key.from_private_key(io.StringIO(text)), public, text


def start_segcli(processes: Processes, data: Path) -> int:
    """``segcli`` on a new data directory, its console on a pipe; its SSH port."""
    process = processes.start(
        [PYTHON, "-m", "segcli", "--data", str(data), "--smtp", "127.0.0.1:0",
         "--ssh", "127.0.0.1:0", "--https", "127.0.0.1:0", "--plain"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=python_env(), stop=lambda: _close(process.stdin))
    stderr = LineReader(process.stderr)
    return int(stderr.wait_for(r"SSH server on 127\.0\.0\.1:(\d+)", timeout=120)[1])


def start_echo(processes: Processes, public_key: str) -> tuple[int, int]:
    """The reference servers (this script with ``--serve-echo``); their SSH and TCP ports."""
    process = processes.start(
        [PYTHON, str(Path(__file__).resolve()), "--serve-echo", public_key],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=python_env(), stop=lambda: _close(process.stdin))
    stdout = LineReader(process.stdout)
    ports = stdout.wait_for(r"ssh (\d+) tcp (\d+)", timeout=60)
    return int(ports[1]), int(ports[2])


def _close(stream: Any) -> None:
    with contextlib.suppress(Exception):
        stream.close()


def connect(port: int, user: str, **auth: Any) -> Any:
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=port, username=user, look_for_keys=False,
                   allow_agent=False, timeout=TIMEOUT, banner_timeout=TIMEOUT,
                   auth_timeout=TIMEOUT, **auth)
    return client


def exec_output(client: Any, command: str) -> tuple[int, str]:
    """An exec request on an open connection: (exit status, output)."""
    channel = client.get_transport().open_session(timeout=TIMEOUT)
    channel.settimeout(TIMEOUT)
    channel.exec_command(command)
    chunks = []
    while data := channel.recv(65536):
        chunks.append(data)
    status = channel.recv_exit_status()
    channel.close()
    return status, b"".join(chunks).decode("utf-8", "replace")


class Shell:
    """An interactive shell (paramiko's pty) and its prompt."""

    def __init__(self, client: Any, prompt_end: str) -> None:
        self.channel = client.invoke_shell()
        self.channel.settimeout(TIMEOUT)
        self._buffer = b""
        banner = self.read_until(prompt_end.encode())
        self.prompt = banner.decode("utf-8", "replace").rsplit("\n", 1)[-1].encode()

    def read_until(self, marker: bytes) -> bytes:
        """Read until *marker*; what came up to it (included).  The rest is kept."""
        while marker not in self._buffer:
            data = self.channel.recv(65536)
            if not data:
                raise BenchmarkError(f"the shell closed; waited for {marker!r}")
            self._buffer += data
        end = self._buffer.index(marker) + len(marker)
        text, self._buffer = self._buffer[:end], self._buffer[end:]
        return text

    def round_trip(self, line: str) -> bytes:
        """Send *line* and wait for the next prompt; its output."""
        self.channel.sendall(line.encode() + b"\n")
        return self.read_until(self.prompt)


# ------------------------------------------------------------------------------------------
# Measuring


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"runs": len(ordered), "median_ms": statistics.median(ordered),
            "p99_ms": ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)],
            "min_ms": ordered[0], "mean_ms": statistics.fmean(ordered)}


class Bench:
    """The clients of one run and what they measured."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.samples: dict[str, list[float]] = {}
        self.checks: dict[str, str] = {}

    def add(self, name: str, action: Callable[[], object]) -> None:
        self.samples.setdefault(name, []).append(timed(action))

    def run(self, processes: Processes) -> dict[str, Any]:
        pkey, public, private = client_key()
        key_file = self.work / "id_ed25519"
        key_file.write_text(private)
        key_file.chmod(0o600)
        segcli_port = start_segcli(processes, self.work / "data")
        echo_ssh, echo_tcp = start_echo(processes, public)
        admin = connect(segcli_port, USER, password=PASSWORD)
        status, output = exec_output(admin, f'userconfig sshkey add {USER} "{public}"; '
                                             'commit "ssh round-trip benchmark key"')
        if status != 0:
            raise BenchmarkError(f"could not register the benchmark key:\n{output}")
        echo = connect(echo_ssh, ECHO_USER, pkey=pkey)
        try:
            self._shells(admin, echo, echo_tcp)
            self._connections(segcli_port, echo_ssh, pkey, key_file)
        finally:
            admin.close()
            echo.close()
        return {name: summary(values) for name, values in self.samples.items()}

    def _shells(self, admin: Any, echo: Any, echo_tcp: int) -> None:
        """Shell round trips and exec requests on open connections, interleaved."""
        segcli, reference = Shell(admin, "> "), Shell(echo, ECHO_PROMPT)
        self.checks["version"] = segcli.round_trip("version").decode("utf-8", "replace")
        self.checks["tophosts 1"] = segcli.round_trip("tophosts 1").decode("utf-8", "replace")
        if b"Version:" not in segcli.round_trip("version"):
            raise BenchmarkError("segcli's version did not answer as expected")
        status, output = exec_output(admin, "version")
        if status != 0 or "Version:" not in output:
            raise BenchmarkError(f"exec version failed ({status}):\n{output}")
        with socket.create_connection(("127.0.0.1", echo_tcp), timeout=TIMEOUT) as tcp:
            tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for run in range(self.args.warmup + self.args.runs):
                if run == self.args.warmup:
                    self.samples.clear()
                self.add("segcli shell: version", lambda: segcli.round_trip("version"))
                self.add("segcli shell: tophosts 1", lambda: segcli.round_trip("tophosts 1"))
                self.add("segcli shell: empty line", lambda: segcli.round_trip(""))
                self.add("segcli exec, open connection: version",
                         lambda: exec_output(admin, "version"))
                self.add("reference: Conch echo shell line", lambda: reference.round_trip("version"))
                self.add("reference: Conch exec, open connection",
                         lambda: exec_output(echo, "version"))
                self.add("reference: TCP echo", lambda: _tcp_echo(tcp))

    def _connections(self, segcli_port: int, echo_port: int, pkey: Any, key_file: Path) -> None:
        """Exec requests on new connections (public-key login), interleaved."""
        ssh = shutil.which("ssh")
        for _ in range(self.args.connect_runs):
            self.add("segcli exec, new connection (paramiko)",
                     lambda: _exec_new(segcli_port, USER, pkey))
            self.add("reference: Conch exec, new connection (paramiko)",
                     lambda: _exec_new(echo_port, ECHO_USER, pkey))
            if ssh is not None:
                self.add("segcli exec, new connection (OpenSSH ssh)",
                         lambda: _openssh(ssh, segcli_port, USER, key_file))
                self.add("reference: Conch exec, new connection (OpenSSH ssh)",
                         lambda: _openssh(ssh, echo_port, ECHO_USER, key_file))


def _tcp_echo(tcp: socket.socket) -> None:
    tcp.sendall(b"version\n")
    received = b""
    while len(received) < 8:
        data = tcp.recv(64)
        if not data:
            raise BenchmarkError("the TCP echo closed")
        received += data


def _exec_new(port: int, user: str, pkey: Any) -> None:
    client = connect(port, user, pkey=pkey)
    try:
        status, _ = exec_output(client, "version")
        if status != 0:
            raise BenchmarkError(f"exec on port {port} ended with status {status}")
    finally:
        client.close()


def _openssh(ssh: str, port: int, user: str, key_file: Path) -> None:
    subprocess.run(
        [ssh, "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o",
         "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
         "-o", "IdentitiesOnly=yes", "-i", str(key_file), "-p", str(port),
         f"{user}@127.0.0.1", "version"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True, timeout=TIMEOUT)


# ------------------------------------------------------------------------------------------
# The report


def print_table(results: dict[str, dict[str, float]]) -> None:
    width = max(len(name) for name in results)
    print(f"{'round trip':<{width}}  {'runs':>5}  {'median':>8}  {'p99':>8}  {'min':>8}  "
          f"{'mean':>8}  (ms)")
    for name, figures in results.items():
        print(f"{name:<{width}}  {figures['runs']:>5}  {figures['median_ms']:>8.2f}  "
              f"{figures['p99_ms']:>8.2f}  {figures['min_ms']:>8.2f}  {figures['mean_ms']:>8.2f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300,
                        help="samples of each shell round trip and open-connection exec")
    parser.add_argument("--connect-runs", type=int, default=30,
                        help="samples of each exec request on a new connection")
    parser.add_argument("--warmup", type=int, default=10, help="rounds not counted")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--serve-echo", metavar="PUBLIC_KEY", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.connect_runs < 0 or args.warmup < 0:
        parser.error("--runs must be at least 1; --connect-runs and --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_echo:
        return serve_echo(args.serve_echo)
    processes = Processes()
    work = Path(tempfile.mkdtemp(prefix="segcli-ssh-bench-"))
    try:
        bench = Bench(args, work)
        results = bench.run(processes)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BenchmarkError as error:
        print(f"ssh_roundtrip: {error}", file=sys.stderr)
        return 1
    finally:
        processes.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    if args.json is not None:
        args.json.write_text(json.dumps({"results": results, "outputs": bench.checks,
                                         "load_average": os.getloadavg()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
