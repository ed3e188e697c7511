"""``sethostname``: the appliance's fully qualified host name (and so the prompt)."""

from __future__ import annotations

from commands.errors import UsageError
from commands.registry import command
from commands.session import CliSession
from engine.config.addresses import check_hostname
from engine.config.changes import SetHostname


@command(
    "sethostname",
    summary="Set the name of the machine",
    help="""
sethostname              asks for the new host name
sethostname <hostname>   sets it in one line

The prompt shows the new name once the change is committed.
""",
    changes_config=True,
)
async def sethostname(session: CliSession, args: list[str]) -> None:
    if len(args) > 1:
        raise UsageError("Invalid arguments when processing: usage is sethostname <hostname>")
    if args:
        session.record(SetHostname(args[0]))
        return
    session.dialog.say()
    session.dialog.say(f"Current hostname: {session.config.hostname}")
    name = await session.dialog.ask_required("Enter the new hostname.", validate=check_hostname)
    session.record(SetHostname(name))
