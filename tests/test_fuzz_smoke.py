"""The fuzz and soak harness (benchmarks/fuzz.py) works: a short run inside the suite.

The soak itself runs outside the suite (benchmarks/README.md, "Fuzz and soak"); here a
handful of inputs per generator go through a real appliance, which must answer after
each, keep a configuration that loads, survive a SIGTERM and a SIGKILL restart and stop
cleanly, with nothing found.  The generators' promises are checked without a process:
the same seed makes the same inputs, and nothing an input names leaves loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from benchmarks.fuzz_inputs import (
    CliGenerator,
    Lab,
    SmtpGenerator,
    XmlGenerator,
    commands_from_registry,
    guard_document,
    loopback_guard,
    rng_for,
)
from tests.conftest import REPO

LAB = Lab(dns="127.0.0.1:10053")
DOCUMENT = (REPO / "examples" / "lab-config.xml").read_bytes()


@pytest.mark.timeout(240)
def test_a_short_fuzz_run_finds_nothing(tmp_path):
    report = tmp_path / "report.json"
    finished = subprocess.run(
        [sys.executable, "benchmarks/fuzz.py", "--seed", "11", "--inputs", "3", "--seconds", "60",
         "--restart-every", "0", "--workdir", str(tmp_path / "work"),
         "--failures", str(tmp_path / "failures"), "--json", str(report)],
        cwd=REPO, capture_output=True, text=True, timeout=220, stdin=subprocess.DEVNULL)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    result = json.loads(report.read_text())
    assert result["inputs"] == {"smtp": 3, "cli": 3, "xml": 3}
    assert result["findings"] == [] and result["ok"]
    assert result["checks"]["answers"] >= 9
    assert result["checks"]["configuration"] >= 2
    assert {restart["how"] for restart in result["restarts"]} >= {"SIGTERM", "SIGKILL"}
    assert "findings: none; nothing broke" in finished.stdout
    assert not (tmp_path / "failures").exists()


def test_the_same_seed_makes_the_same_inputs():
    commands = commands_from_registry()
    for make in (lambda rng: SmtpGenerator(LAB).make(rng).to_json(),
                 lambda rng: CliGenerator(LAB, commands).make(rng).to_json(),
                 lambda rng: XmlGenerator(LAB, DOCUMENT).make(rng, 7).to_json()):
        assert make(rng_for(5, "g", 7)) == make(rng_for(5, "g", 7))
        assert make(rng_for(5, "g", 7)) != make(rng_for(5, "g", 8))


def test_every_registered_command_is_fuzzed():
    commands = commands_from_registry()
    generator = CliGenerator(LAB, commands)
    seen = set()
    for index in range(800):
        seen.update(generator.make(rng_for(1, "cli", index)).commands)
    assert {info.name for info in commands} <= seen


def test_nothing_an_input_names_leaves_loopback():
    assert loopback_guard(b"smtproutes new ALL 10.1.2.3:25,[2001:db8::1]:25") == \
        b"smtproutes new ALL 127.1.2.3:25,[::1]:25"
    assert loopback_guard(b"127.0.0.1:2525 ::1 8.8.8.8") == b"127.0.0.1:2525 ::1 127.8.8.8"
    for servers in ("", "<server>10.0.0.1</server>", "<server>127.0.0.1</server>"):  # port 53
        document = DOCUMENT.replace(
            DOCUMENT[DOCUMENT.index(b"<dns_servers>"):DOCUMENT.index(b"</dns_servers>")],
            b"<dns_servers>" + servers.encode())
        guarded, changed = guard_document(document, ET.fromstring(DOCUMENT), LAB.dns)
        assert changed
        assert [s.text for s in ET.fromstring(guarded).findall("dns/dns_servers/server")] == [LAB.dns]


def test_a_commit_after_a_dns_change_is_fenced():
    generator = CliGenerator(LAB, commands_from_registry())
    assert generator.fence(b'dnsconfig system; "commit" x; tophosts') == (
        b'dnsconfig system; dnsconfig servers 127.0.0.1:10053; "commit" x; tophosts')
    assert generator.fence(b'dnsconfig system "; commit x"') == b'dnsconfig system "; commit x"'
    assert generator.fence(b"userconfig; commit x", drop_commits=True) == b"userconfig"
    for index in range(800):
        line = generator.make(rng_for(3, "cli", index)).command.decode("utf-8", "replace")
        pieces = [piece.split(None, 1)[0].lower() for piece in line.split("; ") if piece.strip()]
        if "dnsconfig" in pieces and "commit" in pieces and "system" in line:
            assert f"dnsconfig servers {LAB.dns}" in line, line
