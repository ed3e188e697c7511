"""``listenerconfig``: the public SMTP listener, its host access table (HAT) and its
recipient access table (RAT).

segcli has one listener.  Its RAT lists the domains mail is accepted for
(``example.com``, or ``.example.com`` for every sub-domain); every other recipient
is refused, so the gateway is never an open relay.  The HAT's RELAYLIST sender group
names the hosts that may relay (addresses or networks): their mail may be for any
domain and is outgoing mail.  EDIT follows AsyncOS's listener sub-menu (NAME,
INTERFACE, LIMITS, SETUP, HOSTACCESS, RCPTACCESS); every edit is a pending change
until ``commit``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from commands.editing import (
    accept,
    checked,
    join_words,
    parse_on_off,
    record_all,
    usage,
)
from commands.registry import Names, SessionView, command
from commands.session import CliSession
from engine.config import values
from engine.config.addresses import InvalidValue
from engine.config.changes import (
    AddAcceptedDomain,
    AddRelayHost,
    Change,
    RemoveAcceptedDomain,
    RemoveRelayHost,
    SetListenerAddress,
    SetListenerName,
    SetMaxMessageSize,
    SetOfferTls,
)
from engine.config.model import Listener, check_listener_name

COMMAND = "listenerconfig"
RAT_FORMS = ("rcptaccess add <domain>[,<domain>...] | rcptaccess delete <domain> | "
             "rcptaccess print")
HAT_FORMS = ("hostaccess add <address|network>[,...] | hostaccess delete <address|network> | "
             "hostaccess print")
FORMS = ("print | name <name> | address <host:port> | maxsize <size> | tls on|off | "
         f"{HAT_FORMS} | {RAT_FORMS}")
EDIT_OPERATIONS = [
    ("NAME", "Change the name of the listener."),
    ("INTERFACE", "Change the address and port the listener listens on."),
    ("LIMITS", "Change the injection limits."),
    ("SETUP", "Configure general options."),
    ("HOSTACCESS", "Modify the Host Access Table."),
    ("RCPTACCESS", "Modify the Recipient Access Table."),
]
HAT_OPERATIONS = [
    ("NEW", "Add hosts to the RELAYLIST sender group."),
    ("DELETE", "Remove a host from the RELAYLIST sender group."),
    ("PRINT", "Display the table."),
]
RAT_OPERATIONS = [
    ("NEW", "Create a new entry."),
    ("DELETE", "Remove an entry."),
    ("PRINT", "Display the table."),
]
DOMAIN_SYNTAX = ('Domains such as "example.com" are allowed.\n'
                 'Partial domains such as ".example.com" (all of its sub-domains) are allowed.\n'
                 "Separate multiple entries with commas.")
HOST_SYNTAX = ('IP addresses such as "10.1.1.5" are allowed.\n'
               'Networks such as "10.1.1.0/24" or "2001:db8::/32" are allowed.\n'
               "Separate multiple entries with commas.")
SIZE_QUESTION = ("Enter the maximum message size. Add a trailing k for kilobytes, M for "
                 "megabytes, or no letter for bytes.")


def _accepted_domains(session: SessionView) -> list[str]:
    return session.config.listener.accepted_domains


def _relay_hosts(session: SessionView) -> list[str]:
    return session.config.listener.relay_hosts


@command(
    COMMAND,
    summary="Configure mail listeners (the SMTP listener, its host and recipient access tables)",
    help="""
listenerconfig        lists the listener; EDIT opens its sub-menu: NAME, INTERFACE
                      (address and port), LIMITS (maximum message size), SETUP (STARTTLS),
                      HOSTACCESS (the RELAYLIST of the host access table: NEW, DELETE, PRINT),
                      RCPTACCESS (the recipient access table: NEW, DELETE, PRINT)

One-line forms:
listenerconfig print                                   the listener and its table
listenerconfig name <name>                             rename the listener
listenerconfig address <host:port>                     where it listens (e.g. 0.0.0.0:25)
listenerconfig maxsize <size>                          maximum message size: bytes, 512k, 10M
listenerconfig tls on|off                              offer STARTTLS or not
listenerconfig rcptaccess add <domain>[,<domain>...]   accept mail for these domains
listenerconfig rcptaccess delete <domain>              stop accepting mail for a domain
listenerconfig rcptaccess print                        the recipient access table
listenerconfig hostaccess add <address|network>[,...]  let these hosts relay (outgoing mail)
listenerconfig hostaccess delete <address|network>     stop a host relaying
listenerconfig hostaccess print                        the host access table

