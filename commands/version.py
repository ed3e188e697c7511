"""``version``: what the appliance is, in the appliance's own layout."""

from __future__ import annotations

from commands.registry import command
from commands.session import CliSession
from engine.appliance import ASYNCOS_VERSION, BUILD_DATE, EMULATOR, MODEL


@command("version", summary="View system version information", help="version")
async def version(session: CliSession, args: list[str]) -> None:
    appliance = session.appliance
    say = session.dialog.say
    say()
    say("Current Version")
    say("===============")
    for label, value in (
        ("Product", "Cisco C100V Secure Email Gateway (emulated)"),
        ("Model", MODEL),
        ("Version", ASYNCOS_VERSION),
        ("Build Date", BUILD_DATE),
        ("Install Date", appliance.installed_at.strftime("%Y-%m-%d %H:%M:%S")),
        ("Serial #", appliance.serial),
        ("BIOS", "VIRTUAL"),
        ("RAID", "NA"),
        ("RAID Status", "NA"),
        ("RAID Type", "NA"),
        ("BMC", "NA"),
        ("Emulator", EMULATOR),
    ):
        say(f"{label + ':':<14}{value}")
