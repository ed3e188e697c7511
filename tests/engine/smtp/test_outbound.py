"""The retry table as a pure function (SPEC.md §1 and §4 rulings 4 and 5), one row per
case, no sockets: what ordinary delivery and the TDC queue each make of a failure.  Then
the outbound steps both queues share: the fields of a Connection Error line, and trying
a route's hosts in turn (against a real listener)."""

from __future__ import annotations

import pytest

from engine.smtp import client
from engine.smtp.client import (
    SmtpConnectionError,
    SmtpReplyError,
    SmtpTimeoutError,
    SmtpTlsError,
    TlsFailure,
)
from engine.smtp.outbound import (
    TDC_RETRYABLE_5XX,
    Connected,
    ConnectionFault,
    NotReached,
    Target,
    Verdict,
    connect_first,
    connection_fault,
    reply_verdict,
    timeout_fault,
    verdict,
)
from engine.smtp.resolver import DnsHardError, DnsSoftError
from engine.smtp.server import Reply
from tests.engine.smtp_support import Recorder

HARD, RETRY, TLS = Verdict.HARD, Verdict.RETRY, Verdict.TLS

#: (failure, ordinary delivery's verdict, the TDC queue's verdict)
TABLE = [
    (SmtpReplyError(550, "5.1.1", "No such user", "rcpt"), HARD, HARD),
    (SmtpReplyError(554, "5.7.1", "Refused", "eom"), HARD, HARD),
    (SmtpReplyError(554, None, "No SMTP service here", "greeting"), HARD, HARD),
    (SmtpReplyError(501, "5.5.4", "Syntax", "mail"), HARD, HARD),
    (SmtpReplyError(503, "5.5.1", "Bad sequence", "mail"), HARD, RETRY),
    (SmtpReplyError(552, "5.3.4", "Message too big", "eom"), HARD, RETRY),
    (SmtpReplyError(451, "4.3.0", "Try again later", "rcpt"), RETRY, RETRY),
    (SmtpReplyError(421, "4.7.0", "Busy", "greeting"), RETRY, RETRY),
    (SmtpReplyError(452, None, "Too many recipients", "rcpt"), RETRY, RETRY),
    (SmtpTlsError("STARTTLS not offered", TlsFailure.NOT_OFFERED), TLS, TLS),
    (SmtpTlsError("454 TLS not available", TlsFailure.REFUSED, Reply(454, "4.7.0 No")), TLS, TLS),
    (SmtpTlsError("certificate verify failed", TlsFailure.VERIFICATION), TLS, TLS),
    (SmtpTlsError("handshake failed", TlsFailure.HANDSHAKE), TLS, TLS),
    (SmtpConnectionError("connection refused", "connect"), RETRY, RETRY),
    (SmtpConnectionError("connection lost", "eom"), RETRY, RETRY),
    (SmtpTimeoutError("greeting", 60), RETRY, RETRY),
    (DnsHardError("esa.example.com", "MX", "NXDomain"), HARD, HARD),
    (DnsSoftError("example.com", "MX", "ServFail"), RETRY, RETRY),
    (DnsSoftError("example.com", "MX", "Timeout"), RETRY, RETRY),
    (DnsSoftError("example.com", "MX", "NoNameservers"), RETRY, RETRY),
]


@pytest.mark.parametrize(("failure", "ordinary", "tdc"), TABLE, ids=[repr(row[0]) for row in TABLE])
def test_the_retry_table(failure, ordinary, tdc):
    assert verdict(failure) is ordinary
    assert verdict(failure, retryable_5xx=TDC_RETRYABLE_5XX) is tdc


@pytest.mark.parametrize(("code", "expected"), [
    (550, HARD), (503, HARD), (552, HARD), (599, HARD), (500, HARD),
    (499, RETRY), (450, RETRY), (421, RETRY),
])
def test_a_recipients_reply_code_alone(code, expected):
    """Ordinary delivery judges each refused recipient by its RCPT reply's code."""
    assert reply_verdict(code) is expected


# -- the steps both queues take on the way out -------------------------------------------------
MX = Target("mx.example.com", "10.1.2.3", 2525)


@pytest.mark.parametrize(("target", "error", "fault"), [
    (MX, SmtpTimeoutError("greeting", 60), ConnectionFault("10.1.2.3", 2525, "timeout",
                                                           "connection timed out")),
    (MX, SmtpConnectionError("Connection refused", "connect"),
     ConnectionFault("10.1.2.3", 2525, "Connection refused (connect)", "network error")),
    (None, SmtpConnectionError("no MX host", "connect"),
     ConnectionFault("0.0.0.0", 0, "no MX host (connect)", "network error")),
])
def test_the_fields_of_a_connection_error(target, error, fault):
    assert connection_fault(target, error) == fault


@pytest.mark.parametrize(("error", "details"), [
    (SmtpConnectionError(client.REFUSED, "connect"), "[Errno 111] Connection refused"),
    (SmtpConnectionError(client.CLOSED, "ehlo"), "EOF"),
    (SmtpConnectionError(client.RESET, "eom"), "[Errno 104] Connection reset by peer"),
])
def test_a_connection_error_speaks_the_appliances_words(error, details):
    """``details:`` as AsyncOS writes it (ASYNCOS.md: ``details: EOF``, ``[Errno n] …``)."""
    assert connection_fault(MX, error) == ("10.1.2.3", 2525, details, "network error")


def test_a_limit_cutting_an_attempt_short_is_a_timeout_there():
    assert timeout_fault(MX) == ("10.1.2.3", 2525, "timeout", "connection timed out")
    assert timeout_fault(None) == ("0.0.0.0", 0, "timeout", "connection timed out")


async def test_connect_first_moves_on_to_the_next_host(run, smtp_servers, unused_port):
    _, port = smtp_servers.start(Recorder())
    refused = Target("mx1.example.com", "127.0.0.1", unused_port, 10)
    greets = Target("mx2.example.com", "127.0.0.1", port, 20)
    tried: list[Target] = []
    reached = await connect_first([refused, greets], local_name="gw.example.com", timeout=5,
                                  no_hosts="no MX host", trying=tried.append)
    assert tried == [refused, greets]
    assert isinstance(reached, Connected) and reached.target == greets
    await reached.client.quit()


async def test_connect_first_reports_the_last_host_and_its_error(run, unused_port):
    refused = Target("mx1.example.com", "127.0.0.1", unused_port)
    reached = await connect_first([refused], local_name="gw.example.com", timeout=5,
                                  no_hosts="no MX host")
    assert isinstance(reached, NotReached) and reached.target == refused
    assert isinstance(reached.error, SmtpConnectionError)
    nowhere = await connect_first([], local_name="gw.example.com", timeout=5, no_hosts="no MX host")
    assert nowhere == NotReached(None, nowhere.error)
    assert str(nowhere.error) == "no MX host (connect)"
