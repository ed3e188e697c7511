"""Fixtures for engine tests that need the network: Twisted's reactor on an asyncio loop, as
``segcli`` runs it (segcli/main.py), real SMTP listeners on free loopback ports, and TLS
material.

The reactor is installed once per test process (tests/lab/conftest.py does the same and
whichever runs first installs it).  ``async def`` tests run on its loop; tests that use the
``run`` fixture must leave no socket open.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

#: How long one ``async def`` test may run before it fails (pytest-timeout is the backstop).
ASYNC_TEST_TIMEOUT = 60.0


def _install_reactor() -> tuple[asyncio.AbstractEventLoop, bool]:
    """Install the asyncio reactor once per process; return its loop and whether this call
    started the reactor (and so must stop it)."""
    if "twisted.internet.reactor" not in sys.modules:
        from twisted.internet import asyncioreactor

        asyncioreactor.install(asyncio.new_event_loop())
    from twisted.internet import reactor

    loop = getattr(reactor, "_asyncioEventloop", None)
    if loop is None:
        pytest.fail("a non-asyncio Twisted reactor was installed before the engine tests ran")
    asyncio.set_event_loop(loop)
    if reactor.running or reactor._started:
        return loop, False
    reactor.startRunning(installSignalHandlers=False)
    loop.run_until_complete(asyncio.sleep(0))  # let the startup triggers fire
    return loop, True


@pytest.fixture(scope="session")
def reactor_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The one event loop of the test process, with Twisted's reactor running on it."""
    loop, started_here = _install_reactor()
    yield loop
    if started_here:
        from twisted.internet import reactor

        reactor.stop()
        loop.run_forever()  # until the shutdown triggers have run and stopped the loop
        loop.close()


def open_sockets() -> set[str]:
    """This process's open sockets (``fd=socket:[inode]``), to prove none was left behind."""
    sockets = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            sockets.add(f"{fd}={target}")
    return sockets


@pytest.fixture
def run(reactor_loop: asyncio.AbstractEventLoop
        ) -> Iterator[Callable[..., Any]]:
    """``run(coro)``: run a coroutine on the reactor's loop to its end, from sync code.

    After the test (and the fixtures that depend on this one) every socket it opened must be
    closed.
    """
    before = open_sockets()

    def run(coro: Coroutine[Any, Any, Any], timeout: float = ASYNC_TEST_TIMEOUT) -> Any:
        return reactor_loop.run_until_complete(asyncio.wait_for(coro, timeout))

    yield run
    reactor_loop.run_until_complete(asyncio.sleep(0.05))  # transports close on later turns
    left = open_sockets() - before
    assert not left, f"sockets left open: {sorted(left)}"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on the reactor's loop (they must request ``run``)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    run = pyfuncitem.funcargs.get("run")
    if run is None:
        pytest.fail("an async engine test needs the `run` fixture (pytestmark usefixtures)")
    names = pyfuncitem._fixtureinfo.argnames
    run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


# --------------------------------------------------------------------------------------------
# TLS material and SMTP listeners


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tls")


@pytest.fixture(scope="session")
def tls_material(tls_dir: Path):
    """A CA and a server certificate for ``mx.setd.test``, ``localhost`` and ``127.0.0.1``."""
    from engine.tls import ensure_server_certificate

    return ensure_server_certificate(tls_dir, ["mx.setd.test", "localhost", "127.0.0.1"])


@pytest.fixture(scope="session")
def server_tls(tls_material):
    """The server context for :func:`tls_material` (TLS 1.2 and newer)."""
    from engine.tls import server_context

    return server_context(tls_material)


class SmtpServers:
    """Start real SMTP listeners on free loopback ports; all stop when the test ends."""

    def __init__(self, run: Callable[..., Any]) -> None:
        self._run = run
        self._started: list[tuple[Any, Any]] = []

    def start(self, handler_factory: Callable[[], Any], **config: Any) -> tuple[Any, int]:
        """``(factory, port)`` of a new listener; *config* are SmtpServerConfig fields."""
        from engine.smtp_server import SmtpServerConfig, SmtpServerFactory, listen_smtp

        factory = SmtpServerFactory(handler_factory, SmtpServerConfig(**config))
        port = listen_smtp(factory, 0)
        self._started.append((factory, port))
        return factory, port.getHost().port

    def stop_all(self) -> None:
        async def stop() -> None:
            from twisted.internet import defer

            for factory, port in self._started:
                await defer.maybeDeferred(port.stopListening).asFuture(asyncio.get_running_loop())
                factory.close_all()
            await asyncio.sleep(0.05)

        self._run(stop())


@pytest.fixture
def smtp_servers(run: Callable[..., Any]) -> Iterator[SmtpServers]:
    servers = SmtpServers(run)
    yield servers
    servers.stop_all()
