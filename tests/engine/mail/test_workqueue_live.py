"""``workqueue``, ``rate`` and ``topin`` against a live engine: a pause really holds the
mail (nothing delivered or journaled, nothing lost), the streaming displays stop on
Ctrl-C, and topin counts the open connections."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest

from commands.rate import format_row, sample
from commands.session import CliSession
from commands.topin import hostname
from engine.smtp.resolver import DnsAnswer, DnsHardError
from engine.store.users import Role
from tests.conftest import ScriptedTerminal
from tests.engine.gateway_lab import _ApplianceView, until

pytestmark = pytest.mark.usefixtures("run")
ROW = re.compile(r"^\d\d:\d\d:\d\d +(\d+) +(\d+) +(\d+)$", re.M)  # as the IAF harness reads it


def _session(gateway, answers=()) -> tuple[CliSession, ScriptedTerminal]:
    terminal = ScriptedTerminal(list(answers))
    return CliSession(_ApplianceView(gateway), terminal), terminal


async def test_pause_dialog_holds_mail_until_resume(gateway):
    await gateway.start()
    session, terminal = _session(gateway, ["pause", "y", "maintenance window", ""])
    assert await session.execute("workqueue"), terminal.text
    assert "Status: Operating normally\nMessages: 0" in terminal.text
    assert "Manually pause work queue?  This will only affect unprocessed messages. [N]> y" \
        in terminal.text
    assert "Enter a reason for pausing the work queue:\n[]> maintenance window" in terminal.text
    assert "- RESUME - Resume the work queue" in terminal.text  # offered once paused
    for n in range(3):
        await gateway.send(f"held {n}")
    await asyncio.sleep(0.3)  # time enough for the work queue, had it run
    ok, text = await gateway.command("workqueue status")
    assert ok and "Status: Paused by admin: maintenance window\nMessages: 3" in text, text
    assert not gateway.sink.messages and not gateway.setd.messages
    assert "enqueued for forwarding" not in gateway.log()
    ok, text = await gateway.command("workqueue resume")
    assert ok and "Status: Operating normally" in text, text
    await until(lambda: len(gateway.sink.messages) == 3 and len(gateway.setd.messages) == 3)
    ok, text = await gateway.command("workqueue status")
    assert "Messages: 0" in text


async def test_pause_needs_confirmation_and_one_line_forms_refuse_what_makes_no_sense(gateway):
    await gateway.start()
    session, terminal = _session(gateway, ["pause", "n", ""])
    assert await session.execute("workqueue"), terminal.text
    assert gateway.engine.work_pause is None
    ok, text = await gateway.command("workqueue resume")
    assert not ok and "The work queue is not paused." in text
    ok, text = await gateway.command("workqueue pause backup running")
    assert ok and "Paused by admin: backup running" in text
    ok, text = await gateway.command("workqueue pause again")
    assert not ok and "already paused by admin: backup running" in text


async def test_workqueue_rate_counts_in_and_out_and_ctrl_c_returns_to_the_menu(gateway):
    await gateway.start()
    session, terminal = _session(gateway, ["rate", "1", ""])
    running = asyncio.ensure_future(session.execute("workqueue"))
    await until(lambda: len(ROW.findall(terminal.text)) >= 1)
    gateway.engine.pause_work("admin", "rate test")
    await gateway.send("one")
    await gateway.send("two")
    await until(lambda: any(row[0] == "2" for row in ROW.findall(terminal.text)))
    gateway.engine.resume_work()
    await until(lambda: sum(int(row[2]) for row in ROW.findall(terminal.text)) == 2)
    assert session.interrupt()  # Ctrl-C
    assert await running, terminal.text
    text = terminal.text
    assert "Enter the number of seconds between displays.\n[10]> 1" in text
    assert "Type Ctrl-C to return to the main menu." in text
    rows = [tuple(map(int, row)) for row in ROW.findall(text)]
    assert sum(row[1] for row in rows) == 2 and sum(row[2] for row in rows) == 2
    assert text.rstrip().endswith("[]>")  # back at the menu, left with a blank answer


async def test_rate_prints_rows_until_ctrl_c(gateway):
    await gateway.start()
    session, terminal = _session(gateway)
    running = asyncio.ensure_future(session.execute("rate 1"))
    await until(lambda: len(re.findall(r"^\d\d:\d\d:\d\d ", terminal.text, re.M)) >= 2)
    assert session.interrupt()
    assert await running
    assert running.done() and session.failed is False
    assert "Type Ctrl-C to return to the main prompt." in terminal.text


async def test_rate_with_a_count_stops_by_itself(gateway):
    await gateway.start()
    ok, text = await gateway.command("rate 1 2")
    assert ok, text
    assert len(re.findall(r"^\d\d:\d\d:\d\d +0 +\d+ +\d+ +0 +\d+ +0 +\d+$", text, re.M)) == 2, text


async def test_rate_rows_show_recipients_received_and_completed_with_deltas(gateway):
    await gateway.start()
    before = await sample(gateway.engine)
    await gateway.send("pair", recipients=("bob@example.com", "carol@example.com"))
    await until(lambda: gateway.engine.counters.host("example.com").delivered == 2
                and gateway.engine.tdc.counters.delivered == 1)
    row = format_row(await sample(gateway.engine), before).split()
    # time, in, out, received, delta, completed, delta, K-used
    assert row[3:7] == ["2", "2", "3", "3"]  # 2 recipients; completed: 2 + the journal copy


async def test_topin_counts_open_connections_per_remote_ip(gateway):
    await gateway.start()
    clients = []
    try:
        for _ in range(2):
            client = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
            await asyncio.to_thread(client.recv, 1024)  # the greeting: the connection is up
            clients.append(client)
        ok, text = await gateway.command("topin")
    finally:
        for client in clients:
            client.close()
    assert ok, text
    assert "#  Remote hostname            Remote IP addr.   listener        Conn. In" in text
    listener = gateway.config.listener.name
    # the lab's DNS has no PTR record for 127.0.0.1: the IP stands for the name
    assert re.search(rf"^1  127\.0\.0\.1\s+127\.0\.0\.1\s+{listener}\s+2$", text, re.M), text


class _Resolver:
    """A resolver with fixed answers: PTR of 192.0.2.7, and A records."""

    def __init__(self, ptr: str, a: list[str]) -> None:
        self.answers = {("7.2.0.192.in-addr.arpa.", "PTR"): [ptr], (ptr.rstrip("."), "A"): a}

    async def lookup(self, name: str, rdtype: str = "A") -> DnsAnswer:
        records = self.answers.get((name, rdtype))
        if records is None:
            raise DnsHardError(name, rdtype, "NXDOMAIN")
        return _Answer(records)


class _Answer:
    def __init__(self, records: list[str]) -> None:
        self.records = records


async def test_topin_names_a_host_only_when_forward_dns_confirms_it():
    assert await hostname(_Resolver("mail.example.net.", ["192.0.2.7"]), "192.0.2.7") \
        == "mail.example.net"
    assert await hostname(_Resolver("mail.example.net.", ["192.0.2.99"]), "192.0.2.7") \
        == "192.0.2.7"  # the name does not lead back to the address
    assert await hostname(_Resolver("x.", []), "198.51.100.1") == "198.51.100.1"  # no PTR


async def test_a_read_only_user_may_watch_the_work_queue_but_not_pause_it(gateway):
    await gateway.start()
    terminal = ScriptedTerminal(["pause", "", ""])
    session = CliSession(_ApplianceView(gateway), terminal, user="viewer", role=Role.READONLY)
    await session.execute("workqueue")
    assert "- PAUSE -" not in terminal.text and "Unknown option: pause" in terminal.text
    assert not await session.execute("workqueue pause lunch")
    assert "You are not in the correct access group to use this command." in terminal.text
    assert not await session.execute("resetcounters")
    assert gateway.engine.work_pause is None
    assert await session.execute("workqueue status")
