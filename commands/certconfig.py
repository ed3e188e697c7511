"""``certconfig``: the custom list of certificate authorities trusted for outbound TLS
(deliveries with TLS verification, and the Threat Defense Connector's verified TLS
towards Secure Email Threat Defense, SPEC.md §4 ruling 4).

Certificates are pasted or read as PEM.  A paste may hold several certificates (a
chain); each becomes an entry of its own.  Entries are removed by their number in the
list, but the change records the certificate itself, so a commit after another
session's edit removes the right one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from commands.editing import record_all, usage
from commands.errors import CommandError
from commands.registry import command
from commands.session import CliSession
from engine.config import values
from engine.config.addresses import InvalidValue
from engine.config.changes import AddTrustedCa, RemoveTrustedCa
from engine.config.files import ConfigFileError, read_config_file
from engine.config.text import is_digits
from engine.observe.timestamps import cli_time, now

COMMAND = "certconfig"
FORMS = "print | import <file> | delete <number>"
OPERATIONS = [
    ("IMPORT", "Import a certificate authority."),
    ("DELETE", "Remove a certificate authority."),
    ("PRINT", "Display the certificate authorities in detail."),
]
PASTE_INSTRUCTIONS = ("Paste the certificate authority's certificate (PEM) now.\n"
                      'Press CTRL-D on a blank line when done (or enter a line holding only ".").')
MAX_PEM_BYTES = 1024 * 1024
REMOTE_IMPORT = ("Error: certconfig import <file> reads a file on the appliance's host, which only "
                 "its own console can do; paste the certificate with certconfig > IMPORT instead.")


@command(
    COMMAND,
    summary="Configure the certificate authorities trusted for outbound TLS",
    help="""
certconfig                  lists the custom certificate authorities and a menu: IMPORT
                            (paste PEM, end with Ctrl-D or a line holding only "."),
                            DELETE, PRINT

One-line forms:
certconfig print              every certificate authority in detail
certconfig import <file>      import the PEM certificates in <file> (a path on this host;
                              at the appliance's own console only)
certconfig delete <number>    remove the certificate authority with this number

These certificate authorities are trusted, besides the host's own, when deliveries
verify TLS (destconfig "Preferred - Verify"/"Required - Verify") and by the Threat
Defense Connector.  Changes need a commit.
""",
    changes_config=True,
    grammar={"print": None, "import": None, "delete": None},
)
async def certconfig(session: CliSession, args: list[str]) -> None:
    if args:
        await _batch(session, args[0].lower(), args[1:])
        return
    while True:
        _say_list(session)
        options = OPERATIONS if session.config.trusted_cas else OPERATIONS[:1]
        choice = await session.dialog.menu(options)
        if choice is None:
            return
        if choice == "IMPORT":
            await _import_pasted(session)
        elif choice == "DELETE":
            await _delete(session)
        else:
            _say_details(session)


# -- what it shows ---------------------------------------------------------------------


def _expiry(info: values.CertificateInfo) -> str:
    expired = " (expired)" if info.not_after <= now() else ""
    return f"{cli_time(info.not_after)}{expired}"


def _say_list(session: CliSession) -> None:
    say = session.dialog.say
    say()
    if not session.config.trusted_cas:
        say("No custom certificate authorities are configured.")
        return
    say("Custom List of Certificate Authorities:")
    for number, pem in enumerate(session.config.trusted_cas, 1):
        info = values.certificate_info(pem)
        say(f"{number}. {info.subject}  (expires {_expiry(info)})")


def _say_details(session: CliSession) -> None:
    say = session.dialog.say
    if not session.config.trusted_cas:
        _say_list(session)
        return
    for number, pem in enumerate(session.config.trusted_cas, 1):
        info = values.certificate_info(pem)
        say()
        say(f"{number}. Subject: {info.subject}")
        say(f"   Issuer: {info.issuer}")
        say(f"   Expires: {_expiry(info)}")
        say(f"   SHA-256 fingerprint: {info.fingerprint}")
        say(f"   Certificate authority: {'yes' if info.is_ca else 'no (a server certificate)'}")


# -- importing and deleting ------------------------------------------------------------


def _import_changes(text: str) -> list[AddTrustedCa]:
    return [AddTrustedCa(pem) for pem in values.parse_certificates(text)]


def _import(session: CliSession, text: str) -> None:
    """Record one change per certificate, all or none, and say what was imported."""
    try:
        changes = _import_changes(text)
    except InvalidValue as exc:
        raise CommandError(str(exc)) from None
    record_all(session, changes)
    session.dialog.say()
    for change in changes:
        session.dialog.say(f"Imported: {values.certificate_info(change.pem).subject}")


async def _import_pasted(session: CliSession) -> None:
    text = await session.dialog.read_document(PASTE_INSTRUCTIONS)
    if not text.strip():
        session.dialog.error("No certificate was pasted.")
        return
    try:
        _import(session, text)
    except CommandError as exc:
        session.dialog.error(str(exc))


async def _delete(session: CliSession) -> None:
    cas = list(session.config.trusted_cas)
    index = await session.dialog.choose(
        [values.certificate_info(pem).subject for pem in cas],
        "Enter the number of the certificate authority you wish to remove.", allow_blank=True,
    )
    if index is None:
        return
    if await session.dialog.confirm("Are you sure you want to remove this certificate authority?",
                                    default=False):
        session.record(RemoveTrustedCa(cas[index]))


def _read_file(name: str) -> str:
    """Off the event loop: the text of a PEM file on the host, or CommandError."""
    try:
        data = read_config_file(Path(name).expanduser(), name, limit=MAX_PEM_BYTES,
                                what="a certificate")
    except ConfigFileError as exc:
        raise CommandError(str(exc)) from None
    return data.decode("ascii", errors="replace")


async def _batch(session: CliSession, verb: str, rest: list[str]) -> None:
    if verb == "print" and not rest:
        _say_details(session)
    elif verb == "import" and len(rest) == 1:
        if not session.local:
            raise CommandError(REMOTE_IMPORT)
        _import(session, await asyncio.to_thread(_read_file, rest[0]))
    elif verb == "delete" and len(rest) == 1:
        cas = session.config.trusted_cas
        if not is_digits(rest[0]) or not 1 <= int(rest[0]) <= len(cas):
            raise CommandError(f'"{rest[0]}" is not a valid choice: enter a number from the list '
                               f"(certconfig print){'' if cas else '; the list is empty'}.")
        record_all(session, [RemoveTrustedCa(cas[int(rest[0]) - 1])])
    else:
        raise usage(COMMAND, FORMS)
