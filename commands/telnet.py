"""``telnet <host> [port]``: a raw SMTP conversation from the gateway.

The host is resolved through the gateway's DNS, and in a lab port 25 of a host with a lab
port is that port (SPEC.md §4 ruling 7), so ``telnet mx.example.com`` reaches what delivery
reaches.  The server's lines are shown as they come; each line typed is sent as it is.  The
conversation waits for the server's reply after each command (but not after the lines of a
message between ``354`` and ``.``), so a script of lines reads like a transcript.  It ends
when the server closes, after QUIT, on Ctrl-C, or at the end of a script.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from commands.diagnosis import HostNotFound, host_addresses, running_config
from commands.errors import CommandError, UsageError
from commands.io import EndOfInput
from commands.registry import command
from commands.session import CliSession
from commands.tlsverify import TIMEOUT as CONNECT_TIMEOUT
from engine.config.addresses import InvalidValue
from engine.config.text import is_digits
from engine.smtp.line_client import LineConnection
from engine.smtp.outbound import SMTP_PORT

#: How long to wait for the server's reply to a command before giving the prompt back.
REPLY_SECONDS = 15.0
#: ``250 OK`` (the last line of a reply) as opposed to ``250-PIPELINING``.
_FINAL = re.compile(r"^\d{3}(?: |$)")
USAGE = "Invalid arguments when processing: usage is telnet <host> [<port>]"


@command(
    "telnet",
    summary="Connect to a remote host",
    help="""
telnet                     asks for the host and the port
telnet <host> [<port>]     an SMTP conversation with <host> (port 25 by default; in a lab,
                           port 25 of a host with a lab port goes to that port)

Shows the server's lines; every line you type is sent.  Ends when the server closes the
connection, after QUIT, or with Ctrl-C.  In a script, the lines after the command are
the conversation (up to QUIT or the end of the script).
""",
)
async def telnet(session: CliSession, args: list[str]) -> None:
    host, port = _parse(args) if args else await _ask(session)
    config = running_config(session)
    lab_port = config.host_ports.get(host.lower()) if port == SMTP_PORT else None
    try:
        addresses = await host_addresses(session, host)
    except HostNotFound as error:
        raise CommandError(f"Unknown host {host}: {error}") from None
    connection = await _connect(session, host, addresses, lab_port or port, lab_port is not None)
    try:
        await _converse(session, connection)
    finally:
        await connection.close()


def _parse(args: list[str]) -> tuple[str, int]:
    if len(args) > 2 or (len(args) == 2 and not _is_port(args[1])):
        raise UsageError(USAGE)
    return args[0], int(args[1]) if len(args) == 2 else SMTP_PORT


def _is_port(text: str) -> bool:
    return is_digits(text) and 1 <= int(text) <= 65535


async def _ask(session: CliSession) -> tuple[str, int]:
    dialog = session.dialog
    host = str(await dialog.ask_required("Please enter the remote hostname or IP address."))

    def port(text: str) -> int:
        if not _is_port(text):
            raise InvalidValue("The port must be a number from 1 to 65535.")
        return int(text)

    return host, int(await dialog.ask("Please enter the remote port.", default=str(SMTP_PORT),
                                      validate=port))


async def _connect(session: CliSession, host: str, addresses: list[str], port: int,
                   lab: bool) -> LineConnection:
    say = session.dialog.say
    problem = ""
    for address in addresses:
        say(f"Trying {address} port {port}{' (lab port)' if lab else ''}...")
        try:
            connection = await LineConnection.open(address, port, timeout=CONNECT_TIMEOUT)
        except TimeoutError:
            problem = f"no answer within {CONNECT_TIMEOUT:g} seconds"
        except OSError as error:
            problem = error.strerror or str(error)
        else:
            say(f"Connected to {host}.")
            say("Type QUIT to end the session, or press Ctrl-C.")
            return connection
    raise CommandError(f"Unable to connect to {host} port {port}: {problem}.")


async def _converse(session: CliSession, connection: LineConnection) -> None:
    """The greeting, then: a line typed, the line sent, the reply shown."""
    in_message = False
    reply = await _show_reply(session, connection)
    while not connection.closed.done():
        line = await _next_input(session, connection)
        if line is None:
            break
        connection.send_line(line)
        if in_message:
            in_message = line != "."
            if in_message:
                continue
        reply = await _show_reply(session, connection)
        in_message = reply is not None and reply.startswith("354")
        if line.strip().upper() == "QUIT":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(connection.closed), REPLY_SECONDS)
            break
    _show_lines(session, connection.pending())
    if connection.closed.done():
        session.dialog.say("Connection closed by foreign host.")
    else:
        session.dialog.say("Connection closed.")


async def _show_reply(session: CliSession, connection: LineConnection) -> str | None:
    """Show the server's lines up to the last line of a reply; return that line (None when
    the server closed or said nothing in time)."""
    while True:
        try:
            line = await connection.next_line(REPLY_SECONDS)
        except TimeoutError:
            return None
        if line is None:
            return None
        session.dialog.say(line)
        if _FINAL.match(line):
            return line


def _show_lines(session: CliSession, lines: list[str]) -> None:
    for line in lines:
        session.dialog.say(line)


async def _next_input(session: CliSession, connection: LineConnection) -> str | None:
    """The next line typed, or None when the server hangs up first or input ends."""
    typing = asyncio.ensure_future(session.terminal.ask(""))
    either: list[asyncio.Future[Any]] = [typing, connection.closed]  # a line (str) or None
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not typing.done():
            typing.cancel()
            with contextlib.suppress(asyncio.CancelledError, EndOfInput):
                await typing
    if typing.cancelled():
        return None
    try:
        return typing.result()
    except EndOfInput:
        return None
