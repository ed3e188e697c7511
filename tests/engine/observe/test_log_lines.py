"""Every TDC line shape held against the samples of SPEC.md §2, character for character
(only IDs, addresses, times and ciphers vary, and here they are the samples' own), and a
check of the engine's source that no mail log line is made anywhere but in the catalogue."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

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
        "tdc_delayed": (1, 2, "x@y.z", "4.0.0", "r", "451", "t"),
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


# -- the catalogue is the only source of mail log lines ----------------------------------------
#: Calls that write a mail log line or a tracking event, whatever the receiver: the mail
#: engine's and MailRecords' methods, the ``log`` callable handed to the work queue, and
#: the mail log's own line maker.
WRITERS = {"log", "log_and_track", "track", "_line"}
#: The mail log's own methods: only on ``self`` inside MailLog, or on a ``mail_log``.
MAIL_LOG_METHODS = {"info", "warning", "write"}
ENGINE = Path(__file__).resolve().parents[3] / "engine"


def _is_text_made_here(node: ast.expr) -> bool:
    """A string literal, an f-string, or text built from one (``+``, ``%``, ``.format``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_text_made_here(node.left) or _is_text_made_here(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format" and _is_text_made_here(node.func.value)
    return False


class _Writers(ast.NodeVisitor):
    def __init__(self, where: str) -> None:
        self.where = where
        self.classes: list[str] = []
        self.found: list[str] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()

    def visit_Call(self, node: ast.Call) -> None:
        if self._writes_a_line(node.func):
            # the text is the last argument of each: (text), (mid, text), (level, text)
            texts = [*node.args[-1:], *(k.value for k in node.keywords if k.arg == "text")]
            for arg in texts:
                if _is_text_made_here(arg):
                    self.found.append(f"{self.where}:{node.lineno}: {ast.unparse(node)[:90]}")
        self.generic_visit(node)

    def _writes_a_line(self, func: ast.expr) -> bool:
        if isinstance(func, ast.Name):
            return func.id in WRITERS
        if not isinstance(func, ast.Attribute):
            return False
        if func.attr in WRITERS:
            return True
        receiver = ast.unparse(func.value)
        return func.attr in MAIL_LOG_METHODS and (
            receiver.endswith("mail_log") or (receiver == "self" and self.classes[-1:] == ["MailLog"]))


def mail_lines_made_outside_the_catalogue(source: str, where: str = "<source>") -> list[str]:
    visitor = _Writers(where)
    visitor.visit(ast.parse(source))
    return visitor.found


def test_every_mail_log_line_of_the_engine_comes_from_the_catalogue():
    """STYLE.md example 5: text written to the mail log or to tracking is made by a function
    of engine/observe/log_lines.py, never as a literal or an f-string at the call."""
    found = [hit for path in sorted(ENGINE.rglob("*.py")) if path.name != "log_lines.py"
             for hit in mail_lines_made_outside_the_catalogue(
                 path.read_text(), str(path.relative_to(ENGINE.parent)))]
    assert found == []


@pytest.mark.parametrize("call", [
    'self.records.log("TDC: MID 1 done")',
    'engine.log(f"MID {mid} done")',
    'records.log_and_track(mid, "MID " + str(mid))',
    'self.records.track(mid, "TDC: Message {} was delivered".format(mid))',
    'log("MID %d queued" % mid)',
    'self.mail_log.info("Begin Logfile")',
    'self.records.log(text=f"MID {mid}")',
])
def test_the_check_sees_text_made_at_the_call(call):
    assert mail_lines_made_outside_the_catalogue(call)


@pytest.mark.parametrize("call", [
    "self.records.log(lines.tdc_delivered(copy.mid))",
    "records.log_and_track(mid, line)",
    'log.warning("%s", problem)',  # Python logging, not the mail log
    'log.exception("work queue failed for MID %s", mid)',
    'self._file.write(b"x")',
])
def test_the_check_lets_catalogue_lines_and_python_logging_through(call):
    assert not mail_lines_made_outside_the_catalogue(call)


def test_inside_the_mail_log_its_own_methods_count_too():
    source = 'class MailLog:\n    def _open(self):\n        self.info("Begin Logfile")\n'
    assert mail_lines_made_outside_the_catalogue(source)


def _readme_retry_row(failure: str) -> str:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    [row] = [line for line in readme.splitlines() if line.startswith(f"| {failure} |")]
    return row


def test_the_readme_retry_table_shows_the_connection_error_lines_as_written():
    """Issue 10, item 6: a timeout is logged ``details: timeout … reason: connection timed
    out``, not ``reason: network error``; the README's table says what is written."""
    timeout = _readme_retry_row("connection and greeting timeouts, no reply in time")
    assert (f"details: {lines.TIMEOUT_DETAILS} interface: … reason: {lines.TIMEOUT_REASON}`"
            in timeout)
    assert lines.NETWORK_ERROR_REASON not in timeout
    network = _readme_retry_row("network and connection errors (refused, lost)")
    assert f"reason: {lines.NETWORK_ERROR_REASON}`" in network
    assert lines.TIMEOUT_REASON not in network


def test_accept_line_has_the_appliance_layout_and_no_made_up_score():
    """ASYNCOS.md §7 ``ICID 5 ACCEPT SG UNKNOWNLIST match sbrs[-2.0:10.0] SBRS -0.9``; a private
    or loopback peer is ``SBRS rfc1918`` (LOGFUNCS), any other has no score (``None``)."""
    assert lines.icid_accept(5, "127.0.0.1") == (
        "ICID 5 ACCEPT SG UNKNOWNLIST match sbrs[none] SBRS rfc1918")
    for private in ("10.1.2.3", "172.31.0.1", "192.168.1.1", "::1", "::ffff:10.0.0.1"):
        assert lines.icid_accept(5, private).endswith(" SBRS rfc1918"), private
    for public in ("198.51.100.7", "8.8.8.8", "172.32.0.1", "2001:db8::1"):
        assert lines.icid_accept(5, public) == (
            "ICID 5 ACCEPT SG UNKNOWNLIST match sbrs[none] SBRS None"), public
    assert lines.icid_relay(3, "10.0.0.0/8", "10.0.0.5") == (
        "ICID 3 RELAY SG RELAYLIST match 10.0.0.0/8 SBRS rfc1918")


def test_replies_are_quoted_as_sent_with_their_enhanced_code():
    """ASYNCOS.md §7: ``Response '2.0.0 OK ...'`` and ``('421', ['4.3.2 try again later'])``."""
    assert lines.as_sent("2.0.0", "Ok: queued") == "2.0.0 Ok: queued"
    assert lines.as_sent(None, "Ok") == "Ok"
    assert lines.response(6, [0], lines.as_sent("2.0.0", "Ok: queued")) == (
        "MID 6 RID [0] Response '2.0.0 Ok: queued'")
    assert lines.delayed(8414309, 19410908, "a@example.org", "b@example.com", 0, "4.3.2",
                         "Not accepting messages at this time", "421",
                         lines.as_sent("4.3.2", "try again later")) == (
        "Delayed: DCID 8414309 MID 19410908 From: <a@example.org> To: <b@example.com> RID 0 - "
        "4.3.2 - Not accepting messages at this time ('421', ['4.3.2 try again later'])")


def test_a_dropped_message_is_aborted_in_the_appliance_words():
    assert lines.av_verdict(7, "EICAR-AV-Test")[1] == "MID 7 antivirus positive 'EICAR-AV-Test'"
    assert lines.dropped(7, "antivirus") == "Message aborted MID 7 Dropped by antivirus"
    assert lines.message_finished(7) == "Message finished MID 7 done"


def test_a_journal_copy_names_the_agent_that_generated_it():
    """ASYNCOS.md §7: ``MID n was generated based on MID m by <agent> ...``."""
    assert lines.tdc_generated(2, 1) == (
        "TDC: MID 2 was generated based on MID 1 by threat defense connector")
    assert lines.bounce_generated(3, 1) == "MID 3 was generated for bounce of MID 1"


def test_the_ordinary_nxdomain_bounce_has_the_appliance_form():
    """ASYNCOS.md §7 (SPL); the TDC lines keep SPEC.md §2's ``(MX) : NXDomain``."""
    assert lines.bounced(0, 19408690, "a@example.org", "b@bad.example", 0, "5.1.2",
                         "Bad destination host", "000",
                         lines.dns_bounce_text("bad.example", "MX", "NXDomain")) == (
        "Bounced: DCID 0 MID 19408690 From: <a@example.org> To: <b@bad.example> RID 0 - 5.1.2 - "
        "Bad destination host ('000', ['DNS Hard Error looking up bad.example (MX): NXDomain'])")


def test_the_tdc_delayed_line_mirrors_the_ordinary_one():
    """SPEC.md §2 shows no TDC ``Delayed:`` line: it is the ordinary one (ASYNCOS.md §7)."""
    assert lines.tdc_delayed(8, 2, "x@intake.example", "4.3.2",
                             "Not accepting messages at this time", "421",
                             "4.3.2 try again later") == (
        "TDC: Delayed: DCID 8 MID 2 From: <> To: <x@intake.example> RID 0 - 4.3.2 - Not "
        "accepting messages at this time ('421', ['4.3.2 try again later'])")


def test_every_public_function_has_a_row_in_the_readme_table():
    """README.md "Mail log lines": one row per public function of log_lines, none missed."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Mail log lines\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)
    public = {name for name, fn in inspect.getmembers(lines, inspect.isfunction)
              if fn.__module__ == lines.__name__ and not name.startswith("_")}
    assert len(rows) == len(set(rows)), "a function has two rows"
    assert set(rows) == public, (sorted(public - set(rows)), sorted(set(rows) - public))
    for row in section.splitlines():
        if row.startswith("| `"):
            assert "as the appliance" in row or "segcli's own" in row or "quoted text" in row \
                or "picks" in row or "field of" in row or "the start of" in row, row


def test_spool_missing_line_names_the_message_and_its_file():
    assert lines.spool_missing(42, "/data/spool/42.eml") == (
        "MID 42 cannot be delivered: its body file /data/spool/42.eml is missing; "
        "it is removed from the queue")
