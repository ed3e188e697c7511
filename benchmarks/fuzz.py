#!/usr/bin/env python3
"""Fuzz and soak: a real segcli appliance under seeded random SMTP sessions, CLI lines and
configuration documents, checked from the outside after every input (issue 9, "keep it
that way").

    .venv/bin/python benchmarks/fuzz.py --seconds 240                 # the soak
    .venv/bin/python benchmarks/fuzz.py --inputs 5 --seed 7           # a quick look
    .venv/bin/python benchmarks/fuzz.py --seed 9 --until cli:169     # that run again, up to input 169
    .venv/bin/python benchmarks/fuzz.py --replay fuzz-failures/.../003-cli-000042.json

What runs: ``python -m segcli --data <temporary dir> lab --smtp 127.0.0.1:0 --https 127.0.0.1:0 --ssh
127.0.0.1:0`` (headless: the lab's SETD simulator, DNS zone and sink on loopback), its
ports read from what it prints.  The harness logs in over SSH (paramiko) as ``admin``
(the checker) and as three accounts it creates for the fuzzed lines (``fuzzadmin``,
``fuzzop``, ``fuzzro``: admin, operator, read-only).  Three generators
(``benchmarks/fuzz_inputs.py``), taken in turn, each seeded by ``--seed`` and the input's
number:

* ``smtp``: one SMTP session over a real socket;
* ``cli``: one SSH exec request for a registered command (from the registry's help forms
  and completion grammar, mutated; answers to its questions on stdin; now and then
  followed by ``commit``);
* ``xml``: one ``showconfig`` document, mutated, uploaded over SFTP and loaded with
  ``loadconfig <file>`` (or pasted into ``loadconfig``), half the time committed.

What is checked, from outside:

* after every input: the process is alive; the input's own verdict (an SMTP session
  ends, with well-formed replies, when it says QUIT; a CLI request ends within
  ``--command-timeout`` with an exit status and without "An application fault"); no new
  ERROR or traceback in ``<data>/logs/segcli.log``;
* every ``--check-every`` inputs: the appliance still answers: an SMTP greeting and
  ``version`` over SSH, each within ``--answer-timeout``;
* every ``--config-every`` inputs: the committed configuration still loads: ``showconfig``
  parses as XML, and ``loadconfig`` of that very document (uploaded) is accepted;
* every ``--restart-every`` inputs, and at the end if it has not happened yet: a restart
  works: SIGTERM (exit status 0 within 60 s), or SIGKILL (every third restart, and once at
  the end at least), then a start on the same data directory, which must answer and must
  not report an unreadable committed configuration.

The report gives the inputs run per generator, the time, the checks made and every
finding (kind, generator, input number, the input), and the exit status is 1 when
something broke (2 when the harness could not start).  Failing inputs are saved as JSON
(with the inputs just before them) under ``--failures`` for ``--replay``.

Everything is on loopback and bounded (``--inputs`` per generator, ``--seconds`` for the
inputs, a timeout on every wait); every process started is stopped at the end, on failure
and on Ctrl-C (and gets SIGTERM should the harness itself be killed).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import paramiko  # noqa: E402 - after the path is set

from benchmarks.common import interrupt_on_signals  # noqa: E402
from benchmarks.fuzz_inputs import (  # noqa: E402
    ACCOUNTS,
    FUZZ_PASSWORD,
    CliGenerator,
    CliInput,
    Input,
    Lab,
    SmtpGenerator,
    SmtpInput,
    XmlGenerator,
    XmlInput,
    commands_from_registry,
    input_from_json,
    rng_for,
)
from benchmarks.processes import die_with_parent, python_env  # noqa: E402

GENERATORS = ("smtp", "cli", "xml")
CHECKER = ("admin", "ironport")
FAULT = b"An application fault occurred"
#: Findings about what is stored: the data directory is copied for them.
STATE_FINDINGS = {"restart-failed", "config-unreadable-after-restart", "unclean-stop", "stop-timeout",
                  "config-not-loadable", "config-not-xml", "config-unreadable", "appliance-died",
                  "cli-hang", "no-version", "no-greeting"}
STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0


class HarnessError(Exception):
    """The harness itself cannot go on (the appliance does not start again)."""


# ------------------------------------------------------------------------------------------
# The appliance process


_BANNER = {
    "ssh_port": re.compile(r"SSH server on 127\.0\.0\.1:(\d+)"),
    "smtp_port": re.compile(r"Gateway SMTP listener\s+127\.0\.0\.1:(\d+)"),
    "dns": re.compile(r"DNS zone\s+(127\.0\.0\.1:\d+)"),
    "sink_port": re.compile(r"Delivery sink\s+127\.0\.0\.1:(\d+)"),
    "intake_port": re.compile(r"intake SMTP 127\.0\.0\.1:(\d+)"),
    "dashboard_port": re.compile(r"dashboard http://127\.0\.0\.1:(\d+)/"),
}


class Appliance:
    """``segcli --data DIR lab`` on free loopback ports; its output kept in a file."""

    def __init__(self, data_dir: Path, output: Path) -> None:
        self.data_dir = data_dir
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None
        self.lines: collections.deque[str] = collections.deque(maxlen=300)
        self.banner = ""

    def start(self, lab: Lab) -> float:
        """Start it and fill *lab* from what it prints; the seconds it took."""
        began = time.monotonic()
        # an event of its own: the last reader's "ended" may come after this start began
        ready_event = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "segcli", "--data", str(self.data_dir), "lab",
             "--smtp", "127.0.0.1:0", "--ssh", "127.0.0.1:0", "--https", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=REPO, env=python_env(), start_new_session=True, preexec_fn=die_with_parent)
        banner: list[str] = []
        threading.Thread(target=self._read, args=(self.process, banner, ready_event),
                         daemon=True).start()
        ready = ready_event.wait(STARTUP_TIMEOUT)
        if not ready or not any(line.startswith("Send test mail:") for line in banner):
            text = "".join(banner)
            self.kill()
            last = text.strip().splitlines()[-1] if text.strip() else "no output"
            raise HarnessError(f"segcli lab did not start: {last}\n{text[-3000:]}")
        self.banner = "".join(banner)
        found = {key: pattern.search(self.banner) for key, pattern in _BANNER.items()}
        missing = [key for key, match in found.items() if match is None]
        if missing:
            raise HarnessError(f"cannot read {missing} from the lab's banner:\n{self.banner}")
        for key, match in found.items():
            assert match is not None
            setattr(lab, key, match[1] if key == "dns" else int(match[1]))
        lab.intakes = re.findall(r"(?:default|custom) intake\s+(\S+)", self.banner)
        return time.monotonic() - began

    def _read(self, process: subprocess.Popen[bytes], banner: list[str],
              ready: threading.Event) -> None:
        assert process.stdout is not None
        with self.output.open("a", encoding="utf-8") as log:
            log.write(f"---- start {time.strftime('%H:%M:%S')} pid {process.pid}\n")
            for raw in process.stdout:
                line = raw.decode("utf-8", "replace")
                log.write(line)
                log.flush()
                self.lines.append(line)
                if not ready.is_set():
                    banner.append(line)
                    if line.startswith("Send test mail:"):
                        ready.set()
            ready.set()  # ended: whoever waits learns it from poll()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM; the exit status, or None if it did not end in time (then killed)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)


class LogWatch:
    """New records of ``segcli.log`` since the last look: errors and tracebacks."""

    _RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) ", re.M)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.warnings: collections.Counter[str] = collections.Counter()

    def problems(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        self.offset += len(data)
        text = data.decode("utf-8", "replace")
        if not text:
            return []
        starts = [m.start() for m in self._RECORD.finditer(text)] or [0]
        found = []
        for begin, end in zip(starts, [*starts[1:], len(text)], strict=True):
            record = text[begin:end].strip()
            level = self._RECORD.match(record)
            name = level[1] if level else ""
            if name in ("ERROR", "CRITICAL") or "Traceback" in record:
                found.append(record)
            elif name == "WARNING":
                self.warnings[re.sub(r"\d+", "N", record.split(" ", 3)[-1])[:150]] += 1
        return found


# ------------------------------------------------------------------------------------------
# SSH: one logged-in connection per account, many exec requests over it


class SshDown(Exception):
    pass


class SftpRefused(Exception):
    """The SFTP server answered an upload with an error status."""


@dataclass
class Exec:
    status: int | None
    out: bytes
    err: bytes
    seconds: float
    timed_out: bool = False

    @property
    def text(self) -> bytes:
        return self.out + self.err


class Account:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.client: paramiko.SSHClient | None = None

    def connect(self, port: int, timeout: float) -> None:
        self.close()
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect("127.0.0.1", port=port, username=self.user, password=self.password,
                           look_for_keys=False, allow_agent=False, timeout=timeout,
                           banner_timeout=timeout, auth_timeout=timeout)
        except (OSError, paramiko.SSHException) as exc:
            client.close()
            raise SshDown(f"{self.user} cannot log in: {exc!r}") from None
        self.client = client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def _transport(self) -> paramiko.Transport:
        transport = self.client.get_transport() if self.client else None
        if transport is None or not transport.is_active():
            raise SshDown(f"{self.user}'s SSH connection is gone")
        return transport

    def exec(self, command: bytes | str, stdin: bytes = b"", timeout: float = 20.0,
             limit: int = 4 << 20) -> Exec:
        began = time.monotonic()
        try:
            channel = self._transport().open_session(timeout=timeout)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise SshDown(f"cannot open a channel: {exc!r}") from None
        out, err = bytearray(), bytearray()
        timed_out = False
        try:
            channel.settimeout(timeout)
            channel.exec_command(command)
            # stdin goes as the channel's window lets it, while the output is read: a
            # command that reads no stdin must not stall the client (only the server).
            unsent = memoryview(stdin)
            if not unsent:
                channel.shutdown_write()
            deadline = began + timeout
            while True:
                if channel.recv_ready():
                    out += channel.recv(65536)
                elif channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                elif channel.exit_status_ready() or channel.closed:
                    break  # the exit status comes after all the output
                elif unsent and channel.send_ready():
                    sent = channel.send(unsent[:32768])
                    unsent = unsent[sent:]
                    if not unsent:
                        channel.shutdown_write()
                elif time.monotonic() > deadline:
                    timed_out = True
                    break
                else:
                    time.sleep(0.005)
                for buffer in (out, err):
                    if len(buffer) > limit:
                        del buffer[: len(buffer) - limit]
            status = channel.recv_exit_status() if channel.exit_status_ready() else None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if not self._transport_alive():
                raise SshDown(f"the SSH connection broke during the request: {exc!r}") from None
            status, timed_out = None, True
        finally:
            channel.close()
        return Exec(status, bytes(out), bytes(err), time.monotonic() - began, timed_out)

    def _transport_alive(self) -> bool:
        transport = self.client.get_transport() if self.client else None
        return transport is not None and transport.is_active()

    def upload(self, name: str, data: bytes, timeout: float) -> None:
        try:
            sftp = paramiko.SFTPClient.from_transport(self._transport())
            assert sftp is not None
            sftp.get_channel().settimeout(timeout)
            with sftp:
                sftp.putfo(io.BytesIO(data), name, confirm=False)
        except OSError as exc:
            if self._transport_alive() and exc.errno is not None:
                raise SftpRefused(f"SFTP upload of {name} refused: {exc!r}") from None
            raise SshDown(f"SFTP upload of {name} failed: {exc!r}") from None
        except (EOFError, paramiko.SSHException) as exc:
            raise SshDown(f"SFTP upload of {name} failed: {exc!r}") from None


# ------------------------------------------------------------------------------------------
# SMTP: one session as the generator wrote it


class Closed(Exception):
    pass


class SmtpConnection:
    def __init__(self, port: int, timeout: float) -> None:
        self.sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = bytearray()
        self.seen = 0  # where the next reply is looked for
        self.closed = False

    def _recv(self, timeout: float) -> bool:
        """Read what comes within *timeout*; False if nothing did. Closed at EOF."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, ssl.SSLWantReadError, BlockingIOError):
            return False
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            self.closed = True
            raise Closed(repr(exc)) from None
        if not data:
            self.closed = True
            raise Closed("EOF")
        self.buffer += data
        return True

    _FINAL = re.compile(rb"(?m)^\d{3}(?: [^\n]*)?\r?\n")

    def reply(self, timeout: float) -> bytes | None:
        """The next final reply line (all earlier lines consumed), or None in time."""
        deadline = time.monotonic() + timeout
        while True:
            match = self._FINAL.search(self.buffer, self.seen)
            if match:
                self.seen = match.end()
                return match[0]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._recv(remaining)

    def drain(self) -> None:
        with contextlib.suppress(Closed):
            while self._recv(0.001):
                pass

    def send(self, data: bytes) -> None:
        try:
            self.sock.settimeout(30)
            self.sock.sendall(data)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            self.closed = True
            raise Closed(repr(exc)) from None

    def starttls(self, timeout: float) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.sock.settimeout(timeout)
        self.sock = context.wrap_socket(self.sock, server_hostname="mail1.example.com")
        self.seen = len(self.buffer)

    def close(self, rst: bool = False) -> None:
        with contextlib.suppress(OSError):
            if rst:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.sock.close()


