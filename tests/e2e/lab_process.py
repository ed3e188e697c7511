"""A real ``segcli lab`` process for end-to-end tests, and small clients for what it serves."""

from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO, SEGCLI, segcli_env

STARTUP_TIMEOUT = 90.0


@dataclass
class LabProcess:
    process: subprocess.Popen
    data_dir: Path
    smtp_port: int
    dashboard: str
    default_intake: str
    custom_intake: str
    sink_dir: Path

    @classmethod
    def start(cls, data_dir: Path, *, smtp: str | None = "127.0.0.1:0") -> LabProcess:
        """Start the lab; ``smtp=None`` listens where the configuration says."""
        env = segcli_env()
        options = ["--smtp", smtp] if smtp else []
        if smtp is None:
            del env["SEGCLI_SMTP"]
        process = subprocess.Popen(
            [*SEGCLI, "--data", str(data_dir), "lab", *options],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=env, cwd=REPO)
        banner = _read_banner(process)
        return cls(
            process, data_dir,
            smtp_port=int(re.search(r"Gateway SMTP listener\s+127\.0\.0\.1:(\d+)", banner)[1]),
            dashboard=re.search(r"dashboard (http://\S+)", banner)[1].rstrip("/"),
            default_intake=re.search(r"default intake\s+(\S+)", banner)[1],
            custom_intake=re.search(r"custom intake\s+(\S+)", banner)[1],
            sink_dir=Path(re.search(r"messages in (\S+)", banner)[1]),
        )

    # -- what it serves ---------------------------------------------------------------
    def api(self, path: str, body: dict | None = None, method: str | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.dashboard}/api/{path}", data=data,
                                         method=method or ("POST" if data else "GET"),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def accepted(self, intake: str) -> list[dict]:
        return self.api(f"intake/{intake}/messages?outcome=accepted")

    def sink_messages(self) -> list[bytes]:
        return [p.read_bytes() for p in sorted(self.sink_dir.glob("*.eml"))]

    def send(self, recipient: str, subject: str, body: str = "hello") -> None:
        message = (f"From: alice@example.org\r\nTo: {recipient}\r\nSubject: {subject}\r\n"
                   f"Message-ID: <{subject}@example.org>\r\n\r\n{body}\r\n")
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as client:
            client.sendmail("alice@example.org", [recipient], message)

    def mail_log(self) -> str:
        return (self.data_dir / "logs" / "mail_logs" / "mail.current").read_text()

    # -- ending it ------------------------------------------------------------------------
    def terminate(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        finally:
            self.process.stdout.close()

    def kill(self) -> None:
        """``kill -9``: no cleanup of any kind."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process.stdout.close()


def _read_banner(process: subprocess.Popen) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError("segcli lab ended before it started:\n" + "".join(lines))
        lines.append(line)
        if line.startswith("Send test mail:"):
            return "".join(lines)
    process.kill()
    raise AssertionError("segcli lab did not start in time:\n" + "".join(lines))


def wait_for(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in {timeout} s")
        time.sleep(0.1)
