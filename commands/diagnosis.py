"""What the monitoring and diagnosis commands use of the gateway (no commands here).

In the process that runs the appliance they use the live mail engine: its mail log
(flushed first, so the lines of the last moment are there), its DNS resolver and cache.
A console attached to an appliance running in another process has no engine
(``appliance.mail`` is None); it reads the same log files from the data directory and
builds a resolver from the running configuration, which asks the same DNS servers.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from sqlalchemy import Engine

from commands.errors import UsageError
from commands.session import CliSession
from engine.config.model import Config
from engine.config.text import is_digits
from engine.observe.log_files import mail_log_directory
from engine.smtp.resolver import NXDOMAIN, TIMEOUT, DnsError, DnsHardError, DnsResolver

#: What each DNS failure means, by the reason word the resolver reports.
_DNS_MEANINGS = {
    NXDOMAIN: "NXDOMAIN, the domain name does not exist",
    "ServFail": "SERVFAIL, the DNS server failed to answer (a temporary error)",
    "Refused": "REFUSED, the DNS server refused the query",
    TIMEOUT: "no DNS server answered in time",
    "NoNameservers": "no DNS server could be reached",
}

#: The log subscriptions ``tail``, ``grep`` and ``findevent`` offer: (name, type).
LOGS = [("mail_logs", "Text Mail Logs")]


def running_config(session: CliSession) -> Config:
    """The committed configuration the gateway runs (a session's pending edits do not
    change how the gateway resolves or connects)."""
    return session.appliance.config


def mail_log_dir(session: CliSession) -> Path:
    """The mail log directory, with everything the engine has written so far on disk."""
    mail = session.appliance.mail
    if mail is not None:
        mail.mail_log.flush()
        return mail.mail_log.directory
    return mail_log_directory(session.appliance.options.data_dir)


def resolver(session: CliSession) -> DnsResolver:
    """The gateway's resolver (its cache included), or one for the configured servers."""
    mail = session.appliance.mail
    if mail is not None:
        return mail.resolver
    return DnsResolver.from_settings(running_config(session).dns)


def check_log_name(name: str, verb: str) -> str:
    """A log named on a command line; anything but a configured log is refused."""
    names = [log for log, _ in LOGS]
    if name.lower() not in names:
        raise UsageError(f"Unable to {verb}: there is no log named {name!r} "
                         f"(logs: {', '.join(names)}).")
    return name.lower()


async def choose_log(session: CliSession, verb: str) -> str | None:
    """The numbered list of log subscriptions, as AsyncOS shows it; pick by number or name.

    A blank answer goes back to the prompt (None)."""
    items = [f'"{name}" Type: "{kind}" Retrieval: Manual Download' for name, kind in LOGS]
    dialog = session.dialog
    while True:
        dialog.say()
        dialog.say("Currently configured logs:")
        for number, item in enumerate(items, 1):
            dialog.say(f"{number}. {item}")
        dialog.say(f"Enter the number of the log you wish to {verb}.")
        answer = (await session.terminal.ask("[]> ", choices=[n for n, _ in LOGS])).strip()
        if is_digits(answer) and 1 <= int(answer) <= len(LOGS):
            return LOGS[int(answer) - 1][0]
        if answer.lower() in (name for name, _ in LOGS):
            return answer.lower()
        if not answer:
            return None
        dialog.error(f'"{answer}" is not a valid choice: enter a number from 1 to {len(LOGS)} '
                     "or a log name from the list.")


def store_engine(session: CliSession) -> Engine:
    """The store's database (message tracking reads the messages and their links)."""
    mail = session.appliance.mail
    if mail is not None:
        return mail.store.engine
    return session.appliance.store.engine


def dns_failure(name: str, error: DnsError) -> str:
    """``Unable to resolve nosuch.example (MX): NXDOMAIN, the domain name does not exist.``"""
    meaning = _DNS_MEANINGS.get(error.reason, error.reason)
    return f"Unable to resolve {name} ({error.rdtype}): {meaning}."


class HostNotFound(Exception):
    """A host name did not resolve; the message says why (NXDOMAIN, no records, ...)."""


async def host_addresses(session: CliSession, host: str) -> list[str]:
    """A host's addresses as the gateway finds them: an address literal as it is, a name
    by its A and AAAA records through the gateway's DNS.  HostNotFound when there are none."""
    literal = host.strip("[]")
    try:
        ipaddress.ip_address(literal)
        return [literal]
    except ValueError:
        pass
    try:
        return (await resolver(session).addresses(host))[0]
    except DnsHardError as error:
        if error.reason == "NoAnswer":
            raise HostNotFound(f"{host} has no address (A or AAAA) records.") from None
        raise HostNotFound(dns_failure(host, error)) from None
    except DnsError as error:
        raise HostNotFound(dns_failure(host, error)) from None
