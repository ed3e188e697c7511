"""A CLI session: one person (or script) at one prompt, with private pending changes.

The session owns the read-eval loop that every renderer shares; the renderer only
supplies a :class:`~commands.io.Terminal`.  Commands run as tasks so that Ctrl-C
(:meth:`CliSession.interrupt`) cancels the command and not the shell; cancelling the task
that runs the session (its channel closed) ends the session and the command it runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from commands.command_line import split_words, too_long
from commands.dialog import Dialog
from commands.errors import CommandError
from commands.io import Cancelled, EndOfInput, Terminal
from commands.registry import REGISTRY, CommandSpec
from engine.appliance import Appliance
from engine.config.changes import Change, replay
from engine.config.model import Config, ConfigError
from engine.store.database import ConfigVersion
from engine.store.users import Role

log = logging.getLogger(__name__)

#: AsyncOS's refusal of a command the user's role may not run.
ACCESS_DENIED = "You are not in the correct access group to use this command."


def unknown_command(word: str, role: Role) -> str:
    """The appliance's refusal of an unknown word, then the commands it may have meant
    (close in spelling, and runnable by *role*), as ``Did you mean tophosts?``."""
    refusal = f"Unknown command or missing feature key: {word}"
    meant = REGISTRY.close_names(word, allowed=lambda spec: spec.allows(role))
    if not meant:
        return refusal
    return f"{refusal}\nDid you mean {' or '.join(meant)}?"


def _session_cancelled() -> bool:
    """Is the task running the session being cancelled (a closed channel, a stopping
    server), rather than only its command (Ctrl-C)?  Cancelling the session's task while
    it awaits a command cancels the command too, so both arrive as the command's
    CancelledError; only the session's task counts the request (``Task.cancelling``)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@dataclass
class PendingChanges:
    """Changes recorded but not committed, over the version they were made against."""

    base: ConfigVersion
    changes: list[Change] = field(default_factory=list)
    view: Config = field(init=False)

    def __post_init__(self) -> None:
        self.view = self.base.config.copy()

    def check(self, changes: Sequence[Change]) -> Config:
        """The view with *changes* applied, on a copy; raises ConfigError, keeps nothing."""
        trial = self.view.copy()
        for change in changes:
            change.apply(trial)
        return trial

    def record(self, changes: Sequence[Change], *, drop_no_ops: bool = True) -> None:
        """Record every change or none (CommandError), so a failed command line or dialog
        leaves nothing pending.

        With *drop_no_ops*, a configuration change that leaves the view as it was
        (``tdcconfig enable`` with the address already set) is not kept: ``showchanges``
        lists what would change and ``commit`` has nothing to write.  Account changes edit
        no configuration (the view never shows them), so they are always kept."""
        trial = self.view.copy()
        kept: list[Change] = []
        try:
            for change in changes:
                before = trial.copy() if drop_no_ops and change.edits_config else None
                change.apply(trial)
                if before is None or trial != before:
                    kept.append(change)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        self.view = trial
        self.changes.extend(kept)

    def rebase(self, version: ConfigVersion) -> None:
        """Follow the running configuration while nothing is pending."""
        if not self.changes and version.id != self.base.id:
            self.base = version
            self.view = version.config.copy()

    def replace_all(self, version: ConfigVersion, changes: list[Change]) -> None:
        self.base = version
        self.changes = list(changes)
        self.view = replay(version.config, self.changes)

    def __bool__(self) -> bool:
        return bool(self.changes)


