"""``tlsverify <domain>``: the TLS check of delivery to a domain, step by step.

The domain is resolved as delivery resolves it (SMTP routes, else MX then A, lab host
ports), the gateway connects and says EHLO, runs STARTTLS, and then checks what delivery to
SETD requires (SPEC.md §4 ruling 4): TLS 1.2 or newer, a chain to the trusted CAs of
``certconfig`` (and the system store), and the host name in the certificate.  Each step is
printed as it happens; the first step that fails ends the command with an error that names
it, so a script sees the failure too.
"""

from __future__ import annotations

import asyncio

from commands.diagnosis import HostNotFound, dns_failure, host_addresses, resolver, running_config
from commands.errors import CommandError, UsageError
from commands.registry import command
from commands.session import CliSession
from engine.config.model import Config
from engine.config.text import is_digits
from engine.observe.log_lines import TDC_QUEUE
from engine.smtp.client import (
    SmtpClient,
    SmtpConnectionError,
    SmtpReplyError,
    SmtpTimeoutError,
    SmtpTlsError,
    TlsFailure,
)
from engine.smtp.outbound import SMTP_PORT, Route, Target, route_for
from engine.smtp.resolver import DnsError
from engine.smtp.tls_check import InspectingTls, check_certificate

#: Seconds to wait for the connection and for each reply.
TIMEOUT = 30.0
USAGE = "Invalid arguments when processing: usage is tlsverify <domain> [<host>[:<port>]]"


class _Failed(Exception):
    """A step failed; the message says which and why."""


@command(
    "tlsverify",
    summary="Establish an outbound TLS connection to a remote host and debug it",
    help=f"""
tlsverify                      asks for the domain
tlsverify <domain>             connects as delivery to <domain> would (routes, MX, lab host
                               ports), runs STARTTLS and checks the certificate step by step
tlsverify <domain> <host>[:<port>]   the same against one host (port 25 by default)
tlsverify {TDC_QUEUE}          the domain of the default SETD intake address

Checks what delivery to SETD requires: STARTTLS offered and accepted, TLS 1.2 or newer, a
certificate chain to the trusted CAs (certconfig and the system store) and the host name
in its subjectAltName (else its CN).  A failed step is an error that names the step.
""",
)
async def tlsverify(session: CliSession, args: list[str]) -> None:
    if len(args) > 2:
        raise UsageError(USAGE)
    domain = args[0] if args else str(await session.dialog.ask_required(
        "Enter the domain to verify TLS for."))
    config = running_config(session)
    domain = _intake_domain(config) if domain.lower() == TDC_QUEUE else domain.lower()
    say = session.dialog.say
    say()
    say(f"Checking TLS connection to {domain}.")
    try:
        targets = await _targets(session, config, domain, args[1] if len(args) == 2 else None)
        await _check(session, config, targets)
    except _Failed as failed:
        raise CommandError(f"TLS connection to {domain} failed: {failed}") from None
    say(f"TLS connection to {domain} succeeded.")


def _intake_domain(config: Config) -> str:
    if not config.tdc.intake_address:
        raise CommandError(f"{TDC_QUEUE}: no Default Message Intake Address is configured "
                           "(tdcconfig).")
    return config.tdc.intake_address.rpartition("@")[2].lower()


# -- where to connect -----------------------------------------------------------------------
async def _targets(session: CliSession, config: Config, domain: str, host: str | None
                   ) -> list[Target]:
    if host is not None:
        return await _host_targets(session, config, host)
    try:
        route: Route = await route_for(domain, config, resolver(session))
    except DnsError as error:
        raise _Failed(dns_failure(error.domain, error)) from None
    if route.discard:
        raise _Failed("its SMTP route is /dev/null: mail to it is discarded, never sent.")
    if not route.targets:
        raise _Failed("no host to deliver to.")
    for target in route.targets:
        session.dialog.say(f"Delivery host: {_describe(target, config)}")
    return list(route.targets)


async def _host_targets(session: CliSession, config: Config, text: str) -> list[Target]:
    host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    if port_text and not is_digits(port_text):
        raise UsageError(USAGE)
    port = int(port_text) if port_text else config.host_ports.get(host.lower(), SMTP_PORT)
    try:
        addresses = await host_addresses(session, host)
    except HostNotFound as error:
        raise _Failed(str(error)) from None
    route = Route(tuple(Target(host, address, port) for address in addresses))
    for target in route.targets:
        session.dialog.say(f"Host: {_describe(target, config)}")
    return list(route.targets)


