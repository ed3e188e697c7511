"""Wrong SSH passwords cost time across connections (segcli/ssh/auth.py and throttle.py):
a real SSH server in this process, on loopback, with short pauses, and real paramiko
clients in threads.

segcli.ssh imports Conch, which imports the reactor: it is imported once the asyncio
reactor is installed (the ``run`` fixture of ``async def`` tests), never at collection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from engine.appliance import Appliance, StartOptions
from engine.config.model import Endpoint
from tests.e2e.ssh_fixtures import PASSWORD, password_login

BASE, CAP, ACCOUNT_CAP = 0.2, 0.8, 0.4
GUESSES = 8


@asynccontextmanager
async def ssh_server(data_dir: Path, **throttle: float) -> AsyncIterator[int]:
    """The appliance's SSH server on a free loopback port, its pauses shortened."""
    from segcli.ssh.server import SshServer
    from segcli.ssh.throttle import LoginThrottle

    appliance = Appliance.open(StartOptions(data_dir=data_dir, ssh=Endpoint("127.0.0.1", 0)))
    appliance.users.ensure_factory_admin()
    server = SshServer(appliance, appliance.users, throttle=LoginThrottle(**throttle))
    try:
        yield await server.start()
    finally:
        await server.stop()
        await appliance.stop()


def pauses(count: int) -> float:
    """The pauses of *count* wrong passwords from one source, one after another."""
    from segcli.ssh.throttle import pause_after

    return sum(pause_after(n, BASE, CAP) for n in range(1, count + 1))


async def test_parallel_wrong_passwords_from_one_address_wait_one_after_another(tmp_path):
    """Eight guesses on eight connections at once take as long as eight in a row; the
    administrator, from another address, then logs in."""
    loop = asyncio.get_running_loop()
    async with ssh_server(tmp_path / "data", base=BASE, cap=CAP, account_base=BASE,
                          account_cap=ACCOUNT_CAP) as port:
        with ThreadPoolExecutor(GUESSES) as pool:
            started = time.monotonic()
            results = await asyncio.gather(
                *(loop.run_in_executor(pool, password_login, port, f"guess-{n}") for n in range(GUESSES)))
            elapsed = time.monotonic() - started
            assert results == [False] * GUESSES
            assert elapsed >= pauses(GUESSES), (elapsed, pauses(GUESSES))
            assert await loop.run_in_executor(pool, partial(password_login, port, PASSWORD,
                                                             source="127.0.0.2"))


async def test_a_right_password_after_wrong_ones_from_the_same_address_works(tmp_path):
    """The throttle delays; it does not lock the account or the address."""
    loop = asyncio.get_running_loop()
    async with ssh_server(tmp_path / "data", base=BASE, cap=CAP, account_base=BASE,
                          account_cap=ACCOUNT_CAP) as port:
        with ThreadPoolExecutor(2) as pool:
            assert not await loop.run_in_executor(pool, password_login, port, "wrong")
            assert not await loop.run_in_executor(pool, password_login, port, "wrong again")
            assert await loop.run_in_executor(pool, password_login, port, PASSWORD)
