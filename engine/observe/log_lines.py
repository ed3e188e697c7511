"""Every mail log line the gateway writes, in one catalogue.

Each function returns the text after ``<asctime> Info: `` for one kind of event, in
the exact shape of SPEC.md §2 and ASYNCOS.md §7.  Keeping them here (and nowhere
else) lets a test hold every shape against the samples, the way Cowrie keeps its
event ids in one module.  TDC lines all start with ``TDC:`` (SPEC.md §2).

Tests: tests/engine/observe/test_log_lines.py.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

TDC_QUEUE = "the.tdc.queue"
SETD = "Cisco Secure Email Threat Defense"


def _rids(rids: Sequence[int]) -> str:
    return "[" + ", ".join(str(r) for r in rids) + "]"


def as_sent(enhanced: str | None, text: str) -> str:
    """A reply's text as the server sent it, its enhanced status code included
    (``2.0.0 Ok: queued``): what ``Response '...'`` and the ``('421', ['4.3.2 ...'])`` tuple
    quote (ASYNCOS.md §7).  *text* is the reply's text without that code."""
    return f"{enhanced} {text}".rstrip() if enhanced else text


def _response(code: str, text: str) -> str:
    """AsyncOS quotes the remote reply as a tuple: ``('550', ['5.1.1 unknown user'])``."""
    return f"('{code}', [{text!r}])"


# -- the log file itself (engine.observe.mail_log) -----------------------------------------
def logfile_begin() -> str:
    return "Begin Logfile"


def logfile_version(version: str, serial: str) -> str:
    return f"Version: {version} SN: {serial}"


def logfile_time_offset() -> str:
    """The gateway's clock is UTC (the emulator writes UTC stamps)."""
    return "Time offset from UTC: 0 seconds"


def logfile_end() -> str:
    """The last line of a file rolled to ``mail.@<timestamp>.s``."""
    return "End Logfile"


# -- inbound ---------------------------------------------------------------------------
def new_icid(icid: int, listener: str, local_ip: str, peer_ip: str, reverse: str) -> str:
    return (f"New SMTP ICID {icid} interface {listener} ({local_ip}) address {peer_ip} "
            f"reverse dns host {reverse} verified no")


#: The private ranges AsyncOS scores ``SBRS rfc1918`` (RFC 1918, and loopback).
_RFC1918 = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128"))


def sbrs(peer_ip: str) -> str:
    """The ``SBRS`` field of a sender: ``rfc1918`` for a private (or loopback) address, which
    no reputation service scores (LOGFUNCS: ``... SBRS rfc1918``), else ``None`` — segcli has no
    reputation service, so no score is known."""
    try:
        address = ipaddress.ip_address(peer_ip)
    except ValueError:
        return "None"
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return "rfc1918" if any(address in net for net in _RFC1918
                            if net.version == address.version) else "None"


def icid_accept(icid: int, peer_ip: str) -> str:
    """``ICID 5 ACCEPT SG UNKNOWNLIST match sbrs[-2.0:10.0] SBRS -0.9`` (ASYNCOS.md §7) with
    no score known: the ``sbrs[none]`` condition of the sender group matched. No ``country``
    (ASYNCOS.md marks it inferred)."""
    return f"ICID {icid} ACCEPT SG UNKNOWNLIST match sbrs[none] SBRS {sbrs(peer_ip)}"


def icid_relay(icid: int, entry: str, peer_ip: str) -> str:
    """A host of the RELAYLIST sender group connected: its mail is relayed (outgoing)."""
    return f"ICID {icid} RELAY SG RELAYLIST match {entry} SBRS {sbrs(peer_ip)}"


def icid_tls(icid: int, protocol: str, cipher: str) -> str:
    return f"ICID {icid} TLS success protocol {protocol} cipher {cipher}"


def icid_close(icid: int) -> str:
    return f"ICID {icid} close"


def icid_lost(icid: int) -> str:
    return f"ICID {icid} lost"


