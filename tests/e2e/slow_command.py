"""A test-only command that runs until it is interrupted (until ``tail`` and ``rate``
exist, the product has no long-running command to press Ctrl-C in).

Imported into a real segcli process with ``Segcli.spawn(preload=...)``.
"""

from __future__ import annotations

import asyncio

from commands.registry import command
from commands.session import CliSession


@command("e2esleep", summary="Test only: run until Ctrl-C", help="e2esleep")
async def e2esleep(session: CliSession, args: list[str]) -> None:
    session.dialog.say("Running; press Ctrl-C to stop.")
    await asyncio.sleep(3600)
