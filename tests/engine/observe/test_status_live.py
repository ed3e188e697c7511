"""``status``, ``status detail`` and ``resetcounters`` against a live engine after real
traffic: the figures, their columns and the layout the IAF status parser reads."""

from __future__ import annotations

import re

import pytest

from engine.config.model import Endpoint, ThreatDefense
from engine.mail.mail_engine import MailEngine
from engine.mail.verdicts import EICAR
from engine.smtp.server import Reply
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")

#: Labels and the least spaces after them, as the IAF status parser (ASYNCOS.md, source IAF)
#: matches them: each label padded to 26 characters after its section's indent.
PARSER_LABELS = [
    "Messages Received         ", "Recipients Received       ", "Gen. Bounce Recipients    ",
    "Gen. Journal Recipients   ",
    "Rejected Recipients       ", "Dropped Messages          ", "Soft Bounced Events       ",
    "Completed Recipients      ", "  Hard Bounced Recipients ", "    DNS Hard Bounces      ",
    "    5XX Hard Bounces      ", "    Expired Hard Bounces  ", "    Filter Hard Bounces   ",
    "    Other Hard Bounces    ", "  Delivered Recipients    ", "  Deleted Recipients      ",
    "Message ID (MID)                ", "Injection Conn. ID (ICID)       ",
    "Delivery Conn. ID (DCID)        ", "RAM Utilization           ", "Overall CPU load average  ",
    "Logging Disk Usage        ", "Logging Disk Available    ", "Current Inbound Conn.     ",
    "Current Outbound Conn.    ", "Active Recipients         ", "  Unattempted Recipients  ",
    "  Attempted Recipients    ", "Messages In Work Queue    ", "Destinations In Memory    ",
    "Kilobytes Used            ", "Kilobytes Free            ",
    "Status as of:                  ", "Up since:                      ",
    "Last counter reset:            ", "System status:                 ",
    "Oldest Message:                ",
]


def figures(text: str, label: str) -> list[int]:
    """The numbers on the first line that carries *label* (thousands separators removed)."""
    match = re.search(rf"^\s+{re.escape(label)}((?:\s+[\d,]+%?)+)$", text, re.M)
    assert match, f"{label!r} not in:\n{text}"
    return [int(v.rstrip("%").replace(",", "")) for v in match.group(1).split()]


def section(text: str, start: str, end: str | None = None) -> str:
    body = text[text.index(start):]
    return body[:body.index(end)] if end else body


async def _traffic(gateway, count: int) -> None:
    """*count* messages to example.com, each delivered and journaled."""
    for n in range(count):
        await gateway.send(f"m{n}")
    engine = gateway.engine
    await until(lambda: engine.counters.host("example.com").delivered == count
                and engine.tdc.counters.completed == count)
    await engine.settled()  # the outcomes are in the store too


async def test_status_counts_real_traffic_in_all_three_columns(gateway):
    await gateway.start()
    await _traffic(gateway, 4)
    ok, text = await gateway.command("status")
    assert ok, text
    assert 'Enter "status detail" for more information.' in text
    assert re.search(r"^Up since:\s{22}\w{3} \w{3} [ \d]\d [\d:]{8} \d{4} GMT \((\d+m )?\d+s\)$",
                     text, re.M), text
    assert "Last counter reset:            Never" in text
    assert "System status:                 Online" in text
    assert "Oldest Message:                No Messages" in text
    assert figures(text, "Messages Received") == [4, 4, 4]
    assert figures(text, "Recipients Received") == [4, 4, 4]
    assert figures(text, "Completed Recipients") == [8, 8, 8]  # 4 delivered + 4 journal copies
    ids = gateway.engine.ids
    assert figures(text, "Message ID (MID)") == [ids.current("mid")]
    assert figures(text, "Injection Conn. ID (ICID)") == [ids.current("icid")]
    assert figures(text, "Delivery Conn. ID (DCID)") == [ids.current("dcid")]
    assert figures(text, "Active Recipients") == [0]
    assert figures(text, "Messages In Work Queue") == [0]
    assert figures(text, "Kilobytes Free")[0] > 0
    assert "Rates (Events Per Hour)" not in text and "Delivered Recipients" not in text


