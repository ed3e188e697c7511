"""``deliveryconfig``: system-wide concurrency and the retry schedule, in-process."""

from __future__ import annotations

import pytest

from engine.config.model import DeliverySettings
from tests.commands.mail_helpers import COMMIT, assert_refused, committed, seed
from tests.conftest import run_session


def test_prints_settings_and_setup_menu(appliance):
    status, term, _ = run_session(appliance, ["deliveryconfig", ""])
    assert status == 0
    assert ('Default interface to deliver mail: Use "auto" selection.\n'
            "Default system wide maximum outbound message delivery concurrency: 10000\n"
            "Initial time to wait before retrying a message: 60 seconds\n"
            "Maximum time to wait before retrying a message: 3600 seconds\n"
            "Maximum time in queue before a message is hard bounced: 259200 seconds\n") in term.text
    assert "- SETUP - Configure mail delivery." in term.text


def test_setup_interactively(appliance):
    status, term, _ = run_session(appliance, ["deliveryconfig", "setup", "500", "0.5", "30", "600",
                                              "", COMMIT])
    assert status == 0, term.text
    assert ("Please enter the default system wide maximum outbound message delivery concurrency."
            "\n[10000]> 500") in term.text
    assert "Please enter the initial number of seconds to wait before retrying a message.\n[60]> 0.5" \
        in term.text
    assert committed(appliance).delivery == DeliverySettings(500, 0.5, 30, 600)


def test_setup_wrong_answers_are_asked_again(appliance):
    status, term, session = run_session(appliance, [
        "deliveryconfig", "setup", "0", "", "soon", "120", "60", "", "0", "", "",
    ])
    assert status == 1
    assert "The value must be an integer from 1 to 10000." in term.text
    assert "The value must be a number of seconds from 0.01 to 86400." in term.text
    assert ("The initial retry interval must not be longer than the maximum retry interval."
            in term.text)
    assert "The value must be a number of seconds from 0.01 to 2592000." in term.text
    assert session.config.delivery == DeliverySettings(10000, 120, 3600, 259200)


def test_setup_enter_keeps_everything(appliance):
    status, _, session = run_session(appliance, ["deliveryconfig setup", "", "", "", ""])
    assert status == 0
    assert not session.pending


def test_batch_forms(appliance):
    seed(appliance, "deliveryconfig setup concurrency 50 retry 1 maxretry 10 maxqueue 60")
    assert committed(appliance).delivery == DeliverySettings(50, 1, 10, 60)
    seed(appliance, "deliveryconfig setup MAXQUEUE 3600")
    assert committed(appliance).delivery == DeliverySettings(50, 1, 10, 3600)
    _, term, _ = run_session(appliance, ["deliveryconfig print"])
    assert "Initial time to wait before retrying a message: 1 second\n" in term.text


@pytest.mark.parametrize(("line", "message"), [
    ("deliveryconfig setup retry", "usage is deliveryconfig setup"),
    ("deliveryconfig setup speed 5", "usage is deliveryconfig setup"),
    ("deliveryconfig setup concurrency 0", "The value must be an integer from 1 to 10000."),
    ("deliveryconfig setup retry 7200", "initial retry interval must not be longer"),
    ("deliveryconfig setup retry 1 maxretry 0.5", "initial retry interval must not be longer"),
    ("deliveryconfig setup maxqueue -1", "The value must be a number of seconds"),
    ("deliveryconfig print now", "usage is deliveryconfig"),
    ("deliveryconfig frob", "usage is deliveryconfig"),
])
def test_bad_batch_input_changes_nothing(appliance, line, message):
    assert_refused(appliance, line, message)
