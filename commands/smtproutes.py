"""``smtproutes``: permanent routes that send a domain's mail to given hosts instead of
its MX (ASYNCOS.md §6).

A route is for ``example.com``, ``.example.com`` (every sub-domain) or ``ALL`` (the
default route); its destinations are hosts (``host`` or ``host:port``), ``USEDNS``
(normal DNS resolution) or ``/dev/null`` (discard), the last two by themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from commands.editing import accept, join_words, record_all, usage
from commands.errors import CommandError
from commands.registry import Names, SessionView, command
from commands.session import CliSession
from engine.config import values
from engine.config.addresses import InvalidValue
from engine.config.changes import AddRoute, Change, ClearRoutes, DeleteRoute, EditRoute
from engine.config.model import SmtpRoute

COMMAND = "smtproutes"
FORMS = ("new <domain> <host>[,<host>...] | edit <domain> add|replace|remove <host>[,<host>...] | "
         "delete <domain> | print | clear")
OPERATIONS = [
    ("NEW", "Create a new route."),
    ("EDIT", "Edit destinations of an existing route."),
    ("DELETE", "Remove a route."),
    ("PRINT", "Display all routes."),
    ("CLEAR", "Remove all routes."),
]
EDIT_OPERATIONS = [
    ("ADD", "Add new destination hosts."),
    ("REPLACE", "Specify a new destination or set of destinations."),
    ("REMOVE", "Remove destination hosts."),
]
DOMAIN_QUESTION = ("Enter the domain for which you want to set up a permanent route.\n"
                   'Partial hostnames such as ".example.com" are allowed.\n'
                   'Use "ALL" for the default route.')
DESTINATION_NOTES = ("Enter USEDNS by itself to use normal DNS resolution for this route.\n"
                     "Enter /dev/null by itself if you wish to discard the mail.\n"
                     'Add ":port" to a host to deliver to a port other than 25.')
LAST_DESTINATION = ("A route must keep at least one destination: use DELETE to remove the "
                    "route instead.")


def _route_domains(session: SessionView) -> list[str]:
    return [route.domain for route in session.config.smtp_routes]


@command(
    COMMAND,
    summary="Set up permanent domain redirections",
    help="""
smtproutes        lists the routes and a menu: NEW, EDIT (ADD, REPLACE or REMOVE
                  destinations), DELETE, PRINT, CLEAR

One-line forms:
smtproutes new <domain> <host>[,<host>...]        a new route
smtproutes edit <domain> add <host>[,<host>...]   more destinations for a route
smtproutes edit <domain> replace <host>[,...]     new destinations for a route
smtproutes edit <domain> remove <host>[,...]      fewer destinations (at least one stays)
smtproutes delete <domain>                        remove a route
smtproutes print                                  list the routes
smtproutes clear                                  remove every route

