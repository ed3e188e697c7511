"""Fixtures for tests of the lab tooling (the reactor and ``run`` come from tests/reactor.py,
the DNS zone from tests/engine/gateway_lab.py).  Every test of this folder runs with ``run``,
so every one of them checks that it left no socket open.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_socket_left_behind(run):
    """Every lab test runs on the reactor and is checked for sockets it left open."""


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
