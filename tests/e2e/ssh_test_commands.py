"""Test-only commands for the SSH tests, imported into the appliance process.

``e2eterm`` says what the session's terminal is (so a test sees the window size the
server follows); ``e2eecho TAG WORDS...`` says how long its words are and their SHA-256 (so
a test sees that a long pasted line arrived intact without reading it back); ``e2esleep``
(tests/e2e/slow_command.py) runs until Ctrl-C.

``$SEGCLI_E2E_MINUTE`` (seconds) shortens the minute of the CLI idle timeout in this
process only: the appliance's smallest timeout is 5 minutes, and a test configures it
through ``adminaccessconfig`` as a person would, then waits seconds instead of minutes.
"""

from __future__ import annotations

import hashlib
import os

import tests.e2e.slow_command  # noqa: F401 - registers e2esleep
from commands.registry import command
from commands.session import CliSession
from segcli.ssh import shells

if os.environ.get("SEGCLI_E2E_MINUTE"):
    shells.MINUTE = float(os.environ["SEGCLI_E2E_MINUTE"])


@command("e2eterm", summary="Test only: describe the terminal", help="e2eterm")
async def e2eterm(session: CliSession, args: list[str]) -> None:
    terminal = session.terminal
    session.dialog.say(f"terminal={type(terminal).__name__} width={terminal.width} "
                       f"interactive={terminal.interactive} role={session.role}")


@command("e2eecho", summary="Test only: the length and digest of the words",
         help="e2eecho <tag> <words>")
async def e2eecho(session: CliSession, args: list[str]) -> None:
    tag, text = (args[0] if args else ""), " ".join(args[1:])
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    session.dialog.say(f"echoed {tag} {len(text)} {digest}")
