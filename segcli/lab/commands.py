"""``segcli lab send|setd|dns|fault``: commands that talk to a running lab from another shell.

They reach the lab through its control socket (``<data>/lab.sock``, control.py), so they
need no file from the source tree and work during a drill.  With no lab running they say so
in one line and end with status 1; a request the lab refuses does the same with its reason.

``segcli lab send`` asks the lab to send test mail to its own gateway; with ``--server
HOST:PORT`` this process sends it itself, to any SMTP server (the lab's socket is not
needed then).  ``--json`` prints what the lab answered as JSON instead of a table.

segcli/main.py adds these to its ``lab`` parser (:func:`add_lab_commands`) and runs them
(:func:`run_lab_command`) without opening the appliance.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.cells import cell_len

from segcli.lab import control
from segcli.lab.setd_faults import FaultKind, Stage
from segcli.lab.traffic import TRAFFIC_KINDS, SentMessage

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
#: The DNS zone's faults (the zone checks them; listed here for the help text).
DNS_FAULTS = ("nxdomain", "servfail", "refused", "timeout", "nodata")


def add_lab_commands(lab: argparse.ArgumentParser) -> None:
    """The sub-commands of ``segcli lab``; without one, ``segcli lab`` starts the lab."""
    commands = lab.add_subparsers(dest="lab_command", metavar="COMMAND")
    _send_parser(commands)
    setd = _command(commands, "setd", "what the SETD simulator received (its portal)")
    setd_commands = setd.add_subparsers(dest="setd_command", metavar="VIEW", required=True)
    _command(setd_commands, "accounts", "the SETD accounts: intake address, host, port, counts")
    dashboard = _command(setd_commands, "dashboard", "per journal received: time, intake, "
                         "original From/To/Subject/Message-ID, status")
    dashboard.add_argument("--account", metavar="NAME", help="one account (name or address)")
    dashboard.add_argument("--limit", type=_positive, metavar="N", help="the last N only")
    totals = _command(setd_commands, "totals", "every message counted by outcome, per account")
    totals.add_argument("--account", metavar="NAME", help="one account (name or address)")
    dns = _command(commands, "dns", "the lab's DNS zone")
    dns_commands = dns.add_subparsers(dest="dns_command", metavar="VIEW", required=True)
    log = _command(dns_commands, "log", "the queries the zone answered")
    log.add_argument("--name", metavar="N", help="queries for this name only")
    log.add_argument("--type", metavar="T", help="queries of this type only (MX, A, ...)")
    log.add_argument("--limit", type=_positive, metavar="N", help="the last N only")
    _fault_parsers(commands)


def _command(commands: Any, name: str, text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=text, description=text)
    parser.add_argument("--data", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                        help="the lab's data directory (default: as for segcli lab)")
    parser.add_argument("--json", action="store_true", help="print the lab's answer as JSON")
    return parser


def _send_parser(commands: Any) -> None:
    send = _command(commands, "send", "send test mail through the lab's gateway")
    send.add_argument("--to", action="append", metavar="ADDR",
                      help="a recipient (repeat for more; default bob@example.com)")
    send.add_argument("--from", dest="sender", default="alice@example.org", metavar="ADDR",
                      help="the sender (default %(default)s)")
    send.add_argument("--subject", default="", help="the subject (default: the kind and number)")
    send.add_argument("--kind", choices=TRAFFIC_KINDS, default="clean",
                      help="clean; gtube (spam); eicar (virus); large (--size bytes, 1 MB)")
    send.add_argument("--count", type=_positive, default=1, metavar="N", help="messages")
    send.add_argument("--sessions", type=_positive, default=1, metavar="N",
                      help="SMTP connections to spread them over")
    send.add_argument("--over", type=_seconds, default=0.0, metavar="SECONDS",
                      help="spread the messages evenly over this many seconds")
    send.add_argument("--size", type=_positive, default=0, metavar="BYTES",
                      help="size of a large message")
    send.add_argument("--server", type=_server, metavar="HOST:PORT",
                      help="send to this SMTP server from here (default: the running lab's "
                      "gateway, which sends it)")


def _fault_parsers(commands: Any) -> None:
    fault = _command(commands, "fault", "the faults in force in the SETD simulator and DNS zone")
    faults = fault.add_subparsers(dest="fault_command", metavar="ACTION", required=True)
    _command(faults, "list", "the faults in force, with their ids")
    fault_set = _command(faults, "set", "set a fault")
    layers = fault_set.add_subparsers(dest="layer", metavar="LAYER", required=True)
    setd = _command(layers, "setd", "a SETD fault for an intake address")
    setd.add_argument("--intake", required=True, metavar="ADDR",
                      help="the intake address (or the account's name)")
    setd.add_argument("--kind", required=True, choices=[k.value for k in FaultKind])
    setd.add_argument("--stage", choices=[s.value for s in Stage],
                      help="where in the SMTP dialogue (a reply fault needs one)")
    setd.add_argument("--code", type=int, metavar="N", help="the reply code of a reply fault")
    setd.add_argument("--text", metavar="T", help="the reply text (default: one for the code)")
    setd.add_argument("--delay", type=_seconds, metavar="S", help="seconds, for a slow fault")
    setd.add_argument("--times", type=_positive, metavar="N",
                      help="the next N attempts only (default: until cleared)")
    dns = _command(layers, "dns", "a DNS fault for a name in the lab's zone")
    dns.add_argument("--name", required=True, metavar="N", help="the name (e.g. an intake domain)")
    dns.add_argument("--fault", required=True, metavar="F", help=", ".join(DNS_FAULTS))
    dns.add_argument("--type", metavar="T", help="queries of this type only (default: all)")
    dns.add_argument("--times", type=_positive, metavar="N",
                     help="the next N queries only (default: until cleared)")
    clear = _command(faults, "clear", "remove a fault (by the id fault list shows) or all")
    clear.add_argument("id", nargs="?", metavar="ID")
    clear.add_argument("--all", action="store_true", help="remove every fault")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < 86400:
        raise argparse.ArgumentTypeError(f"seconds from 0 to a day: {text}")
    return value


def _server(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"HOST:PORT, e.g. 127.0.0.1:2525, not {text!r}")
    return host.strip("[]"), int(port)


# --------------------------------------------------------------------------------------------
# Running them


def run_lab_command(args: argparse.Namespace, data_dir: Path) -> int:
    """Run ``segcli lab COMMAND``; the exit status (0, or 1 with a one-line reason)."""
    if args.lab_command == "fault" and args.fault_command == "clear" \
            and bool(args.id) == bool(args.all):
        print("segcli: lab fault clear: give a fault id (see lab fault list) or --all",
              file=sys.stderr)
        return EXIT_FAILED
    try:
        return _COMMANDS[args.lab_command](args, data_dir)
    except control.ControlError as exc:
        print(f"segcli: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _ask(data_dir: Path, op: str, timeout: float | None = control.DEFAULT_TIMEOUT,
         **args: Any) -> Any:
    return control.request_sync(data_dir, op, timeout=timeout,
                                **{k: v for k, v in args.items() if v is not None})


def _send(args: argparse.Namespace, data_dir: Path) -> int:
    settings: dict[str, Any] = {
        "kind": args.kind, "sender": args.sender, "to": args.to or ["bob@example.com"],
        "subject": args.subject, "count": args.count, "sessions": args.sessions,
        "over_s": args.over, "size": args.size}
    if args.server is not None:
        host, port = args.server
        sent = _send_from_here(host, port, settings)
        if sent is None:
            return EXIT_FAILED
        messages = [asdict(m) for m in sent]
    else:
        messages = _ask(data_dir, "send", timeout=None, **settings)
    if args.json:
        _print_json(messages)
    else:
        for message in messages:
            print(f"{message['message_id']}  {message['reply']}")
    return 0


def _send_from_here(host: str, port: int, settings: dict[str, Any]) -> list[SentMessage] | None:
    """Send with this process's own SMTP client; None (the reason printed) if refused."""
    from segcli.lab import traffic

    try:
        return _on_reactor(lambda: traffic.send(host, port, **settings))
    except traffic.TrafficError as exc:
        for message in exc.sent:
            print(f"{message.message_id}  {message.reply}")
        print(f"segcli: {exc}", file=sys.stderr)
        return None