def _describe(target: Target, config: Config) -> str:
    lab = " (lab port)" if config.host_ports.get(target.hostname.lower()) == target.port else ""
    mx = f"MX {target.preference} " if target.preference else ""
    return f"{mx}{target.hostname} {target.address} port {target.port}{lab}"


# -- the steps --------------------------------------------------------------------------------
async def _check(session: CliSession, config: Config, targets: list[Target]) -> None:
    client, target = await _connect(session, config, targets)
    try:
        await _starttls(session, client, target, config)
        await client.quit()
    finally:
        client.abort()


async def _connect(session: CliSession, config: Config, targets: list[Target]
                   ) -> tuple[SmtpClient, Target]:
    say = session.dialog.say
    problem = "no host to connect to."
    for target in targets:
        say(f"Connecting to {target.hostname} ({target.address}) port {target.port}.")
        try:
            client = await SmtpClient.connect(target.address, target.port,
                                              local_name=config.hostname, timeout=TIMEOUT)
        except SmtpReplyError as error:
            problem = f"the server greeted with {error.code} {error.text}."
        except (SmtpConnectionError, SmtpTimeoutError) as error:
            problem = f"cannot connect to {target.address} port {target.port}: {_why(error)}."
        else:
            say(f"Connection to {target.address} succeeded.")
            if client.greeting is not None:
                say(f"Server greeting: {client.greeting.code} {client.greeting.message}")
            return client, target
        say(f"Connection failed: {problem}")
    raise _Failed(problem)


def _why(error: Exception) -> str:
    if isinstance(error, SmtpTimeoutError):
        return f"no answer within {TIMEOUT:g} seconds"
    if isinstance(error, SmtpConnectionError):
        return error.details
    return str(error)


async def _starttls(session: CliSession, client: SmtpClient, target: Target,
                    config: Config) -> None:
    say = session.dialog.say
    try:
        await client.ehlo()
        offered = client.has_extension("STARTTLS")
        say(f"EHLO {config.hostname}: 250, STARTTLS is {'offered' if offered else 'NOT offered'}.")
        if not offered:
            raise _Failed("the server does not offer STARTTLS.")
        say("Sending STARTTLS command.")
        tls = InspectingTls()
        protocol, cipher = await client.starttls(tls, target.hostname)
    except SmtpTlsError as error:
        raise _Failed(_tls_failure(error)) from None
    except (SmtpReplyError, SmtpConnectionError, SmtpTimeoutError) as error:
        raise _Failed(f"the SMTP conversation failed: {error}.") from None
    say(f"TLS handshake succeeded: protocol {protocol}, cipher {cipher} "
        "(TLS 1.2 or newer is required).")
    await _certificate(session, tls, target, config)


def _tls_failure(error: SmtpTlsError) -> str:
    if error.kind is TlsFailure.REFUSED and error.reply is not None:
        return f"STARTTLS was refused: {error.reply.code} {error.reply.message}."
    if error.kind is TlsFailure.PROTOCOL:
        return f"the server offers no protocol the gateway accepts (TLS 1.2 or newer): {error.reason}."
    return f"{error.reason}."


async def _certificate(session: CliSession, tls: InspectingTls, target: Target,
                       config: Config) -> None:
    say = session.dialog.say
    chain = tls.peer_chain()
    if not chain:
        raise _Failed("the server sent no certificate.")
    # In a thread: the check reads the system's trust store from disk.
    report = await asyncio.to_thread(check_certificate, chain, target.hostname,
                                     [c.encode() for c in config.trusted_cas])
    say(f"Peer certificate: {report.subject}, issued by {report.issuer}, valid until "
        f"{report.not_after}.")
    anchors = f"{len(config.trusted_cas)} from certconfig and the system's"
    if report.chain_error is None:
        say(f"Verifying the certificate chain against the trusted CAs ({anchors}): verified.")
    else:
        say(f"Verifying the certificate chain against the trusted CAs ({anchors}): FAILED: "
            f"{report.chain_error}.")
    names = ", ".join(report.names) or "no names"
    verdict = "matches" if report.name_matches else "FAILED: the certificate does not name it"
    say(f"Verifying the host name {target.hostname} against the certificate ({names}): {verdict}.")
    if report.chain_error is not None:
        raise _Failed(f"the certificate chain did not verify ({report.chain_error}).")
    if not report.name_matches:
        raise _Failed(f"the certificate does not name {target.hostname} ({names}).")
    say("TLS certificate verified.")
