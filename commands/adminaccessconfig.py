"""``adminaccessconfig``: how administrators reach the appliance.  segcli emulates the
TIMEOUT operation for the CLI: the minutes an interactive SSH shell may stay idle before
it is closed (5 to 1440, 30 by default, as on the appliance), which the SSH login
banner's NOTE states; the web interface's sessions (segcli/web/) expire after the same
idle time.  The appliance's other operations are listed as on AsyncOS 15.5
and say that segcli does not emulate them when chosen.

Tests: tests/commands/test_adminaccessconfig.py, tests/e2e/test_ssh_idle_timeout.py.
"""

from __future__ import annotations

from commands.editing import checked, record_all, usage
from commands.policyconfig import NOT_EMULATED
from commands.registry import command
from commands.session import CliSession
from engine.config import values
from engine.config.changes import SetCliTimeout

COMMAND = "adminaccessconfig"
FORMS = "print | timeout <minutes>"
#: The appliance's operations, in its order; only TIMEOUT is emulated.
OPERATIONS = [
    ("BANNER", "Configure login message (banner) for appliance administrator login."),
    ("WELCOME", "Configure welcome message (post login message) for appliance administrator "
                "login."),
    ("IPACCESS", "Configure IP-based access for appliance administrative interface."),
    ("CSRF", "Configure web UI Cross-Site Request Forgeries protection."),
    ("XSS", "Configure Cross-Site Scripting Attack protection."),
    ("HOSTHEADER", "Configure option to use host header in HTTP requests."),
    ("TIMEOUT", "Configure GUI and CLI session inactivity timeout."),
    ("MAXHTTPHEADERFIELDSIZE", "Configure maximum HTTP header Field size."),
    ("HOW-TOS", "Configure How-Tos feature."),
]
TIMEOUT_QUESTION = "Enter CLI inactivity timeout(in minutes):"


@command(
    COMMAND,
    summary="Configure network access list and banner login",
    help="""
adminaccessconfig          the appliance's menu; TIMEOUT asks for the CLI inactivity
                           timeout, which the web interface's sessions follow too (the
                           other operations are listed but not emulated)

One-line forms:
adminaccessconfig print              the CLI inactivity timeout
adminaccessconfig timeout <minutes>  set it: 5 to 1440 minutes (30 by default)

An interactive SSH shell idle for that long at a prompt or a question is closed and its
uncommitted changes are discarded; a command that runs (tail, rate) keeps it open.  The
login banner says the timeout in force.  A new value applies to later logins.  A web
interface session left alone that long is logged out (a new value applies at once).  Changes
need a commit.
""",
    changes_config=True,
    grammar={"print": None, "timeout": None},
)
async def adminaccessconfig(session: CliSession, args: list[str]) -> None:
    if args:
        _batch(session, args[0].lower(), args[1:])
        return
    while True:
        choice = await session.dialog.menu(OPERATIONS)
        if choice is None:
            return
        if choice == "TIMEOUT":
            await _timeout(session)
        else:
            session.dialog.say()
            session.dialog.say(NOT_EMULATED)


async def _timeout(session: CliSession) -> None:
    current = session.config.admin_access.cli_timeout
    session.dialog.say()
    minutes = await session.dialog.ask_required(TIMEOUT_QUESTION, default=str(current),
                                                validate=_minutes)
    if minutes != current:
        record_all(session, [SetCliTimeout(minutes)])


def _minutes(text: str) -> int:
    return values.parse_int(text, values.CLI_TIMEOUT_MINUTES)


def _batch(session: CliSession, verb: str, rest: list[str]) -> None:
    if verb == "print" and not rest:
        session.dialog.say()
        session.dialog.say(f"CLI inactivity timeout: "
                           f"{session.config.admin_access.cli_timeout} minutes")
    elif verb == "timeout" and len(rest) == 1:
        record_all(session, [SetCliTimeout(checked(_minutes, rest[0]))])
    else:
        raise usage(COMMAND, FORMS)
