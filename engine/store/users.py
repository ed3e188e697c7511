"""The appliance's accounts: users, roles, password hashes and SSH public keys.

Accounts live in the store (table ``users``), not in the XML configuration: a saved
configuration file never carries password hashes, and rolling the configuration back
never brings a deleted account back.  Like AsyncOS, though, ``userconfig`` edits take
effect at ``commit``: they are :class:`UserChange` records in the session's pending
changes (no-ops on the configuration document) and the commit writes them in the same
transaction as the new configuration version (:meth:`Users.apply_in`).

Every write, pending or immediate, replays its changes onto an in-memory
:class:`UserDirectory` loaded under SQLite's write lock, so the rules (names unique, at
least one administrator) hold on what is actually stored: two sessions can never
together delete the last administrator.

Passwords are hashed with bcrypt (cost :data:`BCRYPT_ROUNDS`).  Hashing is slow on
purpose, so callers on the event loop run these synchronous methods in a thread.

Tests: tests/engine/store/test_users.py, tests/e2e/test_users_cli.py.
"""

from __future__ import annotations

import base64
import builtins
import copy
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

import bcrypt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from engine.config.addresses import InvalidValue
from engine.config.changes import Change
from engine.config.model import Config, ConfigError
from engine.config.text import check_text, text_problem
from engine.store.models import UserRow

#: bcrypt's cost factor (2**12 rounds, about 0.2 s a hash): slow enough to make guessing
#: from a stolen store expensive, fast enough for a login.
BCRYPT_ROUNDS = 12
FACTORY_ADMIN = "admin"
#: The factory password of every Cisco email appliance; the first start says so.
FACTORY_PASSWORD = "ironport"
MIN_PASSWORD_LENGTH = 8
#: bcrypt ignores (bcrypt 5 refuses) anything beyond 72 bytes: refused rather than cut.
MAX_PASSWORD_BYTES = 72
MAX_NAME_LENGTH = 32
MAX_FULL_NAME_LENGTH = 128
MAX_KEYS_PER_USER = 32
MIN_RSA_BITS = 2048

_NAME_RE = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")
#: Names that would be confused with the system itself ("system" commits the factory
#: configuration) or with the host's own accounts.
RESERVED_NAMES = frozenset({"root", "system", "daemon", "bin", "nobody", "sshd"})


class Role(StrEnum):
    """The AsyncOS user roles segcli emulates, from most to least powerful."""

    ADMIN = "admin"
    OPERATOR = "operator"
    READONLY = "readonly"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]

    def includes(self, other: Role) -> bool:
        """True when this role may do everything *other* may (admin includes operator)."""
        return _RANKS[self] >= _RANKS[other]

    @classmethod
    def parse(cls, text: str) -> Role:
        """A role from what a person or script typed: ``admin``, ``Administrators``,
        ``operator``, ``read-only``, ``Read-Only Operator``... (any case)."""
        key = re.sub(r"[\s_-]", "", check_text(text, "group").lower())
        role = _ALIASES.get(key.removesuffix("s"))
        if role is None:
            raise InvalidValue(f'"{text}" is not a valid group: enter admin, operator or readonly.')
        return role


_LABELS = {Role.ADMIN: "Administrator", Role.OPERATOR: "Operator",
           Role.READONLY: "Read-Only Operator"}
