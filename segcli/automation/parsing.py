"""Parsed AsyncOS output: the TextFSM templates shipped in ``templates/`` (ntc-templates
style: ``cisco_esa_<command>.textfsm`` and an ``index`` that maps commands to them).

:func:`parse` needs only ``textfsm`` (which netmiko installs), not netmiko or a
connection: feed it text captured any way (an exec request, a log).  Rows are dicts with
lower-case keys, as netmiko returns them.  Tools that read an ntc-templates directory
can be pointed at :data:`TEMPLATES` (platform ``cisco_esa``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from textfsm import TextFSM, clitable  # type: ignore[import-untyped]

#: The directory of the templates and their index.
TEMPLATES = Path(__file__).with_name("templates")
PLATFORM = "cisco_esa"


class NoTemplateError(LookupError):
    """No shipped template reads this command's output."""


@cache
def _table() -> clitable.CliTable:
    return clitable.CliTable("index", str(TEMPLATES))


def template_for(command: str) -> Path | None:
    """The template that reads *command*'s output, or None."""
    index = _table().index
    row = index.GetRowMatch({"Command": " ".join(command.split()), "Platform": PLATFORM})
    if not row:
        return None
    return TEMPLATES / index.index[row]["Template"]


def parse(command: str, output: str) -> list[dict[str, str | list[str]]]:
    """Rows of *command*'s *output* (as the appliance printed it), one dict per row with
    lower-case keys; NoTemplateError if no shipped template reads that command."""
    template = template_for(command)
    if template is None:
        raise NoTemplateError(f"no template reads the output of {command!r}")
    with template.open() as handle:
        fsm = TextFSM(handle)
        rows = fsm.ParseText(output)
    header = [name.lower() for name in fsm.header]
    return [dict(zip(header, row, strict=True)) for row in rows]
