"""``destconfig``: the destination control table (ASYNCOS.md §6): per destination domain,
how many connections the gateway opens at most, how many messages it sends over one
connection, and whether it uses TLS.

The DEFAULT entry applies to every domain without its own entry; it always exists
and cannot be deleted.  A new entry starts from the DEFAULT entry's values.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from commands.editing import checked, parse_options, record_all, usage
from commands.errors import CommandError
from commands.registry import Names, SessionView, command
from commands.session import CliSession
from engine.config import values
from engine.config.addresses import InvalidValue
from engine.config.changes import DeleteDestination, SetDestination
from engine.config.model import Config, DestinationControl, TlsMode
from engine.config.text import check_text

COMMAND = "destconfig"
OPTIONS = "[concurrency <n>] [perconn <n>] [tls no|preferred|required|preferred-verify|required-verify]"
FORMS = (f"new <domain> {OPTIONS} | edit <domain>|default {OPTIONS} | delete <domain> | list | "
         "detail <domain>|all")
OPERATIONS = [
    ("NEW", "Create a new entry."),
    ("EDIT", "Modify an entry."),
    ("DELETE", "Remove an entry."),
    ("DEFAULT", "Change the default."),
    ("LIST", "Display a summary list of all entries."),
    ("DETAIL", "Display details for one destination or all entries."),
]
TLS_MODES = list(TlsMode)


def _domains(session: SessionView) -> list[str]:
    return [entry.domain for entry in session.config.destinations
            if entry.domain != values.DEFAULT_DESTINATION]


@command(
    COMMAND,
    summary="Configure destination controls",
    help=f"""
destconfig        shows how many entries there are and a menu: NEW, EDIT, DELETE,
                  DEFAULT (the entry for all other domains), LIST, DETAIL

One-line forms:
destconfig new <domain> {OPTIONS}
destconfig edit <domain>|default {OPTIONS}
destconfig delete <domain>
destconfig list
destconfig detail <domain>|all

concurrency: the most connections open to the domain at once (1 to 1000)
perconn:     the most messages delivered over one connection (1 to 1000)
tls:         No, Preferred, Required, Preferred - Verify or Required - Verify
A new entry takes the DEFAULT entry's values for what is not given.  Changes need
a commit.
""",
    changes_config=True,
    grammar={
        "new": None,
        "edit": Names(lambda session: ["default", *_domains(session)]),
        "delete": Names(_domains),
        "list": None,
        "detail": Names(lambda session: ["all", *_domains(session)]),
    },
)
async def destconfig(session: CliSession, args: list[str]) -> None:
    if args:
        _batch(session, args[0].lower(), args[1:])
        return
    while True:
        _say_count(session)
        choice = await session.dialog.menu(OPERATIONS)
        if choice is None:
            return
        await _OPERATION_HANDLERS[choice](session)


# -- what it shows ---------------------------------------------------------------------


def _say_count(session: CliSession) -> None:
    count = len(session.config.destinations)
    session.dialog.say()
    session.dialog.say("There is currently 1 entry configured." if count == 1 else
                       f"There are currently {count} entries configured.")


def _ordered(config: Config) -> list[DestinationControl]:
    """Domains in table order, the DEFAULT entry last (shown as "Default")."""
    return sorted(config.destinations, key=lambda e: e.domain == values.DEFAULT_DESTINATION)


def _shown(domain: str) -> str:
    return "Default" if domain == values.DEFAULT_DESTINATION else domain


def _say_list(session: CliSession) -> None:
    say = session.dialog.say
    entries = _ordered(session.config)
    width = max([30, *(len(entry.domain) + 2 for entry in entries)])
    say()
    say(f"{'Domain':<{width}}{'Concurrency':>11}  {'Msgs/Conn':>9}  TLS")
    say(f"{'=' * (width - 2):<{width}}{'=' * 11}  {'=' * 9}  {'=' * 18}")
    for entry in entries:
        say(f"{_shown(entry.domain):<{width}}{entry.max_concurrency:>11}  "
            f"{entry.max_messages_per_connection:>9}  {entry.tls.value}")


def _say_detail(session: CliSession, entries: list[DestinationControl]) -> None:
    say = session.dialog.say
    for entry in entries:
        say()
        say(_shown(entry.domain))
        say(f"    Maximum concurrency: {entry.max_concurrency} (System Wide)")
        say(f"    Maximum messages per connection: {entry.max_messages_per_connection}")
        say(f"    TLS: {entry.tls.value}")


# -- the dialog ------------------------------------------------------------------------


def _check_new_domain(session: CliSession) -> Callable[[str], str]:
    def check(answer: str) -> str:
        domain = values.check_destination_domain(answer)
        if domain == values.DEFAULT_DESTINATION:
            raise InvalidValue("The DEFAULT entry always exists: change it with DEFAULT.")
        if domain in _domains(session):
            raise InvalidValue(f"{domain} is already in the destination control table.")
        return domain

    return check


async def _new(session: CliSession) -> None:
    domain = await session.dialog.ask_required("Enter the domain you wish to configure.",
                                               validate=_check_new_domain(session))
    default = session.config.destination(values.DEFAULT_DESTINATION)
    await _ask_limits(session, DestinationControl(domain, default.max_concurrency,
                                                  default.max_messages_per_connection,
                                                  default.tls), create=True)


async def _choose_entry(session: CliSession, verb: str) -> str | None:
    domains = _domains(session)
    if not domains:
        session.dialog.error("There are no entries other than the default.")
        return None
    index = await session.dialog.choose(
        domains, f"Enter the name or number of the domain you wish to {verb}.", allow_blank=True
    )
    return None if index is None else domains[index]


async def _edit(session: CliSession) -> None:
    domain = await _choose_entry(session, "edit")
    if domain is not None:
        await _ask_limits(session, session.config.destination(domain), create=False)


async def _default(session: CliSession) -> None:
    await _ask_limits(session, session.config.destination(values.DEFAULT_DESTINATION),
                      create=False)


async def _ask_limits(session: CliSession, entry: DestinationControl, *, create: bool) -> None:
    """The AsyncOS questions for one entry.  For a domain each limit is behind a yes/no
    question; answering no takes the DEFAULT entry's value.  One change at the end."""
    dialog, domain = session.dialog, entry.domain
    default = session.config.destination(values.DEFAULT_DESTINATION)
    is_default = domain == values.DEFAULT_DESTINATION

    async def gate(question: str, own: bool) -> bool:
        return is_default or await dialog.confirm(question, default=own)

    concurrency = default.max_concurrency
    if await gate(f"Do you wish to configure a concurrency limit for {domain}?",
                  create or entry.max_concurrency != default.max_concurrency):
        concurrency = await dialog.ask_number(
            f'Enter the max concurrency limit for "{_shown(domain)}".',
            low=values.DESTINATION_CONCURRENCY[0], high=values.DESTINATION_CONCURRENCY[1],
            default=entry.max_concurrency)
    per_connection = default.max_messages_per_connection
    if await gate("Do you wish to apply a messages-per-connection limit to this domain?",
                  not create and entry.max_messages_per_connection
                  != default.max_messages_per_connection):
        per_connection = await dialog.ask_number(
            f'Enter the max number of messages per connection for "{_shown(domain)}".',
            low=values.MESSAGES_PER_CONNECTION[0], high=values.MESSAGES_PER_CONNECTION[1],
            default=entry.max_messages_per_connection)
    tls = default.tls
    if await gate("Do you wish to apply a specific TLS setting for this domain?",
                  not create and entry.tls != default.tls):
        index = await dialog.choose([mode.value for mode in TLS_MODES], "",
                                    heading="Do you want to use TLS support?",
                                    default=TLS_MODES.index(entry.tls))
        tls = TLS_MODES[index]
    if not create and (concurrency, per_connection, tls) == (
            entry.max_concurrency, entry.max_messages_per_connection, entry.tls):
        return
    record_all(session, [SetDestination(domain, create, concurrency, per_connection, tls)])