async def test_status_detail_breaks_hard_bounces_down_and_shows_rates(gateway):
    gateway.setd.faults["rcpt"] = [Reply(550, "5.1.1 unknown")]  # the first copy hard-bounces
    await gateway.start()
    await _traffic(gateway, 5)
    ok, text = await gateway.command("status detail")
    assert ok, text
    counters = section(text, "Counters:", "Rates (Events Per Hour):")
    assert figures(counters, "Gen. Bounce Recipients") == [0, 0, 0]
    assert figures(counters, "Gen. Journal Recipients") == [5, 5, 5]
    assert figures(counters, "Hard Bounced Recipients") == [1, 1, 1]
    assert figures(counters, "5XX Hard Bounces") == [1, 1, 1]
    assert figures(counters, "DNS Hard Bounces") == [0, 0, 0]
    assert figures(counters, "Delivered Recipients") == [9, 9, 9]  # 5 + 4 journal copies
    assert figures(counters, "Completed Recipients") == [10, 10, 10]
    rates = section(text, "Rates (Events Per Hour):", "Gauges:")
    # five messages within the last minute: 300 an hour over 1 minute, 60 over 5, 20 over 15
    assert figures(rates, "Messages Received") == [300, 60, 20]
    assert figures(rates, "Recipients Received") == [300, 60, 20]
    assert figures(rates, "Delivered Recipients") == [540, 108, 36]
    assert figures(rates, "Hard Bounced Recipients") == [60, 12, 4]
    assert figures(rates, "Completed Recipients") == [600, 120, 40]
    gauges = section(text, "Gauges:")
    assert 0 <= figures(gauges, "RAM Utilization")[0] <= 100
    assert figures(gauges, "Overall CPU load average")[0] >= 0
    assert re.search(r"^    Logging Disk Available\s+\d+[KMGT]$", gauges, re.M)
    assert figures(gauges, "Unattempted Recipients") == figures(gauges, "Attempted Recipients") == [0]
    assert figures(gauges, "Destinations In Memory") == [2]  # example.com and the.tdc.queue


async def test_received_and_generated_recipients_balance_completed_and_active(gateway):
    """Received + Gen. Bounce + Gen. Journal = Completed + Active, on real mail: a message
    that hard-bounces (journaled; its bounce is delivered to the sender's domain), an
    ordinary one to a policy that does not journal, a journaled one, and one dropped by
    anti-virus."""
    gateway.config.incoming.get("sales").threat_defense = ThreatDefense()  # no journal
    gateway.sink.faults["rcpt"] = [Reply(550, "5.1.1 no such user")]
    await gateway.start()
    await gateway.send("refused", recipients=("tim@example.com",))
    # The sink refuses the first RCPT it sees, and sales.example.com goes to the same sink:
    # tim's delivery must have had the refusal before the next message can race it there.
    await until(lambda: not gateway.sink.faults["rcpt"], explain=gateway.log)
    await gateway.send("ordinary", recipients=("bob@sales.example.com",))
    await gateway.send("journaled", recipients=("bob@example.com", "carol@example.com"))
    await gateway.send("infected", body=EICAR.decode())
    engine = gateway.engine
    await until(lambda: engine.counters.host("example.org").delivered == 1  # the bounce
                and engine.counters.host("sales.example.com").delivered == 1
                and engine.counters.host("example.com").delivered == 2
                and engine.tdc.counters.delivered == 2, explain=gateway.log)
    await engine.settled()
    ok, text = await gateway.command("status detail")
    assert ok, text
    counters = section(text, "Counters:", "Rates (Events Per Hour):")
    received = figures(counters, "Recipients Received")
    bounces = figures(counters, "Gen. Bounce Recipients")
    journals = figures(counters, "Gen. Journal Recipients")
    completed = figures(counters, "Completed Recipients")
    active = figures(section(text, "Gauges:"), "Active Recipients")[0]
    assert (received, bounces, journals) == ([5, 5, 5], [1, 1, 1], [2, 2, 2])
    assert figures(counters, "Dropped Messages") == [1, 1, 1]
    assert figures(counters, "Deleted Recipients") == [1, 1, 1]  # the dropped one's
    assert figures(counters, "Hard Bounced Recipients") == [1, 1, 1]
    assert figures(counters, "Delivered Recipients") == [6, 6, 6]
    for column in range(3):
        assert received[column] + bounces[column] + journals[column] == completed[column] + active
    assert active == 0 and completed == [8, 8, 8]