Recipient access table entries are example.com (the domain) or .example.com (its
sub-domains).  Mail for any other recipient is refused, except from the hosts of the
RELAYLIST sender group (10.1.1.5, 10.1.1.0/24): they relay to any domain, and their
mail meets the outgoing mail policies (never journaled to Threat Defense).  Changes need
a commit; the listener moves to a new address at once (a --smtp start option overrides
the address until the next start without it).
""",
    changes_config=True,
    grammar={
        "print": None, "name": None, "address": None, "maxsize": None,
        "tls": {"on": None, "off": None},
        "rcptaccess": {"add": None, "delete": Names(_accepted_domains), "print": None},
        "hostaccess": {"add": None, "delete": Names(_relay_hosts), "print": None},
    },
)
async def listenerconfig(session: CliSession, args: list[str]) -> None:
    if args:
        _batch(session, args[0].lower(), args[1:])
        return
    while True:
        _list_listeners(session)
        choice = await session.dialog.menu([("EDIT", "Modify a listener.")])
        if choice is None:
            return
        await _edit(session)


# -- what it shows ---------------------------------------------------------------------


def _listener_line(listener: Listener) -> str:
    """AsyncOS's listener list format: ``1. name (on iface, ip) SMTP TCP Port 25 Public``."""
    address = listener.address
    return f"{listener.name} (on Management, {address.host}) SMTP TCP Port {address.port} Public"


def _list_listeners(session: CliSession) -> None:
    say = session.dialog.say
    say()
    say("Currently configured listeners:")
    say(f"1. {_listener_line(session.config.listener)}")


def _say_details(session: CliSession) -> None:
    """The listener's settings, shown above its sub-menu and by ``print``."""
    listener, say = session.config.listener, session.dialog.say
    say()
    say(f"Name: {listener.name}")
    say("Type: Public")
    say(f"Interface: Management ({listener.address.host}) TCP Port {listener.address.port}")
    say("Protocol: SMTP")
    say(f"Maximum Message Size: {values.format_size(listener.max_message_size)}")
    say(f"TLS: {'Preferred (STARTTLS offered)' if listener.offer_tls else 'No'}")
    override = session.appliance.options.smtp
    if override is not None and override != listener.address:
        say(f"(This process listens on {override}: the --smtp start option overrides the address.)")
    problem = session.appliance.listener_problem
    if problem:
        say(f"({problem})")


def _say_rat(session: CliSession) -> None:
    """The recipient access table, with the implicit last row that refuses the rest."""
    listener, say = session.config.listener, session.dialog.say
    say()
    say(f"Recipient Access Table for {listener.name}:")
    width = max([20, *(len(entry) + 2 for entry in listener.accepted_domains)])
    for entry in listener.accepted_domains:
        say(f"{entry:<{width}}ACCEPT")
    say(f"{'ALL':<{width}}REJECT")


def _say_hat(session: CliSession) -> None:
    """The host access table: the RELAYLIST sender group, then everyone else."""
    listener, say = session.config.listener, session.dialog.say
    say()
    say(f"Host Access Table for {listener.name}:")
    say("RELAYLIST (policy RELAYED: may relay to any domain; outgoing mail policies)")
    for entry in listener.relay_hosts:
        say(f"    {entry}")
    if not listener.relay_hosts:
        say("    (no hosts)")
    say("ALL (sender group UNKNOWNLIST, policy ACCEPTED: recipient access table; "
        "incoming mail policies)")


# -- the dialog ------------------------------------------------------------------------


async def _edit(session: CliSession) -> None:
    """Pick the listener (one), then its sub-menu until a blank answer."""
    index = await session.dialog.choose(
        [session.config.listener.name],
        "Enter the name or number of the listener you wish to edit.", allow_blank=True,
    )
    if index is None:
        return
    while True:
        _say_details(session)
        choice = await session.dialog.menu(EDIT_OPERATIONS)
        if choice is None:
            return
        await _EDIT_HANDLERS[choice](session)


async def _edit_name(session: CliSession) -> None:
    current = session.config.listener.name
    name = await session.dialog.ask_required("Enter the new name for this listener.",
                                             default=current, validate=check_listener_name)
    if name != current:
        session.record(SetListenerName(name))


async def _edit_interface(session: CliSession) -> None:
    current = session.config.listener.address

    def check(answer: str) -> list[Change]:
        return accept(session, [SetListenerAddress(answer)])

    changes = await session.dialog.ask_required(
        "Enter the IP address (or host name) and TCP port to listen on, as HOST:PORT.",
        default=str(current), validate=check,
    )
    after = session.config.copy()
    changes[0].apply(after)
    if after.listener.address != current:
        record_all(session, changes)


async def _edit_limits(session: CliSession) -> None:
    current = session.config.listener.max_message_size
    size = await session.dialog.ask_required(SIZE_QUESTION, default=values.format_size(current),
                                             validate=values.parse_size)
    if size != current:
        session.record(SetMaxMessageSize(size))


