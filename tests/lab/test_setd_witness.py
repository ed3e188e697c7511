"""What the SETD simulator saw, as a drill's independent witness: totals since start that
are never capped, every transmission of an original Message-ID, the duplicate and
foreign-domain flags, TLS failures and what the connections did.  smtplib plays the
gateway over real SMTP and TLS."""

from __future__ import annotations

import asyncio
import smtplib
import ssl

import pytest

import segcli.lab.setd_state as setd_state
from segcli.lab.intake import IntakeRegistry, SetupError
from segcli.lab.setd_state import TOTAL_KEYS, Transaction
from tests.engine.gateway_lab import until
from tests.lab.setd_client import Target, attempt, journal, original
from tests.lab.test_setd_dashboard import http

M1 = "<m1@example.org>"


def send(setd, recipients, data, **kwargs):
    """One attempt from a worker thread, so the simulator keeps running on the loop."""
    return asyncio.to_thread(attempt, Target.of(setd), recipients, data, **kwargs)


def original_to(to: str, n: int = 1) -> bytes:
    return (f"From: Alice <alice@example.org>\r\nTo: Someone <{to}>\r\nSubject: Hello\r\n"
            f"Message-ID: <m{n}@example.org>\r\n\r\nHello\r\n").encode()


def statuses(setd, message_id: str = M1) -> list[tuple[str, int | None, bool, bool]]:
    return [(t.status, t.code, t.duplicate, t.foreign_domain)
            for t in setd.transactions(message_id)]


async def test_totals_go_on_counting_beyond_what_is_kept(setd, intake):
    setd.keep = 2
    for n in range(5):
        assert (await send(setd, intake, journal(intake, original(n=n)))).stage == "done"
    assert (await send(setd, intake, original())).code == 550  # not a journal: after DATA
    stranger = "33c48e-27xp9-05ecb5@beta.cmd.cisco.com"  # one character off
    assert (await send(setd, stranger, journal(stranger, original()))).code == 550  # at RCPT
    assert len(setd.messages(intake)) == 2
    assert setd.totals(intake) == {**dict.fromkeys(TOTAL_KEYS, 0), "accepted": 5, "rejected": 1}
    assert setd.totals("default") == setd.totals(intake)  # by account name
    assert setd.totals(stranger.upper())["rejected"] == 1  # what a RCPT named, refused
    assert setd.totals()["rejected"] == 2 and setd.totals()["accepted"] == 5
    assert setd.totals("nobody@nowhere.test") == dict.fromkeys(TOTAL_KEYS, 0)
    setd.clear_messages()
    assert setd.totals(intake)["accepted"] == 5  # forgetting the list keeps the totals


async def test_a_deferred_then_accepted_message_has_both_transmissions(setd, intake):
    setd.add_fault(intake, "reply", stage="eom", code=451, times=1)
    first = await send(setd, intake, journal(intake, original()))
    assert (first.stage, first.code) == ("eom", 451)
    assert (await send(setd, intake, journal(intake, original()))).stage == "done"
    [deferred, accepted] = setd.transactions(M1)
    assert isinstance(deferred, Transaction) and deferred.address == intake
    assert (deferred.status, deferred.code, deferred.label) == ("deferred", 451, "deferred 451")
    assert deferred.text.startswith("451 4.3.0")
    assert (accepted.status, accepted.code, accepted.duplicate) == ("accepted", 250, False)
    assert accepted.time >= deferred.time
    assert setd.transactions("m1@example.org") == [deferred, accepted]  # brackets optional
    assert setd.transactions("<m2@example.org>") == []
    totals = setd.totals(intake)
    assert (totals["deferred"], totals["accepted"], totals["duplicate"]) == (1, 1, 0)


async def test_refusals_before_the_message_count_in_the_totals_only(setd, intake):
    setd.add_fault(intake, "reply", stage="rcpt", code=451, times=1)
    setd.add_fault(intake, "reply", stage="mail", code=503, times=1)
    setd.add_fault(intake, "reply", stage="data", code=554, times=1)
    results = [await send(setd, intake, journal(intake, original())) for _ in range(4)]
    assert [(r.stage, r.code) for r in results] == [
        ("mail", 503), ("rcpt", 451), ("data", 554), ("done", 250)]
    totals = setd.totals(intake)
    assert (totals["rejected"], totals["deferred"], totals["accepted"]) == (2, 1, 1)
    assert statuses(setd) == [("accepted", 250, False, False)]  # no Message-ID before DATA


async def test_a_drop_after_the_dot_makes_the_next_copy_a_duplicate(setd, intake):
    setd.add_fault(intake, "disconnect_after_dot", times=1)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        await send(setd, intake, journal(intake, original()))
    for _ in range(2):
        assert (await send(setd, intake, journal(intake, original()))).stage == "done"
    assert statuses(setd) == [("dropped_after_dot", None, False, False),
                              ("accepted", 250, True, False), ("accepted", 250, True, False)]
    assert [t.label for t in setd.transactions(M1)] == [
        "dropped-after-dot", "accepted, duplicate", "accepted, duplicate"]
    totals = setd.totals(intake)
    assert (totals["dropped_after_dot"], totals["accepted"], totals["duplicate"]) == (1, 2, 2)
    other = setd.setup_intake(name="other").address  # the same original elsewhere is new there
    assert (await send(setd, other, journal(other, original()))).stage == "done"
    assert setd.transactions(M1)[-1].duplicate is False


