"""``dnsconfig``: which DNS servers the gateway asks (MX and A lookups for delivery and
for the connector's intake domain), and how long it waits for an answer.

With no servers configured the host's own resolvers are used (``/etc/resolv.conf``);
labs name their local DNS zone here (``127.0.0.1:5353``).
"""

from __future__ import annotations

from commands.editing import accept, checked, join_words, record_all, seconds_text, usage
from commands.registry import command
from commands.session import CliSession
from engine.config import values
from engine.config.addresses import InvalidValue
from engine.config.changes import Change, SetDns

COMMAND = "dnsconfig"
FORMS = "print | servers <ip[:port]>[,<ip[:port]>...] | system | timeout <seconds>"
OPERATIONS = [
    ("NEW", "Add a new server."),
    ("DELETE", "Remove a server."),
    ("SETUP", "Configure general settings."),
]
SOURCES = ["Use this host's resolvers (/etc/resolv.conf)", "Use own DNS servers"]
SERVER_NOTES = ('Separate multiple entries with commas; add ":port" for a port other than 53 '
                "(e.g. 127.0.0.1:5353, [::1]:5353).")
TIMEOUT_QUESTION = "Please enter the number of seconds to wait before timing out DNS queries."


@command(
    COMMAND,
    summary="Configure DNS setup",
    help="""
dnsconfig         shows the DNS configuration and a menu: NEW (add a server), DELETE
                  (remove one), SETUP (the host's resolvers or your own servers, and
                  the timeout)

One-line forms:
dnsconfig print                              the DNS configuration
dnsconfig servers <ip[:port]>[,<ip[:port]>]  use these servers, in this order (port 53
                                             when left out)
dnsconfig system                             use this host's resolvers (/etc/resolv.conf)
dnsconfig timeout <seconds>                  how long to wait for an answer

Changes need a commit.
""",
    changes_config=True,
    grammar={"print": None, "servers": None, "system": None, "timeout": None},
)
async def dnsconfig(session: CliSession, args: list[str]) -> None:
    if args:
        _batch(session, args[0].lower(), args[1:])
        return
    while True:
        _say_settings(session)
        options = OPERATIONS if session.config.dns.servers else [OPERATIONS[0], OPERATIONS[2]]
        choice = await session.dialog.menu(options)
        if choice is None:
            return
        if choice == "NEW":
            await _new(session)
        elif choice == "DELETE":
            await _delete(session)
        else:
            await _setup(session)


def _say_settings(session: CliSession) -> None:
    dns, say = session.config.dns, session.dialog.say
    say()
    say("Current DNS Configuration:")
    if dns.servers:
        say("Using these DNS servers:")
        for number, server in enumerate(dns.servers, 1):
            say(f"{number}. {server}")
    else:
        say("Using this host's resolvers (/etc/resolv.conf).")
    say(f"Timeout for DNS queries: {seconds_text(dns.timeout)}")


def _server_texts(session: CliSession) -> list[str]:
    return [str(server) for server in session.config.dns.servers]


async def _new(session: CliSession) -> None:
    current = _server_texts(session)

    def check(answer: str) -> list[Change]:
        return accept(session, [SetDns((*current, *_servers(answer)))])

    changes = await session.dialog.ask_required(
        f"Please enter the IP address of the DNS server to add.\n{SERVER_NOTES}", validate=check
    )
    record_all(session, changes)


async def _delete(session: CliSession) -> None:
    current = _server_texts(session)
    index = await session.dialog.choose(
        current, "Enter the number of the server you wish to remove.", allow_blank=True
    )
    if index is None:
        return
    remaining = tuple(server for number, server in enumerate(current) if number != index)
    session.record(SetDns(remaining))
    if not remaining:
        session.dialog.say()
        session.dialog.say("No DNS servers remain: this host's resolvers will be used.")


async def _setup(session: CliSession) -> None:
    """The source of answers (host or own servers), then the timeout; one change."""
    dialog, dns = session.dialog, session.config.dns
    index = await dialog.choose(
        SOURCES, "", default=1 if dns.servers else 0,
        heading="Do you want to use this host's resolvers or your own DNS servers?",
    )
    servers: tuple[str, ...] = ()
    if index == 1:
        servers = tuple(await dialog.ask_required(
            f"Please enter the IP address of your DNS server.\n{SERVER_NOTES}",
            default=", ".join(_server_texts(session)) or None,
            validate=_endpoints,
        ))
    timeout = await dialog.ask_required(TIMEOUT_QUESTION,
                                        default=values.format_number(dns.timeout),
                                        validate=_timeout)
    change = SetDns(servers, timeout)
    if servers != tuple(_server_texts(session)) or timeout != dns.timeout:
        record_all(session, [change])


def _servers(text: str) -> list[str]:
    entries = values.split_list(text)
    if not entries:
        raise InvalidValue("You must enter a value.")
    return entries


def _endpoints(text: str) -> list[str]:
    """Every server checked (canonical ``ip:port``), no repeats, for the SETUP question."""
    servers = [values.join_host_port(*values.check_dns_server(entry)) for entry in _servers(text)]
    repeated = [server for number, server in enumerate(servers) if server in servers[:number]]
    if repeated:
        raise InvalidValue(f"The DNS server {repeated[0]} is entered more than once.")
    return servers


def _timeout(text: str) -> float:
    return values.parse_seconds(text, values.DNS_TIMEOUT)


def _batch(session: CliSession, verb: str, rest: list[str]) -> None:
    if verb == "print" and not rest:
        _say_settings(session)
    elif verb == "system" and not rest:
        record_all(session, [SetDns(())])
    elif verb == "servers" and rest:
        record_all(session, [SetDns(tuple(checked(_servers, join_words(rest))))])
    elif verb == "timeout" and len(rest) == 1:
        record_all(session, [SetDns(timeout=checked(_timeout, rest[0]))])
    else:
        raise usage(COMMAND, FORMS)
