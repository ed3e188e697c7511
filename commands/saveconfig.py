"""``showconfig`` and ``saveconfig``: the running configuration as an XML document.

Both write the committed configuration (what the appliance runs), never a session's
pending changes, so a saved file is always something the appliance actually ran.
"""

from __future__ import annotations

import asyncio

from commands.errors import UsageError
from commands.registry import command
from commands.session import CliSession
from engine.appliance import MODEL
from engine.config.files import saved_config_name, write_config_file
from engine.config.xml_document import to_xml
from engine.observe.timestamps import now
from engine.store.users import Role

# The 15.x wording (ASYNCOS.md: "Do you want to mask the passphrase?"); older builds said
# "password", and the scripted one-line answer (``saveconfig y 1``) is the same for both.
MASK_QUESTION = ("Do you want to mask the passphrase? Files with masked passphrases cannot be "
                 "loaded using loadconfig command.")
_ANSWERS = {"y": True, "yes": True, "n": False, "no": False}


@command(
    "showconfig",
    summary="Display all configuration values",
    help="""
showconfig          asks whether to mask passphrases, then prints the configuration as XML
showconfig y|n      the same in one line (y: mask passphrases, n: do not)

It prints the running (committed) configuration; uncommitted changes are not included.
This configuration holds no passphrases yet, so either answer gives a document that
loadconfig accepts.
""",
    grammar={"y": None, "n": None},
)
async def showconfig(session: CliSession, args: list[str]) -> None:
    if len(args) > 1 or (args and args[0].lower() not in _ANSWERS):
        raise UsageError("Invalid arguments when processing: usage is showconfig [y|n]")
    await _mask_answer(session, args)
    _note_pending(session)
    session.dialog.say()
    session.dialog.say(to_xml(session.appliance.running.config).rstrip("\n"))


@command(
    "saveconfig",
    summary="Saves configuration to disk",
    help="""
saveconfig          asks whether to mask passphrases, then saves the configuration
saveconfig y|n      the same in one line (y: mask passphrases, n: do not)
saveconfig y 1      the appliance's scripted form (the trailing 1 is accepted and ignored)

The running (committed) configuration is written to the configuration directory as
<model>-<serial>-<YYYYMMDDTHHMMSS>.xml (UTC); loadconfig <file> reads it back.
Uncommitted changes are not included.
""",
    grammar={"y": {"1": None}, "n": {"1": None}},
    role=Role.OPERATOR,  # it writes a file on the appliance; showconfig is for everyone
)
async def saveconfig(session: CliSession, args: list[str]) -> None:
    _check_save_args(args)
    await _mask_answer(session, args)
    _note_pending(session)
    appliance = session.appliance
    name = saved_config_name(MODEL, appliance.serial, now())
    text = to_xml(appliance.running.config)
    path = await asyncio.to_thread(write_config_file, appliance.options.data_dir, name, text)
    session.dialog.say()
    session.dialog.say(f"The file {name} has been saved in the configuration directory.")
    if session.local:
        session.dialog.say(f"(On this host: {path})")


def _check_save_args(args: list[str]) -> None:
    """``saveconfig [y|n [1]]``: the second word is the old passphrase option, 1 = mask."""
    valid = len(args) <= 2 and (not args or args[0].lower() in _ANSWERS) and args[1:] in ([], ["1"])
    if not valid:
        raise UsageError("Invalid arguments when processing: usage is saveconfig [y|n [1]]")


async def _mask_answer(session: CliSession, args: list[str]) -> bool:
    """The appliance's question, kept so that scripts written for it run unchanged.

    There are no passphrases in this configuration yet, so the answer changes nothing.
    """
    if args:
        return _ANSWERS[args[0].lower()]
    return await session.dialog.confirm(MASK_QUESTION, default=True)


def _note_pending(session: CliSession) -> None:
    if session.pending:
        session.dialog.say()
        session.dialog.say(
            f"Note: this session has {len(session.pending.changes)} uncommitted change(s); "
            "they are not included. Commit them first to include them."
        )

