"""``labconfig`` (segcli only, not an AsyncOS command): lab addressing, SPEC.md §4 ruling 7.

In a lab, a delivery that a real gateway would make to port 25 of a resolved host
goes to the loopback port assigned here to that host name, so a lab needs no root,
no port 25 and no extra loopback addresses; the mail log shows the real port.
"""

from __future__ import annotations

from commands.editing import accept, checked, record_all, usage
from commands.registry import Names, SessionView, command
from commands.session import CliSession
from engine.config import values
from engine.config.changes import RemoveHostPort, SetHostPort

COMMAND = "labconfig"
FORMS = "print | hostport <host> <port> | delete <host>"
OPERATIONS = [
    ("NEW", "Assign a loopback port to a host name."),
    ("DELETE", "Remove a host name's port."),
]
PORT_RANGE = (1, 65535)


def _hosts(session: SessionView) -> list[str]:
    return sorted(session.config.host_ports)


@command(
    COMMAND,
    summary="Configure lab addressing (segcli only, not an AsyncOS command)",
    help="""
labconfig is specific to segcli; the appliance has no such command.

In a lab, deliveries to port 25 of a host go instead to the loopback port assigned
here to the host's name (SPEC.md §4 ruling 7), so the lab runs without root or
extra addresses.  Hosts without a port are delivered to as usual.

labconfig                          lists the host names and ports, and a menu: NEW, DELETE

One-line forms:
labconfig print                    the host names and their ports
labconfig hostport <host> <port>   deliver to <host> on 127.0.0.1:<port> (replaces a port)
labconfig delete <host>            deliver to <host> as usual again

Changes need a commit.
""",
    changes_config=True,
    grammar={"print": None, "hostport": Names(_hosts), "delete": Names(_hosts)},
)
async def labconfig(session: CliSession, args: list[str]) -> None:
    if args:
        _batch(session, args[0].lower(), args[1:])
        return
    while True:
        _say_ports(session)
        options = OPERATIONS if session.config.host_ports else OPERATIONS[:1]
        choice = await session.dialog.menu(options)
        if choice is None:
            return
        await (_new(session) if choice == "NEW" else _delete(session))


def _say_ports(session: CliSession) -> None:
    say, ports = session.dialog.say, session.config.host_ports
    say()
    if not ports:
        say("No lab host ports are configured: deliveries go to the resolved hosts as usual.")
        return
    say("Lab host ports (deliveries to these hosts go to this loopback port):")
    width = max([30, *(len(host) + 6 for host in ports)])
    for number, host in enumerate(sorted(ports), 1):
        say(f"{f'{number}. {host}':<{width}}{ports[host]}")


async def _new(session: CliSession) -> None:
    dialog = session.dialog
    host = await dialog.ask_required("Enter the host name.", validate=values.check_lab_host)
    current = session.config.host_ports.get(host)

    def check(answer: str) -> list[SetHostPort]:
        return accept(session, [SetHostPort(host, values.parse_int(answer, PORT_RANGE))])

    changes = await dialog.ask_required(
        f"Enter the loopback port that receives deliveries to {host}.",
        default=None if current is None else str(current), validate=check,
    )
    if changes[0].port != current:
        record_all(session, changes)


async def _delete(session: CliSession) -> None:
    hosts = _hosts(session)
    index = await session.dialog.choose(
        hosts, "Enter the name or number of the host you wish to remove.", allow_blank=True
    )
    if index is not None:
        session.record(RemoveHostPort(hosts[index]))


def _batch(session: CliSession, verb: str, rest: list[str]) -> None:
    if verb == "print" and not rest:
        _say_ports(session)
    elif verb == "hostport" and len(rest) == 2:
        record_all(session, [SetHostPort(rest[0], checked(values.parse_int, rest[1], PORT_RANGE))])
    elif verb == "delete" and len(rest) == 1:
        record_all(session, [RemoveHostPort(rest[0])])
    else:
        raise usage(COMMAND, FORMS)
