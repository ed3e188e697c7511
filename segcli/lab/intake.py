"""SETD's side of the setup (SPEC.md §1.1): Message Intake Addresses and where they live.

On the real service the administrator answers a few questions -- a Secure Email Gateway is
present, it is a Cisco SEG, the message direction is incoming, no verification -- and SETD
shows a generated intake address such as ``33c48e-27xp9-05ecb4@beta.cmd.cisco.com``, which
can be looked up again later.  :func:`setup_intake` asks the same questions;
:class:`IntakeRegistry` keeps the accounts in a small JSON file so a restarted lab keeps
the address the gateway was configured with.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

DEFAULT_DOMAIN = "beta.cmd.cisco.com"
STATE_FILE = "setd_state.json"
_STATE_VERSION = 1

#: ``33c48e-27xp9-05ecb4``: 6 hex digits, 5 lower-case letters or digits, 6 hex digits.
LOCAL_PART = re.compile(r"^[0-9a-f]{6}-[0-9a-z]{5}-[0-9a-f]{6}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
                     r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ALPHANUMERIC = string.ascii_lowercase + string.digits


class SetupError(ValueError):
    """An answer SETD does not accept; the message is for a person."""


class SegType(StrEnum):
    CISCO = "Cisco SEG"
    OTHER = "Other SEG"


class Direction(StrEnum):
    INCOMING = "incoming"
    INCOMING_AND_OUTGOING = "incoming and outgoing"


class Verification(StrEnum):
    """What SETD may do with what it sees."""

    NONE = "none"  # visibility only: the connector's journal
    REMEDIATION = "remediation"  # visibility and remediation (needs mailbox access)


@dataclass(frozen=True)
class IntakeAccount:
    """One SETD account (instance) and its Message Intake Address."""

    address: str
    name: str
    seg_type: SegType
    direction: Direction
    verification: Verification
    created: str  # ISO 8601, UTC
    #: The mail domains the account protects (SETD's domain list).  Mail journaled here
    #: for none of them is flagged foreign-domain; empty: the account claims every domain.
    domains: tuple[str, ...] = ()

    @property
    def domain(self) -> str:
        """The intake address's domain (where the journal is sent, not a protected one)."""
        return self.address.rpartition("@")[2]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "domains": list(self.domains), "domain": self.domain}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IntakeAccount:
        domains = data.get("domains") or []
        return cls(address=str(data["address"]), name=str(data["name"]),
                   seg_type=SegType(data["seg_type"]), direction=Direction(data["direction"]),
                   verification=Verification(data["verification"]), created=str(data["created"]),
                   domains=tuple(str(d) for d in domains) if isinstance(domains, list) else ())


def check_domains(domains: Iterable[str]) -> tuple[str, ...]:
    """A domain list as an account keeps it (lower case, no duplicates, in order);
    SetupError naming the first entry that is not a domain name."""
    if isinstance(domains, str):
        raise SetupError("The domains must be a list of names, not one string.")
    checked: list[str] = []
    for domain in domains:
        name = str(domain).strip().rstrip(".").lower() if isinstance(domain, str) else ""
        if not _DOMAIN.match(name):
            raise SetupError(f"Not a domain name: {domain!r}")
        if name not in checked:
            checked.append(name)
    return tuple(checked)


def new_intake_address(domain: str = DEFAULT_DOMAIN) -> str:
    """A fresh address in SETD's style, e.g. ``33c48e-27xp9-05ecb4@beta.cmd.cisco.com``."""
    middle = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(5))
    return f"{secrets.token_hex(3)}-{middle}-{secrets.token_hex(3)}@{domain.lower()}"


def is_intake_style(address: str) -> bool:
    """Does *address* look like one SETD generates?"""
    local, at, domain = address.rpartition("@")
    return bool(at and domain and LOCAL_PART.match(local))


