"""Numbers are ASCII digits: "²" (and the other characters ``str.isdigit()`` accepts but
``int()`` refuses) is refused like any word that is not a number.

Found by benchmarks/fuzz.py: ``rollbackconfig ²``, ``rate ² 1``, ``tail -n ² mail_logs``,
``telnet 127.0.0.1 ²``, ``dnsconfig servers 127.0.0.1:²`` ... and every numbered menu
answered with ``²`` ended in "An application fault occurred: ValueError: invalid literal
for int() with base 10: '²'", and a number of 20,000 digits as the answer to
``rate`` "Exceeds the limit (4300 digits) for integer string conversion".
"""

from __future__ import annotations

import pytest

from engine.config.addresses import InvalidValue
from engine.config.model import Endpoint
from engine.config.text import is_digits
from engine.config.xml_document import ConfigXmlError, from_xml, to_xml
from tests.commands.test_policyconfig import seed
from tests.conftest import run_session

FAULT = "An application fault occurred"

#: One-line forms, and dialogs with their answers, where a number is read.
INPUTS = [
    ["rollbackconfig ²"],
    ["rate ² 1"],
    ["workqueue rate ² 1"],
    ["certconfig delete ²"],
    ["tail -n ² mail_logs"],
    ["telnet 127.0.0.1 ²"],
    ["findevent -m ²"],
    ["findevent -m 1 -l ²"],
    ["findevent -m 1 -l 1-²"],
    ["policyconfig incoming move sales ²"],
    ["userconfig sshkey delete admin ²"],
    ["dnsconfig servers 127.0.0.1:²"],
    ["listenerconfig address 127.0.0.1:²"],
    ["smtproutes new example.net 127.0.0.1:²"],
    ["tlsverify example.com 127.0.0.1:²"],
    ["nslookup", "example.com", "²"],
    ["tophosts", "²"],
    ["grep", "²"],
    ["rollbackconfig", "²"],
    ["deleterecipients", "²"],
    ["saveconfig n", "loadconfig", "2", "²"],
    # more digits than int() converts (4,300): the same fault
    ["rate", "9" * 5000],
    ["rollbackconfig " + "1" * 5000],
    ["tail -n " + "5" * 5000 + " mail_logs"],
    ["dnsconfig servers 127.0.0.1:" + "5" * 5000],
]


@pytest.mark.parametrize("lines", INPUTS, ids=lambda lines: " / ".join(lines)[:60])
def test_a_digit_that_is_not_ascii_is_no_number(appliance, lines):
    seed(appliance, "policyconfig incoming new sales @sales.example.com")
    status, terminal, _ = run_session(appliance, lines)
    assert FAULT not in terminal.text, terminal.text
    assert status == 1, terminal.text


def test_is_digits():
    assert is_digits("0123456789") and is_digits("9" * 18)
    for text in ("", "²", "¹", "١٢", "０", "1²", " 1", "1 ", "-1", "+1", "1.0", "Ⅻ", "9" * 19):
        assert not is_digits(text), text


@pytest.mark.parametrize("text", ["127.0.0.1:²", "127.0.0.1:١٢", "127.0.0.1:0"])
def test_an_endpoint_port_is_ascii_digits(text):
    with pytest.raises(InvalidValue):
        Endpoint.parse(text)


@pytest.mark.parametrize("tag", ["listener_address", "ssh_address", "server"])
def test_a_document_with_such_a_port_is_refused(appliance, tag):
    document = to_xml(appliance.config).replace(
        "<dns_servers />", "<dns_servers><server>127.0.0.1:53</server></dns_servers>")
    start = document.index(f"<{tag}>") + len(tag) + 2
    document = document[:start] + "127.0.0.1:²" + document[document.index(f"</{tag}>", start):]
    with pytest.raises(ConfigXmlError):
        from_xml(document)