def rcpt_rejected(mid: int, icid: int, recipient: str) -> str:
    return f"MID {mid} ICID {icid} To: <{recipient}> Rejected by RAT"


def start_mid(mid: int, icid: int) -> str:
    return f"Start MID {mid} ICID {icid}"


def mail_from(mid: int, icid: int, sender: str) -> str:
    return f"MID {mid} ICID {icid} From: <{sender}>"


def rcpt_to(mid: int, icid: int, rid: int, recipient: str) -> str:
    return f"MID {mid} ICID {icid} RID {rid} To: <{recipient}>"


def message_id(mid: int, value: str) -> str:
    return f"MID {mid} Message-ID '{value}'"


def subject(mid: int, value: str) -> str:
    return f'MID {mid} Subject "{value}"'


def ready(mid: int, size: int, sender: str) -> str:
    return f"MID {mid} ready {size} bytes from <{sender}>"


def receiving_aborted(mid: int, reason: str) -> str:
    return f"Message aborted MID {mid} Receiving aborted: {reason}"


# -- work queue ------------------------------------------------------------------------
def policy_match(mid: int, policy: str, table: str) -> str:
    return f"MID {mid} matched all recipients for per-recipient policy {policy} in the {table} table"


def split(mid: int, new_mid: int, policy: str, table: str) -> str:
    return (f"MID {mid} was split creating MID {new_mid} due to a per-recipient policy "
            f"{policy} in the {table} table")


def spam_verdict(mid: int, positive: bool) -> list[str]:
    verdict = "positive" if positive else "negative"
    return [f"MID {mid} interim verdict using engine: CASE spam {verdict}",
            f"MID {mid} using engine: CASE spam {verdict}"]


def spam_skipped(mid: int) -> str:
    return f"MID {mid} using engine: CASE spam skipped (disabled by policy)"


def av_verdict(mid: int, virus: str | None) -> list[str]:
    if virus:
        return [f"MID {mid} interim AV verdict using Sophos VIRAL",
                f"MID {mid} antivirus positive '{virus}'"]
    return [f"MID {mid} interim AV verdict using Sophos CLEAN", f"MID {mid} antivirus negative"]


def dropped(mid: int, engine: str) -> str:
    """A verdict dropped the message: ``Message aborted MID n Dropped by antivirus`` (after
    ``MID n antivirus positive '...'``; ASYNCOS.md §7 ``Message aborted MID n <reason>``),
    then ``Message finished MID n done``."""
    return f"Message aborted MID {mid} Dropped by {engine}"


def queued(mid: int) -> str:
    return f"MID {mid} queued for delivery"


# -- ordinary delivery ------------------------------------------------------------------
def new_dcid(dcid: int, local_ip: str, peer_ip: str, port: int) -> str:
    return f"New SMTP DCID {dcid} interface {local_ip} address {peer_ip} port {port}"


def dcid_tls(dcid: int, protocol: str, cipher: str) -> str:
    return f"DCID {dcid} TLS success protocol {protocol} cipher {cipher}"


def delivery_start(dcid: int, mid: int, rids: Sequence[int]) -> str:
    return f"Delivery start DCID {dcid} MID {mid} to RID {_rids(rids)}"


def message_done(dcid: int, mid: int, rids: Sequence[int]) -> str:
    return f"Message done DCID {dcid} MID {mid} to RID {_rids(rids)}"


def response(mid: int, rids: Sequence[int], text: str) -> str:
    return f"MID {mid} RID {_rids(rids)} Response '{text}'"


def message_finished(mid: int, outcome: str = "done") -> str:
    return f"Message finished MID {mid} {outcome}"


def deleted(mid: int, rids: Sequence[int], user: str) -> str:
    return f"MID {mid} RID {_rids(rids)} deleted from the queue by {user}"


def spool_missing(mid: int, path: str) -> str:
    """A queued message whose spooled body file is gone at a start (engine/store/spool.py):
    it cannot be sent, and leaves the queue (written as a Warning)."""
    return (f"MID {mid} cannot be delivered: its body file {path} is missing; "
            "it is removed from the queue")