def _on_reactor(start: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``start()`` on Twisted's asyncio reactor (the engine's SMTP client needs it)."""
    if "twisted.internet.reactor" not in sys.modules:
        from twisted.internet import asyncioreactor

        asyncioreactor.install(asyncio.new_event_loop())
    from twisted.internet import reactor as installed

    reactor: Any = installed
    loop = getattr(reactor, "_asyncioEventloop", None)
    if loop is None or reactor.running:
        raise control.ControlError("cannot send from here: Twisted's reactor is in use")
    asyncio.set_event_loop(loop)
    reactor.startRunning(installSignalHandlers=False)
    try:
        return loop.run_until_complete(start())
    finally:
        reactor.stop()
        loop.run_forever()  # until the shutdown triggers have run and stopped the loop
        loop.close()


def _setd(args: argparse.Namespace, data_dir: Path) -> int:
    view = args.setd_command
    if view == "accounts":
        rows = _ask(data_dir, "setd.accounts")
        return _show(args, rows, [("NAME", "name"), ("INTAKE ADDRESS", "address"),
                                  ("MX HOST", "mx_host"), ("PORT", "port"),
                                  ("RECEIVED", "received"), ("ACCEPTED", "accepted"),
                                  ("FAULTS", "faults")], "no SETD accounts")
    if view == "totals":
        totals = _ask(data_dir, "setd.totals", account=args.account)
        if args.json:
            _print_json(totals)
            return 0
        outcomes = sorted({o for counts in totals.values() for o in counts})
        rows = [{"account": a, **counts} for a, counts in totals.items()]
        return _show(args, rows, [("ACCOUNT", "account"), *((o.upper(), o) for o in outcomes)],
                     "no SETD accounts")
    rows = _ask(data_dir, "setd.dashboard", account=args.account, limit=args.limit)
    for row in rows:
        row["time"] = _local_time(row["time"])
    return _show(args, rows, [("TIME", "time"), ("INTAKE", "intake"), ("FROM", "from"),
                              ("TO", "to"), ("SUBJECT", "subject"),
                              ("MESSAGE-ID", "message_id"), ("STATUS", "status")],
                 "SETD has received nothing" + (f" for {args.account}" if args.account else ""))


def _dns(args: argparse.Namespace, data_dir: Path) -> int:
    rows = _ask(data_dir, "dns.log", name=args.name, type=args.type, limit=args.limit)
    return _show(args, rows, [("TIME", "when"), ("CLIENT", "client"), ("NAME", "name"),
                              ("TYPE", "rdtype"), ("RCODE", "rcode"), ("ANSWERS", "answers")],
                 "no DNS queries" + (f" for {args.name}" if args.name else ""))


_FAULT_COLUMNS = [("ID", "id"), ("LAYER", "layer"), ("TARGET", "target"), ("FAULT", "fault"),
                  ("REMAINING", "remaining")]


def _fault(args: argparse.Namespace, data_dir: Path) -> int:
    action = args.fault_command
    if action == "list":
        return _show(args, _ask(data_dir, "fault.list"), _FAULT_COLUMNS, "no faults in force")
    if action == "clear":
        cleared = _ask(data_dir, "fault.clear", id=args.id, all=args.all or None)
        if args.json:
            _print_json(cleared)
        else:
            print(f"{cleared['cleared']} fault(s) cleared")
        return 0
    if args.layer == "setd":
        fault = _ask(data_dir, "fault.set", layer="setd", intake=args.intake, kind=args.kind,
                     stage=args.stage, code=args.code, text=args.text, delay=args.delay,
                     times=args.times)
    else:
        fault = _ask(data_dir, "fault.set", layer="dns", name=args.name, fault=args.fault,
                     type=args.type, times=args.times)
    return _show(args, [fault], _FAULT_COLUMNS, "")


_COMMANDS: dict[str, Callable[[argparse.Namespace, Path], int]] = {
    "send": _send, "setd": _setd, "dns": _dns, "fault": _fault,
}


# --------------------------------------------------------------------------------------------
# Output


def _show(args: argparse.Namespace, rows: list[dict[str, Any]],
          columns: Sequence[tuple[str, str]], empty: str) -> int:
    if args.json:
        _print_json(rows)
    elif not rows:
        print(empty)
    else:
        print(table(rows, columns))
    return 0


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Plain columns under headings, as wide as their widest cell (pipes and files get the
    whole text, never cut at a terminal's width)."""
    cells = [[heading for heading, _ in columns],
             *([_cell(row.get(key)) for _, key in columns] for row in rows)]
    widths = [max(cell_len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(text + " " * (width - cell_len(text))
                       for text, width in zip(line, widths, strict=True)).rstrip()
             for line in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = " ".join(str(value).split())  # a value's own line breaks would break the table
    return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)


def _local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))
