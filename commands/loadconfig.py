"""``loadconfig``: take a whole configuration from an XML document.

Loading is all-or-nothing and never immediate: a document with any problem is refused
as a whole (every problem listed), and a good one becomes one pending change that
takes effect at ``commit``, exactly like the appliance's own edits.
"""

from __future__ import annotations

import asyncio

from commands.errors import CommandError, UsageError
from commands.registry import Names, SessionView, command
from commands.session import CliSession
from engine.config.changes import ReplaceConfig
from engine.config.files import (
    ConfigFileError,
    list_config_files,
    locate_config_file,
    read_config_file,
)
from engine.config.model import Config
from engine.config.text import is_digits
from engine.config.xml_document import ConfigXmlError, from_xml

METHODS = ("Paste via CLI", "Load from file")
PASTE_INSTRUCTIONS = ('Paste the configuration file now.\n'
                      'Press CTRL-D on a blank line when done (or enter a line holding only ".").')
COMMIT_REMINDER = "Use the commit command to make these changes active."
USAGE = "Invalid arguments when processing: usage is loadconfig [<file>]"


def _saved_files(session: SessionView) -> list[str]:
    """Completion words for ``loadconfig <file>``."""
    return list_config_files(session.appliance.options.data_dir)


@command(
    "loadconfig",
    summary="Load a configuration file",
    help="""
loadconfig           asks how to load: 1. Paste via CLI (end with Ctrl-D or a line
                     holding only ".") or 2. Load from file (a file in the
                     configuration directory)
loadconfig <file>    loads <file> from the configuration directory in one line; at the
                     appliance's own console a path on this host (containing "/") is
                     accepted too

The document is checked as a whole: if anything is wrong, every problem is listed and
nothing is loaded.  A loaded configuration replaces the whole configuration when you
commit; until then nothing changes.  With uncommitted changes, loadconfig first asks
whether to discard them (the one-line form refuses instead: commit or clearchanges first).
""",
    changes_config=True,
    grammar=Names(_saved_files),
)
async def loadconfig(session: CliSession, args: list[str]) -> None:
    if len(args) > 1:
        raise UsageError(USAGE)
    discard = await may_discard_pending(session, batch=bool(args), command="loadconfig")
    if discard is None:
        return
    document, reason = await _document(session, args)
    load_document(session, document, reason, discard=discard)


async def _document(session: CliSession, args: list[str]) -> tuple[str | bytes, str]:
    """The document to load, and how ``showchanges`` will describe loading it."""
    if not args and await session.dialog.choose(
        METHODS, "Choose how to load the configuration.", default=0
    ) == 0:
        return await session.dialog.read_document(PASTE_INSTRUCTIONS), "Loaded a pasted configuration"
    name = args[0] if args else await _ask_file_name(session)
    return await asyncio.to_thread(_read, session, name), f'Loaded the configuration file "{name}"'


async def may_discard_pending(session: CliSession, *, batch: bool, command: str) -> bool | None:
    """Whether to discard this session's uncommitted changes before a whole-configuration
    change, or None to stop.

    A whole configuration would silently override them, so a person is asked (default
    no) and a one-line command, which must not ask, refuses.
    """
    if not session.pending:
        return False
    count = len(session.pending.changes)
    if batch:
        raise CommandError(
            f"Error: this session has {count} uncommitted change(s). Commit them, or discard "
            f"them with clearchanges, then run {command} again."
        )
    session.dialog.say()
    session.dialog.say(f"You have {count} uncommitted change(s).")
    if await session.dialog.confirm("Do you want to discard your uncommitted changes?",
                                    default=False):
        return True
    return None


async def _ask_file_name(session: CliSession) -> str:
    """List the saved files and take a name (or its number); the console may give a path."""
    names = await asyncio.to_thread(_saved_files, session)
    if not names and not session.local:
        raise CommandError("Error: there are no files in the configuration directory.")
    say = session.dialog.say
    say()
    if names:
        say("Files in the configuration directory:")
        for number, name in enumerate(names, 1):
            say(f"{number}. {name}")
    else:
        say("There are no files in the configuration directory.")
    answer = await session.dialog.ask_required("Enter the name of the file to import:")
    return names[int(answer) - 1] if is_digits(answer) and 1 <= int(answer) <= len(names) else answer


def _read(session: CliSession, name: str) -> bytes:
    """Off the event loop: find and read the file, or CommandError with the reason."""
    try:
        path = locate_config_file(session.appliance.options.data_dir, name,
                                  host_paths=session.local)
        return read_config_file(path, name)
    except ConfigFileError as exc:
        raise CommandError(str(exc)) from None


def load_document(session: CliSession, text: str | bytes, reason: str, *, discard: bool) -> None:
    """Parse a whole document and, when it is right, record it as one pending change."""
    try:
        config = from_xml(text)
    except ConfigXmlError as exc:
        raise CommandError(parsing_failed(exc.problems)) from None
    if replace_config(session, config, reason, discard=discard, done="Values have been loaded."):
        session.dialog.say(COMMIT_REMINDER)


def parsing_failed(problems: list[str]) -> str:
    """Every problem on its own line, under one heading, as the appliance reports them."""
    if problems == ["No data to load."]:
        return "No data to load."
    lines = [p.removeprefix("Parsing failed: ") for p in problems]
    return "\n".join(["Parsing failed:", *(f"    {line}" for line in lines),
                      "Nothing was loaded."])


def replace_config(session: CliSession, config: Config, reason: str, *, discard: bool,
                   done: str) -> bool:
    """Make *config* the session's pending configuration; False when that changes nothing.

    Discarding pending changes happens only here, once the new configuration is known
    to be good, so a refused document leaves the session exactly as it was.
    """
    say = session.dialog.say
    say()
    if config == session.config:
        say("No changes detected.")
        return False
    if discard:
        session.clear()
    if config == session.config:
        say(done)
        say("Your uncommitted changes were discarded; the result is the running configuration, "
            "so there is nothing to commit.")
        return False
    session.record(ReplaceConfig(config, reason))
    say(done)
    return True