class CliSession:
    def __init__(self, appliance: Appliance, terminal: Terminal, *, user: str = "admin",
                 local: bool = True, role: Role = Role.ADMIN) -> None:
        self.appliance = appliance
        self.terminal = terminal
        self.user = user
        #: What this session may do (CommandSpec.role), fixed at login like on AsyncOS:
        #: a role changed later applies to the user's next session.
        self.role = role
        #: At the appliance's own console: file commands may name paths on the host.
        #: Remote (SSH) sessions only see the appliance's /configuration directory.
        self.local = local
        self.dialog = Dialog(terminal)
        self.pending = PendingChanges(appliance.running)
        self.failed = False
        self.finished = False
        self._task: asyncio.Task | None = None

    # -- what the shell shows --------------------------------------------------------
    @property
    def config(self) -> Config:
        """The configuration as this session sees it: running plus its own changes."""
        return self.pending.view

    @property
    def prompt(self) -> str:
        return f"{self.appliance.config.hostname}> "

    # -- the loop ------------------------------------------------------------------
    async def run(self) -> int:
        """Read and run commands until ``quit`` or end of input; return the exit status."""
        while not self.finished:
            try:
                line = await self.terminal.read_command(self.prompt)
            except EndOfInput:
                self._end_of_input()
                break
            await self.execute(line)
        return 1 if self.failed else 0

    def _end_of_input(self) -> None:
        if self.pending:
            self.terminal.error(
                "Warning: the session ended with uncommitted changes; they were discarded.\n"
            )

    async def execute(self, line: str) -> bool:
        """Run one command line; False (and the session marked failed) if it failed."""
        ok = await self._execute(line)
        if not ok:
            self.failed = True
        return ok

    async def _execute(self, line: str) -> bool:
        if (refusal := too_long(line)) is not None:  # before any parsing: see command_line
            self.dialog.error(refusal)
            return False
        try:
            words = split_words(line)
        except ValueError as exc:
            self.dialog.error(f"Invalid arguments when processing: {line.strip()} ({exc})")
            return False
        if not words:
            return True
        spec = REGISTRY.get(words[0])
        if spec is None:
            self.dialog.error(unknown_command(words[0], self.role))
            return False
        return await self.run_command(spec, words[1:])

    async def run_command(self, spec: CommandSpec, args: list[str]) -> bool:
        if not spec.allows(self.role):
            self.dialog.error(ACCESS_DENIED)
            return False
        self.pending.rebase(self.appliance.running)
        errors_before = self.dialog.errors
        self._task = asyncio.ensure_future(spec.handler(self, args))
        try:
            await self._task
        except CommandError as exc:
            self.dialog.error(str(exc))
            return False
        except (Cancelled, asyncio.CancelledError):
            if _session_cancelled():
                raise  # the session itself ends (its channel closed), not only the command
            self.terminal.write("\n")
            return False
        except EndOfInput as exc:
            self._unanswered(spec.name, exc)
            return False
        except Exception as exc:
            log.exception("command %s failed", spec.name)
            self.dialog.error(f"An application fault occurred: {type(exc).__name__}: {exc}")
            return False
        finally:
            self._task = None
        return self.dialog.errors == errors_before

    def _unanswered(self, name: str, exc: EndOfInput) -> None:
        """A question met the end of input.  A script (a pipe, an exec request) is told
        which one, after the command's name; at a terminal the person pressed Ctrl-D and
        knows.  The session goes on: a piped script then ends at its prompt (with the
        warning about uncommitted changes), an exec request runs its next command."""
        if not self.terminal.interactive:
            self.dialog.error(f"{name}: {exc or 'no answer (the input ended)'}")

    @property
    def busy(self) -> bool:
        """A command is running: the session is not waiting at its prompt."""
        return self._task is not None and not self._task.done()

    def interrupt(self) -> bool:
        """Ctrl-C while a command runs: cancel it.  False when no command is running."""
        if self._task is None or self._task.done():
            return False
        self._task.cancel()
        return True

    # -- helpers for commands ------------------------------------------------------
    def record(self, *changes: Change) -> None:
        """Record configuration changes in this session, all or none (pending until commit).

        A change that would change nothing is left out, but only while the session's view
        is the running configuration plus its own changes: once another session has
        committed since, the change is kept, so that replaying this session's changes at
        commit still sets what it asked for (it may differ by then)."""
        current = self.pending.base.id == self.appliance.running.id
        self.pending.record(changes, drop_no_ops=current)

    async def commit(self, comment: str, *, rollback: bool = True) -> ConfigVersion:
        """Commit the pending changes.  Ctrl-C cannot split a commit in half: once
        started it runs to the end, the session forgets what was committed, and only
        then is the cancellation passed on."""
        writing = asyncio.ensure_future(self.appliance.commit(
            self.pending.changes, user=self.user, comment=comment, rollback=rollback
        ))
        try:
            try:
                version = await asyncio.shield(writing)
            except asyncio.CancelledError:
                self.pending = PendingChanges(await writing)
                raise
        except ConfigError as exc:
            raise CommandError(
                f"Commit failed: {exc} Your changes are still pending; review them with "
                "showchanges or discard them with clearchanges."
            ) from None
        self.pending = PendingChanges(version)
        return version

    def clear(self) -> None:
        self.pending = PendingChanges(self.appliance.running)
