"""The netmiko driver tells a refused command from one that worked by its text alone
(AsyncOS marks nothing else): every command's output opens with a blank line, an error
does not.  Checked against the command engine's own verdict, command by command."""

from __future__ import annotations

import pytest

from segcli.automation import CiscoEsaSSH, SegcliCommandError
from tests.conftest import run_session

WORKED = [
    "version", "help", "help tophosts", "showchanges", "tdcconfig print", "labconfig print",
    "policyconfig incoming print", "policyconfig outgoing print", "userconfig print",
    "listenerconfig print", "deliveryconfig print", "smtproutes print", "dnsconfig print",
    "adminaccessconfig print", "certconfig print", "saveconfig n",
    "policyconfig incoming search bob@example.com", "commit nothing", "showconfig n",
]
REFUSED = [
    "nosuchcommand", "tophost 1", "tophosts 9", "sethostname bad..name", "tdcconfig retrydelay 5",
    "policyconfig incoming edit nope name other", "policyconfig incoming print extra",
    "policyconfig incoming delete DEFAULT", "destconfig print", "userconfig list",
    "grep mail_logs x", "loadconfig missing.xml", "status",  # no live engine in this process
    'policyconfig incoming new "unclosed',
]


def _output(transcript: str, prompt: str, line: str) -> str:
    """What the command printed: between its echo and the next prompt."""
    start = len(prompt) + len(line) + 1
    assert transcript[:start] == f"{prompt}{line}\n"
    assert transcript.endswith(prompt)
    return transcript[start:-len(prompt)]


@pytest.mark.parametrize(("line", "worked"), [(line, True) for line in WORKED]
                         + [(line, False) for line in REFUSED])
def test_the_driver_calls_an_error_what_the_appliance_calls_a_failure(appliance, line, worked):
    status, term, session = run_session(appliance, [line])
    assert status == (0 if worked else 1), term.text
    output = _output(term.text, session.prompt, line)
    if worked:
        CiscoEsaSSH.raise_for_error(line, output)
    else:
        with pytest.raises(SegcliCommandError) as raised:
            CiscoEsaSSH.raise_for_error(line, output)
        assert raised.value.output == output
