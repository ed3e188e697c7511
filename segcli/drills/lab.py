"""A fresh lab for one drill, in this process's reactor (DRILLS.md §2, §6).

``DrillLab`` opens an appliance in a temporary data directory (or ``--data DIR``), starts
``segcli.lab.runner.Lab`` around it on loopback, and gives the runner what a drill file
refers to: the timers and lab values as ``${name}`` variables, CLI sessions that run the
real command engine, fault arming on the simulator and the zone, and traffic over real
SMTP.  ``--fast`` sets the connector's ``time_scale`` to 0.1 through a committed
configuration change, as any other setting is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from commands.io import Cancelled, EndOfInput
from engine.appliance import Appliance, StartOptions
from engine.config.changes import SetTdcTimers
from engine.config.model import Endpoint
from engine.store.instance_lock import InstanceLock
from segcli.drills.expressions import substitute
from segcli.drills.model import Drill, FaultSpec, TrafficSpec

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from commands.session import CliSession
    from segcli.attach.server import AttachServer
    from segcli.lab.dns_blackhole import DnsBlackhole
    from segcli.lab.runner import Lab, LabInfo
    from segcli.lab.traffic import SentMessage

FAST_SCALE = 0.1


class LabStartError(Exception):
    """The lab could not start; ``str()`` says why in one line (exit status 3)."""


class LabActionError(ValueError):
    """A fault, a lab action or traffic that cannot be carried out (the drill is wrong or
    the lab refuses it); the message is for a person."""


class CommandFailed(Exception):
    """A drill's CLI command failed: *command* and the session's output so far."""

    def __init__(self, command: str, output: str) -> None:
        super().__init__(f"the command {command!r} failed")
        self.command = command
        self.output = output


class ScriptTerminal:
    """A plain terminal that reads its lines from a list and keeps everything written:
    what a drill's commands and piped answers see (commands/io.py's Terminal)."""

    interactive = False

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.out: list[str] = []

    @property
    def width(self) -> int:
        return 100

    def write(self, text: str) -> None:
        self.out.append(text)

    error = write

    def show(self, renderable: Any) -> None:
        from io import StringIO

        from rich.console import Console

        buffer = StringIO()
        Console(file=buffer, width=self.width, color_system=None, force_terminal=False,
                highlight=False, emoji=False).print(renderable)
        self.out.append(buffer.getvalue())

    async def read_command(self, prompt: str) -> str:
        return await self.ask(prompt)

    async def ask(self, prompt: str, *, choices: Sequence[str] = (), secret: bool = False) -> str:
        self.out.append(prompt)
        if not self.lines:
            self.out.append("\n")
            raise EndOfInput
        line = self.lines.pop(0)
        self.out.append(("" if secret else line) + "\n")
        return line

    def take_output(self) -> str:
        text = "".join(self.out)
        self.out.clear()
        return text


@dataclass
class _Session:
    session: CliSession
    terminal: ScriptTerminal


async def _serve_consoles(appliance: Appliance) -> AttachServer | None:
    """Consoles started on the drill's data directory attach here; without the socket
    (a path too long for one) the drill still runs."""
    from segcli.attach.server import AttachError, AttachServer

    server = AttachServer(appliance)
    try:
        await server.start()
    except AttachError as exc:
        log.warning("no console can attach to the drill's lab: %s", exc)
        return None
    return server


@dataclass
class DrillLab:
    """One drill's lab.  ``start()`` then the methods; ``stop()`` always (idempotent)."""

    fast: bool = False
    data_dir: Path | None = None
    #: the directory was made here (a temporary one): removed by ``stop(remove=True)``
    temporary: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    #: the timers at timescale 1, for deadlines that scale afterwards
    real_timers: dict[str, float] = field(default_factory=dict)
    appliance: Appliance | None = None
    lab: Lab | None = None
    info: LabInfo | None = None
    blackhole: DnsBlackhole | None = None
    _lock: InstanceLock | None = None
    #: ``<data>/cli.sock``: ``segcli --data DIR`` attaches a console to this lab
    consoles: AttachServer | None = None
    _sessions: dict[str, _Session] = field(default_factory=dict)
    #: armed faults by the drill's fault id: ("setd", simulator fault id) or ("dns", name)
    _armed: dict[str, tuple[str, Any]] = field(default_factory=dict)

    @property
    def scale(self) -> float:
        return FAST_SCALE if self.fast else 1.0

    @property
    def mail_log_dir(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "logs" / "mail_logs"

    # -- starting and stopping ---------------------------------------------------------
    async def start(self) -> None:
        """Open the appliance and start the lab; LabStartError (and nothing left running)
        when it cannot."""
        from commands import load_all
        from segcli.lab.runner import Lab

        load_all()
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="segcli-drill-"))
            self.temporary = True
        try:
            await self._start(Lab)
        except LabStartError:
            await self.stop()
            raise
        except Exception as exc:
            await self.stop()
            raise LabStartError(f"cannot start the lab in {self.data_dir}: {exc}") from exc
        except BaseException:
            # Ctrl-C (KeyboardInterrupt, or the task cancelled) while starting: what was
            # started stops and a temporary directory goes, then the interruption goes on
            await self.stop()
            raise

    async def _start(self, lab_class: type[Lab]) -> None:
        from engine.store.data_dir import DataDirError

        assert self.data_dir is not None
        options = StartOptions(data_dir=self.data_dir, smtp=Endpoint("127.0.0.1", 0),
                               ssh=Endpoint("127.0.0.1", 0))
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            appliance = await self._open(options)
        except DataDirError as exc:
            raise LabStartError(str(exc)) from None
        except OSError as exc:
            raise LabStartError(f"cannot use the data directory {self.data_dir}: "
                                f"{exc.strerror or exc}") from None
        self.appliance = appliance
        self._lock = InstanceLock(self.data_dir)
        if not self._lock.acquire():
            raise LabStartError(f"the appliance of {self.data_dir} already runs in process "
                                f"{self._lock.holder()}")
        appliance.users.ensure_factory_admin()
        appliance.start()
        if appliance.config.tdc.timers.time_scale != self.scale:
            await appliance.commit([SetTdcTimers(time_scale=self.scale)], user="drill",
                                   comment=f"drill: timescale {self.scale:g}", rollback=True)
        self.lab = lab_class(appliance, preferred_ports=False)  # free ports only
        self.info = await self.lab.start()
        self.consoles = await _serve_consoles(appliance)
        self._set_values()

    async def _open(self, options: StartOptions) -> Appliance:
        """Open the appliance in a thread.  Cancelled meanwhile, it waits for the thread
        (which cannot be stopped) and keeps what it opened, so that ``stop()`` closes it
        before the directory is removed, then lets the cancellation go on."""
        opening = asyncio.ensure_future(asyncio.to_thread(Appliance.open, options))
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self.appliance = await opening
            raise

    async def stop(self, *, remove: bool = True) -> None:
        """Stop everything started here; remove a temporary data directory if *remove*."""
        self._sessions.clear()
        if self.blackhole is not None:
            with contextlib.suppress(Exception):
                await self.blackhole.stop()
            self.blackhole = None
        if self.consoles is not None:
            with contextlib.suppress(Exception):
                await self.consoles.stop()
            self.consoles = None
        if self.lab is not None:
            with contextlib.suppress(Exception):
                await self.lab.stop()
            self.lab = None
        if self.appliance is not None:
            with contextlib.suppress(Exception):
                await self.appliance.stop()
            self.appliance = None
        if self._lock is not None:
            with contextlib.suppress(Exception):
                self._lock.release()
            self._lock = None
        if remove and self.temporary and self.data_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self.data_dir, True)

    # -- values ----------------------------------------------------------------------
    def _set_values(self) -> None:
        assert self.appliance is not None and self.info is not None and self.lab is not None
        config = self.appliance.config
        timers = config.tdc.timers
        self.real_timers = {"L": timers.queue_limit, "r": timers.retry_delay,
                            "a": timers.attempt_timeout, "i": timers.idle_timeout,
                            "d": config.dns.timeout, "tol": 2.0}
        default_local, _, default_domain = self.info.default_intake.partition("@")
        custom_domain = self.info.custom_intake.partition("@")[2]
        from segcli.lab.runner import PARTNERS, SINK_HOST

        self.values = {
            "L": timers.scaled(timers.queue_limit), "r": timers.scaled(timers.retry_delay),
            "a": timers.scaled(timers.attempt_timeout), "i": timers.scaled(timers.idle_timeout),
            # the resolver's timeout is not one of the connector's timers: never scaled
            "d": config.dns.timeout,
            "tol": 1.5 if self.fast else 2.0,
            "lab.default_intake": self.info.default_intake, "lab.default_local": default_local,
            "lab.default_domain": default_domain, "lab.custom_intake": self.info.custom_intake,
            "lab.custom_domain": custom_domain, "lab.custom_policy": PARTNERS,
            "lab.Cmax": timers.max_connections, "lab.sink_host": SINK_HOST,
            "lab.smtp_port": self.info.smtp.port,
            # the sink by address, as smtproutes takes it: a route that needs no DNS
            "lab.sink_port": self.info.sink_port,
            "lab.sink": f"{self.lab.sink.host}:{self.info.sink_port}",
            # the lab zone, as dnsconfig takes it: a fix for a wrong DNS server points here
            "lab.dns": f"{self.info.dns[0]}:{self.info.dns[1]}",
        }

    def prepare(self, drill: Drill) -> None:
        """What the drill adds to the lab before its first phase: ``[vars]`` (each expanded
        with the lab's values and the vars before it), then ``[[lab.dns_record]]`` in the
        zone (a drill's records of one type for one name replace the zone's)."""
        for name, text in drill.vars.items():
            self.values[name] = substitute(text, self.values)
        wanted: dict[tuple[str, str], list[str]] = {}
        for line in drill.lab.dns_records:
            name, rdtype, value = line.split(" ", 2)
            key = (substitute(name, self.values), rdtype)
            wanted.setdefault(key, []).append(substitute(value, self.values))
        assert self.lab is not None
        for (name, rdtype), values in wanted.items():
            self.lab.zone.set_records(name, rdtype, values)

    # -- the command line -------------------------------------------------------------
    async def run_cli(self, commands: Sequence[str], *, session: str | None = None,
                      answers: Sequence[str] = (), echo: bool = True) -> str:
        """Run *commands* (then the piped *answers*) through the real command engine, in
        the named persistent session or a fresh one; return what the session printed
        (with each prompt and command line when *echo*: a check searching a command's
        output must not find the words of the command itself).  CommandFailed when a
        command fails (its output included)."""
        from commands.session import CliSession

        assert self.appliance is not None
        held = self._sessions.get(session) if session else None
        if held is None:
            terminal = ScriptTerminal()
            held = _Session(CliSession(self.appliance, terminal, user="admin"), terminal)
            if session:
                self._sessions[session] = held
        terminal, cli = held.terminal, held.session
        terminal.lines = [*commands, *answers]
        failed: str | None = None
        while terminal.lines:
            line = terminal.lines.pop(0)
            if echo:
                terminal.out.append(cli.prompt + line + "\n")
            try:
                ok = await cli.execute(line)
            except (EndOfInput, Cancelled):
                ok = False
            cli.finished = False  # a dialog that ran out of answers ends only the command
            if not ok and failed is None:
                failed = line
        terminal.lines = []
        output = terminal.take_output()
        if failed is not None:
            raise CommandFailed(failed, output)
        return output

    # -- faults and lab actions -------------------------------------------------------
    async def arm(self, fault: FaultSpec, delay_s: float | None = None) -> str:
        """Arm one fault; return a one-line description."""
        assert self.lab is not None
        if fault.target == "setd":
            intake = substitute(fault.intake or "${lab.default_intake}", self.values)
            settings: dict[str, Any] = {"stage": fault.stage or None, "code": fault.code,
                                        "text": substitute(fault.text, self.values),
                                        "times": fault.times}
            if delay_s is not None:
                settings["delay"] = delay_s
            try:
                made = self.lab.setd.add_fault(intake, fault.action, **settings)
            except ValueError as exc:
                raise LabActionError(f"fault {fault.id}: {exc}") from None
            self._armed[fault.id] = ("setd", made.id)
            return made.describe()
        if fault.target == "dns":
            return self._arm_dns(fault)
        if fault.target == "lab" and fault.action == "dns_blackhole":
            return await self._start_blackhole()
        raise LabActionError(f"fault {fault.id}: unknown target/action "
                             f"{fault.target}/{fault.action}")

    def _arm_dns(self, fault: FaultSpec) -> str:
        assert self.lab is not None
        zone = self.lab.zone
        name = substitute(fault.name, self.values)
        if fault.action == "records":
            try:
                zone.set_records(name, fault.type, [substitute(r, self.values)
                                                    for r in fault.records])
            except ValueError as exc:
                raise LabActionError(f"fault {fault.id}: {exc}") from None
        else:
            try:
                zone.set_fault(name, fault.action, rdtype=fault.type or None, times=fault.times)
            except ValueError as exc:
                raise LabActionError(f"fault {fault.id}: {exc}") from None
        self._armed[fault.id] = ("dns", name)
        what = f"{fault.type or 'all types'} {fault.action}"
        return f"dns {name}: {what}" + ("" if fault.times is None else f" ({fault.times}x)")

    async def _start_blackhole(self) -> str:
        from segcli.lab.dns_blackhole import DnsBlackhole

        if self.blackhole is None:
            self.blackhole = DnsBlackhole()
            port = self.blackhole.start()
            self.values["lab.blackhole"] = f"127.0.0.1:{port}"
        return f"DNS blackhole on {self.values['lab.blackhole']}"

    async def lab_action(self, text: str) -> str:
        """A ``[fix] lab`` action: ``fault clear``, ``fault clear <id>``, ``dns clear``."""
        assert self.lab is not None
        words = substitute(text, self.values).split()
        if words == ["fault", "clear"]:
            removed = self.lab.setd.clear_faults()
            self.lab.zone.clear_faults()
            self._armed.clear()
            return f"fault clear: {removed} simulator fault(s) and the DNS faults removed"
        if len(words) == 3 and words[:2] == ["fault", "clear"]:
            armed = self._armed.pop(words[2], None)
            if armed is None:
                raise LabActionError(f"lab action {text!r}: no fault {words[2]!r} is armed")
            target, key = armed
            if target == "setd":
                self.lab.setd.remove_fault(key)
            else:
                self.lab.zone.set_fault(key, None)
            return f"fault {words[2]} cleared"
        if words == ["dns", "clear"]:
            self.lab.zone.clear_faults()
            return "DNS faults cleared"
        raise LabActionError(f"unknown lab action {text!r} (fault clear [ID], dns clear)")

    # -- traffic --------------------------------------------------------------------
    def safety_problem(self) -> str | None:
        """Why traffic must not be sent: the gateway asks a DNS server or routes mail to a
        host that is not loopback (None: everything stays on this machine)."""
        assert self.appliance is not None
        config = self.appliance.config
        if not config.dns.servers:
            return "the gateway uses the host's DNS resolvers, not the lab zone"
        for server in config.dns.servers:
            if not _loopback(server.host):
                return f"the gateway's DNS server {server.host} is not on loopback"
        for route in config.smtp_routes:
            for destination in route.destinations:
                host = destination.rsplit(":", 1)[0].strip("[]") \
                    if destination.count(":") == 1 or destination.startswith("[") else destination
                if _is_address(host) and not _loopback(host):
                    return f"the SMTP route for {route.domain} goes to {destination}"
        return None

    async def send(self, spec: TrafficSpec, over_s: float | None = None) -> list[SentMessage]:
        """Send *spec* over real SMTP to the gateway; bind ``<id>.message_id``,
        ``<id>.subject`` and (from the mail log, by the caller) ``<id>.mid``."""
        assert self.info is not None
        problem = self.safety_problem()
        if problem is not None:
            raise LabActionError(f"traffic refused: {problem}")
        to = substitute(spec.to, self.values)
        sender = substitute(spec.sender, self.values)
        subject = substitute(spec.subject, self.values) or f"drill {spec.id}"
        from segcli.lab.traffic import TrafficError
        from segcli.lab.traffic import send as send_traffic

        recipients = [r.strip() for r in to.split(",") if r.strip()]
        try:
            sent = await send_traffic("127.0.0.1", self.info.smtp.port, kind=spec.kind,
                                      sender=sender, to=recipients, subject=subject,
                                      count=spec.count, sessions=spec.sessions,
                                      over_s=over_s or 0.0)
        except TrafficError as exc:
            self._bind_sent(spec, exc.sent)
            raise LabActionError(f"traffic {spec.id}: {exc}") from None
        except ValueError as exc:
            raise LabActionError(f"traffic {spec.id}: {exc}") from None
        self._bind_sent(spec, sent)
        return sent

    def _bind_sent(self, spec: TrafficSpec, sent: Sequence[SentMessage]) -> None:
        if sent:
            self.values[f"{spec.id}.message_id"] = sent[0].message_id
            self.values[f"{spec.id}.subject"] = sent[0].subject

    # -- witnesses ----------------------------------------------------------------------
    def blackhole_queries(self) -> int | None:
        """The UDP queries the DNS black hole has read since it was armed (None: none is)."""
        return None if self.blackhole is None else self.blackhole.datagrams

    def sink_messages(self) -> list[bytes]:
        """Every message the delivery sink holds (the trace headers first)."""
        assert self.lab is not None
        return [p.read_bytes() for p in sorted(self.lab.sink.directory.glob("*.eml"))]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"
