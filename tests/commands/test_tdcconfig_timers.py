"""``tdcconfig``: the TIMERS sub-menu and one-line form, and the timers in ``print``."""

from __future__ import annotations

import pytest

from commands.registry import suggestions
from engine.config.model import TdcTimers
from tests.commands.mail_helpers import COMMIT, assert_refused, committed, seed
from tests.conftest import run_session

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"


def test_print_shows_the_timers(appliance):
    _, term, _ = run_session(appliance, ["tdcconfig print"])
    assert ("Timers:\n"
            "    Retry delay:                  10 seconds\n"
            "    Attempt timeout:              60 seconds\n"
            "    Idle connection timeout:      5 seconds\n"
            "    Time limit in the queue:      120 seconds\n"
            "    Time scale:                   1\n"
            "    Connections:                  3 minimum, 20 maximum\n") in term.text


def test_timers_interactively_from_the_menu(appliance):
    status, term, _ = run_session(appliance, [
        "tdcconfig", "timers", "5", "30", "", "60", "0.1", "2", "1", "8", "", COMMIT,
    ])
    assert status == 1  # the maximum below the minimum was refused, then answered again
    assert "- TIMERS - Configure the connector's timers and connection limits." in term.text
    assert "Enter the delay before the single retry of a journal copy, in seconds.\n[10]> 5" \
        in term.text
    assert "The maximum number of connections must be at least the minimum (2)." in term.text
    assert "Time scale:                   0.1 (every timer runs at 0.1 times the value above)" \
        in term.text
    assert committed(appliance).tdc.timers == TdcTimers(5, 30, 5, 60, 0.1, 2, 8)


def test_timers_enter_keeps_everything(appliance):
    status, _, session = run_session(appliance, ["tdcconfig timers", "", "", "", "", "", "", ""])
    assert status == 0
    assert not session.pending


def test_timers_batch_and_the_rest_of_tdcconfig_still_works(appliance):
    seed(appliance, f"tdcconfig enable {INTAKE}",
         "tdcconfig timers retry 0 timeout 6 idle 0.5 limit 12 scale 0.01 minconn 1 maxconn 4")
    config = committed(appliance)
    assert config.tdc.enabled and config.tdc.intake_address == INTAKE
    assert config.tdc.timers == TdcTimers(0, 6, 0.5, 12, 0.01, 1, 4)
    seed(appliance, "tdcconfig timers SCALE 1", "tdcconfig disable")
    config = committed(appliance)
    assert config.tdc.timers.time_scale == 1 and config.tdc.timers.queue_limit == 12
    assert not config.tdc.enabled and config.tdc.intake_address == INTAKE


@pytest.mark.parametrize(("line", "message"), [
    ("tdcconfig timers retry", "usage is tdcconfig timers"),
    ("tdcconfig timers speed 2", "usage is tdcconfig timers"),
    ("tdcconfig timers limit 0", "The value must be a number of seconds from 0.01 to 86400."),
    ("tdcconfig timers scale fast", "The value must be a number of seconds"),
    ("tdcconfig timers minconn 30", "The minimum number of connections (30) must not be above"),
    ("tdcconfig timers maxconn 0", "The value must be an integer from 1 to 1000."),
    ("tdcconfig timers minconn 5 maxconn 4", "must not be above the maximum (4)"),
])
def test_bad_timers_change_nothing(appliance, line, message):
    assert_refused(appliance, line, message)


def test_completion(appliance):
    _, _, session = run_session(appliance, [])
    assert "timers" in suggestions(session, ["tdcconfig"], "")
    assert suggestions(session, ["tdcconfig", "timers"], "m") == ["maxconn", "minconn"]
