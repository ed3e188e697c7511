"""Hands-on drills end to end: ``segcli drill start`` as a real process with its lab, and the
trainee's commands from a second terminal (each a real ``segcli drill ...`` process talking
over the lab's control socket); the fix is typed into a real ``segcli`` console on the same
data directory.  A drill file written here, as a user would, from the documented format."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pexpect
import pytest

from tests.conftest import REPO, SEGCLI, run_segcli, segcli_env
from tests.e2e.pty_console import CPR_REQUEST, ROWS, START_TIMEOUT, TIMEOUT, Segcli

DRILL_ID = "handson-typo"
DRILL = r'''
schema     = 1
id         = "handson-typo"
title      = "A new tenant, and SETD sees nothing"
category   = "dns"
difficulty = 1

[ticket]
from = "SOC analyst"
text = """
Since this morning's change the SETD dashboard shows no new messages.
Users receive their mail normally.
"""

[lab.trickle]
every_s = 30
to      = "bob@example.com"

[vars]
good_intake = "${lab.default_intake}"
bad_intake  = "${lab.default_local}@beta.cmd.setd.tset"
bad_domain  = "beta.cmd.setd.tset"

[[phase]]
name    = "fault"
session = "s1"
cli     = ["tdcconfig enable ${bad_intake}", 'commit "CHG-1042 move TDC to the new tenant"']
traffic = [{ id = "m1", to = "bob@example.com", subject = "handson m1" }]

[[hint]]
text = "Run tophosts: which column moves on the.tdc.queue?"

[[hint]]
text = "Compare the intake address of tdcconfig print with SETD's, letter by letter."

[diagnosis]
steps = ["tdcconfig print: the intake domain ends in .tset"]

[fix]
story = "Correct the intake address and commit."
cli   = ["tdcconfig enable ${good_intake}", 'commit "fix the typo"']

[solved]
traffic = [{ id = "v1", to = "bob@example.com", subject = "handson v1" }]

  [[solved.expect]]
  desc   = "the global setting names SETD's intake address"
  config = { command = "tdcconfig print", contains = ["${good_intake}"], lacks = ["${bad_domain}"] }

  [[solved.expect]]
  desc     = "the verification message is delivered to SETD"
  within_s = 20
  log      = 'TDC: MID \d+ successfully delivered for scanning with Cisco Secure Email Threat Defense\.'

  [[solved.expect]]
  desc       = "the.tdc.queue counts one delivery"
  hoststatus = "the.tdc.queue"
  delta      = { "Delivered Recipients" = 1 }

  [[solved.expect]]
  desc    = "SETD's primary account got the verification message"
  spoiler = true
  setd    = { account = "${lab.default_intake}", message_id = "${v1.message_id}", statuses = ["accepted"] }
'''
#: The three described checks a broken gateway fails (the spoiler one is only counted).
DESCRIBED = ["the global setting names SETD's intake address",
             "the verification message is delivered to SETD",
             "the.tdc.queue counts one delivery"]
READY = "From another terminal:"


@pytest.fixture
def env(tmp_path):
    """segcli's environment with the drills' home in the test's directory (never ~)."""
    environment = segcli_env()
    environment["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    environment["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    return environment


@pytest.fixture
def drill_file(tmp_path) -> Path:
    path = tmp_path / f"{DRILL_ID}.toml"
    path.write_text(DRILL)
    return path


@pytest.fixture
def data(tmp_path) -> Path:
    return tmp_path / "lab"


def drill(env, *args: str, stdin: str = "", timeout: float = 120
          ) -> subprocess.CompletedProcess[str]:
    """``segcli drill ARGS`` from "another terminal"."""
    return subprocess.run([*SEGCLI, "drill", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=REPO)


class Started:
    """``segcli drill start --no-console`` running in the background."""

    def __init__(self, process: subprocess.Popen[str], banner: str) -> None:
        self.process = process
        self.banner = banner

    @classmethod
    def start(cls, env, drill_file: Path, data: Path) -> Started:
        process = subprocess.Popen(
            [*SEGCLI, "drill", "start", str(drill_file), "--fast", "--data", str(data),
             "--no-console"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
        lines: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                process.wait(timeout=30)
                raise AssertionError("drill start ended before it was ready:\n" + "".join(lines))
            lines.append(line)
            if line.startswith(READY):
                return cls(process, "".join(lines))
        process.kill()
        raise AssertionError("drill start was not ready in time:\n" + "".join(lines))

    def rest(self, timeout: float = 60) -> tuple[int, str]:
        """Wait for the end; the exit status and what it printed after the banner."""
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise
        return self.process.returncode, out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()


@pytest.fixture
def started(env, drill_file, data):
    running = Started.start(env, drill_file, data)
    yield running
    running.kill()


def default_intake(env, data: Path) -> str:
    """What the trainee looks up on "the SETD portal"."""
    shown = subprocess.run([*SEGCLI, "lab", "setd", "accounts", "--json", "--data", str(data)],
                           capture_output=True, text=True, timeout=60, env=env, cwd=REPO)
    assert shown.returncode == 0, shown.stderr
    return next(a["address"] for a in json.loads(shown.stdout) if a["name"] == "default")


def fix_at_the_console(data: Path, intake: str) -> None:
    """The fix, typed into a second ``segcli`` console on the running appliance."""
    typed = run_segcli(data, f'tdcconfig enable {intake}\ncommit "fix the typo"\n')
    assert "Changes committed" in typed.stdout, typed.stdout + typed.stderr


def test_start_check_fix_reset_and_stop_from_another_terminal(env, started, data):
    banner = started.banner
    assert "Since this morning's change the SETD dashboard shows no new messages." in banner
    assert "TICKET from SOC analyst" in banner
    assert "ssh -p " in banner and f"segcli lab send --data {data}" in banner
    assert "tset" not in banner and "tdcconfig" not in banner  # never the cause

    status = drill(env, "status", "--data", str(data))
    assert status.returncode == 0, status.stderr
    assert f"drill     {DRILL_ID}:" in status.stdout and "hints     0 of 2 used" in status.stdout
    assert "state     unsolved" in status.stdout

    hint = drill(env, "hint", "--data", str(data))
    assert hint.stdout.strip() == "Hint 1/2: Run tophosts: which column moves on the.tdc.queue?"

    intake = default_intake(env, data)
    before = drill(env, "check", "--data", str(data))
    assert before.returncode == 1
    assert before.stdout.splitlines()[0] == "FAIL  4 of 4 checks still fail:"
    assert [line.strip().removeprefix("FAIL  ") for line in before.stdout.splitlines()[1:4]] \
        == DESCRIBED
    assert "(1 hidden check(s) fail too)" in before.stdout
    # no expected value and nothing of the spoiler check is shown
    for secret in (intake, "tset", "primary account", "Delivered Recipients +"):
        assert secret not in before.stdout

    fix_at_the_console(data, intake)
    after = drill(env, "check", "--data", str(data))
    assert after.returncode == 0, after.stdout
    assert after.stdout.startswith(f"PASS  all 4 checks pass: drill {DRILL_ID} is solved")
    record = json.loads((data / "drill.json").read_text())
    assert record["solved"] and record["hints_used"] == 1 and record["checks_run"] == 2

    # a trainee may break it again: check judges the state, not what was typed
    reset = drill(env, "reset", "--data", str(data))
    assert reset.returncode == 0 and "hints used stay 1/2" in reset.stdout
    assert "state     unsolved" in drill(env, "status", "--data", str(data)).stdout
    again = drill(env, "check", "--data", str(data))
    assert again.returncode == 1 and "FAIL  the global setting names SETD's intake address" \
        in again.stdout
    fix_at_the_console(data, intake)
    assert drill(env, "check", "--data", str(data)).returncode == 0

    stop = drill(env, "stop", "--data", str(data))
    assert stop.returncode == 0, stop.stderr
    assert f"Drill {DRILL_ID} stopped after" in stop.stdout
    assert "solved     yes, in " in stop.stdout and "hints      1 of 2" in stop.stdout
    assert "revealed   no" in stop.stdout
    status, out = started.rest()
    assert status == 0, out
    assert f"Drill {DRILL_ID} stopped after" in out  # the drill's own terminal says it too
    assert "Traceback" not in out and "Exception in callback" not in out, out
    assert not (data / "lab.sock").exists()
    assert json.loads((data / "drill.json").read_text())["stopped_at"]

    gone = drill(env, "status", "--data", str(data))
    assert gone.returncode == 1 and "no drill is running in" in gone.stderr


def test_reveal_is_recorded_and_the_default_data_directory_is_the_current_drill(env, started,
                                                                                data):
    revealed = drill(env, "reveal")  # no --data: the drill started last
    assert revealed.returncode == 0, revealed.stderr
    assert "Diagnosis:\n  1. tdcconfig print: the intake domain ends in .tset" in revealed.stdout
    assert f"  tdcconfig enable {default_intake(env, data)}" in revealed.stdout
    assert "revealed" in drill(env, "status").stdout
    answer = drill(env, "answer")
    assert answer.returncode == 1 and "has no quiz" in answer.stdout
    hints = [drill(env, "hint").stdout for _ in range(3)]
    assert hints[2].startswith("No more hints: all 2 were given.")
    assert drill(env, "stop").returncode == 0
    status, out = started.rest()
    assert status == 0 and "revealed   yes" in out and "hints      2 of 2" in out
    # stopping is quiet: the control connection that asked for it ends without a trace
    assert "Traceback" not in out and "Exception in callback" not in out, out


def test_without_a_running_drill_each_command_says_so_in_one_line(env, tmp_path):
    for action in ("status", "hint", "check", "reveal", "reset", "stop"):
        result = drill(env, action, "--data", str(tmp_path / "none"))
        assert result.returncode == 1, action
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1
        assert f"segcli drill {action}: no drill is running in {tmp_path / 'none'}" \
            in result.stderr


def shows(console: Segcli, text: str, timeout: float = TIMEOUT) -> None:
    """Wait until the last line on the screen (the toolbar) shows *text*.  A redraw writes
    only what changed, so the screen is read, not the stream."""
    answered = console.raw.count(CPR_REQUEST)  # those expect() has answered
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in console.text.rstrip().rsplit("\n", 1)[-1]:
            return
        for _ in range(console.raw.count(CPR_REQUEST) - answered):  # answer as a terminal
            console.keys(f"\x1b[{ROWS - 2};1R")
            answered += 1
        with contextlib.suppress(pexpect.TIMEOUT):
            console.child.read_nonblocking(65536, timeout=0.5)
    raise AssertionError(f"the toolbar never showed {text!r}:\n{console.text[-2000:]}")


def test_the_console_toolbar_shows_the_drill_and_follows_it(env, drill_file, data):
    console = Segcli.spawn(data, "drill", "start", str(drill_file), "--fast", cpr=True, env=env)
    try:
        console.started()
        console.expect(f"drill: {DRILL_ID} · unsolved · hints 0/2")
        assert "TICKET from SOC analyst" in console.text
        assert drill(env, "hint", "--data", str(data)).returncode == 0
        shows(console, f"drill: {DRILL_ID} · unsolved · hints 1/2")  # redrawn while it waits
        console.run(f"tdcconfig enable {default_intake(env, data)}")
        console.command('commit "fix the typo"')
        console.prompt()
        assert drill(env, "check", "--data", str(data)).returncode == 0
        shows(console, f"drill: {DRILL_ID} · solved · hints 1/2")
        console.command("quit")  # leaving the console ends the drill
        console.expect(f"Drill {DRILL_ID} stopped after")
        assert console.wait_exit(timeout=60) == 0
    finally:
        console.close()
    assert not (data / "lab.sock").exists()
    assert json.loads((data / "drill.json").read_text())["solved"]
    assert not (Path(env["XDG_DATA_HOME"]) / "segcli" / "drills" / "current").exists()


QUIZ = '''
schema   = 1
id       = "handson-quiz"
title    = "Spam is not on the SETD dashboard"
category = "by-design"

[ticket]
text = "A spam test message never showed up on the SETD dashboard."

[[phase]]
name    = "spam"
traffic = [{ id = "m1", kind = "gtube", to = "bob@example.com", subject = "handson quiz" }]

[[quiz]]
q       = "Why is the GTUBE message not on the SETD dashboard?"
choices = ["TDC is broken", "Only messages with clean verdicts are journaled", "SETD dropped it"]
answer  = 2

[[quiz]]
q       = "Which queue carries the journal copies?"
choices = ["the.tdc.queue", "the.euq.queue"]
answer  = 1
'''


def test_a_quiz_is_answered_from_another_terminal_and_sigterm_ends_the_drill(env, tmp_path,
                                                                            data):
    path = tmp_path / "handson-quiz.toml"
    path.write_text(QUIZ)
    running = Started.start(env, path, data)
    try:
        assert "A spam test message never showed up" in running.banner
        assert "Only messages with clean verdicts" not in running.banner
        wrong = drill(env, "answer", "--data", str(data), stdin="1\n1\n")
        assert wrong.returncode == 1, wrong.stderr
        assert "1. Why is the GTUBE message not on the SETD dashboard?" in wrong.stdout
        assert "   2) Only messages with clean verdicts are journaled" in wrong.stdout
        assert "1. not quite" in wrong.stdout and "1 of 2 right." in wrong.stdout
        nothing = drill(env, "answer", "--data", str(data), stdin="")
        assert nothing.returncode == 1 and "no answer given; nothing recorded" in nothing.stderr
        right = drill(env, "answer", "--data", str(data), stdin="x\n2\n1\n")
        assert right.returncode == 0, right.stdout
        assert "Choose a number from 1 to 3." in right.stdout
        assert "2 of 2 right: solved in" in right.stdout
        check = drill(env, "check", "--data", str(data))
        assert check.returncode == 1 and "answer its quiz" in check.stdout
        hint = drill(env, "hint", "--data", str(data))
        assert hint.returncode == 1 and hint.stdout.strip() == "This drill has no hints."
        running.process.send_signal(signal.SIGTERM)
        status, out = running.rest()
    finally:
        running.kill()
    assert status == 0, out
    assert "Drill handson-quiz stopped after" in out and "solved     yes, in " in out
    assert not (data / "lab.sock").exists()
