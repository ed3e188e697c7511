"""The work queue: mail policy per recipient, splits, verdicts, and what to journal.

This part is pure: it takes an accepted message and the running configuration and
decides, writing the mail log lines as it goes (ASYNCOS.md §7), what is delivered
where and which clean messages get a journal copy for ``the.tdc.queue``.  Storing
the outcome and delivering it is the caller's business.

Tests: tests/engine/mail/test_queue_core.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engine.config.model import Config, Direction, MailPolicy, ScanAction, ScanSetting
from engine.mail.verdicts import Verdicts, scan
from engine.observe import log_lines as lines


@dataclass(frozen=True)
class Accepted:
    """A message as the listener stored it, before the work queue."""

    mid: int
    icid: int
    sender: str
    recipients: tuple[str, ...]
    body: bytes
    received_at: float
    message_id: str
    subject: str
    direction: Direction = Direction.INCOMING
    #: the spool file holding *body* whole (a big body: engine/store/spool.py), or None
    spool: str | None = None


@dataclass
class Part:
    """One message after policy splitting: its recipients share one policy."""

    mid: int
    policy: MailPolicy
    recipients: list[tuple[int, str]]  # (rid, address)
    body: bytes
    origin_mid: int | None = None
    clean: bool = True  # neither spam- nor virus-positive: the only kind journaled
    delivered: bool = True  # False when a verdict dropped or bounced it
    bounce_reason: str = ""
    journal_to: str | None = None  # the intake address when the part is journaled


@dataclass
class Outcome:
    parts: list[Part] = field(default_factory=list)


Log = Callable[[str], None]


def process(message: Accepted, config: Config, next_mid: Callable[[], int], log: Log,
            scanned: Verdicts | None = None) -> Outcome:
    """Split by policy (first match, DEFAULT last), scan, and decide journaling.
    *scanned*: the message's verdicts when the caller found them already (a big message
    is scanned in a thread, off the event loop: engine/mail/mail_engine.py)."""
    outcome = Outcome()
    table = config.policies(message.direction)
    groups: dict[str, list[tuple[int, str]]] = {}
    policies: dict[str, MailPolicy] = {}
    for rid, recipient in enumerate(message.recipients):
        policy = table.match(message.sender, recipient)
        groups.setdefault(policy.name, []).append((rid, recipient))
        policies[policy.name] = policy
    for index, (name, recipients) in enumerate(groups.items()):
        mid = message.mid
        if index:
            mid = next_mid()
            log(lines.split(message.mid, mid, name, message.direction.table))
        log(lines.policy_match(mid, name, message.direction.table))
        part = Part(mid, policies[name], recipients, message.body,
                    origin_mid=message.mid if index else None)
        _verdicts(part, log, scanned)
        if part.clean and message.direction is Direction.INCOMING:
            part.journal_to = part.policy.threat_defense.intake_address(config.tdc)
        if part.delivered:
            log(lines.queued(mid))
        outcome.parts.append(part)
    return outcome


def _verdicts(part: Part, log: Log, scanned: Verdicts | None) -> None:
    verdicts = scan(part.body) if scanned is None else scanned
    antispam, antivirus = part.policy.antispam, part.policy.antivirus
    spam = antispam.enabled and verdicts.spam
    virus = verdicts.virus if antivirus.enabled else None
    if antispam.enabled:
        for line in lines.spam_verdict(part.mid, spam):
            log(line)
    else:
        log(lines.spam_skipped(part.mid))
    if antivirus.enabled:
        for line in lines.av_verdict(part.mid, virus):
            log(line)
    if virus:
        _apply(part, antivirus, "antivirus", log)
    elif spam:
        _apply(part, antispam, "CASE", log)
    part.clean = not (spam or virus)


def _apply(part: Part, setting: ScanSetting, engine: str, log: Log) -> None:
    """What the policy says to do with a positive: deliver tagged, drop or bounce."""
    if setting.action is ScanAction.DELIVER:
        part.body = tag_subject(part.body, setting.subject_tag)
        return
    part.delivered = False
    if setting.action is ScanAction.DROP:
        log(lines.dropped(part.mid, engine))
    else:
        part.bounce_reason = f"5.7.1 Message rejected by {engine}"


def tag_subject(body: bytes, tag: str) -> bytes:
    """Prepend *tag* to the Subject header (adding one if there is none)."""
    if not tag:
        return body
    head, sep, rest = body.partition(b"\r\n\r\n")
    header_lines = head.split(b"\r\n")
    for i, line in enumerate(header_lines):
        if line[:8].lower() == b"subject:":
            value = line[8:].lstrip()
            header_lines[i] = b"Subject: " + tag.encode() + b" " + value
            break
    else:
        header_lines.append(b"Subject: " + tag.encode())
    return b"\r\n".join(header_lines) + sep + rest