def check_answers(*, seg_present: bool, seg_type: SegType | str, direction: Direction | str,
                  verification: Verification | str) -> tuple[SegType, Direction, Verification]:
    """The setup's answers as SETD takes them; SetupError for one it does not offer."""
    if not seg_present:
        raise SetupError("Without a Secure Email Gateway, SETD reads mail from the mailbox "
                         "provider: no Message Intake Address is generated.")
    try:
        return SegType(seg_type), Direction(direction), Verification(verification)
    except ValueError as exc:
        raise SetupError(f"Not an answer SETD offers: {exc}") from None


class IntakeRegistry:
    """The accounts of the simulated SETD, kept in ``<directory>/setd_state.json``.

    The first account is the one a lab configures as the gateway's Default Message Intake
    Address; later ones stand for other SETD accounts (Custom Message Intake Addresses).
    """

    def __init__(self, directory: Path, *, domain: str = DEFAULT_DOMAIN) -> None:
        self.directory = directory
        self.domain = domain.lower()
        self.path = directory / STATE_FILE
        self._accounts: dict[str, IntakeAccount] = {}
        self._load()

    def setup(self, *, seg_present: bool = True, seg_type: SegType | str = SegType.CISCO,
              direction: Direction | str = Direction.INCOMING,
              verification: Verification | str = Verification.NONE, name: str | None = None,
              domain: str | None = None, domains: Iterable[str] = ()) -> IntakeAccount:
        """Answer SETD's setup questions; a new account with a generated intake address
        (*domains*: the mail domains it protects)."""
        seg, way, check = check_answers(seg_present=seg_present, seg_type=seg_type,
                                        direction=direction, verification=verification)
        protected = check_domains(domains)
        address = self._unused_address(domain or self.domain)
        account = IntakeAccount(
            address=address, name=name or f"account {len(self._accounts) + 1}", seg_type=seg,
            direction=way, verification=check,
            created=datetime.now(UTC).isoformat(timespec="seconds"), domains=protected,
        )
        self._accounts[address] = account
        self._save()
        return account

    def accounts(self) -> list[IntakeAccount]:
        """All accounts, oldest first."""
        return list(self._accounts.values())

    def get(self, address: str) -> IntakeAccount | None:
        """The account whose intake address is *address* (case does not matter)."""
        return self._accounts.get(address.strip().strip("<>").lower())

    def find(self, name_or_address: str) -> IntakeAccount | None:
        """Look an account up again, by its name or its address (SETD's policy menu)."""
        account = self.get(name_or_address)
        if account is not None:
            return account
        wanted = name_or_address.strip().lower()
        return next((a for a in self._accounts.values() if a.name.lower() == wanted), None)

    def set_domains(self, name_or_address: str, domains: Iterable[str]) -> IntakeAccount:
        """Replace the domain list of an account; SetupError (nothing changed) for an
        unknown account or a bad domain."""
        account = self.find(name_or_address)
        if account is None:
            raise SetupError(f"{name_or_address} is not an intake address or account of this SETD")
        changed = replace(account, domains=check_domains(domains))
        self._accounts[account.address] = changed
        self._save()
        return changed

    def default(self) -> IntakeAccount | None:
        """The first account: the lab's Default Message Intake Address."""
        return next(iter(self._accounts.values()), None)

    def remove(self, address: str) -> bool:
        account = self.get(address)
        if account is None:
            return False
        del self._accounts[account.address]
        self._save()
        return True

    def domains(self) -> list[str]:
        """The intake domains in use (each gets an MX host in the lab)."""
        return sorted({a.domain for a in self._accounts.values()})

    def _unused_address(self, domain: str) -> str:
        while True:
            address = new_intake_address(domain)
            if address not in self._accounts:
                return address

    # -- the state file -----------------------------------------------------------------

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise SetupError(f"Cannot read the SETD state file {self.path}: {exc}") from None
        for item in data.get("accounts", []):
            account = IntakeAccount.from_json(item)
            self._accounts[account.address] = account

    def _save(self) -> None:
        """Write the whole state to a temporary file and rename it: never half a file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        data = {"version": _STATE_VERSION, "accounts": [a.to_json() for a in self.accounts()]}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
