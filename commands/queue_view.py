"""Looking into the delivery queues: ``showrecipients`` and ``showmessage``.

Every host is a host here, ``the.tdc.queue`` included (a journal copy's recipient is its
intake address).  Both read the store, where every queued recipient is a row, so what
they show is what a restart would recover.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import groupby

from commands.errors import CommandError, UsageError
from commands.queue_control import BY, _engine
from commands.registry import command
from commands.session import CliSession
from engine.config.addresses import InvalidValue
from engine.store.users import Role

_KINDS = ("host", "sender", "all")
_MID_WIDTH, _BYTES_WIDTH, _SENDER_WIDTH = 11, 11, 30


@command("showrecipients", summary="Show messages from the queue by recipient host, "
         "Envelope From address, or all messages", help="""
showrecipients                    asks: by recipient host, by Envelope From address, or all
showrecipients host <host>        the queued recipients of one host (the.tdc.queue too)
showrecipients sender <address>   the queued recipients of messages from one sender
showrecipients all                every queued recipient

Each message shows its MID, size, sender and subject, then one line per queued recipient
with its RID and how many delivery attempts it has had.
""", grammar={"host": None, "sender": None, "all": None})
async def showrecipients(session: CliSession, args: list[str]) -> None:
    mail = _engine(session)
    kind, value = await _selection(session, args)
    rows = await asyncio.to_thread(mail.queued_recipients)
    chosen = [row for row in rows if _matches(kind, value)(row)]
    say = session.dialog.say
    say()
    say("Showing messages, please wait.")
    say()
    if not chosen:
        say("No messages found.")
        return
    say(f"{'MID/':<{_MID_WIDTH}}{'Bytes/':<{_BYTES_WIDTH}}{'Sender/':<{_SENDER_WIDTH}} Subject")
    say(f"{'[RID]':<{_MID_WIDTH}}{'[Atmps]':<{_BYTES_WIDTH}}Recipient")
    for mid, group in groupby(chosen, key=lambda row: row["mid"]):
        recipients = list(group)
        first = recipients[0]
        say(f"{mid:<{_MID_WIDTH}}{first['size']:<{_BYTES_WIDTH},}"
            f"{first['sender'] or '<>':<{_SENDER_WIDTH}} {first['subject']}")
        for row in recipients:
            say(f"{'[' + str(row['rid']) + ']':<{_MID_WIDTH}}"
                f"{'[' + str(row['attempts']) + ']':<{_BYTES_WIDTH}}{row['recipient']}")


async def _selection(session: CliSession, args: list[str]) -> tuple[str, str | None]:
    """What to show: the one-line words, or the appliance's three-way question."""
    if args:
        kind = args[0].lower()
        if kind not in _KINDS or len(args) != (1 if kind == "all" else 2):
            raise UsageError("Invalid arguments when processing: usage is showrecipients "
                             "host <host> | sender <address> | all")
        return kind, (args[1] if kind != "all" else None)
    dialog = session.dialog
    index = await dialog.choose(BY, "", default=0,
                                heading="Please select how you would like to show messages:")
    kind = _KINDS[index]
    if kind == "all":
        return kind, None
    what = "hostname" if kind == "host" else "Envelope From address"
    return kind, await dialog.ask_required(
        f"Please enter the {what} for the messages you wish to show.")


def _matches(kind: str, value: str | None) -> Callable[[dict], bool]:
    """Hosts and senders compare without regard to case, as addresses' domains do."""
    wanted = (value or "").lower()
    if kind == "host":
        return lambda row: row["destination"].lower() == wanted
    if kind == "sender":
        return lambda row: row["sender"].lower() == wanted
    return lambda row: True


@command("showmessage", summary="Show the message for the given MID", help="""
showmessage           asks for the MID
showmessage <MID>     prints a queued message as it will be delivered (headers and body)

Only messages with a recipient still in a delivery queue (the.tdc.queue too) can be shown.
""", role=Role.OPERATOR)  # a message's content is for those who may act on the queue
async def showmessage(session: CliSession, args: list[str]) -> None:
    mail = _engine(session)
    if len(args) > 1:
        raise UsageError("Invalid arguments when processing: usage is showmessage <MID>")
    if args:
        try:
            mid = _mid(args[0])
        except InvalidValue as exc:
            raise UsageError(f"Invalid arguments when processing: {exc}") from None
    else:
        mid = await session.dialog.ask_required("Enter the MID to show.", validate=_mid)
    message = await asyncio.to_thread(mail.queued_message, mid)
    if message is None:
        raise CommandError(f"MID {mid} is not in the delivery queues.")
    text = bytes(message["body"]).decode("utf-8", errors="replace")
    session.dialog.say()
    session.dialog.say(text.replace("\r\n", "\n").rstrip("\n"))


def _mid(text: str) -> int:
    """A MID is a positive whole number; anything else is refused, never a crash."""
    if not text.isdecimal() or not text.isascii() or int(text) < 1 or len(text) > 18:
        raise InvalidValue(f"Not a valid MID: {text}")
    return int(text)