_REPLY_LINE = re.compile(rb"[2-5]\d\d(?:[ -][^\r\n]*)?\r?")


@dataclass
class Verdict:
    """What one input did: problems are findings (kind, detail); notes are statistics."""

    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: collections.Counter[str] = field(default_factory=collections.Counter)


def run_smtp(port: int, session: SmtpInput, answer_timeout: float) -> Verdict:
    verdict = Verdict()
    try:
        connection = SmtpConnection(port, answer_timeout)
    except OSError as exc:
        verdict.problems.append(("no-greeting", f"cannot connect to the SMTP listener: {exc!r}"))
        return verdict
    we_closed = rst = probe = False
    try:
        if not session.early and connection.reply(answer_timeout) is None:
            verdict.problems.append(("no-greeting", f"no greeting within {answer_timeout} s"))
            return verdict
        for step in session.steps:
            if step.kind == "send":
                connection.send(step.data)
                if step.wait:
                    connection.reply(1.0)
                else:
                    connection.drain()
            elif step.kind == "pause":
                time.sleep(int(step.data) / 1000)
            elif step.kind == "starttls":
                connection.drain()
                connection.seen = len(connection.buffer)
                connection.send(b"STARTTLS\r\n")
                answer = connection.reply(5.0)
                if answer is None or not answer.startswith(b"220"):
                    continue
                if step.data == b"handshake":
                    try:
                        connection.starttls(answer_timeout)
                    except (OSError, ssl.SSLError) as exc:
                        verdict.problems.append(("smtp-tls", f"STARTTLS answered 220, then the TLS "
                                                 f"handshake failed: {exc!r}"))
                        we_closed = True
                        break
                    verdict.notes["tls"] += 1
                else:
                    if step.data == b"garbage":
                        connection.send(b"\x00\x01garbage, not TLS\r\nQUIT\r\n")
                    we_closed = True  # a half-started TLS session is only closed
                    break
            elif step.kind == "close":
                we_closed, rst = True, step.data == b"rst"
                break
        if not we_closed:
            probe = True
            connection.drain()
            connection.seen = len(connection.buffer)
            connection.send(b"\r\n.\r\nQUIT\r\n")
            deadline = time.monotonic() + 20.0
            while time.monotonic() < deadline:
                if re.search(rb"(?m)^221[ -]", connection.buffer[connection.seen:]):
                    break
                connection._recv(deadline - time.monotonic())
            else:
                verdict.problems.append(("smtp-stuck", "the session neither answered QUIT nor ended "
                                         "within 20 s"))
    except Closed:
        verdict.notes["closed by server"] += 1
    finally:
        connection.close(rst)
    lines = bytes(connection.buffer).split(b"\n")
    partial = lines.pop()
    bad = [line for line in lines if not _REPLY_LINE.fullmatch(line)]
    if bad:
        verdict.problems.append(("smtp-protocol", f"reply lines that are not SMTP: {bad[:3]!r}"))
    if partial and not rst and not we_closed and probe:
        verdict.problems.append(("smtp-protocol", f"an unfinished reply line: {partial[:200]!r}"))
    codes = collections.Counter(line[:1].decode("latin-1") + "xx" for line in lines
                                if _REPLY_LINE.fullmatch(line) and line[3:4] != b"-")
    verdict.notes.update({f"{code} replies": count for code, count in codes.items()})
    return verdict


