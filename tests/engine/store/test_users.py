"""Accounts in a real store: bcrypt hashes, authentication, the password policy, SSH keys,
the last administrator, concurrent writers, and the migration from a store without users."""

from __future__ import annotations

import sqlite3
import threading

import bcrypt
import pytest
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from engine.config.addresses import InvalidValue
from engine.config.changes import SetHostname, replay
from engine.store import users as users_module
from engine.store.database import DATABASE_FILE, MIGRATIONS, Store, _sqlite_engine
from engine.store.users import (
    FACTORY_PASSWORD,
    AddUser,
    DeleteUser,
    Role,
    User,
    UserError,
    Users,
    check_password,
    check_public_key,
    check_user_name,
    key_fingerprint,
)

FAST = 4  # bcrypt cost for tests that are not about the cost itself


def openssh_key(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


@pytest.fixture
def store(data_dir):
    store = Store.open(data_dir)
    yield store
    store.close()


@pytest.fixture
def users(store) -> Users:
    users = Users(store.engine, rounds=FAST)
    assert users.ensure_factory_admin()
    return users


def test_passwords_are_stored_as_bcrypt_hashes_with_the_default_cost(store, data_dir):
    users = Users(store.engine)
    users.ensure_factory_admin()
    users.add("alice", "Alice Example", Role.OPERATOR, "correct horse")
    with sqlite3.connect(data_dir / DATABASE_FILE) as db:
        stored = dict(db.execute("select name, password_hash from users"))
    assert set(stored) == {"admin", "alice"}
    assert stored["alice"].startswith(f"$2b${users_module.BCRYPT_ROUNDS:02d}$")
    assert users_module.BCRYPT_ROUNDS >= 12
    assert bcrypt.checkpw(b"correct horse", stored["alice"].encode())
    assert b"correct horse" not in (data_dir / DATABASE_FILE).read_bytes()


def test_authenticate_accepts_only_the_right_password(users):
    users.add("alice", "Alice Example", "operator", "correct horse")
    assert users.authenticate("alice", "correct horse") == User("alice", "Alice Example",
                                                               Role.OPERATOR)
    for wrong in ("correct horsE", "correct horse ", "", "x" * 100, "correct\0horse"):
        assert users.authenticate("alice", wrong) is None
    assert users.authenticate("Alice", "correct horse") is None  # names are exact
    assert users.authenticate("nobody", "correct horse") is None


def test_an_unknown_user_costs_a_bcrypt_check_like_a_known_one(users, monkeypatch):
    checks: list[bytes] = []
    real = bcrypt.checkpw
    monkeypatch.setattr(users_module.bcrypt, "checkpw",
                        lambda password, hashed: checks.append(hashed) or real(password, hashed))
    assert users.authenticate("nobody", "whatever1") is None
    assert users.authenticate("ghost", "whatever2") is None
    assert len(checks) == 2 and checks[0] == checks[1]  # one dummy hash, reused
    assert checks[0].startswith(f"$2b${FAST:02d}$".encode())


def test_factory_admin_is_created_once(store, data_dir):
    users = Users(store.engine, rounds=FAST)
    assert users.ensure_factory_admin() is True
    assert users.ensure_factory_admin() is False
    assert users.list() == [User("admin", "Administrator", Role.ADMIN)]
    assert users.authenticate("admin", FACTORY_PASSWORD) is not None
    other = Store.open(data_dir)  # as another process sharing the data directory would
    assert Users(other.engine, rounds=FAST).ensure_factory_admin() is False
    other.close()


@pytest.mark.parametrize("password, message", [
    ("short12", "at least 8 characters"),
    ("é" * 37, "at most 72 bytes"),
    ("tab\there1", "control characters"),
    ("c1\x9bcontrol", "control characters"),
    ("surrogate\ud800!", "control characters"),  # once a UnicodeEncodeError: a fault
])
def test_password_policy_refuses(password, message):
    with pytest.raises(InvalidValue, match=message):
        check_password(password)


def test_a_password_that_is_not_text_matches_nothing_and_does_not_fault(users):
    assert users.authenticate("admin", "iron\ud800port") is None


@pytest.mark.parametrize("name", ["bob\n", "bob\x00", "b\x1bob"])
def test_a_user_name_with_a_control_character_is_refused_without_quoting_it(name):
    with pytest.raises(InvalidValue) as caught:
        check_user_name(name)
    assert "The user name cannot contain the control character" in str(caught.value)
    assert not any(char in str(caught.value) for char in "\n\x00\x1b")


def test_password_policy_accepts():
    for password in ("ironport", "eight ch", "x" * 72, "pässwörd", " spaced out "):
        assert check_password(password) == password


def test_set_password_checks_the_policy_and_replaces_the_hash(users):
    with pytest.raises(InvalidValue):
        users.set_password("admin", "short")
    assert users.authenticate("admin", FACTORY_PASSWORD)
    users.set_password("admin", "a better one")
    assert users.authenticate("admin", FACTORY_PASSWORD) is None
    assert users.authenticate("admin", "a better one")
    with pytest.raises(UserError, match='no user named "bob"'):
        users.set_password("bob", "whatever1")


@pytest.mark.parametrize("name", ["", "Alice", "al ice", "-x", ".x", "a" * 33, "al:ice", "ålice"])
def test_bad_user_names_are_refused(name):
    with pytest.raises(InvalidValue, match="Valid characters are"):
        check_user_name(name)


def test_reserved_and_duplicate_names_are_refused(users):
    for name in ("root", "system"):
        with pytest.raises(UserError, match="reserved"):
            users.add(name, "Someone", "admin", "whatever1")
    with pytest.raises(UserError, match='"admin" already exists'):
        users.add("admin", "Someone", "admin", "whatever1")
    assert check_user_name("a_b.c-1") == "a_b.c-1"


def test_roles_parse_the_asyncos_group_names():
    assert Role.parse("Administrators") is Role.ADMIN
    assert Role.parse("admin") is Role.ADMIN
    assert Role.parse("operators") is Role.OPERATOR
    assert Role.parse("Read-Only Operator") is Role.READONLY
    assert Role.parse("readonly") is Role.READONLY
    with pytest.raises(InvalidValue, match="not a valid group"):
        Role.parse("guest")
    assert Role.ADMIN.includes(Role.OPERATOR) and Role.OPERATOR.includes(Role.READONLY)
    assert not Role.READONLY.includes(Role.OPERATOR) and not Role.OPERATOR.includes(Role.ADMIN)


def test_the_last_administrator_cannot_be_deleted_or_demoted(users):
    with pytest.raises(UserError, match="last administrator"):
        users.delete("admin")
    with pytest.raises(UserError, match="last administrator"):
        users.set_role("admin", Role.OPERATOR)
    users.add("root2", "Second Admin", Role.ADMIN, "whatever1")
    users.set_role("admin", Role.READONLY)
    with pytest.raises(UserError, match="last administrator"):
        users.delete("root2")
    users.delete("admin")
    assert [u.name for u in users.list()] == ["root2"]


def test_concurrent_writers_cannot_together_delete_every_administrator(users, data_dir):
    """Two stores (as two processes) each delete a different one of the two admins at
    once: the write lock serializes them, so exactly one wins."""
    users.add("second", "Second Admin", Role.ADMIN, "whatever1")
    stores = [Store.open(data_dir), Store.open(data_dir)]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def delete(store: Store, name: str) -> None:
        barrier.wait()
        try:
            Users(store.engine, rounds=FAST).delete(name)
            outcomes.append("deleted")
        except UserError:
            outcomes.append("refused")

    threads = [threading.Thread(target=delete, args=(s, n))
               for s, n in zip(stores, ["admin", "second"], strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert sorted(outcomes) == ["deleted", "refused"]
    assert [u.role for u in users.list()] == [Role.ADMIN]


def test_ssh_keys_are_validated_kept_in_order_and_removed_by_number(users):
    ed = openssh_key(ed25519.Ed25519PrivateKey.generate())
    rsa_line = openssh_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    users.add_key("admin", f"  {ed}   admin@laptop  ")
    users.add_key("admin", rsa_line)
    assert users.public_keys("admin") == [f"{ed} admin@laptop", rsa_line]
    with pytest.raises(UserError, match="already one of admin's SSH keys"):
        users.add_key("admin", f"{ed} another comment")
    with pytest.raises(UserError, match="no SSH key number 3"):
        users.remove_key("admin", 3)
    users.remove_key("admin", 1)
    assert users.public_keys("admin") == [rsa_line]
    assert users.public_keys("nobody") == []


@pytest.mark.parametrize("line, message", [
    ("ssh-ed25519", "Not a valid SSH public key"),
    ("not a key", "Not a valid SSH public key"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ\u00e9",
     "Not a valid SSH public key"),
    ("ssh-ed25519 AAAAnotbase64!!", "Not a valid SSH public key"),
    ("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ",
     "Not a valid SSH public key"),  # an Ed25519 key under the wrong type
    ('from="10.0.0.1" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ',
     "Key options"),
])
def test_bad_key_lines_are_refused(line, message):
    with pytest.raises(InvalidValue, match=message):
        check_public_key(line)


def test_short_rsa_keys_are_refused():
    weak = openssh_key(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(InvalidValue, match="at least 2048 bits"):
        check_public_key(weak)


def test_key_fingerprint_is_ssh_keygen_style():
    line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"
    fingerprint = key_fingerprint(line)
    assert fingerprint.startswith("SHA256:") and len(fingerprint) == 7 + 43


def test_account_changes_commit_with_the_configuration_or_not_at_all(users, store):
    """The commit writes account changes in the configuration's transaction: a change
    that no longer applies (deleting the last administrator) writes no version either."""
    before = store.latest_version_id()
    with pytest.raises(UserError):
        store.commit_config(lambda c: replay(c, [SetHostname("gw.example.com")]),
                            user="admin", comment="both", rollback=True,
                            also=lambda session: users.apply_in(session, [DeleteUser("admin")]))
    assert store.latest_version_id() == before
    password_hash = users.hash_password("whatever1")
    store.commit_config(lambda c: replay(c, [SetHostname("gw.example.com")]),
                        user="admin", comment="both", rollback=True,
                        also=lambda session: users.apply_in(
                            session, [AddUser("alice", "Alice", Role.OPERATOR, password_hash)]))
    assert store.latest().config.hostname == "gw.example.com"
    assert users.get("alice") == User("alice", "Alice", Role.OPERATOR)


def test_a_store_from_before_users_is_upgraded_and_gets_the_factory_admin(data_dir):
    """A data directory made by a segcli at migration 0003 (no users table) opens in this
    one: the migration adds the table, keeping the configuration, and the first start
    then creates the factory administrator."""
    data_dir.mkdir(parents=True)
    engine = _sqlite_engine(data_dir / DATABASE_FILE)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as connection:
        cfg.attributes["connection"] = connection
        alembic_command.upgrade(cfg, "0003")
        connection.commit()
    engine.dispose()
    old = Store(_sqlite_engine(data_dir / DATABASE_FILE))
    old._seed()
    old.commit_config(lambda c: replay(c, [SetHostname("old.example.com")]),
                      user="admin", comment="before users", rollback=True)
    old.close()
    with sqlite3.connect(data_dir / DATABASE_FILE) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
        assert "users" not in tables
        assert db.execute("select version_num from alembic_version").fetchall() == [("0003",)]

    store = Store.open(data_dir)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with sqlite3.connect(data_dir / DATABASE_FILE) as db:
        assert db.execute("select version_num from alembic_version").fetchall() == [(head,)]
        assert db.execute("select count(*) from users").fetchone() == (0,)
    assert store.latest().config.hostname == "old.example.com"
    users = Users(store.engine, rounds=FAST)
    assert users.ensure_factory_admin()
    assert users.authenticate("admin", FACTORY_PASSWORD) is not None
    store.close()
