"""``segcli``: start the appliance and a console on it.

One process is one appliance (DESIGN.md): Twisted's reactor runs on top of asyncio
so the engine's protocols, prompt_toolkit and dnspython share one loop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.internet.error import CannotListenError

from engine.appliance import Appliance, StartOptions
from engine.config.addresses import InvalidValue
from engine.config.model import Endpoint
from engine.smtp.tls import TlsMaterialError
from engine.store.data_dir import DataDirError
from engine.store.instance_lock import InstanceLock

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from commands.session import CliSession
    from segcli.attach.server import AttachServer
    from segcli.lab.runner import Lab, LabInfo
    from segcli.ssh.server import SshServer
    from segcli.terminal.console import PromptTerminal
    from segcli.terminal.plain import PlainTerminal

EXIT_USAGE = 2
EXIT_SOFTWARE = 70
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
#: The output's reader went away (``segcli ... | head``): what a shell reports for a
#: command line tool that SIGPIPE ended.  segcli ends cleanly instead of dying of it (the
#: store closed, the lock released) and reports the same.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


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
    parser.add_argument("--plain", action="store_true",
                        help="plain line mode even at a terminal (no colours, no completion)")
    parser.add_argument("--user", default="admin", help=argparse.SUPPRESS)
    modes = parser.add_subparsers(dest="mode", metavar="lab")
    lab = modes.add_parser(
        "lab", help="start the appliance with the SETD simulator, a DNS zone and a delivery "
        "sink; without a terminal it runs headless until SIGTERM",
        argument_default=argparse.SUPPRESS)  # the top level's values stand unless given here
    lab.add_argument("--smtp", type=_endpoint, metavar="HOST:PORT")
    lab.add_argument("--ssh", type=_endpoint, metavar="HOST:PORT")
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
    options = StartOptions(data_dir=data_dir, smtp=args.smtp, ssh=args.ssh)
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
    return _run_reactor(lambda: _serve(appliance, args))


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


def _run_reactor(start: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run ``start()`` (a coroutine) on Twisted's asyncio reactor; return its status."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    from twisted.internet import asyncioreactor

    asyncioreactor.install(loop)
    from twisted.internet import defer, reactor

    outcome: dict[str, int] = {}

    def done(result: int | Failure) -> None:
        if isinstance(result, int):
            outcome["status"] = result
        else:
            logging.getLogger("segcli").error("segcli failed: %s", result.getTraceback())
            print(f"segcli: internal error: {result.getErrorMessage()}", file=sys.stderr)
            outcome["status"] = EXIT_SOFTWARE
        reactor.stop()

    reactor.callWhenRunning(
        lambda: defer.Deferred.fromFuture(asyncio.ensure_future(start())).addBoth(done)
    )
    # Signals are ours: Ctrl-C cancels the running command, it does not stop the reactor.
    # IReactorCore.run() declares no parameter, yet every reactor's run() takes this one
    # (Twisted's own twisted.internet.testing ignores the same error).
    reactor.run(installSignalHandlers=False)  # type: ignore[call-arg]
    return outcome.get("status", EXIT_SOFTWARE)


async def _serve(appliance: Appliance, args: argparse.Namespace) -> int:
    from commands import load_all

    load_all()
    lock = InstanceLock(appliance.options.data_dir)
    primary = lock.acquire()
    appliance.start()
    lab = ssh = consoles = None
    try:
        if args.mode == "lab":
            if not primary:
                print(f"segcli: the appliance of {appliance.options.data_dir} already runs in "
                      f"process {lock.holder()}; stop it before starting the lab.", file=sys.stderr)
                return EXIT_USAGE
            # Headless, a stop signal is honoured from the first moment: a supervisor may
            # send SIGTERM while the lab is still starting.
            stop = None if sys.stdin.isatty() else _stop_on_signals()
            started = await _start_lab(appliance)
            if started is None:
                return EXIT_USAGE
            lab, info = started
            if (listening := await _start_ssh(appliance)) is None:
                return EXIT_USAGE
            ssh, ssh_port = listening
            consoles = await _serve_consoles(appliance)
            info.console_socket = consoles.path if consoles is not None else None
            info.ssh = Endpoint(appliance.ssh_endpoint.host, ssh_port)
            # What to connect to, once all of it listens.
            if not _print_out(info.describe()):
                if stop is None:
                    return EXIT_BROKEN_PIPE
                if not stop.done():
                    stop.set_result(EXIT_BROKEN_PIPE)
            if stop is not None:
                return await _until(stop)
        elif not primary:
            print(f"segcli: the appliance of {appliance.options.data_dir} is running in process "
                  f"{lock.holder()}; this console shares its configuration.", file=sys.stderr)
        elif not await _start_mail(appliance) or (listening := await _start_ssh(appliance)) is None:
            return EXIT_USAGE
        else:
            ssh = listening[0]
        if primary and args.mode != "lab":
            consoles = await _serve_consoles(appliance)
        return await _console(appliance, args)
    finally:
        if consoles is not None:
            await consoles.stop()
        if ssh is not None:
            await ssh.stop()
        if lab is not None:
            await lab.stop()
        await appliance.stop()
        lock.release()


async def _console(appliance: Appliance, args: argparse.Namespace) -> int:
    from commands.session import CliSession

    loop = asyncio.get_running_loop()
    terminal = _terminal(appliance, args, loop)
    session = CliSession(appliance, terminal, user=args.user)
    if hasattr(terminal, "attach"):
        terminal.attach(session)
    run = asyncio.ensure_future(session.run())
    stopped_with, stop = _handle_signals(loop, session, run)
    unwatch = _end_on_closed_output(terminal, lambda: stop(EXIT_BROKEN_PIPE))
    try:
        status = await run
    except asyncio.CancelledError:
        status = 0
    finally:
        unwatch()
        for signum in _SIGNALS:  # handlers stay until the session is over
            loop.remove_signal_handler(signum)
    if stopped_with:
        return stopped_with[0]
    # The exit status tells a script whether every command worked; a person at the
    # console who once mistyped has still ended the session normally.
    return 0 if terminal.interactive else status


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


def _stop_on_signals() -> asyncio.Future[int]:
    """A future that SIGTERM (or SIGINT, SIGHUP) completes with exit status 0, and the
    output's reader going away with EXIT_BROKEN_PIPE: the headless lab's clean stops."""
    from segcli.terminal.plain import watch_pipe_reader

    loop = asyncio.get_running_loop()
    stop: asyncio.Future[int] = loop.create_future()

    def finish(status: int) -> None:
        if not stop.done():
            stop.set_result(status)

    for signum in _SIGNALS:
        loop.add_signal_handler(signum, finish, 0)
    def reader_gone() -> None:
        _discard_stdout()
        finish(EXIT_BROKEN_PIPE)

    unwatch = watch_pipe_reader(sys.stdout, reader_gone)
    stop.add_done_callback(lambda _: unwatch())
    return stop


async def _until(stop: asyncio.Future[int]) -> int:
    """Run until *stop* completes; its result is the exit status."""
    try:
        return await stop
    finally:
        for signum in _SIGNALS:
            asyncio.get_running_loop().remove_signal_handler(signum)


def _print_out(text: str) -> bool:
    """Print *text* on stdout now; False if nobody reads it any more (a broken pipe),
    after which stdout quietly discards what is written."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _discard_stdout()
        return False
    return True


