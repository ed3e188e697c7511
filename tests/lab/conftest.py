"""Fixtures for tests of the lab tooling: Twisted's reactor on an asyncio loop, as
``segcli`` runs it (segcli/main.py), so Twisted servers, twisted.names and dnspython's
asyncio resolver share one loop in the test process too.

``async def`` tests run on that loop.  Every test of this folder checks that it left no
socket open.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

#: How long one ``async def`` test may run before it fails (pytest-timeout is the backstop).
ASYNC_TEST_TIMEOUT = 60.0


def _install_reactor() -> tuple[asyncio.AbstractEventLoop, bool]:
    """Install the asyncio reactor once per process (another conftest may have done
    it); return its loop and whether this call started the reactor."""
    if "twisted.internet.reactor" not in sys.modules:
        loop = asyncio.new_event_loop()
        from twisted.internet import asyncioreactor

        asyncioreactor.install(loop)
    from twisted.internet import reactor

    loop = getattr(reactor, "_asyncioEventloop", None)
    if loop is None:
        pytest.fail("a non-asyncio Twisted reactor was installed before the lab tests ran")
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
    """This process's open sockets (``socket:[inode]``), to prove none was left behind."""
    sockets = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            sockets.add(f"{fd}={target}")
    return sockets


@pytest.fixture(autouse=True)
def run(reactor_loop: asyncio.AbstractEventLoop
        ) -> Iterator[Callable[[Coroutine[Any, Any, Any]], Any]]:
    """``run(coro)``: run a coroutine on the reactor's loop to its end, from sync code.

    After the test (and the fixtures that depend on this one) every socket it opened
    must be closed.
    """
    before = open_sockets()

    def run(coro: Coroutine[Any, Any, Any], timeout: float = ASYNC_TEST_TIMEOUT) -> Any:
        return reactor_loop.run_until_complete(asyncio.wait_for(coro, timeout))

    yield run
    # Transports close on the loop's next turns.
    reactor_loop.run_until_complete(asyncio.sleep(0.05))
    left = open_sockets() - before
    assert not left, f"sockets left open: {sorted(left)}"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on the reactor's loop."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    run = pyfuncitem.funcargs["run"]
    names = pyfuncitem._fixtureinfo.argnames
    run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


@pytest.fixture
def dns_zone(run):
    """A running lab DNS zone on a free loopback port."""
    from segcli.lab.dns_zone import DnsZone

    zone = DnsZone()
    zone.start()
    yield zone
    run(zone.stop())


@pytest.fixture(scope="session")
def setd_tls_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulator's certificates for its default domain, made once per session (RSA
    key generation is the slow part of starting a simulator)."""
    from segcli.lab.setd_simulator import SetdSimulator

    directory = tmp_path_factory.mktemp("setd-tls")
    SetdSimulator(directory)._material("beta.cmd.cisco.com")
    return directory


@pytest.fixture
def setd_dir(tmp_path: Path, setd_tls_cache: Path) -> Path:
    """A simulator state directory that already holds the session's certificates."""
    directory = tmp_path / "setd"
    for name in ("tls", "tls-untrusted"):
        shutil.copytree(setd_tls_cache / name, directory / name)
    return directory


@pytest.fixture
def setd(run, setd_dir: Path):
    """A running SETD simulator (SMTP and dashboard on free loopback ports) with its
    default intake address set up."""
    from segcli.lab.setd_simulator import SetdSimulator

    simulator = SetdSimulator(setd_dir)
    simulator.ensure_default_intake()
    run(simulator.start())
    yield simulator
    run(simulator.stop())


@pytest.fixture
def intake(setd) -> str:
    """The running simulator's default Message Intake Address."""
    return setd.ensure_default_intake().address
