"""The process around one appliance: the reactor on asyncio, signals, the console, SSH.

``segcli`` (segcli/main.py) and ``segcli drill start`` (segcli/drills/handson.py) both run an
appliance in this process and a console on it; the pieces they share live here, so that
neither has to import the other (main wires the drills in).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from twisted.internet.error import CannotListenError

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from commands.session import CliSession
    from engine.appliance import Appliance
    from engine.config.model import Endpoint
    from segcli.ssh.server import SshServer
    from segcli.terminal.console import PromptTerminal
    from segcli.terminal.plain import PlainTerminal
    from segcli.web.server import WebServer

EXIT_SOFTWARE = 70
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
#: The output's reader went away (``segcli ... | head``): what a shell reports for a
#: command line tool that SIGPIPE ended.  segcli ends cleanly instead of dying of it (the
#: store closed, the lock released) and reports the same.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


def run_reactor(start: Callable[[], Coroutine[Any, Any, int]]) -> int:
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


def settle_heap() -> None:
    """Take what start-up built out of the garbage collector's full passes.

    A full (generation 2) collection walks every container object in the process, and
    after start-up some 140,000 of them are modules, classes and tables (Twisted, Conch,
    prompt_toolkit, SQLAlchemy, rich) that live as long as the process.  Walking them
    stopped the event loop for 75-118 ms each time, 19 times in the SETD-outage benchmark's
    330 s: no SMTP reply, no command, no keystroke moved meanwhile
    (benchmarks/README.md, "Full garbage collections").  ``gc.freeze()`` moves everything
    alive now into the permanent generation, so a full pass walks only what the mail has
    built since; objects frozen are still freed as usual when their last reference goes.
    Called once, when the appliance and its servers have started.
    """
    gc.collect()
    gc.freeze()


async def run_console(appliance: Appliance, *, user: str = "admin", plain: bool = False,
                      toolbar_item: Callable[[], str] | None = None) -> int:
    """A console session on *appliance* for *user* until it ends; its exit status.

    *plain* forces the plain renderer even at a terminal; *toolbar_item* adds one item to the
    console's bottom toolbar (``segcli drill start`` shows the drill's state there).
    """
    from commands.session import CliSession

    loop = asyncio.get_running_loop()
    terminal = _terminal(appliance, user, plain, toolbar_item, loop)
    session = CliSession(appliance, terminal, user=user)
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
        for signum in SIGNALS:  # handlers stay until the session is over
            loop.remove_signal_handler(signum)
    if stopped_with:
        return stopped_with[0]
    # The exit status tells a script whether every command worked; a person at the
    # console who once mistyped has still ended the session normally.
    return 0 if terminal.interactive else status


def stop_on_signals() -> asyncio.Future[int]:
    """A future that SIGTERM (or SIGINT, SIGHUP) completes with exit status 0, and the
    output's reader going away with EXIT_BROKEN_PIPE: the headless lab's clean stops."""
    from segcli.terminal.plain import watch_pipe_reader

    loop = asyncio.get_running_loop()
    stop: asyncio.Future[int] = loop.create_future()

    def finish(status: int) -> None:
        if not stop.done():
            stop.set_result(status)

    for signum in SIGNALS:
        loop.add_signal_handler(signum, finish, 0)
    def reader_gone() -> None:
        discard_stdout()
        finish(EXIT_BROKEN_PIPE)

    unwatch = watch_pipe_reader(sys.stdout, reader_gone)
    stop.add_done_callback(lambda _: unwatch())
    return stop


async def until(stop: asyncio.Future[int]) -> int:
    """Run until *stop* completes; its result is the exit status."""
    try:
        return await stop
    finally:
        for signum in SIGNALS:
            asyncio.get_running_loop().remove_signal_handler(signum)


def print_out(text: str) -> bool:
    """Print *text* on stdout now; False if nobody reads it any more (a broken pipe),
    after which stdout quietly discards what is written."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        discard_stdout()
        return False
    return True


def discard_stdout() -> None:
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
        discard_stdout()
        end()

    terminal.on_output_closed = gone
    watching.append(watch_pipe_reader(sys.stdout, terminal.close_output))
    return watching[0]


async def start_ssh(appliance: Appliance) -> tuple[SshServer, int] | None:
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


async def start_web(appliance: Appliance, http: Endpoint | None = None) -> WebServer | None:
    """Start the web interface (HTTPS; with *http*, a plain-HTTP listener that redirects to
    it); None when it cannot listen (a clear startup error)."""
    from engine.smtp.tls import TlsMaterialError
    from segcli.web.server import WebServer

    endpoint = appliance.https_endpoint
    server = WebServer(appliance, endpoint, http)
    try:
        await server.start()
    except CannotListenError as exc:
        await server.stop()
        print(f"segcli: cannot listen for HTTPS on {exc.interface or endpoint.host}:{exc.port}: "
              f"{exc.socketError}", file=sys.stderr)
        return None
    except TlsMaterialError as exc:
        print(f"segcli: cannot start the web interface: {exc}", file=sys.stderr)
        return None
    redirect = (f" (HTTP on {http.host}:{server.http_port} redirects to it)"
                if http is not None else "")
    print(f"segcli: web interface on {server.url()}{redirect}", file=sys.stderr)
    return server


SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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


def _terminal(appliance: Appliance, user: str, plain: bool,
              toolbar_item: Callable[[], str] | None,
              loop: asyncio.AbstractEventLoop) -> PromptTerminal | PlainTerminal:
    at_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if at_terminal and not plain and os.environ.get("TERM", "") != "dumb":
        from segcli.terminal.console import PromptTerminal

        return PromptTerminal(history_file=appliance.options.data_dir / "history" / user,
                              toolbar_item=toolbar_item)
    from segcli.terminal.plain import PlainTerminal, ThreadedLineReader

    return PlainTerminal(ThreadedLineReader(sys.stdin, loop), sys.stdout, echo=not at_terminal)
