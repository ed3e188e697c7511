"""The appliance as the command layer sees it: a small facade over the store and,
later, the mail engine.

It keeps the running configuration in memory, commits new versions through a
single store thread (the event loop never touches the disk), and notices versions
committed by other processes that share the data directory, so every console and
the engine always run the latest committed configuration -- the latest that loads:
a committed version that cannot be read is passed over and reported once
(:attr:`Appliance.start_notice` at start, the log afterwards), never retried every
second, and the next commit supersedes it.

Tests: tests/engine/test_appliance_listener.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from twisted.internet.error import CannotListenError

from engine.config.changes import Change, replay
from engine.config.model import Config, ConfigError, Endpoint
from engine.config.text import InvalidValue, check_comment
from engine.observe.timestamps import cli_time
from engine.store.database import AnyVersion, ConfigVersion, Store, UnreadableVersion
from engine.store.users import User, UserChange, UserDirectory, Users

if TYPE_CHECKING:
    from engine.mail.mail_engine import MailEngine

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

MODEL = "C100V"
ASYNCOS_VERSION = "15.5.1-055"
BUILD_DATE = "2024-01-30"
EMULATOR = "segcli 0.1.0"


@dataclass(frozen=True)
class StartOptions:
    """What ``segcli`` was started with; overrides win over the configuration."""

    data_dir: Path
    smtp: Endpoint | None = None
    ssh: Endpoint | None = None
    https: Endpoint | None = None


class Appliance:
    def __init__(self, store: Store, options: StartOptions) -> None:
        self.store = store
        self.options = options
        self.started_at = datetime.now(UTC)
        self.serial = store.setting("serial") or ""
        self.installed_at = datetime.fromisoformat(store.setting("installed_at") or
                                                   self.started_at.isoformat())
        self._running, unreadable = store.latest_readable()
        #: Why the appliance does not run its latest commit (None: it does), for the start
        #: to print and log.
        self.start_notice = unreadable_notice(unreadable, self._running)
        self._reported = {version.id for version in unreadable}
        #: The accounts (engine/store/users.py); synchronous: use the async methods below on the loop.
        self.users = Users(store.engine)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._watchers: list[Callable[[ConfigVersion], None]] = []
        self._poller: asyncio.Task | None = None
        #: The mail engine, in the process that runs the appliance (None in extra consoles).
        self.mail: MailEngine | None = None
        self.smtp_port: int | None = None
        #: why the listener is not on its configured address (None: it is, or no mail here)
        self.listener_problem: str | None = None
        self._moves: list[asyncio.Future] = []

    @classmethod
    def open(cls, options: StartOptions) -> Appliance:
        return cls(Store.open(options.data_dir), options)

    # -- running configuration -----------------------------------------------------
    @property
    def running(self) -> ConfigVersion:
        return self._running

    @property
    def config(self) -> Config:
        return self._running.config

    @property
    def smtp_endpoint(self) -> Endpoint:
        return self.options.smtp or self.config.listener.address

    @property
    def ssh_endpoint(self) -> Endpoint:
        return self.options.ssh or self.config.ssh_listener

    @property
    def https_endpoint(self) -> Endpoint:
        """Where the web interface listens (segcli/web/)."""
        return self.options.https or self.config.https_listener

    def on_config_change(self, watcher: Callable[[ConfigVersion], None]) -> Callable[[], None]:
        """Call *watcher* with every newly committed version (from any process).

        Returns the function that stops the calls (a session that ends calls it)."""
        self._watchers.append(watcher)
        return lambda: self._watchers.remove(watcher) if watcher in self._watchers else None

    def _apply(self, version: ConfigVersion) -> None:
        if version.id <= self._running.id:
            return
        self._running = version
        for watcher in self._watchers:
            try:
                watcher(version)
            except Exception:  # a faulty watcher must not stop the others
                log.exception("configuration watcher failed")

    # -- store access (off the event loop) -------------------------------------------
    async def _in_store(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    async def commit(self, changes: list[Change], *, user: str, comment: str,
                     rollback: bool) -> ConfigVersion:
        """Replay *changes* onto the latest committed version and store the result.

        Raises ConfigError (nothing written) when a change no longer applies, e.g.
        another session deleted the policy this one edits, or the comment is not
        printable text.
        """
        try:
            comment = check_comment(comment)
        except InvalidValue as exc:
            raise ConfigError(str(exc)) from None
        account_changes = [change for change in changes if isinstance(change, UserChange)]
        version = await self._in_store(
            self.store.commit_config, lambda latest: replay(latest, changes),
            user=user, comment=comment, rollback=rollback,
            also=(lambda session: self.users.apply_in(session, account_changes))
            if account_changes else None,
        )
        self._apply(version)
        return version

    async def versions(self, *, limit: int = 10) -> list[AnyVersion]:
        return await self._in_store(self.store.versions, limit=limit)

    async def version(self, version_id: int) -> AnyVersion | None:
        return await self._in_store(self.store.version, version_id)

    # -- accounts (bcrypt runs in a thread of its own, not in the store's) ---------------
    async def user_directory(self) -> UserDirectory:
        """Every stored account: a session's view of the accounts starts from it."""
        return await self._in_store(self.users.directory)

    async def authenticate(self, name: str, password: str) -> User | None:
        return await asyncio.to_thread(self.users.authenticate, name, password)

    async def hash_password(self, password: str) -> str:
        """Check the password policy (InvalidValue) and hash the password."""
        return await asyncio.to_thread(self.users.hash_password, password)

    async def apply_user_changes(self, changes: list[UserChange]) -> None:
        """Write account changes now, outside the commit (``passwd``)."""
        await self._in_store(self.users.apply, changes)

    async def refresh(self) -> None:
        """Pick up a version another process committed; one that does not load is
        reported once and passed over."""
        latest_id = await self._in_store(self.store.latest_version_id)
        if latest_id <= self._running.id or latest_id in self._reported:
            return
        version, unreadable = await self._in_store(self.store.latest_readable)
        self._report(unreadable, version)
        self._apply(version)

    def _report(self, unreadable: list[UnreadableVersion], running: ConfigVersion) -> None:
        fresh = [version for version in unreadable if version.id not in self._reported]
        if fresh:
            log.warning("%s", unreadable_notice(fresh, running))
            self._reported.update(version.id for version in fresh)

    # -- life cycle ----------------------------------------------------------------
    def start(self, *, poll_seconds: float = 1.0) -> None:
        self._poller = asyncio.ensure_future(self._poll(poll_seconds))

    async def _poll(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.refresh()
            except Exception:
                log.exception("could not read the configuration store")

    async def start_mail(self) -> int:
        """Start the mail engine and its listener; returns the SMTP port listened on."""
        from engine.mail.mail_engine import MailEngine

        self.mail = MailEngine(self.store, self.options.data_dir, lambda: self.config,
                               version=ASYNCOS_VERSION, serial=self.serial)
        self.on_config_change(self._mail_config_changed)
        self.smtp_port = await self.mail.start(self.smtp_endpoint)
        return self.smtp_port

    def _mail_config_changed(self, version: ConfigVersion) -> None:
        if self.mail is None:
            return
        self.mail.apply_config(version.config)
        if self.options.smtp is None:  # a --smtp start option pins the address
            self._moves = [move for move in self._moves if not move.done()]
            self._moves.append(asyncio.ensure_future(self._move_listener(version.config)))

    async def _move_listener(self, config: Config) -> None:
        """Follow a committed listener address, as the appliance does at commit; when the
        address cannot be had, keep listening where we are and say so (``listener_problem``)."""
        mail, wanted = self.mail, config.listener.address
        if mail is None or wanted != self.config.listener.address:
            return  # stopped, or a newer commit moved it again (its own move follows)
        try:
            await mail.listen_on(wanted)
        except CannotListenError as exc:
            reason = getattr(exc.socketError, "strerror", None) or exc.socketError
            self.listener_problem = (f"The listener could not listen on {wanted} ({reason}); "
                                     f"it still listens on {mail.endpoint}.")
            log.warning("%s", self.listener_problem)
            return
        self.listener_problem = None
        if mail.endpoint is not None:
            self.smtp_port = mail.endpoint.port

    async def stop(self) -> None:
        for move in self._moves:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await move
        if self.mail is not None:
            await self.mail.stop()
            self.mail = None
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        self._executor.shutdown(wait=True)
        self.store.close()


def unreadable_notice(unreadable: list[UnreadableVersion], running: ConfigVersion) -> str | None:
    """One sentence for the operator: which commit cannot be read, why, and what runs
    instead (None when every version read loads)."""
    if not unreadable:
        return None
    newest = unreadable[0]
    others = f" (and {len(unreadable) - 1} older one(s))" if len(unreadable) > 1 else ""
    instead = (f"the configuration committed {cli_time(running.committed_at)} by {running.user}"
               if running.id else "the factory configuration")
    return (f"the configuration committed {cli_time(newest.committed_at)} by {newest.user}"
            f"{others} cannot be read ({newest.problem}); running {instead} instead. "
            "The next commit replaces it.")