async def _edit_setup(session: CliSession) -> None:
    current = session.config.listener.offer_tls
    offer = await session.dialog.confirm("Do you want to offer STARTTLS to connecting hosts?",
                                         default=current)
    if offer != current:
        session.record(SetOfferTls(offer))


@dataclass(frozen=True)
class _AccessTable:
    """One of the listener's two tables, edited alike: NEW takes a comma separated list (one
    change per entry, all or nothing), DELETE picks one entry, PRINT shows the table."""

    show: Callable[[CliSession], None]
    operations: list[tuple[str, str]]
    entries: Callable[[CliSession], list[str]]
    add: Callable[[str], Change]
    remove: Callable[[str], Change]
    new_question: str
    delete_question: str
    empty: str
    forms: str

    def changes(self, text: str) -> list[Change]:
        entries = values.split_list(text)
        if not entries:
            raise InvalidValue("You must enter a value.")
        return [self.add(entry) for entry in entries]


async def _edit_table(session: CliSession, table: _AccessTable) -> None:
    """The table, then NEW / DELETE / PRINT until a blank answer (PRINT: shown again)."""
    while True:
        table.show(session)
        choice = await session.dialog.menu(table.operations)
        if choice is None:
            return
        if choice == "NEW":
            await _table_new(session, table)
        elif choice == "DELETE":
            await _table_delete(session, table)


async def _table_new(session: CliSession, table: _AccessTable) -> None:
    def check(answer: str) -> list[Change]:
        return accept(session, table.changes(answer))

    changes = await session.dialog.ask_required(table.new_question, validate=check)
    record_all(session, changes)


async def _table_delete(session: CliSession, table: _AccessTable) -> None:
    entries = list(table.entries(session))
    if not entries:
        session.dialog.error(table.empty)
        return
    index = await session.dialog.choose(entries, table.delete_question, allow_blank=True)
    if index is not None:
        session.record(table.remove(entries[index]))
        session.dialog.say()
        session.dialog.say(f"{entries[index]} is deleted.")


def _batch_table(session: CliSession, table: _AccessTable, verb: str, rest: list[str]) -> None:
    if verb == "print" and not rest:
        table.show(session)
    elif verb == "add" and rest:
        record_all(session, checked(table.changes, join_words(rest)))
    elif verb == "delete" and len(rest) == 1:
        record_all(session, [table.remove(rest[0])])
    else:
        raise usage(COMMAND, table.forms)


HOST_ACCESS = _AccessTable(
    show=_say_hat, operations=HAT_OPERATIONS, entries=_relay_hosts,
    add=AddRelayHost, remove=RemoveRelayHost,
    new_question="Enter the hosts that may relay mail through this listener.\n" + HOST_SYNTAX,
    delete_question="Enter the address or number of the host you wish to delete.",
    empty="The RELAYLIST sender group has no hosts to delete.", forms=HAT_FORMS,
)
RECIPIENT_ACCESS = _AccessTable(
    show=_say_rat, operations=RAT_OPERATIONS, entries=_accepted_domains,
    add=AddAcceptedDomain, remove=RemoveAcceptedDomain,
    new_question="Enter the domains to accept mail for.\n" + DOMAIN_SYNTAX,
    delete_question="Enter the name or number of the entry you wish to delete.",
    empty="The recipient access table has no entries to delete.", forms=RAT_FORMS,
)


_EDIT_HANDLERS: dict[str, Callable[[CliSession], Awaitable[None]]] = {
    "NAME": _edit_name,
    "INTERFACE": _edit_interface,
    "LIMITS": _edit_limits,
    "SETUP": _edit_setup,
    "HOSTACCESS": lambda session: _edit_table(session, HOST_ACCESS),
    "RCPTACCESS": lambda session: _edit_table(session, RECIPIENT_ACCESS),
}


# -- one-line forms --------------------------------------------------------------------


def _batch(session: CliSession, verb: str, rest: list[str]) -> None:
    if verb == "print" and not rest:
        _list_listeners(session)
        _say_details(session)
        _say_hat(session)
        _say_rat(session)
    elif verb == "name" and len(rest) == 1:
        record_all(session, [SetListenerName(rest[0])])
    elif verb == "address" and len(rest) == 1:
        record_all(session, [SetListenerAddress(rest[0])])
    elif verb == "maxsize" and len(rest) == 1:
        record_all(session, [SetMaxMessageSize(checked(values.parse_size, rest[0]))])
    elif verb == "tls" and len(rest) == 1:
        record_all(session, [SetOfferTls(checked(parse_on_off, rest[0]))])
    elif verb == "rcptaccess" and rest:
        _batch_table(session, RECIPIENT_ACCESS, rest[0].lower(), rest[1:])
    elif verb == "hostaccess" and rest:
        _batch_table(session, HOST_ACCESS, rest[0].lower(), rest[1:])
    else:
        raise usage(COMMAND, FORMS)
