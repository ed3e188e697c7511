"""The retry table as a pure function (SPEC.md §1 and §4 rulings 4 and 5), one row per
case, no sockets: what ordinary delivery and the TDC queue each make of a failure."""

from __future__ import annotations

import pytest

from engine.smtp.client import (
    SmtpConnectionError,
    SmtpReplyError,
    SmtpTimeoutError,
    SmtpTlsError,
    TlsFailure,
)
from engine.smtp.outbound import TDC_RETRYABLE_5XX, Verdict, reply_verdict, verdict
from engine.smtp.resolver import DnsHardError, DnsSoftError
from engine.smtp.server import Reply

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
