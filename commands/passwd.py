"""``passwd``: change your own password (the old one, then the new one twice), or, as
an administrator, set another user's.

Unlike ``userconfig``, a password change takes effect at once, without ``commit``: a
read-only operator, who may not commit, must still be able to change their own
password, and a password waiting for a commit protects nothing.  Passwords are asked
with echo off; they never appear in a transcript, a pending change or the store (only
their bcrypt hash does).
"""

from __future__ import annotations

import asyncio

from commands.errors import CommandError, UsageError
from commands.registry import command
from commands.session import ACCESS_DENIED, CliSession
from engine.config.addresses import InvalidValue
from engine.store.users import Role, SetUserPassword, UserError, check_password

#: A wrong current password costs this long, so a left-open session is no fast way to
#: guess the password (which may open other doors).
WRONG_PASSWORD_DELAY = 1.0
MISMATCH = "The passwords do not match."


@command(
    "passwd",
    summary="Change your password",
    help="""
passwd           asks for your current password, then for the new one twice
passwd <user>    (administrators) sets another user's password: the new one twice

The new password takes effect at once (no commit needed).  A password has at least
8 characters, at most 72 bytes, and no control characters.  Nothing typed is echoed.
""",
    aliases=("password",),
)
async def passwd(session: CliSession, args: list[str]) -> None:
    if len(args) > 1:
        raise UsageError("Invalid arguments when processing: usage is passwd [<user>]")
    name = args[0] if args else session.user
    own = name == session.user
    if not own and not session.role.includes(Role.ADMIN):
        raise CommandError(ACCESS_DENIED)
    try:
        (await session.appliance.user_directory()).require(name)
    except UserError as exc:  # no such user, or a name that is not even printable
        raise CommandError(str(exc)) from None
    if own:
        await check_own_password(session, "Old password:", "Incorrect password.")
    password_hash = await ask_new_password(session, "New password:", "Retype new password:")
    await session.appliance.apply_user_changes([SetUserPassword(name, password_hash)])
    session.dialog.say()
    session.dialog.say("Password changed.")


async def check_own_password(session: CliSession, question: str, refusal: str) -> None:
    """Ask for the session user's current password; a wrong one ends the command
    (CommandError) after :data:`WRONG_PASSWORD_DELAY`."""
    answer = await session.dialog.ask(question, secret=True)
    if await session.appliance.authenticate(session.user, answer) is None:
        await asyncio.sleep(WRONG_PASSWORD_DELAY)
        raise CommandError(refusal)


async def ask_new_password(session: CliSession, question: str, again: str) -> str:
    """Ask for a new password and its confirmation until they agree and the password
    meets the policy; return its hash (bcrypt runs in a worker thread)."""
    dialog = session.dialog
    while True:
        password = await dialog.ask(question, secret=True, validate=_policy)
        if await dialog.ask(again, secret=True) == password:
            return await session.appliance.hash_password(password)
        dialog.error(MISMATCH)


def _policy(password: str) -> str:
    if not password:
        raise InvalidValue("You must enter a password.")
    return check_password(password)
