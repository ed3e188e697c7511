"""Scripting segcli (and AsyncOS) from afar: a netmiko driver, a scrapli platform and
parsed output.  Nothing here imports the appliance: it runs in people's scripts.

- ``import segcli.automation`` registers the netmiko driver, so that
  ``netmiko.ConnectHandler(device_type="cisco_esa", ...)`` and ``netmiko.file_transfer``
  know the appliance (:mod:`~segcli.automation.netmiko_driver`).
- :func:`scrapli_driver` (:mod:`~segcli.automation.scrapli_platform`) gives a classic
  scrapli driver with AsyncOS's prompts, over paramiko or OpenSSH.
- :func:`parse` turns a command's output into rows with the TextFSM templates shipped here,
  with or without netmiko.

Each library is imported only by its own module: ``pip install "segcli[automation]"``
brings both.
"""

from __future__ import annotations

from typing import Any

from segcli.automation.parsing import TEMPLATES, NoTemplateError, parse, template_for

__all__ = ["DEVICE_TYPE", "TEMPLATES", "CiscoEsaFileTransfer", "CiscoEsaSSH", "NoTemplateError",
           "SegcliCommandError", "SegcliQuestionError", "parse", "scrapli_driver",
           "template_for"]

try:
    from segcli.automation.netmiko_driver import (
        DEVICE_TYPE,
        CiscoEsaFileTransfer,
        CiscoEsaSSH,
        SegcliCommandError,
        SegcliQuestionError,
        register,
    )
except ImportError:  # netmiko is not installed: parse() still works
    pass
else:
    register()


def __getattr__(name: str) -> Any:
    """``segcli.automation.scrapli_driver``, importing scrapli only when it is asked for."""
    if name == "scrapli_driver":
        from segcli.automation.scrapli_platform import scrapli_driver

        return scrapli_driver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
