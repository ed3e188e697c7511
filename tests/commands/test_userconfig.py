"""``userconfig`` and ``passwd`` in-process, on a real store, through a scripted terminal.

Passwords are asked with echo off and never reach the transcript; ``userconfig``
changes wait for ``commit`` (as on AsyncOS) while ``passwd`` is immediate."""

from __future__ import annotations

import asyncio
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from commands import passwd as passwd_module
from commands.session import ACCESS_DENIED, CliSession
from engine.store.users import FACTORY_PASSWORD, Role, User
from tests.conftest import CTRL_C, ScriptedTerminal, run_session

PASSWORD = "s3cret-Passw0rd"
NEW_OPERATOR = ["userconfig", "new", FACTORY_PASSWORD, "alice", "Alice Example", "2",
                PASSWORD, PASSWORD, ""]


@pytest.fixture
def accounts(appliance, monkeypatch):
    """The appliance with its factory admin; bcrypt at a low cost and no wrong-password
    delay, so the tests stay fast (the cost itself is tested in tests/engine)."""
    appliance.users.rounds = 4
    appliance.users.ensure_factory_admin()
    monkeypatch.setattr(passwd_module, "WRONG_PASSWORD_DELAY", 0)
    return appliance.users


def ed25519_line(comment: str = "alice@laptop") -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode() + f" {comment}"


