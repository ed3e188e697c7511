"""``grep``, ``findevent`` and ``tail`` against a live engine after real traffic.

The log is rolled in the middle of the traffic, so every search has to read the rolled
file as well as ``mail.current``; the histories are checked line by line against what the
engine logged and stored (split parts and journal copies linked by ``origin_mid``).
"""

from __future__ import annotations

import asyncio
import re

import pytest

from commands.session import CliSession
from tests.conftest import ScriptedTerminal
from tests.engine.gateway_lab import CUSTOM, INTAKE, until

pytestmark = pytest.mark.usefixtures("run")

TRACKED = "was delivered for scanning with Cisco Secure Email Threat Defense."


class _Appliance:
    """What the log commands read of the appliance: the live engine and its config."""

    def __init__(self, gateway) -> None:
        self.mail = gateway.engine
        self.config = gateway.config
        self.running = type("V", (), {"id": 1, "config": gateway.config})()


def _session(gateway, answers=()) -> tuple[CliSession, ScriptedTerminal]:
    terminal = ScriptedTerminal(answers)
    return CliSession(_Appliance(gateway), terminal), terminal


async def _traffic(gateway) -> None:
    """MID 1 (journaled as MID 2) before a roll; after it MID 3, split into MID 4 for the
    sales policy, journaled as MID 5 (default intake) and MID 6 (custom intake)."""
    await gateway.start()
    await gateway.send("hello one")
    await until(lambda: gateway.log().count("Message finished MID") == 2)
    gateway.engine.mail_log.roll()
    await gateway.send("split me", recipients=("bob@example.com", "carol@sales.example.com"))
    await until(lambda: gateway.log().count("Message finished MID") == 4)
    await until(lambda: len(_tracked(gateway)) == 3)


async def _until_quiet(gateway) -> None:
    """Until nothing more is to be logged: connections in and out closed ("DCID n close"
    written), so the log's last lines stay its last lines while a test compares them."""
    counters = gateway.engine.counters
    await until(lambda: counters.system.connections_in == 0 and all(
        host.connections_out + host.pending_connections == 0 for host in counters.hosts.values()))


def _tracked(gateway) -> list:
    from engine.store import queue_store

    store = gateway.engine.store.engine
    return [text for mid in (1, 3, 4) for _, text in queue_store.tracking_events(store, mid)
            if TRACKED in text]


def _log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"[A-Z][a-z]{2} [A-Z][a-z]{2} ", line)]


# -- grep ---------------------------------------------------------------------------------
async def test_grep_finds_the_tdc_lines_in_the_rolled_file_and_the_current_one(gateway):
    await _traffic(gateway)
    rolled = [p for p in gateway.log_path.parent.glob("mail.@*.s")]
    assert len(rolled) == 1 and "TDC: MID 2 successfully delivered" in rolled[0].read_text()

    ok, text = await gateway.command("grep -e TDC: mail_logs")
    assert ok, text
    found = _log_lines(text)
    on_disk = [line for path in (*rolled, gateway.log_path)
               for line in path.read_text().splitlines() if "TDC:" in line]
    assert found == on_disk  # every TDC line, in file order, rolled file first
    assert any("TDC: MID 2 successfully delivered" in line for line in found)
    assert any("TDC: MID 6 successfully delivered" in line for line in found)

    ok, text = await gateway.command("grep -c -e TDC: mail_logs")
    assert ok and text.strip() == str(len(on_disk))


async def test_grep_case_and_file_options(gateway):
    await _traffic(gateway)
    ok, text = await gateway.command("grep -e tdc: mail_logs")
    assert ok and "No results were found." in text  # case-sensitive by default
    ok, text = await gateway.command("grep -i -c -e tdc: mail_logs")
    assert ok and int(text) > 0
    ok, text = await gateway.command("grep -f mail.current -e 'MID 2 ' mail_logs")
    assert ok and "No results were found." in text  # MID 2 lives in the rolled file only
    ok, text = await gateway.command("grep -e 'MID 2 ' -f 'mail.@*' mail_logs")
    assert ok and "TDC: MID 2 successfully delivered" in text


async def test_grep_refuses_a_bad_regex_and_bad_usage(gateway):
    await _traffic(gateway)
    ok, text = await gateway.command("grep -e '(unclosed' mail_logs")
    assert not ok and "Invalid regular expression '(unclosed'" in text
    ok, text = await gateway.command("grep -e TDC other_logs")
    assert not ok and "Unable to grep: there is no log named 'other_logs'" in text
    ok, text = await gateway.command("grep mail_logs")
    assert not ok and "usage is grep -e <regex>" in text


