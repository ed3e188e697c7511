"""The shape registry against the lines this product really writes.

Every sample is formatted by :mod:`engine.observe.log_lines` (the only place log lines are
made) with the values the engine itself passes (its reason phrases, its DNS error texts),
so a change of wording in the product fails here, not in a trainer's drill.
"""

from __future__ import annotations

import re

import pytest

from engine.observe import log_lines as L
from engine.smtp.outbound import reason_for
from engine.smtp.resolver import NXDOMAIN, DnsHardError, DnsSoftError
from segcli.drills.expressions import substitute
from segcli.drills.shapes import NOT_WRITTEN, SHAPES, UnknownShape, groups, shape_regex

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"
MSGID = "<20261206.1@example.org>"
DNS_HARD = DnsHardError("beta.cmd.cisco.con", "MX", NXDOMAIN)
DNS_SOFT = DnsSoftError("beta.cmd.cisco.com", "MX", "ServFail")
REJECTED = L.as_sent("5.1.1", "<x@beta.cmd.cisco.com>: Recipient address rejected")
DEFERRED = L.as_sent("4.3.0", "Temporary server error, please try again later")

SAMPLES = {
    "T-GEN": L.tdc_generated(12, 11),
    "T-ENQ": L.tdc_enqueued(12, MSGID, INTAKE),
    "T-NEWDCID": L.tdc_new_dcid(3, "127.0.0.1", "127.0.0.1", 2626),
    "G-TLSOK": L.dcid_tls(3, "TLSv1.3", "TLS_AES_256_GCM_SHA384"),
    "T-START": L.tdc_delivery_start(3, 12),
    "T-OK": L.tdc_delivered(12),
    "G-FIN": L.message_finished(12),
    "G-FIN-ABORT": L.message_finished(12, "aborted"),
    "G-CLOSE": L.dcid_close(3),
    "TRK-OK": L.tdc_tracking_delivered(12),
    "T-CONNERR-TO": L.tdc_connection_error(3, "127.0.0.1", 2626, L.TIMEOUT_DETAILS, "127.0.0.1",
                                           L.TIMEOUT_REASON),
    "T-CONNERR-NET": L.tdc_connection_error(3, "127.0.0.1", 2626, L.REFUSED_DETAILS, "127.0.0.1",
                                            L.NETWORK_ERROR_REASON),
    "G-TLSFAIL": L.tdc_dcid_tls_failed(3, "certificate verify failed: unable to get local issuer"),
    "T-TLSERR": L.tdc_tls_error(12),
    "G-DELAYED": L.tdc_delayed(3, 12, INTAKE, "4.3.0", reason_for("4.3.0"), "451", DEFERRED),
    "T-HARD-SMTP": L.tdc_hard_bounced("5.1.1", reason_for("5.1.1"), "550", REJECTED),
    "G-BNC-SMTP": L.tdc_bounced(3, 12, "5.1.1", reason_for("5.1.1"), "550", REJECTED),
    "G-DNSNX": L.dns_failure(DNS_HARD.domain, "MX", DNS_HARD.reason, permanent=True),
    "G-DNSTEMP": L.dns_failure(DNS_SOFT.domain, "MX", DNS_SOFT.reason, permanent=False),
    "T-HARD-DNS": L.tdc_hard_bounced("5.1.2", reason_for("5.1.2"), "000", str(DNS_HARD)),
    "T-FAILHARD": L.tdc_failed(12, "Hard Bounced"),
    "T-FAIL-RETRIES": L.tdc_failed(12, "Retries Exhausted"),
    "T-FAIL-EXPIRED": L.tdc_failed(12, "Expired"),
    "T-FAIL": L.tdc_failed(12, "Bounced by admin"),
    "G-BNC-DNS": L.tdc_bounced(0, 12, "5.1.2", reason_for("5.1.2"), "000", str(DNS_HARD)),
    "G-MSGID": L.message_id(11, MSGID),
    "G-POLICY": L.policy_match(11, "DEFAULT", "inbound"),
    "G-SPAM+": L.spam_verdict(11, True)[1],
    "G-AV+": L.av_verdict(11, "EICAR-AV-Test")[1],
    "G-DONE": L.message_done(5, 11, [0]),
}


