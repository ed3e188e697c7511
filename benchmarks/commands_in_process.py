"""CLI commands run in the benchmark's own process, through one real
:class:`~commands.session.CliSession` with their output captured (:class:`CommandRunner`),
for the scripts that time commands on an appliance they built in process.

Importing it imports the command engine: a script that installs Twisted's asyncio reactor
does that first (importing the engine must not install the default reactor).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.common import timed
from benchmarks.processes import BenchmarkError
from commands.session import CliSession


class TextTerminal:
    """A terminal that keeps what is written (the :class:`~commands.io.Terminal` a
    command's output goes to) and has nobody to answer: the timed commands ask nothing."""

    interactive = False
    width = 80

    def __init__(self) -> None:
        self.text: list[str] = []

    def write(self, text: str) -> None:
        self.text.append(text)

    error = write

    def show(self, renderable: object) -> None:
        self.text.append(str(renderable))

    async def ask(self, prompt: str, *, choices: Sequence[str] = (), secret: bool = False) -> str:
        raise BenchmarkError(f"a timed command asked {prompt!r}: nobody answers here")

    async def read_command(self, prompt: str) -> str:
        raise BenchmarkError("the benchmark gives its commands one by one")


class CommandRunner:
    """CLI commands run in this process on *appliance* (an ``Appliance``, or anything with
    its ``mail``, ``config`` and ``running``), through one real CliSession."""

    def __init__(self, appliance: Any, **session: Any) -> None:
        self.terminal = TextTerminal()
        self.session = CliSession(appliance, self.terminal, **session)

    async def run(self, line: str) -> str:
        """Run *line*; its output.  BenchmarkError when it fails: a figure of a failing
        command means nothing."""
        self.terminal.text.clear()
        if not await self.session.execute(line):
            raise BenchmarkError(f"{line!r} failed: {''.join(self.terminal.text)}")
        return "".join(self.terminal.text)

    async def time(self, line: str, runs: int) -> tuple[list[float], str]:
        """Run *line* *runs* times; each run's milliseconds, and the last output."""
        times = await timed(lambda: self.run(line), runs)
        return times, "".join(self.terminal.text)