async def test_status_detail_has_every_label_the_iaf_parser_reads(gateway):
    await gateway.start()
    await _traffic(gateway, 1)
    ok, text = await gateway.command("status detail")
    assert ok, text
    for label in PARSER_LABELS:
        assert re.search(re.escape(label) + r"\s*\S", text), label
    assert re.search(r"Messages In Quarantine\s+Policy, Virus and Outbreak  \s*0", text)
    assert re.search(r"Kilobytes In Quarantine\s+Policy, Virus and Outbreak  \s*0", text)


async def test_gauges_show_what_waits_in_the_queue(gateway, unused_port):
    gateway.config.host_ports["mx.example.com"] = unused_port  # the sink is unreachable
    await gateway.start()
    await gateway.send("stuck", recipients=("bob@example.com", "carol@example.com"))
    host = gateway.engine.counters.host("example.com")
    # the journal copy is an active recipient too until SETD has it
    await until(lambda: host.soft_bounced_events >= 1 and gateway.engine.tdc.counters.delivered == 1)
    ok, text = await gateway.command("status detail")
    assert ok, text
    assert figures(text, "Active Recipients") == [2]
    assert figures(text, "Attempted Recipients") == [2]
    assert figures(text, "Soft Bounced Events")[0] >= 1
    assert figures(text, "Kilobytes Used")[0] >= 1
    assert re.search(r"^Oldest Message:\s{16}(\d+m )?\d+s$", text, re.M), text


async def test_resetcounters_zeroes_the_reset_column_only(gateway):
    await gateway.start()
    await _traffic(gateway, 3)
    ok, text = await gateway.command("resetcounters")
    assert ok, text
    reset_line = re.search(r"^Counters reset: (\w{3} \w{3} [ \d]\d [\d:]{8} \d{4} GMT)$", text, re.M)
    assert reset_line, text
    await gateway.send("after the reset")
    await until(lambda: gateway.engine.counters.host("example.com").delivered == 1)
    ok, text = await gateway.command("status")
    assert f"Last counter reset:            {reset_line[1]}" in text
    assert figures(text, "Messages Received") == [1, 4, 4]
    ok, tophosts = await gateway.command("tophosts 3")
    assert re.search(r"example\.com\s+0\s+\d+\s+1\s", tophosts), tophosts  # reset there too


def _restarted(gateway) -> MailEngine:
    old = gateway.engine
    return MailEngine(old.store, old.data_dir, lambda: gateway.config, version="15.5.1-055",
                      serial="S")


async def test_lifetime_survives_a_restart_of_the_engine_on_the_same_store(gateway):
    await gateway.start()
    await _traffic(gateway, 2)
    await gateway.engine.stop()
    gateway.engine = _restarted(gateway)
    await gateway.engine.start(Endpoint("127.0.0.1", 0))
    try:
        ok, text = await gateway.command("status")
        assert ok, text
        assert figures(text, "Messages Received") == [2, 0, 2]
        assert figures(text, "Completed Recipients") == [4, 0, 4]
        ok, text = await gateway.command("resetcounters")
        assert ok, text
    finally:
        await gateway.engine.stop()
    gateway.engine = _restarted(gateway)
    await gateway.engine.start(Endpoint("127.0.0.1", 0))
    try:
        ok, text = await gateway.command("status")
        assert figures(text, "Messages Received") == [0, 0, 2]
        assert "Last counter reset:            Never" not in text
    finally:
        await gateway.engine.stop()  # the fixture stops only the engine it made


async def test_an_attached_console_cannot_obtain_mail_stats(gateway):
    gateway.engine, engine = None, gateway.engine
    try:
        for line in ("status", "status detail", "resetcounters", "rate 1 1", "workqueue status",
                     "topin"):
            ok, text = await gateway.command(line)
            assert not ok and "Couldn't obtain mail stats" in text, (line, text)
            assert "runs in another segcli process" in text
    finally:
        gateway.engine = engine


@pytest.mark.parametrize("line", ["status now", "resetcounters all", "rate 0", "rate 1 2 3",
                                  "rate x", "workqueue frobnicate", "workqueue pause",
                                  "workqueue rate 0", "topin 3"])
async def test_malformed_one_line_forms_fail(gateway, line):
    await gateway.start()
    ok, text = await gateway.command(line)
    assert not ok and "Invalid arguments when processing" in text, text