async def test_grep_interactively_asks_again_after_a_bad_regex(gateway):
    await _traffic(gateway)
    session, terminal = _session(gateway, ["1", "(", "successfully DELIVERED", "", "", "", ""])
    assert not await session.execute("grep")  # the wrong answer counts, as for every dialog
    text = terminal.text
    assert 'Currently configured logs:\n1. "mail_logs" Type: "Text Mail Logs"' in text
    assert "Invalid regular expression '('" in text
    assert "Do you want this search to be case insensitive? [Y]>" in text
    assert "Do you want to tail the logs? [N]>" in text
    assert "Do you want to paginate the output? [N]>" in text
    assert len([line for line in _log_lines(text) if "successfully delivered" in line]) == 3


async def test_grep_tail_keeps_following_until_cancelled(gateway):
    await _traffic(gateway)
    session, terminal = _session(gateway)
    task = asyncio.ensure_future(session.execute("grep -t -e MARK mail_logs"))
    gateway.engine.log("MARK one")
    await until(lambda: "MARK one" in terminal.text)
    gateway.engine.mail_log.roll()
    gateway.engine.log("MARK two")
    gateway.engine.log("not this one")
    await until(lambda: "MARK two" in terminal.text)
    assert session.interrupt()
    assert await task is False  # ended by Ctrl-C
    assert "not this one" not in terminal.text


# -- findevent ------------------------------------------------------------------------------
def _history(text: str) -> list[str]:
    """The log lines of a history, without their time stamps."""
    return [line.split(" Info: ", 1)[1] for line in _log_lines(text)]


async def test_findevent_by_mid_shows_the_history_with_the_journal_copy(gateway):
    await _traffic(gateway)
    ok, text = await gateway.command("findevent -m 1")
    assert ok, text
    assert "Message history of MID 1:" in text
    assert f"MID 2: TDC journal copy of MID 1 (to {INTAKE})" in text
    history = _history(text)
    assert history[0].startswith("New SMTP ICID 1 ")  # its connection, before its MID
    for expected in ("Start MID 1 ICID 1", "MID 1 Subject \"hello one\"",
                     "TDC: MID 2 was generated based on MID 1", "ICID 1 close",
                     "TDC: Delivery start DCID", "TDC: MID 2 successfully delivered",
                     "Message finished MID 1 done", "Message finished MID 2 done"):
        assert any(line.startswith(expected) for line in history), expected
    assert not any("MID 3" in line for line in history)  # the rolled-away file was read,
    assert "Message tracking:" in text  # and the next message's lines are not in it
    assert re.search(r"\d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \(GMT \+00:00\)  "
                     rf"TDC: Message 2 {TRACKED}", text)


async def test_findevent_by_subject_links_the_split_part_and_both_copies(gateway):
    await _traffic(gateway)
    ok, text = await gateway.command("findevent -s 'SPLIT ME'")  # case-insensitive
    assert ok, text
    assert "Message history of MID 3:" in text
    assert "MID 4: split part of MID 3 (recipients carol@sales.example.com)" in text
    assert f"MID 5: TDC journal copy of MID 3 (to {INTAKE})" in text
    assert f"MID 6: TDC journal copy of MID 4 (to {CUSTOM})" in text
    history = _history(text)
    assert "MID 3 was split creating MID 4 due to a per-recipient policy sales in the inbound table" \
        in history
    for mid in (3, 4, 5, 6):
        assert any(line.startswith(f"Message finished MID {mid} done") for line in history), mid
    # delivery connections: the ones that carried MID 3 and MID 4, with their close
    dcids = {int(m) for line in history for m in re.findall(r"Delivery start DCID (\d+) MID [34]", line)}
    assert dcids and all(f"DCID {dcid} close" in history for dcid in dcids)
    assert text.count(TRACKED) == 2  # MID 5 and MID 6 each have their tracking line


