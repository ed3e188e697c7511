"""Loopback ports for tests, held from the moment they are chosen, so that no test needs a
port to stay free between a probe and a bind (another test or program may take it).

A reserved port is bound by a socket with ``SO_REUSEADDR`` that never listens:

* connections to it are refused (a "nobody listens there" target);
* Linux hands it to no other ``bind`` to port 0, and refuses it to any ``bind`` without
  ``SO_REUSEADDR``;
* a listener that sets ``SO_REUSEADDR`` itself -- Twisted's ``listenTCP`` does, in this
  process or in a ``segcli`` subprocess -- may still bind it and listen: the reservation
  is handed over, and is still there (refusing) once that listener moves away.

Registered as a plugin in tests/conftest.py (the ``reserve_port`` fixture).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest


def hold_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket holding a free port of *host* (TCP, or UDP with ``SOCK_DGRAM``); close it
    to release the port.  A held UDP port takes datagrams and never answers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    held = socket.socket(family, kind)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind((host, 0))
    return held


@contextmanager
def reserved_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A TCP port of *host* reserved for the ``with`` block (see the module docstring)."""
    with hold_port(host) as held:
        yield held.getsockname()[1]


@pytest.fixture
def reserve_port() -> Iterator[Callable[[], int]]:
    """``reserve_port()`` reserves another loopback TCP port until the test ends."""
    held: list[socket.socket] = []

    def reserve() -> int:
        held.append(hold_port())
        return held[-1].getsockname()[1]

    yield reserve
    for sock in held:
        sock.close()
