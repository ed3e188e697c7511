"""The status log: ``<data>/logs/status/status.current``, AsyncOS's ``status_logs``
subscription.  Once a minute it writes one ``Status:`` line of counters and gauges
(ASYNCOS.md §3, the line the ELASTIC and IronPort parsers read):

    Info: Status: CPULd 0 DskIO 0 RAMUtil 1 QKUsd 0 QKFre 8388608 CrtMID 0 ... InjBytes 0

The file is a :class:`~engine.observe.mail_log.MailLog` named ``status``: the same
header lines, rolling and escaping as the mail log.  The mail engine gathers the figures
(it knows the queues, the resolver and the ids); this module knows the line's fields and
their order.  Fields for what segcli does not have (anti-virus loads, quarantines, swap,
the end-user quarantine ...) are 0, as on an appliance without those features.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Seconds between two lines, as on the appliance.
STATUS_INTERVAL = 60.0
#: The directory of the subscription under ``<data>/logs``, and its files' name.
STATUS_DIRECTORY = "status"
STATUS_NAME = "status"

#: The fields of an AsyncOS 15.x status line, in the appliance's order.
STATUS_FIELDS = (
    "CPULd", "DskIO", "RAMUtil", "QKUsd", "QKFre", "CrtMID", "CrtICID", "CrtDCID",
    "InjMsg", "InjRcp", "GenBncRcp", "RejRcp", "DrpMsg", "SftBncEvnt", "CmpRcp",
    "HrdBncRcp", "DnsHrdBnc", "5XXHrdBnc", "FltrHrdBnc", "ExpHrdBnc", "OtrHrdBnc",
    "DlvRcp", "DelRcp", "GlbUnsbHt", "ActvRcp", "UnatmptRcp", "AtmptRcp", "CrtCncIn",
    "CrtCncOut", "DnsReq", "NetReq", "CchHit", "CchMis", "CchEct", "CchExp", "CPUTTm",
    "CPUETm", "MaxIO", "RAMUsd", "MMLen", "DstInMem", "ResCon", "WorkQ", "QuarMsgs",
    "QuarQKUsd", "LogUsd", "SophLd", "BMLd", "CASELd", "TotalLd", "LogAvail", "EuQ",
    "EuqRls", "CmrkLd", "McafLd", "SwIn", "SwOut", "SwPgIn", "SwPgOut", "SwapUsage",
    "RptLd", "QtnLd", "EncrQ", "InjBytes",
)
#: Fields whose value is not a plain count.
_DEFAULTS: Mapping[str, str] = {"SwapUsage": "0%", "LogAvail": "0"}


def status_line(figures: Mapping[str, int | str]) -> str:
    """The text of one status line (after ``Info: ``): every field in order, a figure
    segcli does not have as 0.  Unknown keys are a programming error."""
    unknown = set(figures) - set(STATUS_FIELDS)
    if unknown:
        raise ValueError(f"not status line fields: {sorted(unknown)}")
    return "Status: " + " ".join(
        f"{field} {figures.get(field, _DEFAULTS.get(field, 0))}" for field in STATUS_FIELDS)
