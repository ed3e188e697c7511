"""``dnsflush``: empty the gateway's DNS cache, so the next delivery asks DNS again.

The cache belongs to the mail engine; a console attached to an appliance running in
another process cannot reach it and says so rather than pretending to flush.
"""

from __future__ import annotations

from commands.errors import CommandError, UsageError
from commands.registry import command
from commands.session import CliSession
from engine.store.users import Role


@command(
    "dnsflush",
    summary="Clear all entries from the DNS cache",
    help="""
dnsflush          clears the gateway's DNS cache (asks first at a terminal) and says how
                  many cached answers were dropped
""",
    role=Role.OPERATOR,  # it acts on the appliance
)
async def dnsflush(session: CliSession, args: list[str]) -> None:
    if args:
        raise UsageError("Invalid arguments when processing: dnsflush takes no arguments")
    mail = session.appliance.mail
    if mail is None:
        raise CommandError("Unable to flush the DNS cache: it belongs to the mail engine, which "
                           "runs in another segcli process; use dnsflush there.")
    if session.terminal.interactive and not await session.dialog.confirm(
            "Are you sure you want to clear out the DNS cache?", default=False):
        return
    dropped = mail.resolver.flush()
    entries = "entry" if dropped == 1 else "entries"
    session.dialog.say()
    session.dialog.say(f"DNS cache flushed: {dropped} {entries} removed.")
