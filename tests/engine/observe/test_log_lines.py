"""Every TDC line shape held against the samples of SPEC.md §2, character for character
(only IDs, addresses, times and ciphers vary, and here they are the samples' own)."""

from __future__ import annotations

from engine.observe import log_lines as lines

SPEC_NORMAL = [
    "TDC: MID 14501404 with Message-ID '<O7afv777xxreILg2OQ@gostrt-sstp-0>' enqueued for "
    "forwarding to Cisco Secure Email Threat Defense to the message intake address "
    "33c48e-27xp9-05ecb4@beta.cmd.cisco.com",
    "TDC: New SMTP DCID 4566150 interface 10.13.0.99 address 10.10.55.171 port 25",
    "DCID 4566150 TLS success protocol TLSv1.2 cipher ECDHE-RSA-AES128-GCM-SHA256",
    "TDC: Delivery start DCID 4566150 MID 14501404",
    "TDC: MID 14501404 successfully delivered for scanning with Cisco Secure Email Threat Defense.",
    "Message finished MID 14501404 done",
]


def test_normal_delivery_lines():
    assert [
        lines.tdc_enqueued(14501404, "<O7afv777xxreILg2OQ@gostrt-sstp-0>",
                           "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"),
        lines.tdc_new_dcid(4566150, "10.13.0.99", "10.10.55.171", 25),
        lines.dcid_tls(4566150, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
        lines.tdc_delivery_start(4566150, 14501404),
        lines.tdc_delivered(14501404),
        lines.message_finished(14501404),
    ] == SPEC_NORMAL


def test_connection_timeout_line():
    assert lines.tdc_connection_error(36, "10.10.0.3", 25, "timeout", "10.10.11.63",
                                      "connection timed out") == (
        "TDC: Connection Error: DCID 36 domain: the.tdc.queue IP: 10.10.0.3 port: 25 "
        "details: timeout interface: 10.10.11.63 reason: connection timed out")


def test_tls_error_line():
    assert lines.tdc_tls_error(1450012) == (
        "TDC: MID 1450012 delivery failed to Cisco Secure Email Threat Defense:TLS Error.")


def test_nxdomain_hard_bounce_lines():
    text = lines.dns_hard_text("esa.example.com", "MX", "NXDomain")
    assert [
        lines.tdc_enqueued(171, "<20231129090720.24911.11947@vm21bsd0050.cs21>", "test@esa.example.com"),
        lines.dns_error("esa.example.com", "MX", "NXDomain"),
        lines.tdc_hard_bounced("5.1.2", "Bad destination host", "000", text),
        lines.tdc_failed(171, "Hard Bounced"),
        lines.tdc_bounced(0, 171, "5.1.2", "Bad destination host", "000", text),
    ] == [
        "TDC: MID 171 with Message-ID '<20231129090720.24911.11947@vm21bsd0050.cs21>' enqueued "
        "for forwarding to Cisco Secure Email Threat Defense to the message intake address "
        "test@esa.example.com",
        "DNS Error esa.example.com MX - NXDomain",
        "TDC: Hard bounced - 5.1.2 - Bad destination host ('000', ['DNS Hard Error looking up "
        "esa.example.com (MX) : NXDomain'])",
        "TDC: MID 171 delivery failed to Cisco Secure Email Threat Defense: Hard Bounced.",
        "Bounced: DCID 0 MID 171 to RID 0 - Bounced by destination server with response: 5.1.2 - "
        "Bad destination host ('000', ['DNS Hard Error looking up esa.example.com (MX) : NXDomain'])",
    ]


def test_tracking_line():
    assert lines.tdc_tracking_delivered(14501404) == (
        "TDC: Message 14501404 was delivered for scanning with Cisco Secure Email Threat Defense.")


def test_every_tdc_function_writes_the_tdc_prefix():
    """SPEC.md §2: every TDC-related entry carries ``TDC:`` (the DCID TLS line and the final
    Bounced line are the samples' own exceptions)."""
    samples = {
        "tdc_generated": (2, 1), "tdc_enqueued": (1, "<a@b>", "x@y.z"),
        "tdc_new_dcid": (1, "a", "b", 25), "tdc_delivery_start": (1, 2), "tdc_delivered": (1,),
        "tdc_tracking_delivered": (1,), "tdc_tls_error": (1,), "tdc_failed": (1, "Expired"),
        "tdc_connection_error": (1, "a", 25, "d", "i", "r"),
        "tdc_hard_bounced": ("5.0.0", "r", "550", "t"),
        "tdc_delayed": (1, 2, "4.0.0", "r", "451", "t"),
    }
    for name, args in samples.items():
        assert getattr(lines, name)(*args).startswith("TDC: "), name


def test_ordinary_delivery_and_inbound_shapes():
    assert lines.delivery_start(30, 6, [0, 1, 2]) == "Delivery start DCID 30 MID 6 to RID [0, 1, 2]"
    assert lines.bounced(8413617, 19338947, "a@example.org", "b@example.com", 0, "5.4.7",
                         "Delivery expired (message too old)", "000", "timeout") == (
        "Bounced: DCID 8413617 MID 19338947 From: <a@example.org> To: <b@example.com> RID 0 - "
        "5.4.7 - Delivery expired (message too old) ('000', ['timeout'])")
    assert lines.split(6, 7, "sales", "inbound") == (
        "MID 6 was split creating MID 7 due to a per-recipient policy sales in the inbound table")
    assert lines.subject(6, "Quarterly report") == 'MID 6 Subject "Quarterly report"'