_DESCRIPTIONS = {
    Role.ADMIN: "Administrators have full access to all settings of the system.",
    Role.OPERATOR: "Operators are restricted from creating new user accounts.",
    Role.READONLY: "Read-Only operators may only view settings and status information.",
}
_RANKS = {Role.READONLY: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
_ALIASES = {"admin": Role.ADMIN, "administrator": Role.ADMIN, "operator": Role.OPERATOR,
            "readonly": Role.READONLY, "readonlyoperator": Role.READONLY}


@dataclass(frozen=True)
class User:
    """An account as callers see it (never its password hash)."""

    name: str
    full_name: str
    role: Role


class UserError(ConfigError):
    """An account change cannot be made (unknown user, last administrator, ...).

    A ConfigError, so a commit that no longer applies is reported like any other."""


# -- values --------------------------------------------------------------------------

def check_user_name(name: str) -> str:
    """A user name as AsyncOS takes it: lower case, short, no spaces, not reserved."""
    check_text(name, "user name")
    if not name or len(name) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(name):
        raise InvalidValue(
            "Valid characters are lower-case letters, digits, '_', '-' and '.'; a user name "
            f"starts with a letter, a digit or '_' and has at most {MAX_NAME_LENGTH} characters."
        )
    if name in RESERVED_NAMES:
        raise InvalidValue(f'The user name "{name}" is reserved.')
    return name


def check_full_name(full_name: str) -> str:
    full_name = check_text(full_name, "full name").strip()
    if not full_name:
        raise InvalidValue("You must enter a full name.")
    if len(full_name) > MAX_FULL_NAME_LENGTH:
        raise InvalidValue(f"The full name must be printable text of at most "
                           f"{MAX_FULL_NAME_LENGTH} characters.")
    return full_name


def check_password(password: str) -> str:
    """The password policy: at least 8 characters, at most 72 bytes (bcrypt's limit),
    no control characters.  The factory password ``ironport`` meets it too.

    Characters are checked first: an unpaired surrogate cannot even be encoded to
    count its bytes."""
    if text_problem(password) is not None:
        raise InvalidValue("The password cannot contain control characters.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValue(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise InvalidValue(f"The password must be at most {MAX_PASSWORD_BYTES} bytes long.")
    return password


def check_public_key(line: str) -> str:
    """An OpenSSH ``authorized_keys`` line (``<type> <base64> [comment]``), checked by
    loading the key; returned in canonical form (single spaces)."""
    words = check_text(line, "SSH key").strip().split()
    if len(words) < 2:
        raise InvalidValue("Not a valid SSH public key: enter one line as in authorized_keys, "
                           "e.g. ssh-ed25519 AAAA... user@host.")
    if "=" in words[0] or "," in words[0]:
        raise InvalidValue("Key options (from=, command=, ...) are not supported: enter the "
                           "key type, the key and an optional comment.")
    try:
        key = load_ssh_public_key(f"{words[0]} {words[1]}".encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, TypeError) as exc:
        raise InvalidValue(f"Not a valid SSH public key: {exc}") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise InvalidValue(f"RSA keys must have at least {MIN_RSA_BITS} bits "
                           f"(this one has {key.key_size}).")
    return " ".join(words)


def key_fingerprint(line: str) -> str:
    """``SHA256:...`` as ``ssh-keygen -l`` prints it, to tell keys apart in listings."""
    blob = base64.b64decode(line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def describe_key(line: str) -> str:
    """One key in a listing: its type, fingerprint and comment."""
    words = line.split(maxsplit=2)
    return " ".join([words[0], key_fingerprint(line), *words[2:]])


def hash_password(password: str, *, rounds: int = BCRYPT_ROUNDS) -> str:
    """A bcrypt hash of a password that meets the policy (InvalidValue otherwise)."""
    check_password(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def password_matches(password: str, password_hash: str) -> bool:
    """bcrypt check that always does the full work, even for a password it must refuse,
    so the time taken says nothing about why a login failed."""
    # "surrogatepass": a lone surrogate (never in a stored password) must not raise here.
    candidate = password.encode("utf-8", "surrogatepass")
    acceptable = 0 < len(candidate) <= MAX_PASSWORD_BYTES and b"\0" not in candidate
    try:
        matches = bcrypt.checkpw(candidate[:MAX_PASSWORD_BYTES], password_hash.encode("ascii"))
    except ValueError:  # a damaged hash in the store matches nothing
        return False
    return matches and acceptable


# -- the accounts in memory -----------------------------------------------------------

@dataclass
class UserRecord:
    """One account with everything stored about it."""

    name: str
    full_name: str
    role: Role
    password_hash: str = field(repr=False)
    keys: list[str] = field(default_factory=list)

    @property
    def user(self) -> User:
        return User(self.name, self.full_name, self.role)


class UserDirectory:
    """All accounts, in memory: what changes are checked and replayed against."""

    def __init__(self, records: Iterable[UserRecord] = ()) -> None:
        self._records = {record.name: record for record in records}

    def copy(self) -> UserDirectory:
        return UserDirectory(copy.deepcopy(list(self._records.values())))

    def get(self, name: str) -> UserRecord | None:
        return self._records.get(name)

    def require(self, name: str) -> UserRecord:
        """The account named *name*, or UserError (which never quotes a control character)."""
        try:
            check_text(name, "user name")
        except InvalidValue as exc:
            raise UserError(str(exc)) from None
        record = self._records.get(name)
        if record is None:
            raise UserError(f'There is no user named "{name}".')
        return record

    def records(self) -> list[UserRecord]:
        return sorted(self._records.values(), key=lambda record: record.name)

    def users(self) -> list[User]:
        return [record.user for record in self.records()]

    def names(self) -> list[str]:
        return [record.name for record in self.records()]

    def add(self, record: UserRecord) -> None:
        if record.name in self._records:
            raise UserError(f'The user "{record.name}" already exists.')
        self._records[record.name] = record

    def remove(self, name: str) -> None:
        self.require(name)
        del self._records[name]

    def is_last_admin(self, name: str) -> bool:
        admins = [r.name for r in self._records.values() if r.role is Role.ADMIN]
        return admins == [name]

    def __len__(self) -> int:
        return len(self._records)


def _checked(check: Callable[[str], str], value: str) -> str:
    """A value check inside a change: its InvalidValue refuses the change."""
    try:
        return check(value)
    except InvalidValue as exc:
        raise UserError(str(exc)) from None


# -- changes ------------------------------------------------------------------------

class UserChange(Change):
    """A change to the accounts, pending in a session like a configuration change.

    The configuration document is left alone (``edit`` does nothing); the commit
    replays the change onto the stored accounts (``apply_users``).  Like ``apply``,
    ``apply_users`` refuses bad text first; subclasses implement ``edit_users``."""

    labels = {"name": "user name", "full_name": "full name", "line": "SSH key"}
    error = UserError
    edits_config = False  # the accounts live in the store, beside the configuration

    def edit(self, config: Config) -> None:
        return None

    def apply_users(self, directory: UserDirectory) -> None:
        """Refuse bad text (UserError), then edit the accounts."""
        self.check_text()
        self.edit_users(directory)

    def edit_users(self, directory: UserDirectory) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class AddUser(UserChange):
    name: str
    full_name: str
    role: Role
    password_hash: str = field(repr=False)

    def edit_users(self, directory: UserDirectory) -> None:
        directory.add(UserRecord(_checked(check_user_name, self.name),
                                 _checked(check_full_name, self.full_name), Role(self.role),
                                 self.password_hash))

    def describe(self) -> str:
        return f"Users: new user {self.name} ({self.full_name}, {Role(self.role).label})"


@dataclass(frozen=True)
class DeleteUser(UserChange):
    name: str

    def edit_users(self, directory: UserDirectory) -> None:
        directory.require(self.name)
        if directory.is_last_admin(self.name):
            raise UserError(f'"{self.name}" is the last administrator and cannot be deleted.')
        directory.remove(self.name)

    def describe(self) -> str:
        return f"Users: deleted user {self.name}"


@dataclass(frozen=True)
class SetUserRole(UserChange):
    name: str
    role: Role

    def edit_users(self, directory: UserDirectory) -> None:
        record = directory.require(self.name)
        role = Role(self.role)
        if role is not Role.ADMIN and directory.is_last_admin(self.name):
            raise UserError(f'"{self.name}" is the last administrator and must stay an '
                            "administrator.")
        record.role = role

    def describe(self) -> str:
        return f"Users: {self.name} is now {Role(self.role).label}"


@dataclass(frozen=True)
class SetUserFullName(UserChange):
    name: str
    full_name: str

    def edit_users(self, directory: UserDirectory) -> None:
        directory.require(self.name).full_name = _checked(check_full_name, self.full_name)

    def describe(self) -> str:
        return f"Users: full name of {self.name} is now {self.full_name}"


@dataclass(frozen=True)
class SetUserPassword(UserChange):
    """A new password, already hashed: a pending change never holds a password."""

    name: str
    password_hash: str = field(repr=False)

    def edit_users(self, directory: UserDirectory) -> None:
        directory.require(self.name).password_hash = self.password_hash

    def describe(self) -> str:
        return f"Users: new password for {self.name}"


@dataclass(frozen=True)
class AddUserKey(UserChange):
    name: str
    line: str

    def edit_users(self, directory: UserDirectory) -> None:
        record = directory.require(self.name)
        line = _checked(check_public_key, self.line)
        if line.split()[:2] in [key.split()[:2] for key in record.keys]:
            raise UserError(f"This key is already one of {self.name}'s SSH keys.")
        if len(record.keys) >= MAX_KEYS_PER_USER:
            raise UserError(f"A user may have at most {MAX_KEYS_PER_USER} SSH keys.")
        record.keys.append(line)

    def describe(self) -> str:
        return f"Users: new SSH key for {self.name}: {describe_key(self.line)}"


@dataclass(frozen=True)
class RemoveUserKey(UserChange):
    """Remove a key named by its line (not its number, which another commit may shift)."""

    name: str
    line: str

    def edit_users(self, directory: UserDirectory) -> None:
        record = directory.require(self.name)
        if self.line not in record.keys:
            raise UserError(f"{self.name} no longer has the SSH key {describe_key(self.line)}.")
        record.keys.remove(self.line)

    def describe(self) -> str:
        return f"Users: removed SSH key of {self.name}: {describe_key(self.line)}"


def replay_users(directory: UserDirectory, changes: Iterable[Change]) -> UserDirectory:
    """Apply the account changes among *changes* to *directory* (in place); UserError
    when one does not apply."""
    for change in changes:
        if isinstance(change, UserChange):
            change.apply_users(directory)
    return directory


def key_at(directory: UserDirectory, name: str, number: int) -> str:
    """The key a 1-based *number* (as listings show) designates."""
    keys = directory.require(name).keys
    if not 1 <= number <= len(keys):
        raise UserError(f"{name} has no SSH key number {number} "
                        f"(keys: {len(keys) or 'none'}).")
    return keys[number - 1]


# -- the store ------------------------------------------------------------------------

class Users:
    """The accounts in the store.  Synchronous and thread-safe: callers on the event
    loop run these methods in a worker thread (bcrypt takes a fraction of a second)."""

    def __init__(self, engine: Engine, *, rounds: int | None = None) -> None:
        self.engine = engine
        self.rounds = BCRYPT_ROUNDS if rounds is None else rounds
        self._dummy_hash: str | None = None

    # -- reading ---------------------------------------------------------------------
    def directory(self) -> UserDirectory:
        """Every account, detached: a session's view starts from it."""
        with Session(self.engine) as session:
            return _load(session)[0]

    def get(self, name: str) -> User | None:
        record = self._record(name)
        return None if record is None else record.user

    def list(self) -> list[User]:
        return self.directory().users()

    def public_keys(self, name: str) -> builtins.list[str]:  # `list` alone is the method above
        """The user's ``authorized_keys`` lines (none for an unknown user)."""
        record = self._record(name)
        return [] if record is None else list(record.keys)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if *password* is theirs, else None.  An unknown user costs one
        bcrypt check against a dummy hash, as a known one does, so timing does not
        tell which names exist."""
        record = self._record(name)
        matches = password_matches(password, record.password_hash if record else self._dummy())
        return record.user if record is not None and matches else None

    # -- immediate changes -----------------------------------------------------------
    def hash_password(self, password: str) -> str:
        """Check the password policy (InvalidValue) and hash with this store's cost."""
        return hash_password(password, rounds=self.rounds)

    def add(self, name: str, full_name: str, role: Role | str, password: str) -> None:
        self.apply([AddUser(name, full_name, Role(role), self.hash_password(password))])

    def set_password(self, name: str, password: str) -> None:
        self.apply([SetUserPassword(name, self.hash_password(password))])

    def set_role(self, name: str, role: Role | str) -> None:
        self.apply([SetUserRole(name, Role(role))])

    def set_full_name(self, name: str, full_name: str) -> None:
        self.apply([SetUserFullName(name, full_name)])

    def delete(self, name: str) -> None:
        """Delete an account; the last administrator cannot be deleted (UserError)."""
        self.apply([DeleteUser(name)])

    def add_key(self, name: str, line: str) -> None:
        self.apply([AddUserKey(name, line)])

    def remove_key(self, name: str, index: int) -> None:
        """Remove the user's key number *index*, counted from 1 as listings show it."""
        self._edit(lambda directory: RemoveUserKey(name, key_at(directory, name, index))
                   .apply_users(directory))

    def apply(self, changes: Sequence[Change]) -> None:
        """Apply account changes now, all or none, in their own transaction."""
        self._edit(lambda directory: replay_users(directory, changes))

    def apply_in(self, session: Session, changes: Sequence[Change]) -> None:
        """Apply account changes inside the caller's write transaction (a commit)."""
        directory, rows = _load(session)
        replay_users(directory, changes)
        _write_back(session, rows, directory)

    def ensure_factory_admin(self) -> bool:
        """On the first start (no account at all) create ``admin`` with the factory
        password; True when it did, so the start can say so."""
        if self._count() > 0:
            return False
        password_hash = self.hash_password(FACTORY_PASSWORD)
        with _write_session(self.engine) as session:
            if session.scalar(select(func.count()).select_from(UserRow)):
                return False  # another process sharing the store was first
            session.add(UserRow(name=FACTORY_ADMIN, full_name="Administrator",
                                role=Role.ADMIN.value, password_hash=password_hash,
                                authorized_keys=""))
        return True

    # -- internals ---------------------------------------------------------------------
    def _edit(self, edit: Callable[[UserDirectory], object]) -> None:
        with _write_session(self.engine) as session:
            directory, rows = _load(session)
            edit(directory)
            _write_back(session, rows, directory)

    def _record(self, name: str) -> UserRecord | None:
        with Session(self.engine) as session:
            row = session.get(UserRow, name)
            return None if row is None else _to_record(row)

    def _count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(UserRow)) or 0

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = bcrypt.hashpw(secrets.token_bytes(16),
                                             bcrypt.gensalt(self.rounds)).decode("ascii")
        return self._dummy_hash


@contextmanager
def _write_session(engine: Engine) -> Iterator[Session]:
    """BEGIN IMMEDIATE ... COMMIT: the read-check-write of an edit holds the write lock
    (the store's engine begins immediate transactions when asked), rolled back on error."""
    with engine.connect().execution_options(immediate=True) as connection, \
            Session(connection, expire_on_commit=False) as session:
        yield session
        session.commit()
        connection.commit()


def _to_record(row: UserRow) -> UserRecord:
    return UserRecord(row.name, row.full_name, Role(row.role), row.password_hash,
                      [line for line in row.authorized_keys.splitlines() if line])


def _load(session: Session) -> tuple[UserDirectory, dict[str, UserRow]]:
    rows = {row.name: row for row in session.scalars(select(UserRow))}
    return UserDirectory(_to_record(row) for row in rows.values()), rows


def _write_back(session: Session, rows: dict[str, UserRow], directory: UserDirectory) -> None:
    """Make the rows say what *directory* says: delete, update or add accounts."""
    for name, old in rows.items():
        if directory.get(name) is None:
            session.delete(old)
    for record in directory.records():
        row = rows.get(record.name)
        if row is None:
            row = UserRow(name=record.name)
            session.add(row)
        row.full_name = record.full_name
        row.role = record.role.value
        row.password_hash = record.password_hash
        row.authorized_keys = "\n".join(record.keys)