def dcid_close(dcid: int) -> str:
    return f"DCID {dcid} close"


def delayed(dcid: int, mid: int, sender: str, recipient: str, rid: int, status: str,
            reason: str, code: str, text: str) -> str:
    return (f"Delayed: DCID {dcid} MID {mid} From: <{sender}> To: <{recipient}> RID {rid} - "
            f"{status} - {reason} {_response(code, text)}")


def bounced(dcid: int, mid: int, sender: str, recipient: str, rid: int, status: str,
            reason: str, code: str, text: str) -> str:
    return (f"Bounced: DCID {dcid} MID {mid} From: <{sender}> To: <{recipient}> RID {rid} - "
            f"{status} - {reason} {_response(code, text)}")


def bounce_generated(mid: int, original: int) -> str:
    """A bounce message (DSN) to the sender of *original*; ``Start MID n ICID 0`` follows."""
    return f"MID {mid} was generated for bounce of MID {original}"


def double_bounce(mid: int, rid: int, status: str, reason: str, code: str, text: str) -> str:
    """A bounce message could not be delivered either: nobody is told (no bounce of a bounce)."""
    return f"Double bounce: MID {mid} to {rid} - {status} - {reason} {_response(code, text)}"


def pending_till(mid: int, rids: Sequence[int], when: str) -> str:
    return f"Message {mid} to RID {_rids(rids)} pending till {when}"


#: A ``Connection Error``'s ``details`` and ``reason`` for a timeout (SPEC.md §2 sample), and
#: the ``reason`` of any other network error (its ``details`` are the error's own words).
TIMEOUT_DETAILS = "timeout"
TIMEOUT_REASON = "connection timed out"
NETWORK_ERROR_REASON = "network error"
#: ``details:`` in AsyncOS's words (ASYNCOS.md: ``details: EOF``, ``[Errno n] …``).
EOF_DETAILS = "EOF"
REFUSED_DETAILS = "[Errno 111] Connection refused"
RESET_DETAILS = "[Errno 104] Connection reset by peer"


def connection_error(dcid: int, domain: str, ip: str, port: int, details: str, interface: str,
                     reason: str) -> str:
    return (f"Connection Error: DCID {dcid} domain: {domain} IP: {ip} port: {port} "
            f"details: {details} interface: {interface} reason: {reason}")


def dns_error(domain: str, rdtype: str, error: str) -> str:
    return f"DNS Error {domain} {rdtype} - {error}"


def dns_temporary(domain: str, rdtype: str, error: str) -> str:
    return f"DNS Temporary Failure {domain} {rdtype} - {error}"


def dns_hard_text(domain: str, rdtype: str, error: str) -> str:
    """The reply text quoted in DNS hard bounces (balanced brackets, SPEC.md §2 note)."""
    return f"DNS Hard Error looking up {domain} ({rdtype}) : {error}"


def dns_bounce_text(domain: str, rdtype: str, error: str) -> str:
    """The reply text an ordinary DNS hard bounce quotes, in the appliance's form (ASYNCOS.md
    §7, SPL: ``DNS Hard Error looking up bad.example (MX): NXDomain``).  The TDC lines keep
    SPEC.md §2's ``(MX) : NXDomain`` (:func:`dns_hard_text`)."""
    return f"DNS Hard Error looking up {domain} ({rdtype}): {error}"


def dns_temporary_text(domain: str, rdtype: str, error: str) -> str:
    """The reply text quoted when a temporary DNS failure delays mail."""
    return f"DNS Temporary Failure looking up {domain} ({rdtype}) : {error}"


def dns_failure(domain: str, rdtype: str, reason: str, *, permanent: bool) -> str:
    """The line of a failed lookup: ``DNS Error esa.example.com MX - NXDomain`` when it is
    permanent, ``DNS Temporary Failure example.com MX - ServFail`` when not."""
    return (dns_error if permanent else dns_temporary)(domain, rdtype, reason)


