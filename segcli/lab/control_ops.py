"""The lab's own control ops (segcli/lab/control.py serves them): what the lab tells and does
for ``segcli lab ...`` commands in other processes and for the drills.

=================  =====================================================================
``info``           ports and addresses: SMTP, SSH, DNS, dashboard, sink, intake hosts
``send``           test mail to the gateway (segcli/lab/traffic.py), sent by the lab
``setd.accounts``  the SETD accounts: intake address, MX host and port, counts, faults
``setd.dashboard`` per journal received: time, intake, original From/To/Subject/
                   Message-ID, status (``account``: one account, by name or address)
``setd.totals``    per account, every message counted by outcome
``dns.log``        the DNS zone's queries (``name``, ``type`` filter them)
``fault.list``     the faults in force, SETD's and the DNS zone's, each with an id
``fault.set``      ``layer`` "setd" (intake, kind, stage, code, text, delay, times) or
                   "dns" (name, fault, type, times)
``fault.clear``    ``id`` (as fault.list shows it) or ``all``: true
=================  =====================================================================

Every op checks its arguments before it changes anything.  The lab is reached through
:class:`LabParts` (the attributes of segcli/lab/runner.py's Lab that the ops read), so this
module does not import the runner, which imports it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from segcli.lab import traffic
from segcli.lab.control import ControlError, register, socket_path

__all__ = ["LabParts", "check_args", "register_lab_ops", "status_of"]

_REQUIRED: Any = object()
_TYPE_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
               list: "a list"}


class LabParts(Protocol):
    """What the ops need of the running lab."""

    appliance: Any  # engine.appliance.Appliance
    zone: Any  # segcli.lab.dns_zone.DnsZone
    setd: Any  # segcli.lab.setd_simulator.SetdSimulator

    def describe_ports(self) -> dict[str, Any]:
        """The lab's endpoints (the ``info`` op's answer)."""
        ...

    def smtp_address(self) -> tuple[str, int]:
        """Where a client on this machine reaches the gateway's SMTP listener."""
        ...


def check_args(args: Mapping[str, Any], spec: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """*args* checked against *spec* (name -> (type or types, default or _REQUIRED)):
    unknown names, missing required ones and wrong types are a ControlError."""
    unknown = set(args) - set(spec)
    if unknown:
        raise ControlError(f"unknown argument(s): {', '.join(sorted(unknown))}; "
                           f"this op takes: {', '.join(spec) or 'none'}")
    checked = {}
    for name, (types, default) in spec.items():
        if name not in args or args[name] is None:
            if default is _REQUIRED:
                raise ControlError(f"argument {name!r} is required")
            checked[name] = default
            continue
        value = args[name]
        wanted = types if isinstance(types, tuple) else (types,)
        taken = (*wanted, int) if float in wanted else wanted  # JSON has no 5.0 for 5
        if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, taken):
            names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in wanted)
            raise ControlError(f"argument {name!r} must be {names}, not {value!r}")
        checked[name] = float(value) if float in wanted and int not in wanted else value
    return checked


# --------------------------------------------------------------------------------------------
# info and send


def op_info(lab: LabParts, args: Mapping[str, Any]) -> dict[str, Any]:
    check_args(args, {})
    data_dir = Path(lab.appliance.options.data_dir)
    return {**lab.describe_ports(), "data_dir": str(data_dir),
            "socket": str(socket_path(data_dir))}


