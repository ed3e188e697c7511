"""Test-only commands for the SSH tests, imported into the appliance process.

``e2eterm`` says what the session's terminal is (so a test sees the window size the
server follows); ``e2esleep`` (tests/e2e/slow_command.py) runs until Ctrl-C.
"""

from __future__ import annotations

import tests.e2e.slow_command  # noqa: F401 - registers e2esleep
from commands.registry import command
from commands.session import CliSession


@command("e2eterm", summary="Test only: describe the terminal", help="e2eterm")
async def e2eterm(session: CliSession, args: list[str]) -> None:
    terminal = session.terminal
    session.dialog.say(f"terminal={type(terminal).__name__} width={terminal.width} "
                       f"interactive={terminal.interactive} role={session.role}")
