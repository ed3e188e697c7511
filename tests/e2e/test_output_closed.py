"""``segcli ... | head -3``: when the reader of segcli's output goes away, segcli ends
cleanly, as a command line tool ends on SIGPIPE (issue 9, "Hardening", item 9): exit
status 141 (128 + SIGPIPE, what a shell reports), no traceback, the store closed and the
lock released.  Before, a plain session waiting at its prompt, a running ``tail`` and the
headless lab never noticed and never ended; a write into the closed pipe ended with
"internal error: Broken pipe" and status 70.

The real process runs with its stdout on a pipe whose read end the test closes.  The time
bound is generous: the defect is a process that never ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, SEGCLI, run_segcli, segcli_env

EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
#: How long segcli may take to end once its output's reader is gone (it takes about 1 s).
ENDS_WITHIN = 30.0
PROMPT = "mail1.example.com> "


class Piped:
    """A real segcli whose stdin and stdout are pipes held by the test; stderr is kept
    in a file (read at the end)."""

    def __init__(self, data_dir: Path, *args: str, stdin: int = subprocess.PIPE) -> None:
        self.stderr_path = data_dir.parent / "stderr.txt"
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [*SEGCLI, "--data", str(data_dir), *args], stdin=stdin,
                stdout=subprocess.PIPE, stderr=stderr, env=segcli_env(), cwd=REPO)

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def read_until(self, text: str, timeout: float = 60) -> str:
        """Read stdout until *text* has come (what a ``head`` reads before it leaves)."""
        assert self.process.stdout is not None
        received = b""
        deadline = time.monotonic() + timeout
        while text.encode() not in received:
            assert time.monotonic() < deadline, f"waited for {text!r}; got {received!r}"
            chunk = self.process.stdout.read1(65536)
            assert chunk, f"segcli ended before {text!r}: {received!r}\n{self.stderr}"
            received += chunk
        return received.decode()

    def close_output(self) -> None:
        """The reader goes away, as ``head`` does once it has its lines."""
        assert self.process.stdout is not None
        self.process.stdout.close()

    def ended(self) -> int:
        """The exit status, waiting at most ENDS_WITHIN seconds."""
        try:
            return self.process.wait(timeout=ENDS_WITHIN)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"segcli did not end after its output closed:\n{self.stderr}"
                                 ) from None

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None and not stream.closed:
                with contextlib.suppress(BrokenPipeError):
                    stream.close()


@pytest.fixture
def piped(data_dir: Path) -> Iterator[type[Piped]]:
    """``piped(*args)`` starts segcli; every process is gone at teardown."""
    started: list[Piped] = []

    def start(*args: str, **options) -> Piped:
        process = Piped(data_dir, *args, **options)
        started.append(process)
        return process

    yield start  # type: ignore[misc]
    for process in started:
        process.stop()


def assert_clean_end(segcli: Piped, data_dir: Path) -> None:
    assert segcli.ended() == EXIT_BROKEN_PIPE, segcli.stderr
    assert "Traceback" not in segcli.stderr and "internal error" not in segcli.stderr, \
        segcli.stderr
    # The store is closed and the lock released: the next start is the appliance again.
    after = run_segcli(data_dir, "version\n")
    assert after.returncode == 0 and "is running in process" not in after.stderr, after.stderr
    assert "attached" not in after.stderr, after.stderr


def test_a_plain_session_at_its_prompt_ends_when_its_reader_goes(piped, data_dir):
    segcli = piped()
    segcli.send("version\n")
    segcli.read_until("Current Version")
    segcli.close_output()  # stdin stays open: nothing is written any more
    assert_clean_end(segcli, data_dir)


def test_output_written_after_the_reader_went_ends_the_session(piped, data_dir):
    segcli = piped()
    segcli.send("version\n")
    segcli.read_until("Current Version")
    segcli.close_output()
    with contextlib.suppress(BrokenPipeError):  # segcli may have ended already
        segcli.send("version\nversion\n")  # output for nobody
    assert_clean_end(segcli, data_dir)


def test_a_running_command_is_ended_when_the_reader_goes(piped, data_dir):
    segcli = piped()
    segcli.send("tail mail_logs\n")
    segcli.read_until("Press Ctrl-C to stop.")
    segcli.close_output()  # tail writes nothing new: only the pipe says the reader left
    assert_clean_end(segcli, data_dir)


def test_the_headless_lab_ends_when_its_reader_goes(piped, data_dir):
    segcli = piped("lab", "--smtp", "127.0.0.1:0", "--ssh", "127.0.0.1:0",
                   stdin=subprocess.DEVNULL)
    segcli.read_until("Send test mail:")  # the last line of what the lab prints
    segcli.close_output()
    assert_clean_end(segcli, data_dir)


def test_a_real_shell_pipeline_into_head_ends(data_dir):
    """The reported case through a shell, with segcli's input left open (a process
    substitution that sleeps) so that only ``head`` leaving can end it."""
    command = (f"{' '.join(SEGCLI)} --data '{data_dir}' "
               f"< <(printf 'version\\n'; exec sleep {ENDS_WITHIN * 4:.0f}) 2>/dev/null | head -3; "
               'echo "status ${PIPESTATUS[0]}"')
    process = subprocess.Popen(["bash", "-c", command], stdout=subprocess.PIPE, text=True,
                               env=segcli_env(), cwd=REPO, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=ENDS_WITHIN * 3)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the sleep, and segcli if it hung
        process.wait()
    assert output.splitlines() == [f"{PROMPT}version", "", "Current Version",
                                   f"status {EXIT_BROKEN_PIPE}"]