def test_every_shape_has_a_product_line() -> None:
    assert set(SAMPLES) == set(SHAPES)


@pytest.mark.parametrize("shape_id", sorted(SHAPES))
def test_shape_matches_the_line_the_product_writes(shape_id: str) -> None:
    match = re.fullmatch(SHAPES[shape_id].regex, SAMPLES[shape_id])
    assert match is not None, (shape_id, SAMPLES[shape_id])


@pytest.mark.parametrize(("shape_id", "group", "value"), [
    ("T-ENQ", "jmid", "12"), ("T-ENQ", "msgid", MSGID), ("T-ENQ", "intake", INTAKE),
    ("T-NEWDCID", "port", "2626"), ("G-DELAYED", "code", "451"), ("G-DELAYED", "dsn", "4.3.0"),
    ("T-CONNERR-NET", "details", L.REFUSED_DETAILS), ("G-DNSNX", "domain", "beta.cmd.cisco.con"),
    ("G-DNSTEMP", "why", "ServFail"), ("T-HARD-SMTP", "code", "550"),
])
def test_named_groups_take_the_values_of_the_line(shape_id: str, group: str, value: str) -> None:
    match = re.fullmatch(SHAPES[shape_id].regex, SAMPLES[shape_id])
    assert match is not None and match.group(group) == value


def test_shapes_that_differ_only_in_a_word_do_not_match_each_other() -> None:
    timeout, network = SAMPLES["T-CONNERR-TO"], SAMPLES["T-CONNERR-NET"]
    assert not re.fullmatch(SHAPES["T-CONNERR-TO"].regex, network)
    assert not re.fullmatch(SHAPES["T-CONNERR-NET"].regex, timeout)
    assert not re.fullmatch(SHAPES["T-FAILHARD"].regex, SAMPLES["T-FAIL-EXPIRED"])
    assert not re.fullmatch(SHAPES["G-FIN"].regex, SAMPLES["G-FIN-ABORT"])


def test_pinned_fields_match_only_their_value() -> None:
    regex = shape_regex("T-ENQ", {"intake": INTAKE, "jmid": "12"})
    assert re.fullmatch(regex, SAMPLES["T-ENQ"])
    assert not re.fullmatch(regex, L.tdc_enqueued(12, MSGID, "other@beta.cmd.cisco.com"))
    assert not re.fullmatch(regex, L.tdc_enqueued(13, MSGID, INTAKE))
    assert groups(regex) == ["jmid", "msgid", "intake"]  # still binds its names


def test_a_pinned_placeholder_is_escaped_when_its_value_comes() -> None:
    regex = shape_regex("T-ENQ", {"msgid": "${m1.message_id}"})
    assert "${m1.message_id}" in regex
    ready = substitute(regex, {"m1.message_id": MSGID}, regex=True)
    assert re.fullmatch(ready, SAMPLES["T-ENQ"])
    assert not re.fullmatch(substitute(regex, {"m1.message_id": "<2026....1@example.org>"},
                                       regex=True), SAMPLES["T-ENQ"])


def test_unknown_shapes_and_fields_are_refused_with_a_reason() -> None:
    with pytest.raises(UnknownShape, match="T-NOPE"):
        shape_regex("T-NOPE", {})
    with pytest.raises(UnknownShape) as caught:
        shape_regex("G-BNC-EXP", {})
    assert str(caught.value) == NOT_WRITTEN["G-BNC-EXP"]
    with pytest.raises(KeyError, match=r"no field 'mid'.*jmid"):
        shape_regex("T-OK", {"mid": "1"})
