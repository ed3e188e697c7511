"""``tdcconfig``: the global Threat Defense Connector settings (GUI: Security Services >
Threat Defense Connector Settings): enabled or not, and the Default Message Intake Address."""

from __future__ import annotations

from commands.errors import UsageError
from commands.registry import command
from commands.session import CliSession
from engine.addresses import check_email_address
from engine.config import Config, Direction, TdcMode
from engine.config_changes import SetTdc

USAGE = "usage is tdcconfig enable <intake address> | tdcconfig disable | tdcconfig print"


@command(
    "tdcconfig",
    summary="Configure the Threat Defense Connector",
    help="""
tdcconfig                            shows the settings and a SETUP menu
tdcconfig setup                      goes straight to the SETUP questions
tdcconfig enable <intake address>    enables the connector with this Default Message Intake Address
tdcconfig enable                     enables it again with the address already configured
tdcconfig disable                    disables the connector (policies then show "Not Available")
tdcconfig print                      prints the settings

The intake address is generated in Secure Email Threat Defense (Cisco SEG, direction
incoming, no verification).  Per-policy journaling: policyconfig > EDIT > THREATDEFENSE.
""",
    changes_config=True,
    grammar={"enable": None, "disable": None, "print": None, "setup": None},
)
async def tdcconfig(session: CliSession, args: list[str]) -> None:
    if args:
        await _batch(session, args)
        return
    while True:
        _print(session)
        choice = await session.dialog.menu([
            ("SETUP", "Enable or disable the connector and set the Default Message Intake Address."),
        ])
        if choice is None:
            return
        await _setup(session)


async def _batch(session: CliSession, args: list[str]) -> None:
    verb, rest = args[0].lower(), args[1:]
    if verb == "print" and not rest:
        _print(session)
    elif verb == "setup" and not rest:
        await _setup(session)
    elif verb == "disable" and not rest:
        session.record(SetTdc(False))
    elif verb == "enable" and len(rest) <= 1:
        session.record(SetTdc(True, rest[0] if rest else None))
    else:
        raise UsageError(f"Invalid arguments when processing: {USAGE}")


async def _setup(session: CliSession) -> None:
    dialog, tdc = session.dialog, session.config.tdc
    enable = await dialog.confirm("Would you like to enable the Threat Defense Connector?",
                                  default=tdc.enabled)
    if not enable:
        session.record(SetTdc(False))
        return
    address = await dialog.ask_required(
        "Enter the Default Message Intake Address (generated in Secure Email Threat Defense):",
        default=tdc.intake_address or None,
        validate=check_email_address,
    )
    session.record(SetTdc(True, address))


def _print(session: CliSession) -> None:
    say = session.dialog.say
    config: Config = session.config
    say()
    say("Threat Defense Connector Settings")
    say()
    say(f"Threat Defense Connector:         {'Enabled' if config.tdc.enabled else 'Disabled'}")
    say(f"Default Message Intake Address:   {config.tdc.intake_address or '(not set)'}")
    journaling = [p for p in config.policies(Direction.INCOMING).policies
                  if p.threat_defense.mode is not TdcMode.DISABLED]
    say()
    if not journaling:
        say("No incoming mail policy journals to Secure Email Threat Defense.")
        return
    say("Incoming mail policies that journal to Secure Email Threat Defense:")
    for policy in journaling:
        say(f"    {policy.name}: {policy.threat_defense.describe()}")
    if not config.tdc.enabled:
        say("(The connector is disabled: nothing is journaled until it is enabled.)")