def smtp_greeting(port: int, timeout: float) -> str | None:
    """None if the listener greets within *timeout*, else what went wrong."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            deadline = time.monotonic() + timeout
            while b"\n" not in data and time.monotonic() < deadline:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            if not data.startswith(b"220"):
                return f"greeting {data[:200]!r}"
            with contextlib.suppress(OSError):
                sock.sendall(b"QUIT\r\n")
                sock.recv(4096)
    except OSError as exc:
        return f"{exc!r}"
    return None


# ------------------------------------------------------------------------------------------
# The run


@dataclass
class Finding:
    kind: str
    generator: str
    index: int
    detail: str
    input: str
    saved: str = ""
    reproduce: str = ""
    data_copy: str = ""

    @property
    def signature(self) -> str:
        detail = re.sub(r"0x[0-9a-f]+|\d+", "N", self.detail.splitlines()[0] if self.detail else "")
        return f"{self.kind}: {detail[:140]}"


@dataclass
class Stats:
    inputs: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))
    notes: dict[str, collections.Counter[str]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter))
    checks: collections.Counter[str] = field(default_factory=collections.Counter)
    restarts: list[dict[str, Any]] = field(default_factory=list)


def _fault(text: bytes) -> str:
    at = text.find(FAULT)
    return text[at:at + 400].decode("utf-8", "replace")


class Harness:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.lab = Lab()
        self.appliance = Appliance(work / "data", work / "segcli-output.log")
        self.checker = Account(*CHECKER)
        self.accounts = {name: Account(name, FUZZ_PASSWORD) for name in ACCOUNTS}
        self.stats = Stats()
        self.findings: list[Finding] = []
        self.history: collections.deque[tuple[str, int, Input]] = collections.deque(maxlen=args.context)
        self.logwatch: LogWatch | None = None
        self.failures_dir: Path = args.failures
        self.saved_per_signature: collections.Counter[str] = collections.Counter()
        self.since_check = self.since_config = self.since_restart = 0
        self.began = self.inputs_began = time.monotonic()
        self.inputs_seconds = 0.0
        self.generators: dict[str, Any] = {}
        self.base_document = b""

    # -- starting ---------------------------------------------------------------------------
    def start(self) -> None:
        seconds = self.appliance.start(self.lab)
        self.stats.restarts.append({"how": "first start", "start_seconds": round(seconds, 2)})
        self.logwatch = LogWatch(self.appliance.data_dir / "logs" / "segcli.log")
        self.checker.connect(self.lab.ssh_port, self.args.answer_timeout)
        adds = "; ".join(f'userconfig add {name} "Fuzz {role}" {role} {FUZZ_PASSWORD}'
                         for name, role in ACCOUNTS.items())
        result = self.checker.exec(f'{adds}; commit "fuzz harness accounts"', timeout=60)
        if result.status != 0:
            raise HarnessError(f"cannot create the harness's accounts: {result.text!r}")
        self._connect_accounts()
        self.base_document = self._showconfig() or b""
        if not self.base_document:
            raise HarnessError("showconfig does not answer after the first start")
        self.generators = {
            "smtp": SmtpGenerator(self.lab),
            "cli": CliGenerator(self.lab, commands_from_registry()),
            "xml": XmlGenerator(self.lab, self.base_document),
        }

    def _connect_accounts(self) -> None:
        for account in self.accounts.values():
            account.connect(self.lab.ssh_port, self.args.answer_timeout)

    def stop_everything(self) -> None:
        for account in [self.checker, *self.accounts.values()]:
            with contextlib.suppress(Exception):
                account.close()
        self.appliance.stop(timeout=20)
        self.appliance.kill()

    # -- findings -----------------------------------------------------------------------------
    def found(self, kind: str, generator: str, index: int, detail: str, item: Input | None) -> None:
        finding = Finding(kind, generator, index, detail.strip()[:4000],
                          item.describe() if item is not None else "")
        signature = finding.signature
        if kind in STATE_FINDINGS and self.saved_per_signature[signature] < self.args.save_per_signature:
            with contextlib.suppress(OSError):
                finding.data_copy = self._snapshot(finding)
        if generator in GENERATORS:
            finding.reproduce = self.reproduce(finding)
        if item is not None and self.saved_per_signature[signature] < self.args.save_per_signature:
            self.saved_per_signature[signature] += 1
            finding.saved = str(self._save(finding, item))
        self.findings.append(finding)
        first = finding.detail.splitlines()[0][:200] if finding.detail else ""
        print(f"  FOUND [{kind}] {generator} #{index}: {first}\n        input: {finding.input[:300]}",
              flush=True)

    def _trace(self, text: str) -> None:
        """One line per input and check in ``<work>/inputs.log``: when, how long, what."""
        with contextlib.suppress(OSError), (self.work / "inputs.log").open("a", encoding="utf-8") as log:
            log.write(f"{time.strftime('%H:%M:%S')} {time.monotonic() - self.began:8.2f} {text}\n")

    def keep_logs(self) -> None:
        """With findings: the run's logs beside the saved inputs."""
        if not self.findings:
            return
        self.failures_dir.mkdir(parents=True, exist_ok=True)
        for source, name in ((self.work / "inputs.log", "inputs.log"),
                             (self.work / "segcli-output.log", "segcli-output.log"),
                             (self.appliance.data_dir / "logs" / "segcli.log", "segcli.log"),
                             (self.appliance.data_dir / "logs" / "mail_logs" / "mail.current",
                              "mail.current")):
            with contextlib.suppress(OSError):
                shutil.copyfile(source, self.failures_dir / name)

    def reproduce(self, finding: Finding) -> str:
        """The command that runs this run again up to the finding's input."""
        generators = ",".join(g for g in GENERATORS if g in self.args.generators)
        options = [f"--seed {self.args.seed}", f"--generators {generators}"]
        for name, default in (("check_every", 1), ("config_every", 25), ("restart_every", 150)):
            if getattr(self.args, name) != default:
                options.append(f"--{name.replace('_', '-')} {getattr(self.args, name)}")
        if finding.generator in GENERATORS:
            options.append(f"--until {finding.generator}:{finding.index}")
        return ".venv/bin/python benchmarks/fuzz.py " + " ".join(options)

    def _snapshot(self, finding: Finding) -> str:
        """A copy of the data directory (without the sink's messages) for a finding about
        the stored state: ``segcli --data <copy> lab`` shows it again."""
        self.failures_dir.mkdir(parents=True, exist_ok=True)
        target = self.failures_dir / f"data-{finding.generator}-{finding.index:06d}"
        if not target.exists():
            shutil.copytree(self.appliance.data_dir, target, symlinks=True,
                            ignore=shutil.ignore_patterns("*.eml", "segcli.pid"))
        return str(target)

    def _save(self, finding: Finding, item: Input) -> Path:
        self.failures_dir.mkdir(parents=True, exist_ok=True)
        number = len(list(self.failures_dir.glob("*.json"))) + 1
        path = self.failures_dir / f"{number:03d}-{finding.generator}-{finding.index:06d}.json"
        context = [entry[2].to_json() | {"index": entry[1]}
                   for entry in list(self.history)[:-1]] if self.history else []
        log_tail = "".join(list(self.appliance.lines)[-40:])
        path.write_text(json.dumps({
            "kind": finding.kind, "detail": finding.detail, "seed": self.args.seed,
            "generator": finding.generator, "index": finding.index,
            "replay": f".venv/bin/python benchmarks/fuzz.py --replay {path}",
            "reproduce": self.reproduce(finding),
            "input": item.to_json(), "context": context, "appliance_output": log_tail,
        }, indent=2, ensure_ascii=False) + "\n")
        path.with_suffix(".input").write_bytes(item.readable())
        return path

    # -- one input -----------------------------------------------------------------------------
    def run_input(self, generator: str, index: int, item: Input) -> None:
        began = time.monotonic()
        self.history.append((generator, index, item))
        if isinstance(item, SmtpInput):
            verdict = run_smtp(self.lab.smtp_port, item, self.args.answer_timeout)
        elif isinstance(item, CliInput):
            verdict = self._run_cli(item)
        else:
            verdict = self._run_xml(item)
        took = time.monotonic() - began
        self.stats.seconds[generator] += took
        self.stats.inputs[generator] += 1
        self._trace(f"{generator}#{index} {took:.2f}s {item.describe()[:200]!r}")
        self.stats.notes[generator].update(verdict.notes)
        for kind, detail in verdict.problems:
            self.found(kind, generator, index, detail, item)
        self.after_input(generator, index, item)

    def _run_cli(self, item: CliInput) -> Verdict:
        verdict = Verdict()
        account = self.accounts[item.account]
        timeout = self.args.follow_seconds if item.follows else self.args.command_timeout
        try:
            result = account.exec(item.command, item.stdin, timeout=timeout)
        except SshDown as exc:
            verdict.problems.append(("ssh-dropped", str(exc)))
            return verdict
        name = item.commands[0] if item.commands else "?"
        verdict.notes[f"{name} exit {result.status}"] += 1
        if FAULT in result.text:
            verdict.problems.append(("application-fault", _fault(result.text)))
        if result.timed_out and not item.follows:
            verdict.problems.append(("cli-hang", f"no end within {timeout} s; output so far: "
                                     f"{result.text[-300:]!r}"))
        elif result.status is None and not result.timed_out:
            verdict.problems.append(("no-exit-status", f"the channel closed without an exit status: "
                                     f"{result.text[-300:]!r}"))
        return verdict

    def _run_xml(self, item: XmlInput) -> Verdict:
        verdict = Verdict()
        account = self.accounts["fuzzadmin"]
        fence = f"; dnsconfig servers {self.lab.dns}; commit \"fuzz xml {item.name}\"" if item.commit else ""
        try:
            if item.how == "sftp":
                account.upload(item.name, item.document, self.args.command_timeout)
                self.lab.files = [*self.lab.files[-20:], item.name]
                result = account.exec(f"loadconfig {item.name}{fence}", timeout=self.args.command_timeout)
            else:
                result = account.exec(f"loadconfig{fence}", b"1\n" + item.document + b"\n.\n",
                                      timeout=self.args.command_timeout)
        except SftpRefused as exc:
            verdict.problems.append(("sftp-refused", str(exc)))
            return verdict
        except SshDown as exc:
            verdict.problems.append(("ssh-dropped", str(exc)))
            return verdict
        loaded = b"Values have been loaded" in result.out
        verdict.notes["loaded" if loaded else "refused"] += 1
        if loaded and b"Changes committed" in result.out:
            verdict.notes["committed"] += 1
        if FAULT in result.text:
            verdict.problems.append(("application-fault", _fault(result.text)))
        if result.timed_out:
            verdict.problems.append(("cli-hang", f"loadconfig did not end within "
                                     f"{self.args.command_timeout} s"))
        return verdict

    # -- the checks ------------------------------------------------------------------------------
    def after_input(self, generator: str, index: int, item: Input | None) -> None:
        assert self.logwatch is not None
        for record in self.logwatch.problems():
            self.found("logged-error", generator, index, record, item)
        if not self.appliance.alive():
            status = self.appliance.process.returncode if self.appliance.process else None
            self.found("appliance-died", generator, index,
                       f"exit status {status}; last output:\n{''.join(list(self.appliance.lines)[-20:])}",
                       item)
            self.recover(generator, index)
            return
        self.since_check += 1
        self.since_config += 1
        self.since_restart += 1
        if self.since_check >= self.args.check_every:
            self.since_check = 0
            self.check_answers(generator, index, item)
        if self.since_config >= self.args.config_every:
            self.since_config = 0
            self.check_config(generator, index, item)
        if self.args.restart_every and self.since_restart >= self.args.restart_every:
            self.since_restart = 0
            kills = sum(1 for r in self.stats.restarts if r["how"] == "SIGKILL")
            terms = sum(1 for r in self.stats.restarts if r["how"] == "SIGTERM")
            self.restart("SIGKILL" if (terms + kills) % 3 == 2 else "SIGTERM", generator, index, item)

    def check_answers(self, generator: str, index: int, item: Input | None) -> bool:
        self.stats.checks["answers"] += 1
        began = time.monotonic()
        try:
            return self._check_answers(generator, index, item)
        finally:
            if time.monotonic() - began > 1:
                self._trace(f"  slow answer check: {time.monotonic() - began:.2f}s")

    def _check_answers(self, generator: str, index: int, item: Input | None) -> bool:
        problem = smtp_greeting(self.lab.smtp_port, self.args.answer_timeout)
        if problem is not None and isinstance(item, CliInput) and b"suspendlistener" in item.command.lower():
            self._checker_exec("resumelistener")  # the input suspended it, as it may
            problem = smtp_greeting(self.lab.smtp_port, self.args.answer_timeout)
        if problem is not None:
            self.found("no-greeting", generator, index, f"SMTP listener: {problem}", item)
        version = self._checker_exec("version")
        if version is None or version.status != 0 or b"Current Version" not in version.out:
            detail = "no answer" if version is None else f"status {version.status}: {version.text[-300:]!r}"
            self.found("no-version", generator, index, f"version over SSH: {detail}", item)
            problem = problem or "version"
        if problem is not None:
            self.recover(generator, index)
            return False
        return True

    def _checker_exec(self, command: str, stdin: bytes = b"", timeout: float | None = None) -> Exec | None:
        timeout = timeout or self.args.answer_timeout
        for attempt in range(2):
            try:
                return self.checker.exec(command, stdin, timeout=timeout)
            except SshDown:
                if attempt:
                    return None
                try:
                    self.checker.connect(self.lab.ssh_port, self.args.answer_timeout)
                except SshDown:
                    return None
        return None

    def _showconfig(self) -> bytes | None:
        result = self._checker_exec("showconfig y", timeout=self.args.command_timeout)
        if result is None or result.status != 0:
            return None
        return result.out.strip()

    def check_config(self, generator: str, index: int, item: Input | None) -> None:
        self.stats.checks["configuration"] += 1
        self._trace("  configuration check")
        document = self._showconfig()
        if document is None:
            self.found("config-unreadable", generator, index, "showconfig failed", item)
            return
        try:
            root = ET.fromstring(document)
        except ET.ParseError as exc:
            self.found("config-not-xml", generator, index, f"showconfig is not XML: {exc}", item)
            return
        servers = [s.text or "" for s in root.findall("dns/dns_servers/server")]
        if servers != [self.lab.dns]:
            if not servers or any(not s.startswith("127.") for s in servers):
                self.found("loopback-fence", generator, index,
                           f"the committed DNS servers left loopback: {servers}", item)
            self._checker_exec(f'dnsconfig servers {self.lab.dns}; commit "fuzz: the lab DNS zone"')
        try:
            self.checker.upload("fuzz-committed.xml", document, self.args.command_timeout)
        except SftpRefused as exc:
            self.found("sftp-refused", generator, index, str(exc), item)
            return
        except SshDown as exc:
            self.found("ssh-dropped", generator, index, str(exc), item)
            return
        result = self._checker_exec("loadconfig fuzz-committed.xml", timeout=self.args.command_timeout)
        accepted = (b"Values have been loaded", b"No changes detected")
        if result is None or not any(answer in result.out for answer in accepted):
            detail = "no answer" if result is None else result.text[-1500:].decode("utf-8", "replace")
            self.found("config-not-loadable", generator, index,
                       f"loadconfig of the committed configuration (showconfig) was refused: {detail}", item)

    def restart(self, how: str, generator: str, index: int, item: Input | None) -> None:
        began = time.monotonic()
        record: dict[str, Any] = {"how": how, "after": f"{generator} #{index}"}
        self._trace(f"  restart ({how})")
        for account in [self.checker, *self.accounts.values()]:
            account.close()
        if how == "SIGTERM":
            status = self.appliance.stop()
            record["exit_status"] = status
            if status is None:
                self.found("stop-timeout", generator, index, f"no exit within {STOP_TIMEOUT} s of SIGTERM",
                           item)
            elif status != 0:
                last = "".join(list(self.appliance.lines)[-20:])
                self.found("unclean-stop", generator, index, f"exit status {status} after SIGTERM:\n{last}",
                           item)
        else:
            self.appliance.kill()
        record["stop_seconds"] = round(time.monotonic() - began, 2)
        try:
            record["start_seconds"] = round(self.appliance.start(self.lab), 2)
        except HarnessError as exc:
            self.found("restart-failed", generator, index, str(exc), item)
            record["start_seconds"] = None
            self.stats.restarts.append(record)
            record = {"how": "retry after a failed restart"}
            record["start_seconds"] = round(self.appliance.start(self.lab), 2)  # raises: the end
        self.stats.restarts.append(record)
        if "cannot be read" in self.appliance.banner:
            self.found("config-unreadable-after-restart", generator, index, self.appliance.banner, item)
        try:
            self.checker.connect(self.lab.ssh_port, self.args.answer_timeout)
            self._connect_accounts()
        except SshDown as exc:
            self.found("ssh-login-after-restart", generator, index, str(exc), item)
        self.check_answers(generator, index, item)

    def recover(self, generator: str, index: int) -> None:
        """After the appliance stopped answering: kill it and start it again."""
        self.stats.checks["recoveries"] += 1
        self.restart("SIGKILL", generator, index, None)

    # -- the loop --------------------------------------------------------------------------------
    def make(self, generator: str, index: int) -> Input:
        rng = rng_for(self.args.seed, generator, index)
        if generator == "xml":
            return self.generators["xml"].make(rng, index)
        return self.generators[generator].make(rng)

    def run(self) -> None:
        self.start()
        print(f"segcli fuzz: seed {self.args.seed}, data {self.appliance.data_dir}, SMTP "
              f"{self.lab.smtp_port}, SSH {self.lab.ssh_port}", flush=True)
        self.inputs_began = time.monotonic()
        deadline = self.inputs_began + self.args.seconds
        try:
            enabled = [g for g in GENERATORS if g in self.args.generators]
            turn = 0
            last_progress = time.monotonic()
            while time.monotonic() < deadline:
                waiting = [g for g in enabled if self.stats.inputs[g] < self.args.inputs]
                if not waiting:
                    break
                generator = waiting[turn % len(waiting)]
                turn += 1
                index = self.stats.inputs[generator]
                self.run_input(generator, index, self.make(generator, index))
                if self.args.until == (generator, index):
                    break
                if time.monotonic() - last_progress > 15:
                    last_progress = time.monotonic()
                    done = ", ".join(f"{g} {self.stats.inputs[g]}" for g in enabled)
                    elapsed = time.monotonic() - self.inputs_began
                    print(f"  {elapsed:6.0f} s: {done}; findings {len(self.findings)}", flush=True)
        finally:
            self.inputs_seconds = time.monotonic() - self.inputs_began
        self.finish()

    def finish(self) -> None:
        """The end: the configuration loads, both kinds of restart have happened once at
        least, and the appliance stops cleanly."""
        self.check_config("end", 0, None)
        done = {r["how"] for r in self.stats.restarts}
        for how in ("SIGTERM", "SIGKILL"):
            if how not in done:
                self.restart(how, "end", 0, None)
        self.check_config("end", 0, None)
        for account in [self.checker, *self.accounts.values()]:
            account.close()
        status = self.appliance.stop()
        if status != 0:
            self.found("unclean-stop", "end", 0, f"final stop: exit status {status}", None)
        assert self.logwatch is not None
        for record in self.logwatch.problems():
            self.found("logged-error", "end", 0, record, None)

    def replay(self, files: list[Path]) -> None:
        self.start()
        self.inputs_began = time.monotonic()
        for file in files:
            saved = json.loads(file.read_text())
            print(f"replaying {file}: {saved['kind']} ({len(saved.get('context', []))} inputs before it)")
            for entry in [*saved.get("context", []), saved["input"] | {"index": saved["index"]}]:
                item = input_from_json(entry)
                self.run_input(item.generator, int(entry.get("index", 0)), item)
            self.check_answers("replay", 0, None)
            self.check_config("replay", 0, None)
        self.inputs_seconds = time.monotonic() - self.inputs_began
        self.finish()

    # -- the report -------------------------------------------------------------------------------
    def report(self, interrupted: bool = False) -> dict[str, Any]:
        total = time.monotonic() - self.began
        if interrupted and not self.inputs_seconds and self.inputs_began > self.began:
            self.inputs_seconds = time.monotonic() - self.inputs_began
        by_signature: dict[str, list[Finding]] = collections.defaultdict(list)
        for finding in self.findings:
            by_signature[finding.signature].append(finding)
        return {
            "seed": self.args.seed, "seconds": round(total, 1),
            "startup_seconds": round(self.inputs_began - self.began, 1),
            "inputs_seconds": round(self.inputs_seconds, 1),
            "interrupted": interrupted,
            "inputs": dict(self.stats.inputs),
            "input_seconds": {k: round(v, 1) for k, v in self.stats.seconds.items()},
            "notes": {g: dict(c.most_common()) for g, c in self.stats.notes.items()},
            "checks": dict(self.stats.checks), "restarts": self.stats.restarts,
            "warnings_logged": dict(self.logwatch.warnings.most_common(10)) if self.logwatch else {},
            "findings": [vars(f) for f in self.findings],
            "distinct_findings": {sig: len(items) for sig, items in by_signature.items()},
            "failures_dir": str(self.failures_dir) if self.findings else None,
            "ok": not self.findings and not interrupted,
        }