async def op_send(lab: LabParts, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    given = check_args(args, {
        "kind": (str, "clean"), "sender": (str, "alice@example.org"),
        "to": ((str, list), "bob@example.com"), "subject": (str, ""), "count": (int, 1),
        "sessions": (int, 1), "over_s": (float, 0.0), "size": (int, 0),
        "helo": (str, "lab.example.org"),
    })
    if isinstance(given["to"], list) and not all(isinstance(t, str) for t in given["to"]):
        raise ControlError("argument 'to' must be an address or a list of addresses")
    host, port = lab.smtp_address()
    try:
        sent = await traffic.send(host, port, **given)
    except traffic.TrafficError as exc:
        raise ControlError(f"{exc} ({len(exc.sent)} of {given['count']} accepted)") from None
    return [asdict(m) for m in sent]


# --------------------------------------------------------------------------------------------
# SETD: accounts, dashboard, totals


def op_setd_accounts(lab: LabParts, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    check_args(args, {})
    ports = lab.setd.host_ports()
    return [{**account, "port": ports.get(account["mx_host"])}
            for account in lab.setd.summary()["accounts"]]


def op_setd_dashboard(lab: LabParts, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    given = check_args(args, {"account": (str, None), "limit": (int, None)})
    address = _account_address(lab, given["account"])
    rows = [_dashboard_row(m) for m in lab.setd.messages(address)]
    limit = given["limit"]
    return rows[-limit:] if limit else rows


def op_setd_totals(lab: LabParts, args: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    given = check_args(args, {"account": (str, None)})
    if given["account"] is not None:
        addresses = [str(_account_address(lab, given["account"]))]
    else:
        addresses = [a.address for a in lab.setd.intake_accounts()]
    return {address: dict(lab.setd.totals(address)) for address in addresses}


def _account_address(lab: LabParts, account: str | None) -> str | None:
    """The intake address of *account* (a name or an address), or None for all of them."""
    if account is None:
        return None
    found = lab.setd.find_intake(account)
    if found is None:
        known = ", ".join(f"{a.name} ({a.address})" for a in lab.setd.intake_accounts())
        raise ControlError(f"no SETD account {account!r}; accounts: {known}")
    return str(found.address)


#: What the dashboard calls the simulator's outcomes (refused ones get their code).
_STATUS = {"accepted": "accepted", "disconnected": "dropped-after-dot", "hung": "no reply",
           "tls_failed": "TLS failed", "foreign_domain": "foreign-domain",
           "duplicate": "duplicate", "dropped_after_dot": "dropped-after-dot"}


def status_of(outcome: str, reply: str) -> str:
    """accepted, rejected NNN, deferred NNN, dropped-after-dot, TLS failed, ..."""
    if outcome in ("refused", "rejected", "deferred"):
        code = reply.split(" ", 1)[0]
        if code.isdigit():
            return f"{'deferred' if code.startswith('4') else 'rejected'} {code}"
        return outcome
    return _STATUS.get(outcome, outcome.replace("_", "-"))


def _dashboard_row(message: Any) -> dict[str, Any]:
    return {
        "time": message.received, "intake": message.intake,
        "from": message.original_from, "to": getattr(message, "original_to", ""),
        "subject": message.subject, "message_id": message.original_message_id,
        "status": status_of(message.outcome, message.reply), "reply": message.reply,
        "problem": message.problem, "id": message.id,
    }


# --------------------------------------------------------------------------------------------
# DNS


def op_dns_log(lab: LabParts, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    given = check_args(args, {"name": (str, None), "type": (str, None), "limit": (int, None)})
    queries = lab.zone.query_log(given["name"], given["type"])
    rows = [{**_as_dict(q), "when": _when(q.time)} for q in queries]
    return rows[-given["limit"]:] if given["limit"] else rows


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) + f".{int(stamp * 1000) % 1000:03d}"


def _as_dict(value: Any) -> dict[str, Any]:
    return asdict(value) if hasattr(value, "__dataclass_fields__") else dict(vars(value))


# --------------------------------------------------------------------------------------------
# Faults


def op_fault_list(lab: LabParts, args: Mapping[str, Any]) -> list[dict[str, Any]]:
    check_args(args, {})
    return [*(_setd_fault(f) for f in lab.setd.list_faults()), *_dns_faults(lab.zone)]


def _setd_fault(fault: Any) -> dict[str, Any]:
    remaining = None if fault.times is None else fault.times - fault.hits
    what = fault.describe().partition(": ")[2].rpartition(" (")[0]
    return {"id": str(fault.id), "layer": "setd", "target": fault.address, "fault": what,
            "remaining": remaining, "hits": fault.hits}


def _dns_faults(zone: Any) -> list[dict[str, Any]]:
    """The zone's faults, each with an id ``dns:NAME`` (``dns:NAME:TYPE`` for one type)."""
    faults = zone.faults
    if isinstance(faults, Mapping):  # name -> fault, for every type
        entries = [(name, str(fault), None, None) for name, fault in faults.items()]
    else:
        entries = [(f.name, str(f.fault), f.rdtype, f.remaining) for f in faults]
    return [{"id": f"dns:{name}" + (f":{rdtype}" if rdtype else ""), "layer": "dns",
             "target": name + (f" {rdtype}" if rdtype else ""), "fault": fault,
             "remaining": remaining, "hits": None}
            for name, fault, rdtype, remaining in entries]


def op_fault_set(lab: LabParts, args: Mapping[str, Any]) -> dict[str, Any]:
    layer = args.get("layer")
    rest = {k: v for k, v in args.items() if k != "layer"}
    if layer == "setd":
        return _set_setd_fault(lab, rest)
    if layer == "dns":
        return _set_dns_fault(lab, rest)
    raise ControlError(f"argument 'layer' must be \"setd\" or \"dns\", not {layer!r}")


def _set_setd_fault(lab: LabParts, args: Mapping[str, Any]) -> dict[str, Any]:
    given = check_args(args, {
        "intake": (str, _REQUIRED), "kind": (str, _REQUIRED), "stage": (str, None),
        "code": (int, None), "text": (str, ""), "delay": (float, 0.0), "times": (int, None),
    })
    address = _account_address(lab, given.pop("intake"))
    fault = lab.setd.add_fault(address, given.pop("kind"), **given)  # FaultError: ValueError
    return _setd_fault(fault)


def _set_dns_fault(lab: LabParts, args: Mapping[str, Any]) -> dict[str, Any]:
    given = check_args(args, {"name": (str, _REQUIRED), "fault": (str, _REQUIRED),
                              "type": (str, None), "times": (int, None)})
    extra = {key: value for key, value in (("rdtype", given["type"]), ("times", given["times"]))
             if value is not None}
    try:
        lab.zone.set_fault(given["name"], given["fault"].lower(), **extra)
    except TypeError:
        raise ControlError("this lab's DNS zone cannot limit a fault to a type or a number "
                           "of queries") from None
    wanted = f"dns:{given['name'].lower().rstrip('.')}"
    if given["type"]:
        wanted += f":{given['type'].upper()}"
    return next((f for f in _dns_faults(lab.zone) if f["id"] == wanted),
                {"id": wanted, "layer": "dns", "target": given["name"], "fault": given["fault"]})


def op_fault_clear(lab: LabParts, args: Mapping[str, Any]) -> dict[str, int]:
    given = check_args(args, {"id": (str, None), "all": (bool, False)})
    if given["all"] == (given["id"] is not None):
        raise ControlError("give either a fault id (as fault list shows it) or all: true")
    if given["all"]:
        count = len(_dns_faults(lab.zone))
        lab.zone.clear_faults()
        return {"cleared": lab.setd.clear_faults() + count}
    return {"cleared": _clear_one(lab, given["id"])}


def _clear_one(lab: LabParts, fault_id: str) -> int:
    ids = {f["id"] for f in _dns_faults(lab.zone)}
    if fault_id.startswith("dns:"):
        if fault_id not in ids:
            raise ControlError(f"no DNS fault {fault_id}; in force: {_listing(lab)}")
        name, _, rdtype = fault_id[4:].partition(":")
        lab.zone.set_fault(name, None, **({"rdtype": rdtype} if rdtype else {}))
        return 1
    number = fault_id.lstrip("#")
    if not number.isdigit() or not lab.setd.remove_fault(int(number)):
        raise ControlError(f"no fault {fault_id}; in force: {_listing(lab)}")
    return 1


def _listing(lab: LabParts) -> str:
    return ", ".join(f["id"] for f in op_fault_list(lab, {})) or "none"


_OPS: Sequence[tuple[str, Any]] = (
    ("info", op_info), ("send", op_send),
    ("setd.accounts", op_setd_accounts), ("setd.dashboard", op_setd_dashboard),
    ("setd.totals", op_setd_totals), ("dns.log", op_dns_log),
    ("fault.list", op_fault_list), ("fault.set", op_fault_set), ("fault.clear", op_fault_clear),
)


def register_lab_ops() -> None:
    """Make the lab's own ops known to the control server (again: no harm)."""
    for name, handler in _OPS:
        register(name, handler)
