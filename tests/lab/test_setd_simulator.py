"""The SETD intake simulator over real sockets: smtplib plays the gateway's connector."""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl

import pytest

from engine.smtp.resolver import DnsResolver
from segcli.lab.intake import is_intake_style
from segcli.lab.setd_faults import FaultError
from segcli.lab.setd_simulator import SetdSimulator
from tests.engine.gateway_lab import until
from tests.lab.setd_client import Target, attempt, attempt_after, journal, original


def send(setd, recipients, data, **kwargs):
    """One attempt from a worker thread, so the simulator keeps running on the loop."""
    return asyncio.to_thread(attempt, Target.of(setd), recipients, data, **kwargs)


# -- the normal path ----------------------------------------------------------------------


async def test_a_journal_over_verified_starttls_is_accepted_and_recorded(setd, intake):
    message = original("Quarterly résumé")
    result = await send(setd, intake, journal(intake, message))
    assert (result.stage, result.code) == ("done", 250)
    assert result.text.startswith("2.0.0 Ok: queued as ")

    [record] = await setd.wait_for_messages(intake)
    assert record.outcome == "accepted" and result.text.endswith(record.queue_id)
    assert record.sha256 == hashlib.sha256(message).hexdigest()
    assert record.original_size == len(message)
    assert (record.subject, record.original_from, record.original_message_id) == (
        "Quarterly résumé", "Alice <alice@example.org>", "<m1@example.org>")
    assert record.mail_from == "tdc@mail1.example.com" and record.recipients == [intake]
    assert record.helo == "mail1.example.com"
    assert record.tls.startswith("TLSv1.2 ECDHE-RSA-")  # as the vendor's log lines show
    assert record.journal_message_id == "<tdc.2@mail1.example.com>"


async def test_the_intake_address_and_its_certificate_survive_a_restart(setd, intake, setd_dir):
    await setd.stop()
    again = SetdSimulator(setd_dir)
    assert again.ensure_default_intake().address == intake
    assert again.find_intake("default").address == intake and is_intake_style(intake)
    await again.start(dashboard_port=None)
    try:
        result = await asyncio.to_thread(attempt, Target.of(again), intake,
                                         journal(intake, original()))
        assert result.stage == "done"
    finally:
        await again.stop()


async def test_what_is_not_a_journal_is_refused_with_560(setd, intake):
    plain = await send(setd, intake, original())
    assert (plain.stage, plain.code) == ("eom", 550)
    assert plain.text.startswith("5.6.0 ") and "not a journal" in plain.text
    junk = await send(setd, intake, journal(intake, b"no headers, only words\r\n"))
    assert (junk.stage, junk.code) == ("eom", 550) and "does not hold a message" in junk.text
    records = setd.messages(intake)
    assert [r.outcome for r in records] == ["refused", "refused"]
    assert setd.accepted(intake) == [] and records[0].sha256 == ""


async def test_only_intake_addresses_are_accepted(setd, intake):
    other_domain = setd.setup_intake(name="eu", domain="eu.cmd.cisco.com").address
    for stranger in ["someone@beta.cmd.cisco.com", other_domain]:
        result = await send(setd, stranger, journal(stranger, original()))
        assert (result.stage, result.code) == ("rcpt", 550)
        assert result.text.startswith("5.1.1 ")
    assert setd.messages() == []


async def test_one_transaction_for_two_intake_addresses_is_recorded_for_each(setd, intake):
    second = setd.setup_intake(name="custom").address
    result = await send(setd, [intake, second], journal(intake, original()))
    assert result.stage == "done"
    assert [m.intake for m in setd.accepted()] == [intake, second]


async def test_an_intake_domain_set_up_while_running_gets_its_own_host(setd, dns_zone):
    """New domains are served at once, on their own port, and appear in the DNS zone."""
    await setd.stop()
    await setd.start(dashboard_port=None, zone=dns_zone)
    eu = setd.setup_intake(name="eu", domain="eu.cmd.cisco.com").address
    ports = setd.host_ports()
    assert set(ports) == {"mx.beta.cmd.cisco.com", "mx.eu.cmd.cisco.com"}
    assert len(set(ports.values())) == 2
    resolver = DnsResolver([dns_zone.address])
    [mx] = await resolver.mx_hosts("eu.cmd.cisco.com")
    assert (mx.hostname, mx.addresses) == ("mx.eu.cmd.cisco.com", ["127.0.0.1"])
    result = await asyncio.to_thread(attempt, Target.of(setd, "eu.cmd.cisco.com"), eu,
                                     journal(eu, original()))
    assert result.stage == "done" and len(setd.accepted(eu)) == 1