def assert_no_secret_echoed(term: ScriptedTerminal, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in term.text


# -- the dialog ------------------------------------------------------------------------------

def test_new_user_dialog_asks_like_asyncos_and_waits_for_commit(appliance, accounts):
    status, term, session = run_session(appliance, NEW_OPERATOR)
    assert status == 0, term.text
    assert ("Users:\n1. admin - Administrator (admin)\n\nChoose the operation you want to "
            "perform:\n- NEW - Create a new account.\n") in term.text
    assert "\nEnter your Passphrase to make changes:\n[]> \n" in term.text
    assert "\nEnter the new username.\n[]> alice\n" in term.text
    assert "\nEnter the full name for alice.\n[]> Alice Example\n" in term.text
    assert ('Assign a role to "alice":\n1. Administrators - Administrators have full access to '
            "all settings of the system.\n2. Operators - ") in term.text
    assert "\nEnter the password for alice.\n[]> \n" in term.text
    assert "\nPlease enter the new password again.\n[]> \n" in term.text
    assert "2. alice - Alice Example (operator)" in term.text  # the session sees it at once
    # The passphrase and both passwords were asked with echo off, and nothing else was.
    asked_secretly = [p for p, secret in zip(term.prompts, term.secret, strict=True) if secret]
    assert len(asked_secretly) == 3
    assert_no_secret_echoed(term, PASSWORD, FACTORY_PASSWORD)
    assert accounts.get("alice") is None  # pending until commit
    assert session.pending


def test_commit_writes_the_account(appliance, accounts):
    status, term, _ = run_session(appliance, [*NEW_OPERATOR, "showchanges", 'commit "alice"'])
    assert status == 0, term.text
    assert "  1. Users: new user alice (Alice Example, Operator)" in term.text
    assert accounts.get("alice") == User("alice", "Alice Example", Role.OPERATOR)
    assert accounts.authenticate("alice", PASSWORD) is not None
    assert appliance.store.latest().comment == "alice"


def test_clearchanges_and_end_of_session_drop_pending_accounts(appliance, accounts):
    status, _, _ = run_session(appliance, [*NEW_OPERATOR, "clearchanges", "y", 'commit "x"'])
    assert status == 0
    run_session(appliance, NEW_OPERATOR)  # the session ends without commit
    assert accounts.get("alice") is None


def test_mismatched_or_weak_passwords_are_asked_again(appliance, accounts):
    lines = ["userconfig", "new", FACTORY_PASSWORD, "alice", "Alice", "3",
             "short", PASSWORD, "other-password", PASSWORD, PASSWORD, "", 'commit "x"']
    status, term, _ = run_session(appliance, lines)
    assert "The password must be at least 8 characters long." in term.text
    assert "The passwords do not match." in term.text
    assert status == 1  # a script that gave wrong answers is told so
    assert accounts.authenticate("alice", PASSWORD) == User("alice", "Alice", Role.READONLY)
    assert_no_secret_echoed(term, PASSWORD, "other-password", "short\n")


def test_a_wrong_passphrase_ends_the_change(appliance, accounts):
    status, term, session = run_session(appliance, ["userconfig", "new", "not-my-password",
                                                    "showchanges"])
    assert not session.pending
    assert status == 1
    assert "The passphrase is incorrect." in term.text
    assert "No changes have been made since the last commit." in term.text
    assert_no_secret_echoed(term, "not-my-password")


def test_new_user_name_is_checked_and_asked_again(appliance, accounts):
    lines = ["userconfig", "new", FACTORY_PASSWORD, "Bad Name", "admin", "root", "bob", "Bob",
             "1", PASSWORD, PASSWORD, ""]
    _, term, session = run_session(appliance, lines)
    assert "Valid characters are lower-case letters" in term.text
    assert 'The user "admin" already exists.' in term.text
    assert 'The user name "root" is reserved.' in term.text
    assert [c.describe() for c in session.pending.changes] == [
        "Users: new user bob (Bob, Administrator)"]


def test_edit_changes_full_name_role_and_password(appliance, accounts):
    accounts.add("alice", "Alice", Role.OPERATOR, PASSWORD)
    lines = ["userconfig", "edit", "alice", FACTORY_PASSWORD, "Alice Liddell", "3", "y",
             "new-password-1", "new-password-1", "", "showchanges", 'commit "edit"']
    status, term, _ = run_session(appliance, lines)
    assert status == 0, term.text
    assert "\nEnter the full name for alice.\n[Alice]> Alice Liddell\n" in term.text
    assert "Would you like to change the password? [N]> " in term.prompts
    assert "[2]> " in term.prompts  # the current role is the default
    assert "Users: new password for alice" in term.text
    assert accounts.authenticate("alice", "new-password-1") == User("alice", "Alice Liddell",
                                                                    Role.READONLY)
    assert_no_secret_echoed(term, "new-password-1")


def test_edit_keeps_the_last_administrator(appliance, accounts):
    lines = ["userconfig", "edit", "admin", FACTORY_PASSWORD, "", "2", "1", "n", ""]
    status, term, session = run_session(appliance, lines)
    assert '"admin" is the last administrator and must stay an administrator.' in term.text
    assert status == 1
    assert not session.pending


def test_delete_asks_for_confirmation(appliance, accounts):
    accounts.add("alice", "Alice", Role.OPERATOR, PASSWORD)
    lines = ["userconfig", "delete", "2", FACTORY_PASSWORD, "y", "", 'commit "bye"']
    status, term, _ = run_session(appliance, lines)
    assert status == 0, term.text
    assert "Are you sure you want to delete alice? [N]> " in term.prompts
    assert "alice is deleted." in term.text
    assert accounts.get("alice") is None


def test_delete_refuses_your_own_account_and_the_last_admin(appliance, accounts):
    accounts.add("root2", "Other Admin", Role.ADMIN, PASSWORD)
    _, term, session = run_session(appliance, ["userconfig", "delete", "admin", ""])
    assert "You cannot delete your own account." in term.text
    _, term, _ = run_session(appliance, ["userconfig", "delete", "root2", ""], user="root2")
    assert "You cannot delete your own account." in term.text
    assert not session.pending


def test_ssh_keys_in_the_dialog(appliance, accounts):
    line = ed25519_line()
    lines = ["userconfig", "sshkey", "admin", "new", FACTORY_PASSWORD, "not a key", line,
             "new", line, "delete", "1", "", "", "showchanges"]
    _, term, session = run_session(appliance, lines)
    assert "admin has no SSH keys." in term.text
    assert "Not a valid SSH public key" in term.text
    assert "This key is already one of admin's SSH keys." in term.text
    assert "SSH keys of admin:\n1. ssh-ed25519 SHA256:" in term.text
    assert [c.describe().split(":")[0] for c in session.pending.changes] == ["Users", "Users"]
    assert "removed SSH key of admin" in session.pending.changes[1].describe()


# -- one-line forms --------------------------------------------------------------------------

def test_batch_forms(appliance, accounts):
    line = ed25519_line()
    lines = ['userconfig add bob "Bob Builder" operators hunter2hunter2',
             f'userconfig sshkey add bob "{line}"', "userconfig print", 'commit "bob"',
             "userconfig sshkey print bob", "userconfig edit bob role readonly",
             'userconfig edit bob fullname "Robert Builder"', 'commit "demote"']
    status, term, _ = run_session(appliance, lines)
    assert status == 0, term.text
    assert "Users:\n1. admin - Administrator (admin)\n2. bob - Bob Builder (operator)\n" in term.text
    assert "SSH keys of bob:\n1. ssh-ed25519 SHA256:" in term.text
    assert accounts.get("bob") == User("bob", "Robert Builder", Role.READONLY)
    assert accounts.public_keys("bob") == [line]
    status, term, _ = run_session(appliance, ["userconfig sshkey delete bob 1",
                                              "userconfig delete bob", 'commit "gone"'])
    assert status == 0, term.text
    assert accounts.get("bob") is None


def test_a_key_line_may_come_unquoted(appliance, accounts):
    line = ed25519_line("me@host")
    status, term, session = run_session(appliance, [f"userconfig sshkey add admin {line}"])
    assert status == 0, term.text
    assert "me@host" in session.pending.changes[0].describe()


@pytest.mark.parametrize("line, message", [
    ("userconfig add bob Bob guests hunter2hunter2", '"guests" is not a valid group'),
    ("userconfig add bob Bob operator short", "The password must be at least 8 characters long."),
    ("userconfig add admin Bob operator hunter2hunter2", 'The user "admin" already exists.'),
    ("userconfig add Bob Bob operator hunter2hunter2", "Valid characters are"),
    ("userconfig delete nobody", 'There is no user named "nobody".'),
    ("userconfig delete admin", "You cannot delete your own account."),
    ("userconfig edit admin role operator", "last administrator"),
    ("userconfig sshkey add admin ssh-ed25519 AAAA", "Not a valid SSH public key"),
    ("userconfig sshkey delete admin 1", "admin has no SSH key number 1"),
    ("userconfig frobnicate", "Invalid arguments when processing: usage is userconfig print"),
    ("userconfig add bob Bob", "Invalid arguments when processing"),
])
def test_bad_batch_lines_fail_and_record_nothing(appliance, accounts, line, message):
    status, term, session = run_session(appliance, [line])
    assert status == 1
    assert message in term.text
    assert not session.pending


def test_the_last_admin_cannot_be_deleted_in_batch(appliance, accounts):
    status, term, _ = run_session(appliance, ["userconfig delete admin"], user="console")
    assert status == 1
    assert '"admin" is the last administrator and cannot be deleted.' in term.text


def test_commit_fails_whole_when_an_account_change_no_longer_applies(appliance, accounts):
    """Another session deleted alice after this one edited her: the commit writes nothing,
    not even the configuration change made with it, and the changes stay pending."""
    accounts.add("alice", "Alice", Role.OPERATOR, PASSWORD)

    async def scenario():
        mine = CliSession(appliance, ScriptedTerminal())
        other = CliSession(appliance, ScriptedTerminal())
        await mine.execute("userconfig edit alice role readonly")
        await mine.execute("sethostname gw.example.com")
        await other.execute("userconfig delete alice")
        assert await other.execute('commit "delete alice"')
        ok = await mine.execute('commit "too late"')
        return ok, mine

    ok, mine = asyncio.run(scenario())
    assert not ok
    assert 'Commit failed: There is no user named "alice".' in mine.terminal.text
    assert len(mine.pending.changes) == 2
    assert appliance.store.latest().comment == "delete alice"
    assert appliance.config.hostname == "mail1.example.com"


def test_sessions_do_not_see_each_others_pending_accounts(appliance, accounts):
    async def scenario():
        mine = CliSession(appliance, ScriptedTerminal())
        other = CliSession(appliance, ScriptedTerminal())
        await mine.execute('userconfig add bob "Bob" operator hunter2hunter2')
        await other.execute("userconfig print")
        await mine.execute("userconfig print")
        return mine.terminal.text, other.terminal.text

    mine_text, other_text = asyncio.run(scenario())
    assert "bob - Bob (operator)" in mine_text
    assert "bob" not in other_text


# -- roles ---------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.OPERATOR, Role.READONLY])
def test_only_administrators_manage_accounts(appliance, accounts, role):
    lines = ["userconfig print", 'userconfig add bob Bob admin hunter2hunter2', "userconfig"]
    status, term, session = run_session(appliance, lines, role=role, user="alice")
    assert status == 1
    assert term.text.count(f"\n{ACCESS_DENIED}\n") == 3
    assert not session.pending
    assert [u.name for u in accounts.list()] == ["admin"]


# -- passwd ----------------------------------------------------------------------------------

def test_passwd_changes_your_own_password_at_once(appliance, accounts):
    accounts.add("alice", "Alice", Role.READONLY, PASSWORD)
    lines = ["passwd", PASSWORD, "new-password-1", "new-password-1"]
    status, term, session = run_session(appliance, lines, user="alice", role=Role.READONLY)
    assert status == 0, term.text
    assert term.prompts[1:4] == ["[]> "] * 3 and term.secret[1:4] == [True] * 3
    assert "\nOld password:\n[]> \n\nNew password:\n[]> \n\nRetype new password:\n[]> \n" \
           "\nPassword changed.\n" in term.text
    assert not session.pending  # no commit needed: a read-only operator cannot commit
    assert accounts.authenticate("alice", "new-password-1") is not None
    assert accounts.authenticate("alice", PASSWORD) is None
    assert_no_secret_echoed(term, PASSWORD, "new-password-1")


def test_passwd_refuses_a_wrong_old_password_after_a_delay(appliance, accounts, monkeypatch):
    monkeypatch.setattr(passwd_module, "WRONG_PASSWORD_DELAY", 0.3)
    started = time.monotonic()
    status, term, _ = run_session(appliance, ["passwd", "guess-guess", "version"])
    assert time.monotonic() - started >= 0.3
    assert status == 1
    assert "Incorrect password." in term.text
    assert "New password:" not in term.text
    assert "Current Version" in term.text  # the next line was a command, not a password
    assert accounts.authenticate("admin", FACTORY_PASSWORD) is not None


def test_passwd_checks_policy_and_confirmation(appliance, accounts):
    lines = ["passwd", FACTORY_PASSWORD, "short", "long-enough-1", "long-enough-2",
             "long-enough-3", "long-enough-3"]
    status, term, _ = run_session(appliance, lines)
    assert "The password must be at least 8 characters long." in term.text
    assert "The passwords do not match." in term.text
    assert "Password changed." in term.text
    assert status == 1
    assert accounts.authenticate("admin", "long-enough-3") is not None


def test_an_administrator_sets_another_users_password(appliance, accounts):
    accounts.add("alice", "Alice", Role.OPERATOR, PASSWORD)
    status, term, _ = run_session(appliance, ["passwd alice", "reset-by-admin", "reset-by-admin"])
    assert status == 0, term.text
    assert "Old password:" not in term.text
    assert accounts.authenticate("alice", "reset-by-admin") is not None


def test_only_administrators_set_another_users_password(appliance, accounts):
    accounts.add("alice", "Alice", Role.OPERATOR, PASSWORD)
    status, term, _ = run_session(appliance, ["passwd admin", "hijacked-password"],
                                  user="alice", role=Role.OPERATOR)
    assert status == 1
    assert f"> passwd admin\n{ACCESS_DENIED}\n" in term.text
    assert accounts.authenticate("admin", FACTORY_PASSWORD) is not None


def test_passwd_for_an_unknown_user(appliance, accounts):
    status, term, _ = run_session(appliance, ["passwd nobody"])
    assert status == 1
    assert 'There is no user named "nobody".' in term.text


def test_ctrl_c_in_passwd_changes_nothing(appliance, accounts):
    _, term, _ = run_session(appliance, ["passwd", FACTORY_PASSWORD, "new-password-1", CTRL_C],
                             interactive=True)
    assert "Password changed." not in term.text
    assert accounts.authenticate("admin", FACTORY_PASSWORD) is not None


def test_passwords_keep_their_spaces(appliance, accounts):
    status, _, _ = run_session(appliance, ["passwd", FACTORY_PASSWORD, " padded pass ",
                                           " padded pass "])
    assert status == 0
    assert accounts.authenticate("admin", " padded pass ") is not None
    assert accounts.authenticate("admin", "padded pass") is None
