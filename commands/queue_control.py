"""Operators' hands on the queues: ``delivernow``, ``deleterecipients``,
``bouncerecipients``, ``suspenddel``/``resumedel`` and ``suspendlistener``/``resumelistener``.

Removal commands ask for confirmation at a terminal; their one-line forms are for scripts.
``the.tdc.queue`` is a host like the others here.
"""

from __future__ import annotations

from commands.errors import CommandError, UsageError
from commands.registry import command
from commands.session import CliSession
from engine.config.addresses import InvalidValue
from engine.config.values import check_host, join_host_port, split_host_port
from engine.mail.mail_engine import MailEngine
from engine.observe.log_lines import TDC_QUEUE
from engine.store.users import Role

BY = ["By recipient host.", "By Envelope From address.", "All."]


def _engine(session: CliSession) -> MailEngine:
    mail = session.appliance.mail
    if mail is None:
        raise CommandError("The mail engine runs in another segcli process; run this command there.")
    return mail


@command("delivernow", summary="Reschedule messages for immediate delivery", help="""
delivernow            asks: 1. By recipient host  2. All hosts
delivernow all        retries at once everything waiting for a retry
delivernow <host>     the same for one host (the.tdc.queue included)
""", grammar={"all": None}, role=Role.OPERATOR)
async def delivernow(session: CliSession, args: list[str]) -> None:
    mail = _engine(session)
    if len(args) > 1:
        raise UsageError("Invalid arguments when processing: usage is delivernow [all|<host>]")
    host = args[0].lower() if args else None
    if not args:
        choice = await session.dialog.choose(["By recipient host", "All hosts"],
                                             "Please choose the domains to deliver now:",
                                             default=1)
        if choice == 0:
            host = (await session.dialog.ask_required("Enter the recipient host:")).lower()
    count = mail.deliver_now(None if host in (None, "all") else host)
    session.dialog.say()
    session.dialog.say(f"Rescheduled {count} delivery attempt(s) for immediate delivery.")


async def _remove(session: CliSession, args: list[str], *, bounce: bool) -> None:
    mail = _engine(session)
    verb = "bounce" if bounce else "delete"
    name = f"{verb}recipients"
    if args and [word.lower() for word in args] != ["all"] \
            and (len(args) != 2 or args[0].lower() not in ("host", "sender")):
        raise UsageError(f"Invalid arguments when processing: usage is {name} "
                         "host <host> | sender <address> | all")
    if args:
        kind, value = args[0].lower(), (args[1] if len(args) == 2 else None)
    else:
        kind, value = await _ask_selection(session, verb)
        if not await session.dialog.confirm(_question(verb, kind, value), default=False):
            return
    count = mail.remove_recipients(host=value.lower() if kind == "host" and value else None,
                                   sender=value if kind == "sender" else None, bounce=bounce,
                                   user=session.user)
    session.dialog.say()
    session.dialog.say(f"{verb.capitalize()[:-1]}ing messages, please wait.")
    done = "bounced" if bounce else "deleted"
    session.dialog.say(f"{count} recipient(s) {done}.")
    _still_recovering(session, mail, f"the ones that match are {done} as they are read")


async def _ask_selection(session: CliSession, verb: str) -> tuple[str, str | None]:
    """The appliance's three-way question, then the host or the Envelope From address."""
    dialog = session.dialog
    index = await dialog.choose(BY, "", default=0,
                                heading=f"Please select how you would like to {verb} messages:")
    kind = ("host", "sender", "all")[index]
    if kind == "all":
        return kind, None
    what = "hostname" if kind == "host" else "Envelope From address"
    return kind, await dialog.ask_required(
        f"Please enter the {what} for the messages you wish to {verb}.")


def _question(verb: str, kind: str, value: str | None) -> str:
    """The confirmation, worded as the appliance words it for each kind."""
    if kind == "host":
        return f'Are you sure you want to {verb} all messages being delivered to "{value}"?'
    if kind == "sender":
        return (f"Are you sure you want to {verb} all messages with the Envelope From address "
                f'of "{value}"?')
    return f"Are you sure you want to {verb} all messages in the delivery queue (all active hosts)?"


@command("deleterecipients", summary="Delete messages from the queue", help="""
deleterecipients                    asks by host, by Envelope From address or all, then to confirm
deleterecipients host <host>        deletes the queued recipients of a host (the.tdc.queue too)
deleterecipients sender <address>   deletes the queued recipients of messages from a sender
deleterecipients all                deletes every queued recipient not being delivered now
""", grammar={"host": None, "sender": None, "all": None}, role=Role.OPERATOR)
async def deleterecipients(session: CliSession, args: list[str]) -> None:
    await _remove(session, args, bounce=False)