def dns_failure_text(domain: str, rdtype: str, reason: str, *, permanent: bool) -> str:
    """The text a failed lookup bounces or delays mail with (and its exception's message)."""
    return (dns_hard_text if permanent else dns_temporary_text)(domain, rdtype, reason)


# -- the Threat Defense Connector (SPEC.md §2) -----------------------------------------------
#: The agent of a journal copy's ``... generated based on MID m by <agent>`` (ASYNCOS.md §7).
TDC_AGENT = "threat defense connector"


def tdc_generated(mid: int, original: int) -> str:
    """The journal copy's spawn line: the appliance's ``MID n was generated based on MID m by
    <agent>`` (ASYNCOS.md §7, the wording it suggests for the connector; SPEC.md §2 shows no
    sample of it), so parsers that link a copy to its original link this one."""
    return f"TDC: MID {mid} was generated based on MID {original} by {TDC_AGENT}"


def tdc_enqueued(mid: int, message_id_value: str, intake: str) -> str:
    return (f"{tdc_enqueued_prefix(mid)}{message_id_value}' enqueued for forwarding to "
            f"{SETD} to the message intake address {intake}")


def tdc_enqueued_prefix(mid: int) -> str:
    """How :func:`tdc_enqueued` of *mid* starts."""
    return f"TDC: MID {mid} with Message-ID '"


#: :func:`tdc_enqueued`'s start in the log's bytes, its MID the group: what recovery looks
#: for (one pass over the log for every recovered copy, not one search per copy).
TDC_ENQUEUED_MID = re.compile(rb"TDC: MID (\d+) with Message-ID '")


def tdc_new_dcid(dcid: int, local_ip: str, peer_ip: str, port: int) -> str:
    return f"TDC: New SMTP DCID {dcid} interface {local_ip} address {peer_ip} port {port}"


def tdc_delivery_start(dcid: int, mid: int) -> str:
    return f"TDC: Delivery start DCID {dcid} MID {mid}"


def tdc_delivered(mid: int) -> str:
    return f"TDC: MID {mid} successfully delivered for scanning with {SETD}."


def tdc_tracking_delivered(mid: int) -> str:
    """The single message tracking line of SPEC.md §1 (Verification)."""
    return f"TDC: Message {mid} was delivered for scanning with {SETD}."


def tdc_connection_error(dcid: int, ip: str, port: int, details: str, interface: str,
                         reason: str) -> str:
    return "TDC: " + connection_error(dcid, TDC_QUEUE, ip, port, details, interface, reason)


def tdc_dcid_tls_failed(dcid: int, details: str) -> str:
    return f"TDC: DCID {dcid} TLS failed: {details}"


def tdc_tls_error(mid: int) -> str:
    return f"TDC: MID {mid} delivery failed to {SETD}:TLS Error."


def tdc_hard_bounced(status: str, reason: str, code: str, text: str) -> str:
    return f"TDC: Hard bounced - {status} - {reason} {_response(code, text)}"


def tdc_failed(mid: int, why: str) -> str:
    """``why``: ``Hard Bounced``, ``Retries Exhausted``, ``Expired``."""
    return f"TDC: MID {mid} delivery failed to {SETD}: {why}."


def tdc_delayed(dcid: int, mid: int, intake: str, status: str, reason: str, code: str,
                text: str) -> str:
    """SPEC.md §2 has no sample of it: the ordinary :func:`delayed` line (ASYNCOS.md §7) with
    ``TDC:`` before it; the journal copy goes from the null sender to the intake address."""
    return "TDC: " + delayed(dcid, mid, "", intake, 0, status, reason, code, text)


def tdc_bounced(dcid: int, mid: int, status: str, reason: str, code: str, text: str) -> str:
    """The last of the NXDOMAIN sample's five lines (no ``TDC:`` in the original)."""
    return (f"Bounced: DCID {dcid} MID {mid} to RID 0 - Bounced by destination server with "
            f"response: {status} - {reason} {_response(code, text)}")
