"""Fixtures for engine tests that need the network: real SMTP listeners on free loopback
ports and TLS material.  The reactor and ``run`` come from tests/reactor.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# --------------------------------------------------------------------------------------------
# TLS material and SMTP listeners


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tls")


@pytest.fixture(scope="session")
def tls_material(tls_dir: Path):
    """A CA and a server certificate for ``mx.setd.test``, ``localhost`` and ``127.0.0.1``."""
    from engine.smtp.tls import ensure_server_certificate

    return ensure_server_certificate(tls_dir, ["mx.setd.test", "localhost", "127.0.0.1"])


@pytest.fixture(scope="session")
def server_tls(tls_material):
    """The server context for :func:`tls_material` (TLS 1.2 and newer)."""
    from engine.smtp.tls import server_context

    return server_context(tls_material)


class SmtpServers:
    """Start real SMTP listeners on free loopback ports; all stop when the test ends."""

    def __init__(self, run: Callable[..., Any]) -> None:
        self._run = run
        self._started: list[tuple[Any, Any]] = []

    def start(self, handler_factory: Callable[[], Any], *, interface: str = "127.0.0.1",
              **config: Any) -> tuple[Any, int]:
        """``(factory, port)`` of a new listener on *interface*; *config* are
        SmtpServerConfig fields."""
        from engine.smtp.server import SmtpServerConfig, SmtpServerFactory, listen_smtp

        factory = SmtpServerFactory(handler_factory, SmtpServerConfig(**config))
        port = listen_smtp(factory, 0, interface)
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