Domains: example.com, .example.com (its sub-domains) or ALL (the default route).
Destinations: host, host:port, [IPv6]:port, USEDNS (normal DNS resolution) or
/dev/null (discard the mail); USEDNS and /dev/null by themselves.  Mail for a domain
with no route goes to the domain's MX hosts.  Changes need a commit.
""",
    changes_config=True,
    grammar={
        "new": None,
        "edit": Names(_route_domains, then={"add": None, "replace": None, "remove": None}),
        "delete": Names(_route_domains),
        "print": None,
        "clear": None,
    },
)
async def smtproutes(session: CliSession, args: list[str]) -> None:
    if args:
        _batch(session, args[0].lower(), args[1:])
        return
    while True:
        _say_routes(session)
        routes = session.config.smtp_routes
        choice = await session.dialog.menu(OPERATIONS if routes else OPERATIONS[:1])
        if choice is None:
            return
        await _OPERATION_HANDLERS[choice](session)


# -- what it shows ---------------------------------------------------------------------


def _say_routes(session: CliSession) -> None:
    say, routes = session.dialog.say, session.config.smtp_routes
    say()
    if not routes:
        say("There are no routes configured.")
        return
    say("Currently configured routes:")
    rows = [f"{number}. {route.domain}" for number, route in enumerate(routes, 1)]
    width = max([28, *(len(row) + 2 for row in rows)])
    for row, route in zip(rows, routes, strict=True):
        say(f"{row:<{width}}{', '.join(route.destinations)}")


# -- the dialog ------------------------------------------------------------------------


def _check_new_domain(session: CliSession) -> Callable[[str], str]:
    """The domain question refuses a domain that already has a route, before the hosts."""

    def check(answer: str) -> str:
        domain = values.check_route_domain(answer)
        if domain in _route_domains(session):
            if domain == values.ROUTE_ALL:
                raise InvalidValue("There is already a default route set.")
            raise InvalidValue(f"The value {domain} is already in the routing table.")
        return domain

    return check


def _destinations_question(domain: str) -> str:
    shown = "all other domains" if domain == values.ROUTE_ALL else domain
    return ("Enter the destination hosts, separated by commas, which you want mail for "
            f"{shown} to be delivered.\n{DESTINATION_NOTES}")


async def _new(session: CliSession) -> None:
    dialog = session.dialog
    domain = await dialog.ask_required(DOMAIN_QUESTION, validate=_check_new_domain(session))

    def check(answer: str) -> list[Change]:
        return accept(session, [AddRoute(domain, tuple(values.split_list(answer)))])

    record_all(session, await dialog.ask_required(_destinations_question(domain), validate=check))


async def _choose_route(session: CliSession, verb: str) -> SmtpRoute | None:
    routes = session.config.smtp_routes
    index = await session.dialog.choose(
        [route.domain for route in routes],
        f"Enter the name or number of the route you wish to {verb}.", allow_blank=True,
    )
    return None if index is None else routes[index]


async def _edit(session: CliSession) -> None:
    """EDIT: pick a route, then ADD, REPLACE or REMOVE destinations (one operation)."""
    route = await _choose_route(session, "edit")
    if route is None:
        return
    dialog = session.dialog
    dialog.say()
    dialog.say(f"Destinations for {route.domain}: {', '.join(route.destinations)}")
    choice = await dialog.menu(EDIT_OPERATIONS)
    if choice == "REMOVE":
        await _edit_remove(session, route)
    elif choice is not None:
        question = (_destinations_question(route.domain) if choice == "REPLACE" else
                    "Enter the destination hosts to add, separated by commas.")
        keep = list(route.destinations) if choice == "ADD" else []

        def check(answer: str) -> list[Change]:
            return accept(session, [EditRoute(route.domain,
                                              (*keep, *values.split_list(answer)))])

        record_all(session, await dialog.ask_required(question, validate=check))


async def _edit_remove(session: CliSession, route: SmtpRoute) -> None:
    if len(route.destinations) == 1:
        session.dialog.error(LAST_DESTINATION)
        return
    index = await session.dialog.choose(
        route.destinations, "Enter the name or number of the destination you wish to remove.",
        allow_blank=True,
    )
    if index is not None:
        remaining = [d for number, d in enumerate(route.destinations) if number != index]
        session.record(EditRoute(route.domain, tuple(remaining)))


async def _delete(session: CliSession) -> None:
    route = await _choose_route(session, "delete")
    if route is not None:
        session.record(DeleteRoute(route.domain))
        session.dialog.say()
        session.dialog.say(f"The route for {route.domain} is deleted.")


async def _print(session: CliSession) -> None:
    """PRINT: the table is shown again above the menu."""


async def _clear(session: CliSession) -> None:
    if await session.dialog.confirm("Are you sure you want to delete all routes?", default=False):
        session.record(ClearRoutes())


_OPERATION_HANDLERS: dict[str, Callable[[CliSession], Awaitable[None]]] = {
    "NEW": _new,
    "EDIT": _edit,
    "DELETE": _delete,
    "PRINT": _print,
    "CLEAR": _clear,
}


# -- one-line forms --------------------------------------------------------------------


def _batch(session: CliSession, verb: str, rest: list[str]) -> None:
    if verb == "print" and not rest:
        _say_routes(session)
    elif verb == "clear" and not rest:
        record_all(session, [ClearRoutes()])
    elif verb == "delete" and len(rest) == 1:
        record_all(session, [DeleteRoute(rest[0])])
    elif verb == "new" and len(rest) >= 2:
        record_all(session, [AddRoute(rest[0], tuple(values.split_list(join_words(rest[1:]))))])
    elif verb == "edit" and len(rest) >= 3 and rest[1].lower() in ("add", "replace", "remove"):
        record_all(session, [_batch_edit(session, rest[0], rest[1].lower(),
                                         values.split_list(join_words(rest[2:])))])
    else:
        raise usage(COMMAND, FORMS)


def _batch_edit(session: CliSession, domain: str, verb: str, hosts: list[str]) -> EditRoute:
    """The new destination list for ``edit <domain> add|replace|remove``."""
    if verb == "replace":
        return EditRoute(domain, tuple(hosts))
    route = _find(session, domain)
    if verb == "add":
        return EditRoute(route.domain, (*route.destinations, *hosts))
    remove = [_canonical_destination(host) for host in hosts]
    missing = [host for host in remove if host not in route.destinations]
    if missing:
        raise CommandError(f"{missing[0]} is not a destination of the route for {route.domain}.")
    remaining = tuple(d for d in route.destinations if d not in remove)
    if not remaining:
        raise CommandError(LAST_DESTINATION)
    return EditRoute(route.domain, remaining)


def _find(session: CliSession, domain: str) -> SmtpRoute:
    try:
        key = values.check_route_domain(domain)
    except InvalidValue as exc:
        raise CommandError(str(exc)) from None
    for route in session.config.smtp_routes:
        if route.domain == key:
            return route
    raise CommandError(f'There is no route for "{domain}".')


def _canonical_destination(host: str) -> str:
    try:
        return values.check_route_destination(host)
    except InvalidValue as exc:
        raise CommandError(str(exc)) from None