def print_report(report: dict[str, Any]) -> None:
    print()
    print(f"segcli fuzz and soak: seed {report['seed']}, {report['seconds']} s in all: "
          f"{report['startup_seconds']} s to start, {report['inputs_seconds']} s of inputs and checks, "
          f"then the end checks" + (" -- INTERRUPTED" if report["interrupted"] else ""))
    print(f"  {'generator':10} {'inputs':>7} {'seconds':>8}  what happened")
    for generator in GENERATORS:
        if generator not in report["inputs"]:
            continue
        notes = report["notes"].get(generator, {})
        if generator == "cli":
            exits: collections.Counter[str] = collections.Counter()
            for note, count in notes.items():
                exits[note.rsplit(" ", 1)[-1]] += count
            commands = len({note.split(" ")[0] for note in notes})
            what = f"{commands} commands; exit " + ", ".join(f"{k}: {v}" for k, v in sorted(exits.items()))
        else:
            what = ", ".join(f"{k} {v}" for k, v in sorted(notes.items()))
        seconds = report["input_seconds"].get(generator, 0)
        print(f"  {generator:10} {report['inputs'][generator]:7} {seconds:8.1f}  {what}")
    checks = report["checks"]
    kinds = collections.Counter(r["how"] for r in report["restarts"][1:])
    restarts = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())) or "none"
    print(f"  checks: {checks.get('answers', 0)} times the appliance answered (SMTP greeting and "
          f"`version`), {checks.get('configuration', 0)} times the committed configuration loaded, "
          f"{sum(kinds.values())} restarts ({restarts})"
          + (f", {checks['recoveries']} after a failure" if checks.get("recoveries") else ""))
    if report["warnings_logged"]:
        print(f"  warnings in segcli.log: {sum(report['warnings_logged'].values())} (most frequent: "
              f"{next(iter(report['warnings_logged']))[:100]!r})")
    if not report["findings"]:
        print("  findings: none" + ("" if report["interrupted"] else "; nothing broke"))
        return
    print(f"  findings: {len(report['findings'])} ({len(report['distinct_findings'])} distinct), "
          f"inputs saved in {report['failures_dir']}")
    shown: set[str] = set()
    for finding in report["findings"]:
        signature = Finding(**finding).signature
        if signature in shown:
            continue
        shown.add(signature)
        first = finding["detail"].splitlines()[0][:240] if finding["detail"] else ""
        print(f"  - [{finding['kind']}] x{report['distinct_findings'][signature]}, first at "
              f"{finding['generator']} #{finding['index']}: {first}")
        if finding["input"]:
            print(f"      input: {finding['input'][:240]}")
        if finding["reproduce"]:
            print(f"      again:  {finding['reproduce']}")
        if finding["saved"]:
            print(f"      replay: .venv/bin/python benchmarks/fuzz.py --replay {finding['saved']}")
        if finding["data_copy"]:
            print(f"      state:  segcli --data {finding['data_copy']} lab")


