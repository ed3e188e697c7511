"""``certconfig``: the certificate authorities trusted for outbound TLS, in-process."""

from __future__ import annotations

import asyncio

import pytest

from commands.session import CliSession
from engine.config.values import certificate_info
from tests.certificates import ca_pem
from tests.commands.mail_helpers import COMMIT, assert_refused, committed, seed
from tests.conftest import ScriptedTerminal, run_session

ROOT_A, ROOT_B, ROOT_C = ca_pem("Lab Root A"), ca_pem("Lab Root B"), ca_pem("Lab Root C")


def _subjects(appliance) -> list[str]:
    return [certificate_info(pem).subject for pem in committed(appliance).trusted_cas]


def test_empty_list_offers_only_import(appliance):
    status, term, _ = run_session(appliance, ["certconfig", ""])
    assert status == 0
    assert "No custom certificate authorities are configured." in term.text
    assert ["IMPORT"] in term.choices


def test_import_pasted_chain_ending_with_a_dot(appliance):
    pasted = (ROOT_A + "\n" + ROOT_B).splitlines()
    status, term, _ = run_session(appliance, ["certconfig", "import", *pasted, ".", "", COMMIT])
    assert status == 0, term.text
    assert "Paste the certificate authority's certificate (PEM) now." in term.text
    assert "Imported: O=segcli tests,CN=Lab Root A\nImported: O=segcli tests,CN=Lab Root B" \
        in term.text
    assert "Custom List of Certificate Authorities:\n1. O=segcli tests,CN=Lab Root A  (expires " \
        in term.text
    assert committed(appliance).trusted_cas == [ROOT_A, ROOT_B]


def test_import_refuses_garbage_and_duplicates(appliance, tmp_path):
    seed(appliance, f"certconfig import {_file(tmp_path, ROOT_A)}")
    status, term, session = run_session(appliance, [
        "certconfig", "import", "hello", ".", "import", *ROOT_A.splitlines(), ".",
        "import", ".", "",
    ])
    assert status == 1
    assert "No certificate was found" in term.text
    assert "The certificate O=segcli tests,CN=Lab Root A is already trusted." in term.text
    assert "No certificate was pasted." in term.text
    assert not session.pending


def test_print_and_delete_interactively(appliance, tmp_path):
    seed(appliance, f"certconfig import {_file(tmp_path, ROOT_A + chr(10) + ROOT_B)}")
    status, term, _ = run_session(appliance, [
        "certconfig", "print", "delete", "1", "n", "delete", "1", "y", "", COMMIT,
    ])
    assert status == 0, term.text
    info = certificate_info(ROOT_A)
    assert f"1. Subject: {info.subject}\n   Issuer: {info.subject}\n" in term.text
    assert f"   SHA-256 fingerprint: {info.fingerprint}\n   Certificate authority: yes" in term.text
    assert "Are you sure you want to remove this certificate authority? [N]> " in term.prompts
    assert _subjects(appliance) == ["O=segcli tests,CN=Lab Root B"]


def _file(tmp_path, text: str) -> str:
    path = tmp_path / "ca.pem"
    path.write_text(text + "\n")
    return str(path)


def test_batch_forms(appliance, tmp_path):
    status, term, _ = run_session(appliance, [
        f"certconfig import {_file(tmp_path, ROOT_A + chr(10) + ROOT_B + chr(10) + ROOT_C)}",
        "certconfig delete 2",
        "certconfig print",
        COMMIT,
    ])
    assert status == 0, term.text
    assert _subjects(appliance) == ["O=segcli tests,CN=Lab Root A", "O=segcli tests,CN=Lab Root C"]
    assert "2. Subject: O=segcli tests,CN=Lab Root C" in term.text


def test_delete_after_another_session_renumbered_the_list(appliance, tmp_path):
    """The change names the certificate, not its number: the right one goes."""
    seed(appliance, f"certconfig import {_file(tmp_path, ROOT_A + chr(10) + ROOT_B)}")

    async def scenario():
        mine = CliSession(appliance, ScriptedTerminal())
        await mine.execute("certconfig delete 2")  # Lab Root B
        other = CliSession(appliance, ScriptedTerminal())
        await other.execute("certconfig delete 1")  # Lab Root A
        await other.execute('commit "other"')
        assert await mine.execute('commit "mine"')

    asyncio.run(scenario())
    assert committed(appliance).trusted_cas == []


def test_import_of_a_file_is_for_the_local_console_only(appliance, tmp_path):
    terminal = ScriptedTerminal([f"certconfig import {_file(tmp_path, ROOT_A)}"])
    session = CliSession(appliance, terminal, local=False)
    assert asyncio.run(session.run()) == 1
    assert "only its own console can do" in terminal.text
    assert not session.pending


@pytest.mark.parametrize(("line", "message"), [
    ("certconfig import /nonexistent/ca.pem", 'Error: the file "/nonexistent/ca.pem" does not exist.'),
    ("certconfig import", "usage is certconfig"),
    ("certconfig delete 1", "the list is empty"),
    ("certconfig delete one", '"one" is not a valid choice'),
    ("certconfig print all", "usage is certconfig"),
])
def test_bad_batch_input_changes_nothing(appliance, line, message):
    assert_refused(appliance, line, message)


def test_a_file_that_is_not_pem_changes_nothing(appliance, tmp_path):
    assert_refused(appliance, f"certconfig import {_file(tmp_path, 'not a certificate')}",
                   "No certificate was found")
    broken = ROOT_A.replace("\n", "\n!", 1)
    assert_refused(appliance, f"certconfig import {_file(tmp_path, broken)}",
                   "The certificate could not be read")