async def test_findevent_by_from_and_to_and_from_a_copy(gateway):
    await _traffic(gateway)
    ok, text = await gateway.command("findevent -f alice@example")
    assert ok
    assert "The following matching message IDs were found:" in text
    assert re.search(r"1\. MID 1 \(.+\) alice@example.org\n2\. MID 3 \(.+\) alice@example.org", text)
    assert "Message history of MID 1:" in text and "Message history of MID 3:" in text

    ok, text = await gateway.command("findevent -t carol@sales")
    assert ok and "Message history of MID 3:" in text and "Message history of MID 1:" not in text

    ok, text = await gateway.command(f"findevent -t {re.escape(CUSTOM)}")  # a copy's intake
    assert ok and "Message history of MID 3:" in text  # up to the original, then down

    ok, text = await gateway.command("findevent -m 5")
    assert ok and "Message history of MID 3:" in text and "MID 5: TDC journal copy" in text


async def test_findevent_log_sets_and_nothing_found(gateway):
    await _traffic(gateway)
    ok, text = await gateway.command("findevent -m 1 -l current")
    assert ok and "No matching message IDs" in text  # MID 1 is only in the rolled file
    ok, text = await gateway.command("findevent -m 1 -l 1")
    assert ok and "Message history of MID 1:" in text
    ok, text = await gateway.command("findevent -s nothing-like-this")
    assert ok and "No matching message IDs" in text
    ok, text = await gateway.command("findevent -m one")
    assert not ok and "A Message ID (MID) is a number." in text
    ok, text = await gateway.command("findevent -m 1 -l 7")
    assert not ok and "The file numbers must be from 1 to 2." in text


async def test_findevent_interactively_chooses_among_several_matches(gateway):
    await _traffic(gateway)
    session, terminal = _session(gateway, ["3", "e", "1", "2", "1-2", "2"])
    assert await session.execute("findevent")
    text = terminal.text
    assert ("Please choose which type of search you want to perform:\n1. Search by envelope FROM\n"
            "2. Search by Message ID\n3. Search by Subject\n4. Search by envelope TO\n[1]> 3") in text
    assert "Enter the regular expression to search for." in text
    assert ("1. Search all available log files\n2. Select log files by date list\n"
            "3. Search current log file") in text
    assert re.search(r"1\. mail\.@\d{8}T\d{6}\.s\s+\w{3} \w{3} \d\d \d\d:\d\d:\d\d \d{4} - ", text)
    assert ("The following matching message IDs were found. Please choose one to show "
            "additional log information:") in text
    assert re.search(r"1\. MID 1 \(.+\) hello one\n2\. MID 3 \(.+\) split me\n\[1\]> 2", text)
    assert "Message history of MID 3:" in text and "Message history of MID 1:" not in text


# -- tail -------------------------------------------------------------------------------------
async def test_tail_follows_new_lines_across_a_roll_until_cancelled(gateway):
    await _traffic(gateway)
    await _until_quiet(gateway)  # else a connection's close may land between tail and the check
    session, terminal = _session(gateway)
    task = asyncio.ensure_future(session.execute("tail mail_logs"))
    await until(lambda: "Press Ctrl-C to stop." in terminal.text)
    shown = _log_lines(terminal.text)
    assert shown and shown == gateway.log().splitlines()[-10:]  # the last 10 lines first

    gateway.engine.log("first new line")
    await until(lambda: "first new line" in terminal.text)
    gateway.engine.mail_log.roll()
    gateway.engine.log("after the roll")
    await until(lambda: "after the roll" in terminal.text)
    after = terminal.text.split("first new line", 1)[1]
    assert after.index("End Logfile") < after.index("Begin Logfile") < after.index("after the roll")

    assert session.interrupt()
    assert await task is False
    gateway.engine.log("after the cancel")
    await asyncio.sleep(0.5)
    assert "after the cancel" not in terminal.text


async def test_tail_asks_for_the_log_and_takes_a_line_count(gateway):
    await _traffic(gateway)
    session, terminal = _session(gateway, ["mail_logs"])
    task = asyncio.ensure_future(session.execute("tail"))
    await until(lambda: "Press Ctrl-C to stop." in terminal.text)
    assert "Enter the number of the log you wish to tail." in terminal.text
    session.interrupt()
    await task

    await _until_quiet(gateway)
    session, terminal = _session(gateway)
    task = asyncio.ensure_future(session.execute("tail -n 2 mail_logs"))
    await until(lambda: "Press Ctrl-C to stop." in terminal.text)
    await asyncio.sleep(0.3)
    assert _log_lines(terminal.text) == gateway.log().splitlines()[-2:]
    session.interrupt()
    await task
    ok, text = await gateway.command("tail -n x mail_logs")
    assert not ok and "usage is tail" in text