@command("bouncerecipients", summary="Bounce messages from the queue", help="""
bouncerecipients                    asks by host, by Envelope From address or all, then to confirm
bouncerecipients host <host> | sender <address> | all   the same in one line

Each sender gets a bounce message (DSN) for its bounced recipients.
""", grammar={"host": None, "sender": None, "all": None}, role=Role.OPERATOR)
async def bouncerecipients(session: CliSession, args: list[str]) -> None:
    await _remove(session, args, bounce=True)


REDIRECT_WARNING = ("WARNING: redirecting recipients to a host or IP address that is not "
                    "prepared to accept them may result in lost mail.")


@command("redirectrecipients", summary="Redirect all messages to another relay host", help="""
redirectrecipients          asks for the host, warns, then asks to confirm
redirectrecipients <host>   the same in one line, without the question

Every queued recipient not being delivered right now goes to <host> instead of its own
destination: a host name (its MX, else its address) or an IP address, either optionally
with a port (relay.example.com:2525, 192.0.2.1:25, [2001:db8::1]:25).  Journal copies
stay on the.tdc.queue: the Threat Defense Connector delivers them to their intake
address, never to a relay.
""", role=Role.OPERATOR)
async def redirectrecipients(session: CliSession, args: list[str]) -> None:
    mail = _engine(session)
    dialog = session.dialog
    if len(args) > 1:
        raise UsageError("Invalid arguments when processing: usage is redirectrecipients <host>")
    if args:
        try:
            host = _redirect_host(args[0])
        except InvalidValue as exc:
            raise UsageError(f"Invalid arguments when processing: {exc}") from None
    else:
        host = await dialog.ask_required("Please enter the hostname or IP address of the machine "
                                         "you want to send all mail to.", validate=_redirect_host)
        dialog.say()
        dialog.say(REDIRECT_WARNING)
        if not await dialog.confirm(f'Are you sure you want to redirect all mail in the queue '
                                    f'to "{host}"?', default=False):
            return
    await mail.redirect_recipients(host)
    dialog.say()
    dialog.say("Redirect command successful.")
    _still_recovering(session, mail, f'they go to "{host}" as they are read')


def _still_recovering(session: CliSession, mail: MailEngine, what: str) -> None:
    """After a restart the stored queue comes back in the background: a command on the
    queue also reaches the recipients not read yet, and the operator is told so."""
    if mail.recovering:
        session.dialog.say(f"The queue is still being read after the restart "
                           f"({mail.recovered_recipients} recipients so far): {what}.")


def _redirect_host(text: str) -> str:
    """The machine to send the queue to: a host name, an IP address, either with a port
    (``relay.example.com:2525``, ``192.0.2.1:25``, ``[2001:db8::1]:25``).  The gateway's
    own queues are not machines: redirecting to one would mix the queue into its counters."""
    try:
        host, port = split_host_port(text, default_port=None)
        host = check_host(host)
    except InvalidValue:
        raise InvalidValue(f'"{text.strip()}" is not a valid host: enter a host name or IP '
                           'address, optionally followed by ":port".') from None
    if host == TDC_QUEUE:
        raise InvalidValue(f"{TDC_QUEUE} is the gateway's own queue, not a host to send mail to.")
    return join_host_port(host, port)


@command("suspenddel", summary="Suspend delivery", help="""
suspenddel     stops opening delivery connections (the.tdc.queue included); messages stay
               queued, and the Threat Defense Connector's hard limit keeps running
""", role=Role.OPERATOR)
async def suspenddel(session: CliSession, args: list[str]) -> None:
    _engine(session).suspend_delivery()
    session.dialog.say()
    session.dialog.say("Mail delivery suspended.")


@command("resumedel", summary="Resume delivery", help="resumedel      delivery starts again",
         role=Role.OPERATOR)
async def resumedel(session: CliSession, args: list[str]) -> None:
    mail = _engine(session)
    if not mail.delivery_suspended:
        raise CommandError("Mail delivery is not suspended.")
    mail.resume_delivery()
    session.dialog.say()
    session.dialog.say("Mail delivery resumed.")


@command("suspendlistener", summary="Suspend receiving", help="""
suspendlistener   the SMTP listener stops accepting connections (open ones may finish)
""", role=Role.OPERATOR)
async def suspendlistener(session: CliSession, args: list[str]) -> None:
    if not await _engine(session).suspend_listener():
        raise CommandError("The listener is already suspended.")
    session.dialog.say()
    session.dialog.say("Receiving suspended for IncomingMail.")


@command("resumelistener", summary="Resume receiving", help="resumelistener    accepting again",
         role=Role.OPERATOR)
async def resumelistener(session: CliSession, args: list[str]) -> None:
    if not _engine(session).resume_listener():
        raise CommandError("The listener is not suspended.")
    session.dialog.say()
    session.dialog.say("Receiving resumed for IncomingMail.")
