"""``segcli``: start the appliance and a console on it.

One process is one appliance (DESIGN.md): Twisted's reactor runs on top of asyncio
so the engine's protocols, prompt_toolkit and dnspython share one loop.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from twisted.internet.error import CannotListenError

from engine.appliance import ASYNCOS_VERSION, EMULATOR, Appliance, StartOptions
from engine.config.addresses import InvalidValue
from engine.config.model import Endpoint
from engine.smtp.tls import TlsMaterialError
from engine.store.data_dir import DataDirError
from engine.store.instance_lock import InstanceLock
from segcli.process import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_SOFTWARE,
    print_out,
    run_console,
    run_reactor,
    settle_heap,
    start_ssh,
    start_web,
    stop_on_signals,
    until,
)

if TYPE_CHECKING:
    from segcli.attach.server import AttachServer
    from segcli.lab.runner import Lab, LabInfo

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "EXIT_SOFTWARE", "EXIT_USAGE", "main"]

EXIT_USAGE = 2


def default_data_dir() -> Path:
    """``$SEGCLI_DATA``, else ``$XDG_DATA_HOME/segcli``, else ``~/.local/share/segcli``."""
    if os.environ.get("SEGCLI_DATA"):
        return Path(os.environ["SEGCLI_DATA"])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "segcli"


def _endpoint(text: str) -> Endpoint:
    try:
        return Endpoint.parse(text, any_port=True)
    except InvalidValue as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="segcli",
        description="An emulated Cisco Secure Email Gateway (Threat Defense Connector) with "
        "its AsyncOS command line.",
    )
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help=f"data directory (default: {default_data_dir()})")
    parser.add_argument("--smtp", type=_endpoint, metavar="HOST:PORT",
                        default=os.environ.get("SEGCLI_SMTP") or None,
                        help="SMTP listener address, overriding the configuration "
                        "(default: $SEGCLI_SMTP); port 0 picks a free port")
    parser.add_argument("--ssh", type=_endpoint, metavar="HOST:PORT",
                        default=os.environ.get("SEGCLI_SSH") or None,
                        help="SSH server address, overriding the configuration "
                        "(default: $SEGCLI_SSH)")
    parser.add_argument("--https", type=_endpoint, metavar="HOST:PORT",
                        default=os.environ.get("SEGCLI_HTTPS") or None,
                        help="web interface (HTTPS) address, overriding the configuration "
                        "(default: $SEGCLI_HTTPS); port 0 picks a free port")
    parser.add_argument("--http", type=_endpoint, metavar="HOST:PORT",
                        default=os.environ.get("SEGCLI_HTTP") or None,
                        help="also listen for plain HTTP here, only to redirect to HTTPS "
                        "(default: $SEGCLI_HTTP; none)")
    parser.add_argument("--plain", action="store_true",
                        help="plain line mode even at a terminal (no colours, no completion)")
    parser.add_argument("--user", default="admin", help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", help="print the versions and exit",
                        version=f"{EMULATOR} (emulating AsyncOS {ASYNCOS_VERSION})")
    modes = parser.add_subparsers(dest="mode", metavar="lab")
    lab = modes.add_parser(
        "lab", help="start the appliance with the SETD simulator, a DNS zone and a delivery "
        "sink; without a terminal it runs headless until SIGTERM",
        argument_default=argparse.SUPPRESS)  # the top level's values stand unless given here
    lab.add_argument("--smtp", type=_endpoint, metavar="HOST:PORT")
    lab.add_argument("--ssh", type=_endpoint, metavar="HOST:PORT")
    lab.add_argument("--https", type=_endpoint, metavar="HOST:PORT")
    lab.add_argument("--http", type=_endpoint, metavar="HOST:PORT")
    lab.add_argument("--plain", action="store_true")
    from segcli.drills.cli import add_drill_parser
    from segcli.lab.commands import add_lab_commands

    add_lab_commands(lab)  # segcli lab send|setd|dns|fault: talk to a running lab
    add_drill_parser(modes)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.mode == "drill":  # a host command: it starts no appliance of its own here
        from segcli.drills.cli import run as run_drill

        return run_drill(args)
    data_dir = (args.data or default_data_dir()).expanduser().resolve()
    if getattr(args, "lab_command", None):  # a command for a running lab: no appliance here
        from segcli.lab.commands import run_lab_command

        return run_lab_command(args, data_dir)
    if args.mode is None and (attached := _attach(data_dir, args)) is not None:
        return attached  # the appliance runs in another process: a console on it
    options = StartOptions(data_dir=data_dir, smtp=args.smtp, ssh=args.ssh, https=args.https)
    try:
        appliance = Appliance.open(options)
    except DataDirError as exc:
        return _cannot_start(str(exc))
    except OSError as exc:
        return _cannot_start(f"cannot use the data directory {data_dir}: {exc.strerror or exc}.")
    try:
        _log_to(data_dir)
    except OSError as exc:
        appliance.store.close()
        return _cannot_start(f"cannot use the data directory {data_dir}: its log file cannot "
                             f"be written ({exc.filename}: {exc.strerror}).")
    if appliance.users.ensure_factory_admin():
        _say_factory_admin()
    if appliance.start_notice is not None:  # a commit that cannot be read: say what runs
        print(f"segcli: {appliance.start_notice}", file=sys.stderr)
        logging.getLogger("segcli").warning("%s", appliance.start_notice)
    return run_reactor(lambda: _serve(appliance, args))


def _attach(data_dir: Path, args: argparse.Namespace) -> int | None:
    """A console on the appliance already running in *data_dir* (its exit status), or
    None when none runs there."""
    from segcli.attach.client import attach

    return attach(data_dir, plain=args.plain)


def _cannot_start(reason: str) -> int:
    """A start that cannot work: the reason in one line on stderr, a non-zero status."""
    print(f"segcli: {reason}", file=sys.stderr)
    return EXIT_USAGE


def _say_factory_admin() -> None:
    """The first start created the administrator: say how to log in, and that the
    factory password should not stay (on stderr, so a script's transcript is unchanged)."""
    print('segcli: first start: the administrator "admin" has the factory password '
          '"ironport".\n'
          "segcli: change it with the passwd command (it takes effect at once).",
          file=sys.stderr)


def _log_to(data_dir: Path) -> None:
    """The process's own diagnostics (tracebacks) go to a file, never to the console."""
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=log_dir / "segcli.log", level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _show_operator_notices()


def _show_operator_notices() -> None:
    """What the engine tells the operator (a damaged key made anew) shows on standard
    error too, where ``segcli`` says what it started."""
    from engine.durable import OPERATOR

    if not any(getattr(h, "segcli_operator", False) for h in OPERATOR.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("segcli: %(message)s"))
        handler.segcli_operator = True  # type: ignore[attr-defined]
        OPERATOR.addHandler(handler)


async def _serve(appliance: Appliance, args: argparse.Namespace) -> int:
    from commands import load_all

    load_all()
    lock = InstanceLock(appliance.options.data_dir)
    primary = lock.acquire()
    appliance.start()
    lab = ssh = consoles = web = None
    try:
        if args.mode == "lab":
            if not primary:
                print(f"segcli: the appliance of {appliance.options.data_dir} already runs in "
                      f"process {lock.holder()}; stop it before starting the lab.", file=sys.stderr)
                return EXIT_USAGE
            # Headless, a stop signal is honoured from the first moment: a supervisor may
            # send SIGTERM while the lab is still starting.
            stop = None if sys.stdin.isatty() else stop_on_signals()
            started = await _start_lab(appliance)
            if started is None:
                return EXIT_USAGE
            lab, info = started
            if (listening := await start_ssh(appliance)) is None:
                return EXIT_USAGE
            ssh, ssh_port = listening
            if (web := await start_web(appliance, args.http)) is None:
                return EXIT_USAGE
            info.web = web.url()
            consoles = await _serve_consoles(appliance)
            info.console_socket = consoles.path if consoles is not None else None
            info.ssh = Endpoint(appliance.ssh_endpoint.host, ssh_port)
            # What to connect to, once all of it listens.
            if not print_out(info.describe()):
                if stop is None:
                    return EXIT_BROKEN_PIPE
                if not stop.done():
                    stop.set_result(EXIT_BROKEN_PIPE)
            settle_heap()
            if stop is not None:
                return await until(stop)
        elif not primary:
            print(f"segcli: the appliance of {appliance.options.data_dir} is running in process "
                  f"{lock.holder()}; this console shares its configuration.", file=sys.stderr)
        elif not await _start_mail(appliance) or (listening := await start_ssh(appliance)) is None:
            return EXIT_USAGE
        else:
            ssh = listening[0]
            if (web := await start_web(appliance, args.http)) is None:
                return EXIT_USAGE
        if primary and args.mode != "lab":
            consoles = await _serve_consoles(appliance)
            settle_heap()
        return await run_console(appliance, user=args.user, plain=args.plain)
    finally:
        if consoles is not None:
            await consoles.stop()
        if web is not None:
            await web.stop()
        if ssh is not None:
            await ssh.stop()
        if lab is not None:
            await lab.stop()
        await appliance.stop()
        lock.release()


async def _serve_consoles(appliance: Appliance) -> AttachServer | None:
    """Take consoles started on this data directory (``<data>/cli.sock``); a socket that
    cannot be made is said on stderr and the appliance runs without it."""
    from segcli.attach.server import AttachError, AttachServer

    server = AttachServer(appliance)
    try:
        await server.start()
    except AttachError as exc:
        print(f"segcli: no second console can attach: {exc}", file=sys.stderr)
        return None
    return server


async def _start_lab(appliance: Appliance) -> tuple[Lab, LabInfo] | None:
    """Start the lab around the appliance: ``(lab, info)``, or None when it failed."""
    from segcli.lab.control import ControlError
    from segcli.lab.runner import Lab

    lab = Lab(appliance)
    try:
        info = await lab.start()
    except (CannotListenError, ControlError) as exc:
        await lab.stop()
        print(f"segcli: cannot start the lab: {exc}", file=sys.stderr)
        return None
    return lab, info


async def _start_mail(appliance: Appliance) -> bool:
    """Start the mail engine; a listener that cannot bind is a clear startup error."""
    endpoint = appliance.smtp_endpoint
    try:
        port = await appliance.start_mail()
    except CannotListenError as exc:
        print(f"segcli: cannot listen for SMTP on {endpoint}: {exc.socketError}", file=sys.stderr)
        return False
    except TlsMaterialError as exc:  # a key nobody may replace for us: say what to do
        print(f"segcli: cannot start the SMTP listener: {exc}", file=sys.stderr)
        return False
    print(f"segcli: SMTP listener {appliance.config.listener.name} on "
          f"{endpoint.host}:{port}", file=sys.stderr)
    return True