# -- reply faults at every stage ------------------------------------------------------------


@pytest.mark.parametrize(("stage", "code"), [
    ("connect", 421), ("connect", 554), ("ehlo", 554), ("starttls", 454), ("mail", 451),
    ("mail", 503), ("rcpt", 452), ("rcpt", 550), ("rcpt", 503), ("data", 451),
    ("data", 554), ("eom", 552), ("eom", 451), ("eom", 550),
])
async def test_a_reply_fault_at_each_stage_for_the_next_attempt(setd, intake, stage, code):
    fault = setd.add_fault(intake, "reply", stage=stage, code=code, times=1)
    data = journal(intake, original())
    first = await send(setd, intake, data)
    assert (first.stage, first.code, first.text) == (stage, code, fault.text)
    second = await send(setd, intake, data)
    assert second.stage == "done"
    assert setd.list_faults() == []  # spent
    assert [m.outcome for m in setd.messages(intake)] == (
        ["refused", "accepted"] if stage == "eom" else ["accepted"])


async def test_a_reply_fault_with_its_own_text_stays_until_removed(setd, intake):
    fault = setd.add_fault(intake, "reply", stage="rcpt", code=451, text="4.7.1 Come back later")
    for _ in range(3):
        result = await send(setd, intake, journal(intake, original()))
        assert (result.stage, result.code, result.text) == ("rcpt", 451, "4.7.1 Come back later")
    assert setd.remove_fault(fault.id)
    assert (await send(setd, intake, journal(intake, original()))).stage == "done"


async def test_faults_before_rcpt_hit_the_host_and_later_ones_only_their_address(setd, intake):
    other = setd.setup_intake(name="other").address
    setd.add_fault(intake, "reply", stage="mail", code=451)
    setd.add_fault(intake, "reply", stage="rcpt", code=452)
    # MAIL comes before the gateway names an address: every address of the host sees it.
    assert (await send(setd, other, journal(other, original()))).stage == "mail"
    setd.clear_faults()
    setd.add_fault(intake, "reply", stage="rcpt", code=452)
    assert (await send(setd, other, journal(other, original()))).stage == "done"
    assert (await send(setd, intake, journal(intake, original()))).stage == "rcpt"


def test_faults_need_a_known_address_and_sane_settings(setd, intake):
    with pytest.raises(FaultError, match="not an intake address"):
        setd.add_fault("someone@beta.cmd.cisco.com", "hang")
    with pytest.raises(FaultError):
        setd.add_fault(intake, "reply", stage="rcpt", code=250)


# -- TLS faults -------------------------------------------------------------------------------


async def test_starttls_not_offered(setd, intake):
    setd.add_fault(intake, "no_starttls", times=1)
    result = await send(setd, intake, journal(intake, original()))
    assert (result.stage, result.text) == ("ehlo", "STARTTLS not offered")
    assert (await send(setd, intake, journal(intake, original()))).stage == "done"


async def test_starttls_withheld_is_also_refused_when_asked_for(setd, intake):
    setd.add_fault(intake, "no_starttls")
    target = Target.of(setd)

    def ask_anyway():
        with smtplib.SMTP("127.0.0.1", target.port, timeout=5) as client:
            client.ehlo("mail1.example.com")
            return client.docmd("STARTTLS")

    code, _text = await asyncio.to_thread(ask_anyway)
    assert code == 502


async def test_handshake_aborted(setd, intake):
    setd.add_fault(intake, "tls_abort", times=1)
    with pytest.raises((ssl.SSLError, ConnectionError, smtplib.SMTPServerDisconnected)):
        await send(setd, intake, journal(intake, original()))
    assert (await send(setd, intake, journal(intake, original()))).stage == "done"


async def test_untrusted_certificate(setd, intake, setd_dir):
    setd.add_fault(intake, "untrusted_cert", times=2)
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        await send(setd, intake, journal(intake, original()))
    # Only the chain is wrong: the name is right, as a CA that signed it would confirm.
    other_ca = setd_dir / "tls-untrusted" / "ca.pem"
    result = await send(setd, intake, journal(intake, original()), ca=other_ca)
    assert result.stage == "done"
    assert (await send(setd, intake, journal(intake, original()))).stage == "done"


# -- hangs, disconnects, slowness ---------------------------------------------------------------


