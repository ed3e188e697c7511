"""``quit`` / ``exit``: leave the session, warning about uncommitted changes."""

from __future__ import annotations

from commands.registry import command
from commands.session import CliSession


@command(
    "quit",
    summary="Disconnect",
    help="""
quit     ends the session (also: exit, Ctrl-D at the prompt)

With uncommitted changes it warns that they will be lost and asks first.
""",
    aliases=("exit", "q"),
)
async def quit_command(session: CliSession, args: list[str]) -> None:
    if session.pending:
        session.dialog.say()
        session.dialog.say(
            f"You have {len(session.pending.changes)} uncommitted change(s). "
            "If you exit now, they will be lost."
        )
        if not await session.dialog.confirm("Are you sure you wish to exit?", default=False):
            return
    session.finished = True
