"""``rollbackconfig``: go back to a configuration committed earlier.

Only commits saved for rollback (``commit`` asks) are offered, newest first.  The
choice becomes one pending whole-configuration change, committed at once if the person
says so, or later with ``commit``, so a rollback is reviewed and recorded like any edit.
A commit whose document cannot be read is listed as such and cannot be chosen.
"""

from __future__ import annotations

from commands.errors import CommandError, UsageError
from commands.loadconfig import COMMIT_REMINDER, may_discard_pending, replace_config
from commands.registry import command
from commands.session import CliSession
from engine.config.addresses import InvalidValue
from engine.config.text import is_digits, shown
from engine.observe.timestamps import cli_time
from engine.store.database import AnyVersion, ConfigVersion, UnreadableVersion

OFFERED = 10
USAGE = "Invalid arguments when processing: usage is rollbackconfig [<number> | print]"
NOTHING = "There are no previous configurations saved for rollback."


@command(
    "rollbackconfig",
    summary="Roll back to a previously committed configuration",
    help="""
rollbackconfig            lists the previous commits saved for rollback (newest first, up
                          to 10), asks which one to revert to, then whether to commit now
rollbackconfig <number>   reverts to that commit (numbered as in the list) in one line; the
                          change stays pending until you commit
rollbackconfig print      prints the list only

Only commits made with "save the current configuration for rollback" are offered.
With uncommitted changes, rollbackconfig first asks whether to discard them (the
one-line form refuses instead: commit or clearchanges first).
""",
    changes_config=True,
    grammar={"print": None},
)
async def rollbackconfig(session: CliSession, args: list[str]) -> None:
    if len(args) > 1 or (args and not (is_digits(args[0]) or args[0].lower() == "print")):
        raise UsageError(USAGE)
    versions = await previous_versions(session)
    if args and args[0].lower() == "print":
        _print(session, versions)
        return
    if args:
        await _batch(session, versions, int(args[0]))
        return
    await _interactive(session, versions)


async def previous_versions(session: CliSession) -> list[AnyVersion]:
    """The commits offered, newest first; the running configuration itself is not one."""
    appliance = session.appliance
    await appliance.refresh()  # another process may have committed since the last poll
    running = appliance.running.id
    versions = await appliance.versions(limit=OFFERED + 1)
    return [v for v in versions if v.id != running][:OFFERED]


async def _batch(session: CliSession, versions: list[AnyVersion], number: int) -> None:
    """One line, no questions: the change stays pending so a script commits it explicitly."""
    if not versions:
        raise CommandError(f"Error: {NOTHING}")
    if not 1 <= number <= len(versions):
        raise CommandError(
            f"Error: there is no commit number {number}: enter a number from 1 to {len(versions)} "
            "(rollbackconfig print lists them)."
        )
    chosen = versions[number - 1]
    if isinstance(chosen, UnreadableVersion):
        raise CommandError(f"Error: {_unreadable(chosen)}")
    await may_discard_pending(session, batch=True, command="rollbackconfig")
    if _revert(session, chosen, discard=False):
        session.dialog.say(COMMIT_REMINDER)


async def _interactive(session: CliSession, versions: list[AnyVersion]) -> None:
    """The appliance's dialog: list, choose, then commit now or later."""
    if not versions:
        session.dialog.say()
        session.dialog.say(NOTHING)
        return
    discard = await may_discard_pending(session, batch=False, command="rollbackconfig")
    if discard is None:
        return
    _print(session, versions)
    chosen = await session.dialog.ask("Enter the number of the configuration to revert to.",
                                      validate=lambda answer: _choice(answer, versions))
    if chosen is None:
        return
    if not _revert(session, chosen, discard=discard):
        return
    if not await session.dialog.confirm("Do you want to commit this configuration now?",
                                        default=False):
        session.dialog.say()
        session.dialog.say(COMMIT_REMINDER)
        return
    committed = await session.commit(
        f"Rolled back to the configuration committed {cli_time(chosen.committed_at)}"
    )
    session.dialog.say()
    session.dialog.say(f"Changes committed: {cli_time(committed.committed_at)}")


def _choice(answer: str, versions: list[AnyVersion]) -> ConfigVersion | None:
    """A blank answer goes back; otherwise the version a number from the list stands
    for, unless its document cannot be read (then the question is asked again)."""
    if not answer:
        return None
    if not is_digits(answer) or not 1 <= int(answer) <= len(versions):
        raise InvalidValue(f"The value must be an integer from 1 to {len(versions)}.")
    chosen = versions[int(answer) - 1]
    if isinstance(chosen, UnreadableVersion):
        raise InvalidValue(_unreadable(chosen))
    return chosen


def _unreadable(version: UnreadableVersion) -> str:
    return (f"The configuration committed {cli_time(version.committed_at)} cannot be read "
            f"({version.problem}): choose another one.")


def _revert(session: CliSession, version: ConfigVersion, *, discard: bool) -> bool:
    """Record *version* as the pending configuration (named so showchanges says what it is)."""
    when = cli_time(version.committed_at)
    return replace_config(
        session, version.config, f"Rolled back to the configuration committed {when} by {version.user}",
        discard=discard, done=f"The configuration committed {when} has been loaded.",
    )


def _print(session: CliSession, versions: list[AnyVersion]) -> None:
    """The numbered list both forms use, so a script can pick the number it saw."""
    say = session.dialog.say
    say()
    if not versions:
        say(NOTHING)
        return
    say("Previous Commits:")
    say()
    say(f"    {'Committed On':<30}{'User':<14}Description")
    say("    " + "-" * 72)
    for number, version in enumerate(versions, 1):
        say(f"{number:>2}. {cli_time(version.committed_at):<30}{shown(version.user):<14}"
            f"{_description(version)}")


def _description(version: AnyVersion) -> str:
    """The comment (escaped if an older segcli stored control characters in it), and
    whether the configuration can be read at all."""
    comment = shown(version.comment) or "(no comment)"
    return f"{comment} (cannot be read)" if isinstance(version, UnreadableVersion) else comment
