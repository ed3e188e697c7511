"""Which commands change the configuration is found out, not listed: every registered
command is run in every form its help text gives (alternatives, optional parts with and
without), and what it leaves pending is looked at.

* As an administrator: the commands that record a change in some form are exactly the
  ones flagged ``changes_config`` -- so a configuration command left unflagged (which a
  read-only user could then run) fails here, and so does a flagged command whose forms no
  longer reach a change (the samples below would be stale).
* As a read-only user: no form of any command leaves a change pending, commits, or touches
  the accounts or the configuration directory.

A new command is covered by registering it: its one-line forms come from its help text.
A new placeholder in a help text (``<something>``) needs a sample value in
:data:`SAMPLES`; the test says so.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from commands import passwd as passwd_module
from commands.registry import REGISTRY, CommandSpec
from commands.session import CliSession
from engine.appliance import Appliance, StartOptions
from engine.config.model import Endpoint
from engine.store.users import Role
from tests.certificates import ca_pem
from tests.commands.mail_helpers import seed
from tests.conftest import ScriptedTerminal
from tests.ports import hold_port

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"
#: A command still running after this long waits for something that will not come (``tail``
#: follows the log, ``rate`` prints until Ctrl-C): it gets a Ctrl-C.
SETTLE = 1.0

# -- the forms of a command, from its help text ---------------------------------------------

_PLACEHOLDER = re.compile(r"<[^<>]*>")
_GAP = re.compile(r"\s{2,}")
_INNERMOST_OPTION = re.compile(r"\[[^\[\]]*\]")


def help_forms(spec: CommandSpec) -> list[str]:
    """The forms a help text shows: each line that starts with the command's name (up to
    the gap before its description), with an indented ``[...]`` continuation line."""
    lines = spec.help.splitlines()
    forms = []
    for number, line in enumerate(lines):
        if not line.startswith(spec.name + " ") and line != spec.name:
            continue
        text = _GAP.split(line.strip())[0]
        if any(word.endswith((".", ";")) for word in _PLACEHOLDER.sub("", text).split()):
            continue  # a sentence about the command, not a form of it
        for following in lines[number + 1:]:
            if not following[:1].isspace() or not following.strip().startswith("["):
                break
            text += " " + _GAP.split(following.strip())[0]
        forms.extend(_alternatives(spec.name, text))
    return forms


def _alternatives(name: str, text: str) -> list[str]:
    """``a host <h> | sender <s> | all`` → three forms."""
    first, *others = text.split(" | ")
    return [first, *(f"{name} {other}" for other in others)]


def command_lines(spec: CommandSpec, samples: dict[str, str]) -> list[str]:
    """Every line to run for *spec*: its help forms with the placeholders filled in, each
    optional part left out and put in, each ``a|b`` alternative taken."""
    lines: list[str] = []
    for form in help_forms(spec):
        holders = _PLACEHOLDER.findall(form)
        missing = [h for h in holders if h not in samples]
        assert not missing, f"{spec.name}: add a sample value for {missing} to SAMPLES"
        # Placeholders out of the way first: they hold brackets and bars of their own.
        text = _PLACEHOLDER.sub(lambda m, h=holders: f"\0{h.index(m[0])}\0", form)
        text = text.replace("...", "")
        without = text
        while _INNERMOST_OPTION.search(without):
            without = _INNERMOST_OPTION.sub("", without)
        with_all = text.replace("[", "").replace("]", "")
        for variant in dict.fromkeys([without, with_all]):
            choices = [word.split("|") for word in variant.split()]
            for words in itertools.product(*choices):
                line = " ".join(words)
                for index, holder in enumerate(holders):
                    line = line.replace(f"\0{index}\0", samples[holder])
                lines.append(line)
    return list(dict.fromkeys(lines))


# -- one appliance with something in every table ----------------------------------------------


@dataclass
class Lab:
    appliance: Appliance
    data_dir: Path
    samples: dict[str, str]
    #: Run a coroutine to its end on the reactor's loop.
    run: Callable[[Coroutine[Any, Any, Any]], Any]


def _key_line() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode() + " oper@laptop"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, reactor_loop: asyncio.AbstractEventLoop
        ) -> Iterator[Lab]:
    """An appliance whose tables all hold an entry the forms can edit or delete, a saved
    configuration file, a commit to roll back to, and an operator and a read-only user.

    Its DNS servers are a lab zone (mail for example.com and the intake domain to
    127.0.0.1), and its lab host ports a port held bound and not listening: ``telnet``,
    ``tlsverify`` and ``nslookup`` get their answer (refused, NXDOMAIN) at once."""
    from segcli.lab.dns_zone import DnsZone

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(passwd_module, "WRONG_PASSWORD_DELAY", 0)
    run = reactor_loop.run_until_complete
    zone = DnsZone()
    zone.start()
    zone.add_mail_domain("example.com", "mx.example.com")
    zone.add_mail_domain(INTAKE.partition("@")[2], "mx.intake.test")
    closed = hold_port()  # bound, never listening: connections to it are refused
    port = str(closed.getsockname()[1])
    data_dir = tmp_path_factory.mktemp("what-commands-change") / "data"
    appliance = Appliance.open(StartOptions(data_dir=data_dir, smtp=Endpoint("127.0.0.1", 0)))
    appliance.users.rounds = 4
    appliance.users.ensure_factory_admin()
    pem = data_dir.parent / "ca.pem"
    pem.write_text(ca_pem() + "\n")
    seed(appliance,
         f"tdcconfig enable {INTAKE}", f"dnsconfig servers {zone.host}:{zone.port}",
         "smtproutes new example.com mx.example.com", "destconfig new example.com",
         "policyconfig incoming new sales @example.com",
         "policyconfig outgoing new sales @example.com",
         f"labconfig hostport mx.example.com {port}", f"labconfig hostport mx.intake.test {port}",
         "listenerconfig rcptaccess add example.com", "listenerconfig hostaccess add 10.1.1.5",
         f"certconfig import {pem}",
         'userconfig add oper "Op Erator" operator Operator-pass-1',
         'userconfig add ro "Read Only" readonly Readonly-pass-1',
         f'userconfig sshkey add oper "{_key_line()}"', "saveconfig n")
    saved = sorted(p.name for p in (data_dir / "configuration").iterdir())
    run(appliance.start_mail())
    samples = {
        "<host>": "mx.example.com", "<domain>": "example.com", "<address>": "bob@example.com",
        "<address|network>": "10.1.1.5", "<ip[:port]>": f"{zone.host}:{zone.port}",
        "<host:port>": f"127.0.0.1:{port}", "<port>": port, "<name>": "sales",
        "<new name>": "finance", "<member>": "@example.org", "<position>": "1",
        "<intake address>": INTAKE, "<subject tag>": "[TAGGED]", "<file>": saved[-1],
        "<number>": "1", "<minutes>": "45", "<n>": "2", "<s>": "2", "<f>": "1",
        "<seconds>": "1", "<count>": "1",
        "<lines>": "1", "<1-5>": "1", "<size>": "512k", "<hostname>": "gw.example.com",
        "<MID>": "1", "<regex>": "hello", "<command>": "commit", "<comment>": "a comment",
        "<reason>": "maintenance", "<user>": "oper", "<full name>": "Full Name",
        "<group>": "readonly", "<password>": "Another-pass-2", "<key line>": _key_line(),
    }
    yield Lab(appliance, data_dir, samples, run)
    run(appliance.stop())
    run(zone.stop())
    closed.close()
    monkeypatch.undo()


@dataclass
class Outcome:
    pending: int
    view_changed: bool
    transcript: str


def run_line(lab: Lab, line: str, *, user: str, role: Role) -> Outcome:
    """Run one command line in a new session as *user*; a command that waits for more
    (no answers are given: a question ends it) gets a Ctrl-C after :data:`SETTLE`."""
    terminal = ScriptedTerminal()

    async def run() -> CliSession:
        session = CliSession(lab.appliance, terminal, user=user, role=role)
        task = asyncio.ensure_future(session.execute(line))
        done, _ = await asyncio.wait([task], timeout=SETTLE)
        if not done:
            session.interrupt()
            await task
        return session

    session = lab.run(run())
    return Outcome(len(session.pending.changes),
                   session.config != lab.appliance.running.config, terminal.text)


def appliance_state(lab: Lab) -> tuple:
    """What a command could change besides pending configuration: the committed version,
    the accounts, the saved files, and the mail flow's switches and counters."""
    appliance, mail = lab.appliance, lab.appliance.mail
    assert mail is not None
    return (appliance.store.latest_version_id(), lab.run(appliance.user_directory()).records(),
            sorted((lab.data_dir / "configuration").iterdir()), mail.work_pause,
            mail.delivery_suspended, mail.listener_suspended, mail.counters.reset_at)


