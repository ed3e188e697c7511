"""Configuration changes as small replayable records.

A CLI session keeps a list of these.  Each one is applied at once to the session's
private copy (so the session sees its own edits and bad input is refused before it
is recorded), and the whole list is replayed onto the latest committed version at
``commit`` time.  That is what lets two sessions edit different things and both
commit without one silently undoing the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.addresses import InvalidValue, check_email_address, check_hostname, check_member
from engine.config import (
    DEFAULT_POLICY,
    Config,
    ConfigError,
    Direction,
    MailPolicy,
    TdcMode,
    ThreatDefense,
    check_policy_name,
)


class Change:
    """Base of all changes: ``apply`` edits a config in place or raises ConfigError."""

    def apply(self, config: Config) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


def _checked(check, value: str) -> str:
    try:
        return check(value)
    except InvalidValue as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class SetHostname(Change):
    hostname: str

    def apply(self, config: Config) -> None:
        config.hostname = _checked(check_hostname, self.hostname)

    def describe(self) -> str:
        return f"hostname: {self.hostname}"


@dataclass(frozen=True)
class SetTdc(Change):
    """Enable (with the Default Message Intake Address) or disable the connector."""

    enabled: bool
    intake_address: str | None = None

    def apply(self, config: Config) -> None:
        if self.intake_address is not None:
            config.tdc.intake_address = _checked(check_email_address, self.intake_address)
        if self.enabled and not config.tdc.intake_address:
            raise ConfigError("You must enter a Default Message Intake Address.")
        config.tdc.enabled = self.enabled

    def describe(self) -> str:
        if not self.enabled:
            return "Threat Defense Connector: disabled"
        return f"Threat Defense Connector: enabled, intake address {self.intake_address}"


@dataclass(frozen=True)
class AddPolicy(Change):
    """Insert a new policy at a 1-based *position* (None: just above DEFAULT)."""

    direction: Direction
    name: str
    senders: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    position: int | None = None

    def apply(self, config: Config) -> None:
        table = config.policies(self.direction)
        name = _checked(check_policy_name, self.name)
        if table.find(name) is not None:
            raise ConfigError(f'There is already a policy named "{table.get(name).name}".')
        if not self.senders and not self.recipients:
            raise ConfigError("You must enter at least one member.")
        policy = MailPolicy(
            name,
            senders=[_checked(check_member, m) for m in self.senders],
            recipients=[_checked(check_member, m) for m in self.recipients],
        )
        last = len(table.policies)  # the DEFAULT row's 1-based position
        position = last if self.position is None else self.position
        if not 1 <= position <= last:
            raise ConfigError(f"The position must be between 1 and {last - 1 or 1}.")
        table.policies.insert(position - 1, policy)

    def describe(self) -> str:
        members = ", ".join([*self.senders, *self.recipients])
        return f"{self.direction.title} Mail Policies: new policy {self.name} ({members})"


def _editable(config: Config, direction: Direction, name: str) -> MailPolicy:
    policy = config.policies(direction).get(name)
    if policy.is_default:
        raise ConfigError("The DEFAULT policy cannot be changed this way.")
    return policy


@dataclass(frozen=True)
class DeletePolicy(Change):
    direction: Direction
    name: str

    def apply(self, config: Config) -> None:
        policy = _editable(config, self.direction, self.name)
        config.policies(self.direction).policies.remove(policy)

    def describe(self) -> str:
        return f"{self.direction.title} Mail Policies: deleted policy {self.name}"


@dataclass(frozen=True)
class RenamePolicy(Change):
    direction: Direction
    name: str
    new_name: str

    def apply(self, config: Config) -> None:
        policy = _editable(config, self.direction, self.name)
        new_name = _checked(check_policy_name, self.new_name)
        other = config.policies(self.direction).find(new_name)
        if other is not None and other is not policy:
            raise ConfigError("There is already a policy with the new name.")
        policy.name = new_name

    def describe(self) -> str:
        return f"{self.direction.title} Mail Policies: renamed {self.name} to {self.new_name}"


@dataclass(frozen=True)
class MovePolicy(Change):
    direction: Direction
    name: str
    position: int

    def apply(self, config: Config) -> None:
        table = config.policies(self.direction)
        policy = _editable(config, self.direction, self.name)
        last = len(table.policies) - 1  # positions above DEFAULT
        if not 1 <= self.position <= last:
            raise ConfigError(
                f"The position must be between 1 and {last}: a policy cannot take the "
                "position of default entry."
            )
        table.policies.remove(policy)
        table.policies.insert(self.position - 1, policy)

    def describe(self) -> str:
        return f"{self.direction.title} Mail Policies: moved {self.name} to position {self.position}"


@dataclass(frozen=True)
class AddMember(Change):
    direction: Direction
    name: str
    member: str
    sender: bool = False

    def apply(self, config: Config) -> None:
        policy = _editable(config, self.direction, self.name)
        member = _checked(check_member, self.member)
        if member in policy.members:
            raise ConfigError(f"{member} is already a member of this policy.")
        (policy.senders if self.sender else policy.recipients).append(member)

    def describe(self) -> str:
        side = "sender" if self.sender else "recipient"
        return f"{self.direction.title} Mail Policies: {self.name}: added {side} {self.member}"


@dataclass(frozen=True)
class RemoveMember(Change):
    direction: Direction
    name: str
    member: str

    def apply(self, config: Config) -> None:
        policy = _editable(config, self.direction, self.name)
        member = self.member.strip().lower()
        if member not in policy.members:
            raise ConfigError(f"{self.member} is not a member of this policy.")
        if len(policy.members) == 1:
            raise ConfigError("There is only one member in the policy.")
        for side in (policy.senders, policy.recipients):
            if member in side:
                side.remove(member)

    def describe(self) -> str:
        return f"{self.direction.title} Mail Policies: {self.name}: removed member {self.member}"


@dataclass(frozen=True)
class SetThreatDefense(Change):
    """A policy's THREATDEFENSE choice: disabled, the default or a custom intake address."""

    direction: Direction
    name: str
    mode: TdcMode
    custom_address: str = ""

    def apply(self, config: Config) -> None:
        if self.direction is not Direction.INCOMING:
            raise ConfigError("The Threat Defense Connector journals incoming mail only.")
        policy = config.policies(self.direction).get(self.name)
        address = ""
        if self.mode is TdcMode.CUSTOM:
            address = _checked(check_email_address, self.custom_address)
        policy.threat_defense = ThreatDefense(self.mode, address)

    def describe(self) -> str:
        setting = ThreatDefense(self.mode, self.custom_address).describe()
        return f"{self.direction.title} Mail Policies: {self.name}: Threat Defense Connector {setting}"


@dataclass(frozen=True)
class ReplaceConfig(Change):
    """Take a whole configuration (``loadconfig``, ``rollbackconfig``)."""

    config: Config
    reason: str

    def apply(self, config: Config) -> None:
        problems = self.config.problems()
        if problems:
            raise ConfigError("; ".join(problems))
        replacement = self.config.copy()
        for name in vars(replacement):
            setattr(config, name, getattr(replacement, name))

    def describe(self) -> str:
        return self.reason


def replay(base: Config, changes: list[Change]) -> Config:
    """Apply *changes* in order to a copy of *base*; the first failure stops the replay."""
    result = base.copy()
    for change in changes:
        change.apply(result)
    return result


__all__ = [
    "DEFAULT_POLICY",
    "AddMember",
    "AddPolicy",
    "Change",
    "DeletePolicy",
    "MovePolicy",
    "RemoveMember",
    "RenamePolicy",
    "ReplaceConfig",
    "SetHostname",
    "SetTdc",
    "SetThreatDefense",
    "replay",
]