async def test_mail_for_none_of_the_accounts_domains_is_flagged_foreign_and_accepted(setd, intake):
    assert (await send(setd, intake, journal(intake, original_to("a@sub.example.org")))
            ).stage == "done"  # no domain list: every domain is the account's
    setd.set_domains("default", ["Example.com", "example.com."])
    assert setd.find_intake(intake).domains == ("example.com",)
    for n, to in enumerate(["bob@example.com", "alice@sub.example.org"], start=2):
        result = await send(setd, intake, journal(intake, original_to(to, n)))
        assert (result.stage, result.code) == ("done", 250)
    assert statuses(setd, "<m2@example.org>") == [("accepted", 250, False, False)]
    assert statuses(setd, "<m3@example.org>") == [("accepted", 250, False, True)]
    assert setd.accepted(intake)[-1].label == "accepted, foreign-domain"
    totals = setd.totals(intake)
    assert (totals["accepted"], totals["foreign_domain"]) == (3, 1)
    with pytest.raises(SetupError, match="Not a domain name"):
        setd.set_domains(intake, ["example.com", "not a domain"])
    assert setd.find_intake(intake).domains == ("example.com",)  # unchanged
    assert IntakeRegistry(setd.state_dir).get(intake).domains == ("example.com",)  # kept
    eu = setd.setup_intake(name="eu", domains=["sub.example.org"])
    assert eu.domains == ("sub.example.org",) and eu.to_json()["domains"] == ["sub.example.org"]


async def test_an_untrusted_certificate_is_a_tls_failure_with_no_mail(setd, intake):
    setd.add_fault(intake, "untrusted_cert")
    with pytest.raises(ssl.SSLCertVerificationError):
        await send(setd, intake, journal(intake, original()))
    await until(lambda: setd.totals(intake)["tls_failed"] == 1, timeout=5)
    domain = setd.find_intake(intake).domain
    assert setd.connections(domain) == {"connections": 1, "ehlo": 1, "starttls": 1,
                                        "tls_ok": 0, "tls_failed": 1, "mail": 0}
    assert setd.transactions(M1) == []
    setd.clear_faults()
    assert (await send(setd, intake, journal(intake, original()))).stage == "done"
    assert setd.connections(f"mx.{domain}") == {"connections": 2, "ehlo": 3, "starttls": 2,
                                                "tls_ok": 1, "tls_failed": 1, "mail": 1}
    assert setd.totals()["tls_failed"] == 1


async def test_a_host_that_never_greets_saw_connections_and_no_ehlo(setd, intake):
    setd.add_fault(intake, "hang")
    for _ in range(2):
        with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected)):
            await send(setd, intake, journal(intake, original()), timeout=0.3)
    await until(lambda: setd.connections()["connections"] == 2, timeout=5)
    assert setd.connections() == {"connections": 2, "ehlo": 0, "starttls": 0, "tls_ok": 0,
                                  "tls_failed": 0, "mail": 0}
    assert setd.connections("eu.cmd.cisco.com")["connections"] == 0


async def test_the_message_id_index_drops_the_oldest_ids(setd, intake, monkeypatch):
    monkeypatch.setattr(setd_state, "MESSAGE_IDS_KEPT", 2)
    for n in (1, 2, 3):
        await send(setd, intake, journal(intake, original(n=n)))
    assert setd.transactions("<m1@example.org>") == []
    assert [len(setd.transactions(f"<m{n}@example.org>")) for n in (2, 3)] == [1, 1]
    assert setd.totals(intake)["accepted"] == 3


async def test_the_dashboard_shows_totals_and_statuses(setd, intake):
    setd.keep = 1
    setd.add_fault(intake, "reply", stage="eom", code=552, times=1)
    await send(setd, intake, journal(intake, original()))
    await send(setd, intake, journal(intake, original()))
    status, _, page = await http(setd, "GET", "/")
    assert status == 200 and "totals since start" in page
    assert "dropped after dot" in page and "foreign-domain" in page
    assert "<td>accepted</td>" in page  # the status of the message still listed
    _, _, totals = await http(setd, "GET", f"/api/totals?address={intake}")
    assert (totals["accepted"], totals["rejected"]) == (1, 1)
    _, _, summary = await http(setd, "GET", "/api/status")
    assert summary["accounts"][0]["totals"] == totals and summary["totals"] == totals
    assert summary["connections"]["beta.cmd.cisco.com"]["mail"] == 2
    _, _, seen = await http(setd, "GET", "/api/transactions?message_id=%3Cm1%40example.org%3E")
    assert [(t["status"], t["code"], t["label"]) for t in seen] == [
        ("rejected", 552, "rejected 552"), ("accepted", 250, "accepted")]
    _, _, listed = await http(setd, "GET", f"/api/intake/{intake}/messages?status=accepted")
    assert [m["label"] for m in listed] == ["accepted"]
    _, _, connections = await http(setd, "GET", "/api/connections?domain=beta.cmd.cisco.com")
    assert connections["tls_ok"] == 2
    status, _, changed = await http(setd, "PUT", f"/api/intake/{intake}",
                                    {"domains": ["example.com"]})
    assert status == 200 and changed["domains"] == ["example.com"]
    status, _, error = await http(setd, "PUT", f"/api/intake/{intake}", {"domains": "x.com"})
    assert status == 400 and "list" in error["error"]
    status, _, error = await http(setd, "GET", "/api/transactions")
    assert status == 400 and "Message-ID" in error["error"]
    status, _, error = await http(setd, "GET", "/api/totals?address=nobody@x.test")
    assert status == 404