# ------------------------------------------------------------------------------------------


def _until(text: str) -> tuple[str, int]:
    generator, _, index = text.partition(":")
    if generator not in GENERATORS or not index.isascii() or not index.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected GENERATOR:INDEX, e.g. cli:42")
    return generator, int(index)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of every generator: the same seed makes the same inputs (1)")
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs per generator (no limit)")
    parser.add_argument("--seconds", type=float, default=60.0, help="time for the inputs (60)")
    parser.add_argument("--generators", default="smtp,cli,xml", type=lambda s: s.split(","),
                        help="which generators, comma-separated (smtp,cli,xml)")
    parser.add_argument("--check-every", type=int, default=1,
                        help="inputs between two checks that the appliance answers (1)")
    parser.add_argument("--config-every", type=int, default=25,
                        help="inputs between two checks that the committed configuration loads (25)")
    parser.add_argument("--restart-every", type=int, default=150,
                        help="inputs between two restarts (150; 0: only the two at the end)")
    parser.add_argument("--answer-timeout", type=float, default=10.0,
                        help="seconds allowed for the SMTP greeting and for `version` (10)")
    parser.add_argument("--command-timeout", type=float, default=20.0,
                        help="seconds allowed for one CLI request or configuration load (20)")
    parser.add_argument("--follow-seconds", type=float, default=2.0,
                        help="how long a command that runs until Ctrl-C (tail, rate) is left running (2)")
    parser.add_argument("--context", type=int, default=20,
                        help="inputs saved with a failing one, for --replay (20)")
    parser.add_argument("--save-per-signature", type=int, default=3,
                        help="failing inputs saved per distinct finding (3)")
    parser.add_argument("--failures", type=Path,
                        help="where failing inputs are saved (default fuzz-failures/<time>-seed<seed>)")
    parser.add_argument("--replay", type=Path, nargs="+", help="run saved failing inputs again")
    parser.add_argument("--until", type=_until, metavar="GENERATOR:INDEX",
                        help="stop after this input (with the same --seed and generators, the run "
                        "up to a finding again, e.g. xml:49)")
    parser.add_argument("--workdir", type=Path, help="the data directory's parent (default: temporary)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    unknown = set(args.generators) - set(GENERATORS)
    if unknown:
        parser.error(f"unknown generators: {', '.join(sorted(unknown))}")
    if args.failures is None:
        args.failures = Path("fuzz-failures") / f"{time.strftime('%Y%m%dT%H%M%S')}-seed{args.seed}"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="segcli-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    harness = Harness(args, work)

    interrupt_on_signals()
    was_interrupted = False
    status = 0
    try:
        if args.replay:
            harness.replay(args.replay)
        else:
            harness.run()
    except KeyboardInterrupt:
        was_interrupted = True
        print("interrupted; stopping the appliance", file=sys.stderr)
    except (HarnessError, SshDown) as exc:
        print(f"fuzz harness failed: {exc}", file=sys.stderr)
        harness.found("harness-stopped", "harness", 0, str(exc), None)
        status = 2
    except Exception as exc:  # the harness's own bug: still stop everything and report
        traceback.print_exc()
        harness.found("harness-stopped", "harness", 0, f"harness error: {exc!r}", None)
        status = 2
    finally:
        harness.stop_everything()
        harness.keep_logs()
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
        elif args.keep:
            print(f"work directory kept: {work}")
    report = harness.report(was_interrupted)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if was_interrupted:
        return 130
    return status or (1 if report["findings"] else 0)


if __name__ == "__main__":
    sys.exit(main())