async def test_accept_then_hang_never_greets(setd, intake):
    setd.add_fault(intake, "hang", times=1)
    with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected), match="timed out"):
        await send(setd, intake, journal(intake, original()), timeout=0.5)
    assert (await send(setd, intake, journal(intake, original()))).stage == "done"


async def test_hang_after_the_final_dot(setd, intake):
    setd.add_fault(intake, "hang", stage="eom", times=1)
    message = original()
    with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected), match="timed out"):
        await send(setd, intake, journal(intake, message), timeout=0.5)
    [record] = setd.messages(intake)
    assert record.outcome == "hung" and record.sha256 == hashlib.sha256(message).hexdigest()


async def test_disconnect_after_the_final_dot(setd, intake):
    setd.add_fault(intake, "disconnect_after_dot", times=1)
    message = original()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        await send(setd, intake, journal(intake, message))
    assert (await send(setd, intake, journal(intake, message))).stage == "done"
    first, second = setd.messages(intake)
    assert (first.outcome, second.outcome) == ("disconnected", "accepted")
    assert first.sha256 == second.sha256 == hashlib.sha256(message).hexdigest()


async def test_slow_reply_at_one_stage(setd, intake):
    """A slow fault for one attempt delays that attempt by its delay, then is spent: the
    next attempt meets no fault (the fault book says so) and is not delayed (it is measured
    against the slow one, not against a fixed bound)."""
    fault = setd.add_fault(intake, "slow", stage="rcpt", delay=1.0, times=1)
    slow = await send(setd, intake, journal(intake, original()))
    assert slow.stage == "done" and slow.seconds >= 1.0
    assert fault.hits == 1 and setd.list_faults(intake) == []
    fast = await send(setd, intake, journal(intake, original()))
    assert fast.stage == "done" and fault.hits == 1
    assert fast.seconds < slow.seconds - 0.5, (fast.seconds, slow.seconds)


async def test_slow_replies_throughout_a_connection(setd, intake):
    setd.add_fault(intake, "slow", delay=0.1)
    result = await send(setd, intake, journal(intake, original()))
    # greeting, EHLO, STARTTLS, EHLO, MAIL, RCPT, DATA, final dot: eight slow replies
    assert result.stage == "done" and result.seconds >= 0.8


async def test_clearing_a_slow_fault_speeds_up_the_connections_it_took(setd, intake):
    """SETD's capacity is back for every connection, not only new ones: a connection the
    slow fault took while it was in force (as the connector keeps and reuses them) answers
    at once after ``fault clear``.  (Before, it stayed slow for its whole life, so a second
    burst carried by connections opened during the slowness expired: the drill
    slow-setd-queue-growth.)  Each reply of the transaction must come within a time
    shorter than the fault's delay."""
    setd.add_fault(intake, "slow", delay=2.0)
    loop = asyncio.get_running_loop()

    async def clear() -> None:
        assert setd.clear_faults() == 1

    def between() -> None:  # in the client's thread: clear the fault on the loop
        asyncio.run_coroutine_threadsafe(clear(), loop).result(10)

    result = await asyncio.to_thread(attempt_after, Target.of(setd), intake,
                                     journal(intake, original()), between=between,
                                     timeout=10, then_timeout=1.5)
    assert result.stage == "done"
    assert [m.outcome for m in setd.messages(intake)] == ["accepted"]


async def test_a_reply_owed_when_the_slow_fault_is_cleared_is_still_sent(setd, intake):
    """Clearing a slow fault does not swallow the replies it is holding back: the attempt
    whose RCPT reply is pending ends normally."""
    fault = setd.add_fault(intake, "slow", stage="rcpt", delay=1.0)
    pending = asyncio.ensure_future(send(setd, intake, journal(intake, original()), timeout=10))
    await until(lambda: fault.hits == 1, timeout=10)
    assert setd.clear_faults() == 1 and fault.lifted
    result = await pending
    assert (result.stage, result.code) == ("done", 250)
    assert [m.outcome for m in setd.accepted(intake)] == ["accepted"]


async def test_stopping_ends_hung_and_slow_connections(setd, intake):
    setd.add_fault(intake, "slow", stage="rcpt", delay=30)
    slow = send(setd, intake, journal(intake, original()), timeout=20)
    pending = asyncio.ensure_future(slow)
    await asyncio.sleep(0.5)
    await setd.stop()
    with pytest.raises((smtplib.SMTPServerDisconnected, ConnectionError)):
        await pending


async def test_waiting_for_mail_that_never_comes_times_out(setd, intake):
    with pytest.raises(TimeoutError):
        await setd.wait_for_messages(intake, timeout=0.1)