async def _delete(session: CliSession) -> None:
    domain = await _choose_entry(session, "delete")
    if domain is not None:
        session.record(DeleteDestination(domain))
        session.dialog.say()
        session.dialog.say(f"{domain} is deleted.")


async def _list(session: CliSession) -> None:
    _say_list(session)


async def _detail(session: CliSession) -> None:
    def check(answer: str) -> list[DestinationControl]:
        try:
            return _entries_for(session.config, answer)
        except CommandError as exc:
            raise InvalidValue(str(exc)) from None

    entries = await session.dialog.ask(
        'Enter the domain you wish to view, or "all" to view all entries.', default="all",
        validate=check)
    _say_detail(session, entries)


_OPERATION_HANDLERS: dict[str, Callable[[CliSession], Awaitable[None]]] = {
    "NEW": _new,
    "EDIT": _edit,
    "DELETE": _delete,
    "DEFAULT": _default,
    "LIST": _list,
    "DETAIL": _detail,
}


# -- one-line forms --------------------------------------------------------------------


def parse_tls_mode(text: str) -> TlsMode:
    """``no``, ``preferred``, ``required``, ``preferred-verify``, ``required-verify`` (or the
    AsyncOS labels, e.g. "Preferred - Verify"), in any case."""
    key = "".join(check_text(text, "TLS setting").lower().split()).replace("_", "-")
    for mode in TlsMode:
        if "".join(mode.value.lower().split()) == key:
            return mode
    raise InvalidValue(f'"{text}" is not a TLS setting: enter no, preferred, required, '
                       "preferred-verify or required-verify.")


_OPTION_PARSERS: dict[str, Callable[[str], object]] = {
    "concurrency": lambda text: values.parse_int(text, values.DESTINATION_CONCURRENCY),
    "perconn": lambda text: values.parse_int(text, values.MESSAGES_PER_CONNECTION),
    "tls": parse_tls_mode,
}


def _entries_for(config: Config, name: str) -> list[DestinationControl]:
    """``all`` or one domain (``default`` for the DEFAULT entry)."""
    if name.lower() == "all":
        return _ordered(config)
    domain = checked(values.check_destination_domain, name)
    for entry in config.destinations:
        if entry.domain == domain:
            return [entry]
    raise CommandError(f"{domain} was not found in the destination control table.")


def _batch(session: CliSession, verb: str, rest: list[str]) -> None:
    if verb == "list" and not rest:
        _say_list(session)
    elif verb == "detail" and len(rest) == 1:
        _say_detail(session, _entries_for(session.config, rest[0]))
    elif verb == "delete" and len(rest) == 1:
        record_all(session, [DeleteDestination(rest[0])])
    elif verb in ("new", "edit") and rest and (verb == "new" or len(rest) > 1):
        form = usage(COMMAND, f"{verb} <domain> {OPTIONS}")
        options = parse_options(rest[1:], _OPTION_PARSERS, form=form)
        record_all(session, [SetDestination(rest[0], verb == "new", options.get("concurrency"),
                                            options.get("perconn"), options.get("tls"))])
    else:
        raise usage(COMMAND, FORMS)
