"""Twisted's reactor on an asyncio loop for tests, as ``segcli`` runs it (segcli/main.py):
Twisted servers and clients, twisted.names and dnspython's asyncio resolver share one loop
in the test process too.

Registered as a plugin in tests/conftest.py.  The reactor is installed once per test
process; ``async def`` tests run on its loop; a test using ``run`` must leave no socket open.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Callable, Coroutine, Iterator
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
        pytest.fail("a non-asyncio Twisted reactor was installed before the tests ran")
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


async def _closed_since(before: set[str], *, patience: float = 3.0) -> set[str]:
    """The sockets opened since *before* that are still open once the loop has had a few
    turns (transports close on later turns; on a busy machine, later still): polled for up
    to *patience* seconds, so a socket that is truly left open still fails the test."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    await asyncio.sleep(0.05)
    while (left := open_sockets() - before) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return left


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
    left = reactor_loop.run_until_complete(_closed_since(before))
    assert not left, f"sockets left open: {sorted(left)}"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on the reactor's loop."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    run = pyfuncitem.funcargs.get("run") or pyfuncitem._request.getfixturevalue("run")
    names = pyfuncitem._fixtureinfo.argnames
    run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True
