"""Roles in the command session: read-only operators monitor, operators configure and
run the queues, administrators also manage accounts.  A refusal is AsyncOS's message,
the command fails, and nothing is asked, recorded or written."""

from __future__ import annotations

import pytest

from commands.registry import REGISTRY
from commands.session import ACCESS_DENIED
from engine.store.users import Role
from tests.conftest import run_session

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"
#: Commands that change nothing in the configuration but act on the appliance.
OPERATIONAL = ["commit", "saveconfig", "delivernow", "deleterecipients", "bouncerecipients",
               "suspenddel", "resumedel", "suspendlistener", "resumelistener"]

REFUSED_FOR_READONLY = [
    f"tdcconfig enable {INTAKE}", "tdcconfig print", "sethostname gw.example.com",
    "policyconfig", "loadconfig", "rollbackconfig print", 'commit "x"', "saveconfig y 1",
    "delivernow all", "deleterecipients all", "suspenddel", "resumelistener",
]


@pytest.mark.parametrize("line", REFUSED_FOR_READONLY)
def test_readonly_is_refused_with_the_asyncos_message_and_nothing_changes(appliance, data_dir,
                                                                          line):
    status, term, session = run_session(appliance, [line, "answer that must not be read"],
                                        role=Role.READONLY)
    assert status == 1
    assert f"> {line}\n{ACCESS_DENIED}\n" in term.text
    # No question was asked: the next line was read at the main prompt, as a command.
    assert set(term.prompts) == {"mail1.example.com> "}
    assert "Unknown command or missing feature key: answer" in term.text
    assert not session.pending
    assert appliance.store.latest_version_id() == 1
    assert not (data_dir / "configuration").exists() or not any(
        (data_dir / "configuration").iterdir())


def test_readonly_may_monitor(appliance):
    lines = ["version", "help", "help commit", "showconfig n", "showchanges", "clearchanges"]
    status, term, _ = run_session(appliance, lines, role=Role.READONLY)
    assert status == 0, term.text
    assert ACCESS_DENIED not in term.text
    assert "Current Version" in term.text and "<config" in term.text


def test_a_script_goes_on_after_a_refusal(appliance):
    status, term, _ = run_session(appliance, ["sethostname gw.example.com", "version"],
                                  role=Role.READONLY)
    assert status == 1
    assert term.text.index(ACCESS_DENIED) < term.text.index("Current Version")


def test_operator_configures_and_commits(appliance):
    status, term, _ = run_session(appliance, [f"tdcconfig enable {INTAKE}", 'commit "op"'],
                                  role=Role.OPERATOR, user="oper")
    assert status == 0, term.text
    latest = appliance.store.latest()
    assert (latest.user, latest.config.tdc.enabled) == ("oper", True)


def test_the_roles_are_declared_in_the_registry():
    """Every configuration command needs at least an operator; so do the commands that act
    on queues, listeners, commits and files without changing the configuration."""
    for spec in REGISTRY:
        if spec.changes_config:
            assert not spec.allows(Role.READONLY), spec.name
    for name in OPERATIONAL:
        spec = REGISTRY.get(name)
        assert spec.least_role is Role.OPERATOR, name
        assert spec.allows(Role.ADMIN) and spec.allows(Role.OPERATOR)
    for name in ("version", "help", "showconfig", "showchanges", "clearchanges", "quit",
                 "tophosts", "hoststatus"):
        assert REGISTRY.get(name).least_role is Role.READONLY, name


def test_readonly_may_not_flush_the_dns_cache(appliance):
    from commands.registry import REGISTRY
    from engine.store.users import Role

    assert not REGISTRY.get("dnsflush").allows(Role.READONLY)
    assert REGISTRY.get("dnsflush").allows(Role.OPERATOR)