def _discard_stdout() -> None:
    """stdout's reader has gone: from now on what is written to it (Python's own last
    flush at exit included) goes to /dev/null instead of failing, as Python's
    documentation advises for SIGPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _end_on_closed_output(terminal: PromptTerminal | PlainTerminal,
                          end: Callable[[], None]) -> Callable[[], None]:
    """A plain session whose output nobody reads any more (a write failed with a broken
    pipe, or the pipe's reader went away) calls *end*; return what stops watching."""
    from segcli.terminal.plain import PlainTerminal, watch_pipe_reader

    if not isinstance(terminal, PlainTerminal):
        return lambda: None
    watching: list[Callable[[], None]] = []

    def gone() -> None:
        for unwatch in watching:
            unwatch()
        _discard_stdout()
        end()

    terminal.on_output_closed = gone
    watching.append(watch_pipe_reader(sys.stdout, terminal.close_output))
    return watching[0]


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


async def _start_ssh(appliance: Appliance) -> tuple[SshServer, int] | None:
    """Start the SSH server: ``(server, port)``, or None when it cannot listen (a clear
    startup error)."""
    from segcli.ssh.keys import HostKeyError
    from segcli.ssh.server import SshServer

    server = SshServer(appliance, appliance.users)
    endpoint = appliance.ssh_endpoint
    try:
        port = await server.start()
    except CannotListenError as exc:
        print(f"segcli: cannot listen for SSH on {endpoint}: {exc.socketError}", file=sys.stderr)
        return None
    except HostKeyError as exc:  # a key nobody may replace for us: say what to do
        print(f"segcli: cannot start the SSH server: {exc}", file=sys.stderr)
        return None
    print(f"segcli: SSH server on {endpoint.host}:{port} "
          f"({'; '.join(server.host_key_fingerprints)})", file=sys.stderr)
    return server, port


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _handle_signals(loop: asyncio.AbstractEventLoop, session: CliSession,
                    run: asyncio.Future[int]) -> tuple[list[int], Callable[[int], None]]:
    """Route the signals to the session; return the list that will hold the exit
    status when a signal ended the session, and the function that ends it so."""
    stopped_with: list[int] = []

    def stop(status: int) -> None:
        """End the session: a running command is cancelled (the loop then sees
        ``finished``), an idle prompt is cancelled where it waits."""
        stopped_with.append(status)
        session.finished = True
        if not session.interrupt():
            run.cancel()

    def on_sigint() -> None:
        """Ctrl-C cancels the running command, not the shell (DESIGN.md).

        prompt_toolkit reads Ctrl-C as a key while a prompt is shown (and is told not
        to take SIGINT over), so a signal means a command is running -- or a plain
        terminal sits at its prompt, which then gets a fresh prompt.  A script read
        from a pipe or a file is stopped instead: nobody could interrupt it otherwise.
        """
        if not sys.stdin.isatty():
            stop(EXIT_INTERRUPTED)
        elif not session.interrupt() and not session.terminal.interactive:
            session.terminal.write("\n" + session.prompt)

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    # A clean stop, not a failure: the store is closed and the lock released.
    loop.add_signal_handler(signal.SIGTERM, stop, 0)
    loop.add_signal_handler(signal.SIGHUP, stop, 0)  # the terminal went away
    return stopped_with, stop


def _terminal(appliance: Appliance, args: argparse.Namespace,
              loop: asyncio.AbstractEventLoop) -> PromptTerminal | PlainTerminal:
    at_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if at_terminal and not args.plain and os.environ.get("TERM", "") != "dumb":
        from segcli.terminal.console import PromptTerminal

        return PromptTerminal(history_file=appliance.options.data_dir / "history" / args.user)
    from segcli.terminal.plain import PlainTerminal, ThreadedLineReader

    return PlainTerminal(ThreadedLineReader(sys.stdin, loop), sys.stdout, echo=not at_terminal)
