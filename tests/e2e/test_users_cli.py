"""Accounts through the real ``segcli`` process in plain mode: the first start's notice,
``userconfig`` (one-line and dialog) committed across restarts, and ``passwd``; no
password ever appears in the transcript."""

from __future__ import annotations

from engine.store.database import Store
from engine.store.users import FACTORY_PASSWORD, Role, User, Users
from tests.conftest import run_segcli

NOTICE = 'the administrator "admin" has the factory password "ironport"'


def test_the_first_start_names_the_factory_password_once(data_dir):
    first = run_segcli(data_dir, "version\n")
    assert first.returncode == 0, first.stderr
    assert NOTICE in first.stderr
    assert "passwd" in first.stderr
    assert "ironport" not in first.stdout  # a script's transcript is unchanged
    second = run_segcli(data_dir, "version\n")
    assert "ironport" not in second.stderr


def test_accounts_are_committed_kept_and_passwords_never_echoed(data_dir):
    script = "\n".join([
        'userconfig add bob "Bob Builder" operator hunter2hunter2',
        'commit "bob"',
        "passwd", FACTORY_PASSWORD, "new-admin-pass", "new-admin-pass",
        "userconfig", "new", "new-admin-pass", "carol", "Carol Reed", "3",
        "carol-password", "carol-password", "",
        'commit "carol"',
    ]) + "\n"
    result = run_segcli(data_dir, script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\nOld password:\n[]> \n\nNew password:\n[]> \n\nRetype new password:\n[]> \n" \
           "\nPassword changed.\n" in result.stdout
    assert "\nEnter your Passphrase to make changes:\n[]> \n" in result.stdout
    assert "\nEnter the new username.\n[]> carol\n" in result.stdout
    for secret in ("new-admin-pass", "carol-password", FACTORY_PASSWORD):
        assert secret not in result.stdout
    assert result.stdout.count("Changes committed: ") == 2

    listing = run_segcli(data_dir, "userconfig print\n")
    assert ("Users:\n1. admin - Administrator (admin)\n2. bob - Bob Builder (operator)\n"
            "3. carol - Carol Reed (readonly)\n") in listing.stdout

    store = Store.open(data_dir)
    users = Users(store.engine)
    assert users.authenticate("admin", "new-admin-pass") is not None
    assert users.authenticate("admin", FACTORY_PASSWORD) is None
    assert users.authenticate("carol", "carol-password") == User("carol", "Carol Reed",
                                                                 Role.READONLY)
    store.close()


def test_uncommitted_accounts_are_not_kept(data_dir):
    result = run_segcli(data_dir, 'userconfig add bob "Bob" operator hunter2hunter2\n')
    assert result.returncode == 0
    assert "uncommitted changes; they were discarded" in result.stdout
    assert "bob" not in run_segcli(data_dir, "userconfig print\n").stdout


def test_refused_account_changes_fail_the_script(data_dir):
    result = run_segcli(data_dir, "userconfig delete admin\nuserconfig add x X admin short\n"
                                  "passwd\nwrong-password\n")
    assert result.returncode == 1
    assert "You cannot delete your own account." in result.stdout
    assert "The password must be at least 8 characters long." in result.stdout
    assert "Incorrect password." in result.stdout
