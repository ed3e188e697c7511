"""Shared fixtures: a scripted terminal for the command engine, and real segcli processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from commands import load_all
from commands.io import Cancelled, EndOfInput
from commands.session import CliSession
from engine.appliance import Appliance, StartOptions
from engine.store.users import Role

load_all()

# Every segcli, benchmark and drill process a test starts is a fresh interpreter that
# imports about 140 of the project's modules.  With PYTHONDONTWRITEBYTECODE set (as on
# the CI machine) each of them compiled those modules from source again: about 0.25 s
# of CPU per process, a minute or more over the suite.  The children inherit this
# environment and keep their bytecode in __pycache__ (git ignores it) like any Python.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

#: Shared fixtures: the reactor on the asyncio loop (``run``), reserved loopback ports
#: (``reserve_port``), and a gateway with its DNS zone, sink and SETD stand-in.
pytest_plugins = ["tests.reactor", "tests.ports", "tests.engine.gateway_lab"]

REPO = Path(__file__).resolve().parent.parent
SEGCLI = [sys.executable, "-m", "segcli"]

#: An answer that stands for Ctrl-C in a ScriptedTerminal's script.
CTRL_C = object()


class ScriptedTerminal:
    """A Terminal that answers from a list and records everything written.

    Each prompt shown is recorded in ``prompts``; ``text`` is the whole transcript.
    An answer of CTRL_C raises Cancelled; running out of answers raises EndOfInput.
    """

    interactive = False

    def __init__(self, answers: Sequence[Any] = (), *, interactive: bool = False) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []
        self.choices: list[list[str]] = []
        #: For each prompt: was it asked with echo off (a password)?
        self.secret: list[bool] = []
        self.out: list[str] = []
        self.interactive = interactive

    @property
    def width(self) -> int:
        return 80

    @property
    def text(self) -> str:
        return "".join(self.out)

    def write(self, text: str) -> None:
        self.out.append(text)

    error = write

    def show(self, renderable: Any) -> None:
        self.out.append(str(renderable) + "\n")

    async def read_command(self, prompt: str) -> str:
        return await self.ask(prompt)

    async def ask(self, prompt: str, *, choices: Sequence[str] = (), secret: bool = False) -> str:
        self.prompts.append(prompt)
        self.choices.append(list(choices))
        self.secret.append(secret)
        self.out.append(prompt)
        if not self.answers:
            raise EndOfInput
        answer = self.answers.pop(0)
        if answer is CTRL_C:
            raise Cancelled
        self.out.append("\n" if secret else f"{answer}\n")  # a password is never echoed
        return answer


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def appliance(data_dir: Path):
    """A real appliance (real store on disk) for in-process command tests."""
    appliance = Appliance.open(StartOptions(data_dir=data_dir))
    yield appliance
    asyncio.run(appliance.stop())


def run_session(appliance: Appliance, lines: Sequence[Any], *, user: str = "admin",
                interactive: bool = False, role: Role = Role.ADMIN
                ) -> tuple[int, ScriptedTerminal, CliSession]:
    """Run a whole session (commands and answers) against *appliance*."""
    terminal = ScriptedTerminal(lines, interactive=interactive)
    session = CliSession(appliance, terminal, user=user, role=role)
    status = asyncio.run(session.run())
    return status, terminal, session


def segcli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.pop("SEGCLI_DATA", None)
    env["SEGCLI_SMTP"] = "127.0.0.1:0"  # a free port: tests never need port 2525 to be free
    env["SEGCLI_SSH"] = "127.0.0.1:0"  # likewise port 2222
    env["SEGCLI_HTTPS"] = "127.0.0.1:0"  # and 8443
    env["TERM"] = "xterm-256color"
    env["PROMPT_TOOLKIT_NO_CPR"] = "1"
    return env


def run_segcli(data_dir: Path, script: str, *args: str, timeout: float = 60
               ) -> subprocess.CompletedProcess[str]:
    """Pipe *script* into a real ``segcli --data DIR`` process (plain mode)."""
    return subprocess.run(
        [*SEGCLI, "--data", str(data_dir), *args], input=script, capture_output=True,
        text=True, timeout=timeout, env=segcli_env(), cwd=REPO,
    )
