"""One table of commands drives running, ``help`` and completion.

A command module declares itself with :func:`command`; the record carries its
one-line summary, its help text (the batch forms scripts rely on) and a small
completion grammar, so help and completion can never drift from what exists.

The table sits below :mod:`commands.session`, which looks commands up here and runs
them, so it never imports the session: what completion reads from a session is the
small :class:`SessionView`, and a handler's session is a type variable bound to it.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, Union

from engine.store.users import Role

if TYPE_CHECKING:
    from engine.appliance import Appliance
    from engine.config.model import Config


class SessionView(Protocol):
    """What completion reads from the session it completes for: its own view of the
    configuration (pending changes included) and the appliance (data directory, live
    counters).  :class:`commands.session.CliSession` is one."""

    @property
    def appliance(self) -> Appliance: ...

    @property
    def config(self) -> Config: ...


#: The session a command runs in: :class:`commands.session.CliSession` for every command,
#: named here only by what it must be at least, so that the session may import this table.
SessionT = TypeVar("SessionT", bound=SessionView)

#: A command: a coroutine given the session and the words typed after its name.
Handler = Callable[[SessionT, list[str]], Awaitable[None]]


@dataclass(frozen=True)
class Names:
    """A completion node whose words come from the live configuration
    (policy names, host names); every word leads on to *then*."""

    source: Callable[[SessionView], Iterable[str]]
    then: Grammar = None


#: A completion grammar: fixed words (each with what may follow), live names, or nothing.
Grammar = Union[Mapping[str, "Grammar"], Names, None]  # noqa: UP007 - recursive alias


@dataclass(frozen=True)
class CommandSpec:
    name: str
    summary: str
    help: str
    handler: Handler[Any]
    #: Changes configuration (needs commit); roles without config rights are refused.
    changes_config: bool = False
    grammar: Grammar = None
    aliases: tuple[str, ...] = ()
    #: The least role allowed to run the command.  None: operator for a command that
    #: changes configuration, else read-only (monitoring).  Commands that act on the
    #: mail flow or the appliance without changing configuration name operator; user
    #: management names admin.
    role: Role | None = None

    @property
    def least_role(self) -> Role:
        if self.role is not None:
            return self.role
        return Role.OPERATOR if self.changes_config else Role.READONLY

    def allows(self, role: Role) -> bool:
        """Whether someone with *role* may run this command."""
        return role.includes(self.least_role)


@dataclass
class Registry:
    _commands: dict[str, CommandSpec] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)

    def add(self, spec: CommandSpec) -> None:
        for name in (spec.name, *spec.aliases):
            if name in self._commands or name in self._aliases:
                raise ValueError(f"command {name!r} registered twice")
        self._commands[spec.name] = spec
        for alias in spec.aliases:
            self._aliases[alias] = spec.name

    def get(self, name: str) -> CommandSpec | None:
        name = name.lower()
        return self._commands.get(self._aliases.get(name, name))

    def __iter__(self):
        return iter(sorted(self._commands.values(), key=lambda spec: spec.name))

    def names(self) -> list[str]:
        return sorted([*self._commands, *self._aliases])

    def close_names(self, word: str, *, allowed: Callable[[CommandSpec], bool] = lambda _: True,
                    most: int = 3) -> list[str]:
        """Up to *most* command names (aliases included) spelled like *word*, closest
        first, for a typo's suggestion; only close ones (difflib's ratio 0.75 and over:
        ``tophost`` finds ``tophosts``, ``foo`` finds nothing)."""
        candidates = [name for name in self.names()
                      if (spec := self.get(name)) is not None and allowed(spec)]
        return difflib.get_close_matches(word.lower(), candidates, n=most, cutoff=0.75)


REGISTRY = Registry()


def command(
    name: str,
    *,
    summary: str,
    help: str,
    changes_config: bool = False,
    grammar: Grammar = None,
    aliases: tuple[str, ...] = (),
    role: Role | None = None,
) -> Callable[[Handler[SessionT]], Handler[SessionT]]:
    """Register the decorated coroutine function as the command *name*."""

    def register(handler: Handler[SessionT]) -> Handler[SessionT]:
        REGISTRY.add(CommandSpec(name, summary, help.strip("\n"), handler, changes_config,
                                 grammar, aliases, role))
        return handler

    return register


def suggestions(session: SessionView, words: list[str], prefix: str) -> list[str]:
    """Words that may complete *prefix* after the complete *words* already typed."""
    if not words:
        candidates: Iterable[str] = REGISTRY.names()
    else:
        spec = REGISTRY.get(words[0])
        node = spec.grammar if spec else None
        for word in words[1:]:
            node = _step(session, node, word)
        candidates = _words(session, node)
    lowered = prefix.lower()
    return sorted({c for c in candidates if c.lower().startswith(lowered)}, key=str.lower)


def _words(session: SessionView, node: Grammar) -> Iterable[str]:
    if isinstance(node, Names):
        return list(node.source(session))
    if isinstance(node, Mapping):
        return node.keys()
    return ()


def _step(session: SessionView, node: Grammar, word: str) -> Grammar:
    if isinstance(node, Names):
        return node.then
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key.lower() == word.lower():
                return value
    return None
