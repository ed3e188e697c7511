"""Scripting segcli (and AsyncOS): a netmiko driver and parsed output.

``import segcli.automation`` registers the netmiko driver, so that
``netmiko.ConnectHandler(device_type="cisco_esa", ...)`` and ``netmiko.file_transfer``
know the appliance.  :func:`parse` turns a command's output into rows with the TextFSM
templates shipped here, with or without netmiko.
"""

from __future__ import annotations

from segcli.automation.parsing import TEMPLATES, NoTemplateError, parse, template_for

__all__ = ["DEVICE_TYPE", "TEMPLATES", "CiscoEsaFileTransfer", "CiscoEsaSSH", "NoTemplateError",
           "SegcliCommandError", "SegcliQuestionError", "parse", "template_for"]

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
