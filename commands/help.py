"""``help``: the list of commands, or one command's help with its batch forms."""

from __future__ import annotations

from commands.registry import REGISTRY, Names, command
from commands.session import CliSession


@command(
    "help",
    summary="Help on the commands",
    help="""
help                 list the commands with a one-line summary
help <command>       describe one command and its one-line (batch) forms
""",
    grammar=Names(lambda session: [spec.name for spec in REGISTRY]),
    aliases=("?",),
)
async def help_command(session: CliSession, args: list[str]) -> None:
    say = session.dialog.say
    if not args:
        width = max(len(spec.name) for spec in REGISTRY) + 2
        say()
        for spec in REGISTRY:
            say(f"{spec.name:<{width}}{spec.summary}")
        say()
        say('Enter "help <command>" for more information on a command.')
        return
    spec = REGISTRY.get(args[0])
    if spec is None:
        from commands.errors import CommandError

        raise CommandError(f"help is not available for {args[0]}")
    say()
    say(f"{spec.name}: {spec.summary}")
    say()
    say(spec.help)