def _all_lines(lab: Lab) -> list[tuple[CommandSpec, str]]:
    return [(spec, line) for spec in REGISTRY for line in command_lines(spec, lab.samples)]


# -- the tests -------------------------------------------------------------------------------


def test_the_help_texts_give_every_command_a_form():
    """The derivation below rests on this: each command's help shows its forms."""
    samples = {holder: "x" for spec in REGISTRY
               for holder in _PLACEHOLDER.findall(spec.help)}
    for spec in REGISTRY:
        assert command_lines(spec, samples), spec.name
    smtproutes = command_lines(REGISTRY.get("smtproutes"), samples)
    assert "smtproutes new x x" in smtproutes and "smtproutes clear" in smtproutes
    tdc = command_lines(REGISTRY.get("tdcconfig"), samples)
    assert "tdcconfig timers retry x timeout x idle x limit x scale x minconn x maxconn x" in tdc
    assert "policyconfig outgoing edit x antivirus action bounce" in command_lines(
        REGISTRY.get("policyconfig"), samples)
    assert "bouncerecipients sender x" in command_lines(REGISTRY.get("bouncerecipients"), samples)
    assert all("specific" not in line for line in command_lines(REGISTRY.get("labconfig"),
                                                                samples))


def test_exactly_the_commands_flagged_as_changing_configuration_record_changes(lab):
    """Run as an administrator, a form that leaves a change pending belongs to a command
    flagged changes_config; and every flagged command has such a form."""
    recorded: dict[str, str] = {}
    for spec, line in _all_lines(lab):
        outcome = run_line(lab, line, user="admin", role=Role.ADMIN)
        if outcome.pending and spec.name not in recorded:
            recorded[spec.name] = line
    flagged = {spec.name for spec in REGISTRY if spec.changes_config}
    unflagged = {name: line for name, line in recorded.items() if name not in flagged}
    assert not unflagged, f"these record changes without changes_config=True: {unflagged}"
    assert set(recorded) == flagged, f"no form recorded a change for {flagged - set(recorded)}"


@pytest.mark.parametrize("name", [spec.name for spec in REGISTRY])
def test_a_readonly_user_changes_nothing_with_any_form(lab, name):
    """Every form of the command, as the read-only user ``ro``: nothing pending, nothing
    committed, the accounts, the configuration directory and the mail flow as they were."""
    spec = REGISTRY.get(name)
    for line in command_lines(spec, lab.samples):
        before = appliance_state(lab)
        outcome = run_line(lab, line, user="ro", role=Role.READONLY)
        assert (outcome.pending, outcome.view_changed) == (0, False), (line, outcome.transcript)
        assert appliance_state(lab) == before, (line, outcome.transcript)
