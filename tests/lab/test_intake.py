"""SETD's setup and state (intake.py), the fault model and the journal check, on their own."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime

import pytest

from engine.mail.journal import journal_copy
from segcli.lab.intake import (
    STATE_FILE,
    IntakeRegistry,
    SetupError,
    is_intake_style,
    new_intake_address,
)
from segcli.lab.journal_check import NotAJournal, check_journal, journal_message_id
from segcli.lab.setd_faults import FaultBook, FaultError, FaultKind, Stage, make_fault

ORIGINAL = (b"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\n"
            b"Subject: =?utf-8?q?Quarterly_r=C3=A9sum=C3=A9?=\r\nMessage-ID: <q1@example.org>\r\n"
            b"Date: Fri, 16 Feb 2024 21:19:22 -0600\r\n\r\nHello Bob,\r\n.\r\n--x\r\n")


def journal(original: bytes = ORIGINAL) -> bytes:
    return journal_copy(original, gateway="mail1.example.com", intake="x@beta.cmd.cisco.com",
                        mid=12, original_mid=11, original_message_id="<q1@example.org>",
                        when=datetime(2024, 2, 16, 21, 19, 22, tzinfo=UTC))


# -- intake addresses and the setup of SPEC.md §1.1 ----------------------------------------


def test_generated_addresses_look_like_setds():
    addresses = {new_intake_address() for _ in range(200)}
    assert len(addresses) == 200
    for address in addresses:
        assert re.fullmatch(r"[0-9a-f]{6}-[0-9a-z]{5}-[0-9a-f]{6}@beta\.cmd\.cisco\.com", address)
        assert is_intake_style(address)
    assert new_intake_address("EU.cmd.cisco.com").endswith("@eu.cmd.cisco.com")
    assert is_intake_style("33c48e-27xp9-05ecb4@beta.cmd.cisco.com")
    assert not is_intake_style("test@esa.example.com")


def test_setup_answers_give_an_account_that_survives_a_restart(tmp_path):
    registry = IntakeRegistry(tmp_path)
    account = registry.setup(seg_present=True, seg_type="Cisco SEG", direction="incoming",
                             verification="none", name="primary")
    assert is_intake_style(account.address) and account.domain == "beta.cmd.cisco.com"
    custom = registry.setup(name="emea")
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert [a["address"] for a in state["accounts"]] == [account.address, custom.address]

    again = IntakeRegistry(tmp_path)
    assert again.accounts() == [account, custom]
    assert again.default() == account
    assert again.find("EMEA") == custom  # looked up again by name ...
    assert again.find(f"<{account.address.upper()}>") == account  # ... or by address
    assert again.remove(custom.address) and IntakeRegistry(tmp_path).accounts() == [account]


@pytest.mark.parametrize("answers", [
    {"seg_present": False},
    {"seg_type": "Exchange"},
    {"direction": "sideways"},
    {"verification": "maybe"},
])
def test_answers_setd_does_not_take(tmp_path, answers):
    with pytest.raises(SetupError):
        IntakeRegistry(tmp_path).setup(**answers)
    assert not (tmp_path / STATE_FILE).exists()


def test_a_broken_state_file_is_reported(tmp_path):
    (tmp_path / STATE_FILE).write_text("{not json")
    with pytest.raises(SetupError, match="Cannot read the SETD state file"):
        IntakeRegistry(tmp_path)


# -- the fault model ------------------------------------------------------------------------


def test_fault_settings_are_checked_and_completed():
    reply = make_fault(1, "A@Beta.cmd.cisco.com", "reply", stage="rcpt", code=552)
    assert (reply.address, reply.domain) == ("a@beta.cmd.cisco.com", "beta.cmd.cisco.com")
    assert reply.text.startswith("5.3.4") and not reply.connection_level
    assert make_fault(2, "a@d", "hang").stage is Stage.CONNECT
    assert make_fault(3, "a@d", "untrusted_cert").stage is Stage.STARTTLS
    assert make_fault(4, "a@d", "disconnect_after_dot").stage is Stage.EOM
    assert make_fault(5, "a@d", "slow", delay=2).connection_level  # no stage: every reply
    assert make_fault(6, "a@d", "reply", stage="ehlo", code=421).connection_level
    for bad in [dict(kind="reply", stage="rcpt"), dict(kind="reply", code=451),
                dict(kind="reply", stage="rcpt", code=250), dict(kind="slow"),
                dict(kind="tls_abort", stage="rcpt"), dict(kind="nope"),
                dict(kind="hang", stage="later"), dict(kind="hang", times=0)]:
        with pytest.raises(FaultError):
            make_fault(9, "a@d", **bad)


def test_faults_strike_by_host_or_by_address_and_are_spent():
    spent = []
    book = FaultBook(on_spent=spent.append)
    connect = book.add("a@one.example", FaultKind.REPLY, stage="connect", code=421, times=2)
    rcpt = book.add("a@one.example", FaultKind.REPLY, stage="rcpt", code=451)
    # A connection-level fault hits whoever connects to the host, whatever the address.
    assert book.take({FaultKind.REPLY}, Stage.CONNECT, domain="two.example") is None
    assert book.take({FaultKind.REPLY}, Stage.CONNECT, domain="one.example") is connect
    assert book.take({FaultKind.REPLY}, Stage.CONNECT, domain="one.example") is connect
    assert spent == [connect] and book.list() == [rcpt]
    # An address-level fault only hits transactions for its address; without a limit it stays.
    assert book.take({FaultKind.REPLY}, Stage.RCPT, addresses=["b@one.example"]) is None
    for _ in range(3):
        assert book.take({FaultKind.REPLY}, Stage.RCPT, addresses=["A@one.example"]) is rcpt
    assert rcpt.hits == 3 and rcpt.describe().endswith("(until removed)")
    assert book.clear("a@one.example") == 1 and book.list() == []


def test_a_slow_fault_slows_its_connections_until_lifted_not_until_spent():
    """Removing or clearing a fault lifts it (the connections a slow fault took answer at
    once again); a fault that was only spent still slows the connections it took."""
    book = FaultBook()
    spent = book.add("a@one.example", FaultKind.SLOW, delay=5, times=1)
    removed = book.add("a@one.example", FaultKind.SLOW, delay=6)
    cleared = book.add("b@one.example", FaultKind.SLOW, delay=7)
    assert book.take({FaultKind.SLOW}, None, domain="one.example") is spent
    assert spent not in book.list() and spent.slows() == 5 and not spent.lifted
    assert book.remove(removed.id) and removed.lifted and removed.slows() == 0
    assert not book.remove(removed.id)
    assert book.clear() == 1 and cleared.lifted and cleared.slows() == 0
    assert spent.slows() == 5 and book.list() == []


# -- the journal check ----------------------------------------------------------------------


def test_the_attached_original_is_found_byte_for_byte():
    found = check_journal(journal())
    assert found.raw == ORIGINAL
    assert found.subject == "Quarterly résumé"
    assert found.sender == "Alice <alice@example.org>"
    assert found.message_id == "<q1@example.org>"
    assert found.size == len(ORIGINAL)
    assert journal_message_id(journal()) == "<tdc.12@mail1.example.com>"
    # read with the journal's other fields, the same as journal_message_id reads it
    assert found.journal_message_id == "<tdc.12@mail1.example.com>"


def test_any_gateways_journal_format_passes():
    """Another boundary, a preamble, the original nested one level deeper, base64."""
    inner = (b"Content-Type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\n"
             b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             + base64.encodebytes(ORIGINAL).replace(b"\n", b"\r\n") + b"\r\n--in--\r\n")
    outer = (b"From: journal@gw\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/report;\r\n boundary=out\r\n\r\npreamble\r\n--out\r\n"
             b"Content-Type: text/plain\r\n\r\nreport\r\n--out\r\n" + inner
             + b"\r\n--out--\r\nepilogue\r\n")
    found = check_journal(outer)
    assert found.raw == ORIGINAL
    assert found.journal_message_id == journal_message_id(outer) == ""  # the journal has none
    folded = outer.replace(b"From: journal@gw\r\n", b"Message-ID:\r\n <j.7@gw> \r\n")
    assert check_journal(folded).journal_message_id == journal_message_id(folded) == "<j.7@gw>"


@pytest.mark.parametrize(("data", "why"), [
    (ORIGINAL, "no message/rfc822 part"),
    (journal(b"just some words\r\n"), "does not hold a message"),
    (journal(b"\r\n"), "does not hold a message"),
    (b"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n", "no message/rfc822 part"),
    (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822"
     b"\r\n\r\nSubject: cut off\r\n", "no message/rfc822 part"),
])
def test_what_is_not_a_journal(data, why):
    with pytest.raises(NotAJournal, match=why):
        check_journal(data)
