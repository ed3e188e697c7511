"""``commit``, ``clearchanges`` and ``showchanges``: the life of pending changes."""

from __future__ import annotations

from commands.errors import CommandError, UsageError
from commands.registry import command
from commands.session import CliSession
from engine.config.text import InvalidValue, check_comment
from engine.observe.timestamps import cli_time, now
from engine.store.users import Role

NOTHING_PENDING = "No changes have been made since the last commit."
# Asked in scripts too: the appliance does, and a script written for it answers it.
CLEAR_QUESTION = "Are you sure you want to clear all changes since the last commit?"


@command(
    "commit",
    summary="Commit changes",
    help="""
commit                 asks for a comment and whether to save the configuration for rollback
commit "<comment>"     commits in one line (saved for rollback)

Changes made in this session take effect, and are kept across restarts, only when
committed.  Other sessions' pending changes are not included.
""",
    role=Role.OPERATOR,
)
async def commit(session: CliSession, args: list[str]) -> None:
    say = session.dialog.say
    if not session.pending:
        say()
        say("There is no data to commit.")
        return
    if args:
        comment, rollback = _one_line_comment(" ".join(args)), True
    else:
        comment = await session.dialog.ask(
            "Please enter some comments describing your changes:", default=None,
            validate=check_comment,
        )
        rollback = await session.dialog.confirm(
            "Do you want to save the current configuration for rollback?", default=True
        )
    version = await session.commit(comment, rollback=rollback)
    say()
    say(f"Changes committed: {cli_time(version.committed_at)}")


def _one_line_comment(text: str) -> str:
    """The comment of ``commit "<comment>"``: a bad one ends the command, nothing committed."""
    try:
        return check_comment(text)
    except InvalidValue as exc:
        raise CommandError(str(exc)) from None


@command(
    "clearchanges",
    summary="Clear changes",
    help="""
clearchanges     discards every change made in this session since the last commit

It asks for confirmation first, in a script too, as the appliance does: a script
answers on the next line (clearchanges, then y).
""",
    aliases=("clear",),
)
async def clearchanges(session: CliSession, args: list[str]) -> None:
    if args:
        raise UsageError("Invalid arguments when processing: clearchanges takes no arguments")
    say = session.dialog.say
    if not session.pending:
        say()
        say(NOTHING_PENDING)
        return
    if not await session.dialog.confirm(CLEAR_QUESTION, default=True):
        return
    session.clear()
    say()
    say(f"Changes cleared: {cli_time(now())}")


@command(
    "showchanges",
    summary="Show changes that have not been committed",
    help="showchanges     lists this session's uncommitted changes, oldest first",
)
async def showchanges(session: CliSession, args: list[str]) -> None:
    say = session.dialog.say
    say()
    if not session.pending:
        say(NOTHING_PENDING)
        return
    base = session.pending.base
    say(f"Uncommitted changes of {session.user} (made against the configuration committed "
        f"{cli_time(base.committed_at)} by {base.user}):")
    say()
    for number, change in enumerate(session.pending.changes, 1):
        say(f"{number:>3}. {change.describe()}")
