"""``userconfig``: the appliance's accounts (AsyncOS: System Administration > Users).

Administrators only.  Like every configuration command, its changes are pending in
the session until ``commit`` (``showchanges`` lists them, ``clearchanges`` drops
them), and the commit writes them to the store together with the configuration
version, all or none.  The session sees its own pending accounts; others do not.

In the dialog, the first change asks for your own password ("Enter your Passphrase
to make changes:") as AsyncOS does, so an unattended session cannot hand out
accounts; the one-line forms are for scripts and do not ask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from commands.dialog import pick
from commands.errors import CommandError, UsageError
from commands.passwd import ask_new_password, check_own_password
from commands.registry import command
from commands.session import CliSession
from engine.config.addresses import InvalidValue
from engine.config.text import is_digits
from engine.store.users import (
    AddUser,
    AddUserKey,
    DeleteUser,
    RemoveUserKey,
    Role,
    SetUserFullName,
    SetUserPassword,
    SetUserRole,
    UserChange,
    UserDirectory,
    UserError,
    UserRecord,
    check_full_name,
    check_public_key,
    check_user_name,
    describe_key,
    key_at,
    replay_users,
)

USAGE = ('Invalid arguments when processing: usage is userconfig print | userconfig add <user> '
         '"<full name>" <group> <password> | userconfig delete <user> | userconfig edit <user> '
         'role <group> | userconfig edit <user> fullname "<full name>" | userconfig sshkey '
         'add <user> "<key line>" | userconfig sshkey delete <user> <n> | userconfig sshkey '
         'print <user>')
PASSPHRASE_QUESTION = "Enter your Passphrase to make changes:"
ROLES = list(Role)
T = TypeVar("T")


@command(
    "userconfig",
    summary="Manage user accounts and connections to external authentication sources",
    help="""
userconfig                lists the users and offers NEW, EDIT, DELETE and SSHKEY
userconfig print          lists the users: name - full name (group)
userconfig add <user> "<full name>" <group> <password>
                          a new account; <group> is admin, operator or readonly
userconfig delete <user>  deletes an account (not the last administrator, not your own)
userconfig edit <user> role <group>              changes an account's group
userconfig edit <user> fullname "<full name>"    changes an account's full name
userconfig sshkey add <user> "<key line>"        adds an SSH public key (an OpenSSH
                          authorized_keys line: ssh-ed25519|ssh-rsa|ecdsa-sha2-... <key> [comment])
userconfig sshkey delete <user> <n>              removes the user's key number <n>
userconfig sshkey print <user>                   lists the user's keys with their fingerprints

Groups: admin (everything), operator (everything but accounts), readonly (monitoring
only: commands that change the configuration or act on queues and listeners are
refused).  A password has at least 8 characters, at most 72 bytes, no control
characters.  Changes take effect when committed; a user's new group applies from
their next login.  Your own password: passwd (immediate).  The one-line add form puts
the password on the command line, where it is echoed: prefer the dialog at a terminal.
""",
    changes_config=True,
    role=Role.ADMIN,
    grammar={"print": None, "add": None, "new": None, "delete": None,
             "edit": None, "sshkey": {"add": None, "delete": None, "print": None}},
)
async def userconfig(session: CliSession, args: list[str]) -> None:
    if args:
        await _batch(session, args)
        return
    dialog = _Dialog(session)
    await dialog.run()


# -- the session's view ------------------------------------------------------------------

async def session_view(session: CliSession) -> UserDirectory:
    """The stored accounts with this session's pending account changes applied."""
    directory = await session.appliance.user_directory()
    try:
        return replay_users(directory, session.pending.changes)
    except UserError as exc:
        raise CommandError(f"Your pending account changes no longer apply ({exc}); commit "
                           "would fail: discard them with clearchanges.") from None


def record_change(session: CliSession, view: UserDirectory, change: UserChange) -> None:
    """Check *change* on a copy of the view (UserError, and the view as it was), then
    apply it to the view and keep it pending."""
    trial = view.copy()
    change.apply_users(trial)
    change.apply_users(view)
    session.record(change)


def _record_or_fail(session: CliSession, view: UserDirectory, change: UserChange) -> None:
    try:
        record_change(session, view, change)
    except UserError as exc:
        raise CommandError(str(exc)) from None


def listing(view: UserDirectory) -> list[str]:
    """``1. admin - Administrator (admin)``: the AsyncOS user list."""
    return [f"{number}. {record.name} - {record.full_name} ({record.role.value})"
            for number, record in enumerate(view.records(), 1)]


def _say_users(session: CliSession, view: UserDirectory) -> None:
    session.dialog.say()
    session.dialog.say("Users:")
    for line in listing(view):
        session.dialog.say(line)


def _say_keys(session: CliSession, record: UserRecord) -> None:
    say = session.dialog.say
    say()
    if not record.keys:
        say(f"{record.name} has no SSH keys.")
        return
    say(f"SSH keys of {record.name}:")
    for number, line in enumerate(record.keys, 1):
        say(f"{number}. {describe_key(line)}")


# -- one-line forms ------------------------------------------------------------------------

async def _batch(session: CliSession, args: list[str]) -> None:
    verb, rest = args[0].lower(), args[1:]
    view = await session_view(session)
    if verb == "print" and not rest:
        _say_users(session, view)
    elif verb in ("add", "new") and len(rest) == 4:
        name, full_name, group, password = rest
        role = _parsed(Role.parse, group)
        try:
            password_hash = await session.appliance.hash_password(password)
        except InvalidValue as exc:
            raise CommandError(str(exc)) from None
        _record_or_fail(session, view, AddUser(name, full_name, role, password_hash))
    elif verb == "delete" and len(rest) == 1:
        _refuse_own_deletion(session, rest[0])
        _record_or_fail(session, view, DeleteUser(rest[0]))
    elif verb == "edit" and len(rest) == 3 and rest[1].lower() == "role":
        _record_or_fail(session, view, SetUserRole(rest[0], _parsed(Role.parse, rest[2])))
    elif verb == "edit" and len(rest) == 3 and rest[1].lower() == "fullname":
        _record_or_fail(session, view, SetUserFullName(rest[0], rest[2]))
    elif verb == "sshkey" and rest:
        _batch_sshkey(session, view, rest[0].lower(), rest[1:])
    else:
        raise UsageError(USAGE)


def _batch_sshkey(session: CliSession, view: UserDirectory, verb: str, rest: list[str]) -> None:
    if verb == "print" and len(rest) == 1:
        _say_keys(session, _require(view, rest[0]))
    elif verb == "add" and len(rest) >= 2:
        # The key line may come quoted (one word) or as its own words.
        _record_or_fail(session, view, AddUserKey(rest[0], _parsed(check_public_key,
                                                                   " ".join(rest[1:]))))
    elif verb == "delete" and len(rest) == 2 and is_digits(rest[1]):
        try:
            line = key_at(view, rest[0], int(rest[1]))
        except UserError as exc:
            raise CommandError(str(exc)) from None
        _record_or_fail(session, view, RemoveUserKey(rest[0], line))
    else:
        raise UsageError(USAGE)


def _parsed(parse: Callable[[str], T], text: str) -> T:
    """A value of a one-line form: a wrong one ends the command."""
    try:
        return parse(text)
    except InvalidValue as exc:
        raise CommandError(str(exc)) from None


def _require(view: UserDirectory, name: str) -> UserRecord:
    try:
        return view.require(name)
    except UserError as exc:
        raise CommandError(str(exc)) from None


def _refuse_own_deletion(session: CliSession, name: str) -> None:
    if name == session.user:
        raise CommandError("You cannot delete your own account.")


# -- the dialog --------------------------------------------------------------------------

class _Dialog:
    """The interactive ``userconfig``: the user list, then NEW / EDIT / DELETE / SSHKEY
    until a blank answer; the session's view is updated as changes are recorded."""

    MENU = [("NEW", "Create a new account."), ("EDIT", "Modify an account."),
            ("DELETE", "Remove an account."),
            ("SSHKEY", "Manage the SSH public keys of an account.")]

    def __init__(self, session: CliSession) -> None:
        self.session = session
        self.dialog = session.dialog
        self.view = UserDirectory()
        self.identity_checked = False

    async def run(self) -> None:
        self.view = await session_view(self.session)
        operations = {"NEW": self.new, "EDIT": self.edit, "DELETE": self.delete,
                      "SSHKEY": self.sshkey}
        while True:
            _say_users(self.session, self.view)
            choice = await self.dialog.menu(self.MENU)
            if choice is None:
                return
            await operations[choice]()

    async def check_identity(self) -> None:
        """Your own password, once per ``userconfig``, before the first change.  A
        console user without an account (a local console on a fresh store) is trusted
        like the console itself; a remote one without an account is refused."""
        if self.identity_checked:
            return
        stored = await self.session.appliance.user_directory()
        if stored.get(self.session.user) is None:
            if not self.session.local:
                raise CommandError(f'There is no user named "{self.session.user}".')
        else:
            await check_own_password(self.session, PASSPHRASE_QUESTION,
                                     "The passphrase is incorrect.")
        self.identity_checked = True

    async def choose_user(self, question: str) -> str | None:
        """A user by number (as listed) or name; blank goes back."""
        names = self.view.names()

        def check(answer: str) -> str | None:
            if not answer:
                return None
            index = pick(names, answer)
            if index is None:
                raise InvalidValue(f'"{answer}" is not a user: enter a number from 1 to '
                                   f"{len(names)} or a name from the list.")
            return names[index]

        return await self.dialog.ask(question, validate=check)

    async def choose_role(self, name: str, current: Role | None) -> Role:
        items = [f"{role.label}s - {role.description}" for role in ROLES]
        index = await self.dialog.choose(
            items, "", heading=f'Assign a role to "{name}":',
            default=None if current is None else ROLES.index(current))
        return ROLES[index]

    def keep(self, change: UserChange) -> bool:
        """Record a change; False (and the reason said) when the accounts refuse it."""
        try:
            record_change(self.session, self.view, change)
        except UserError as exc:
            self.dialog.error(str(exc))
            return False
        return True

    # -- operations ------------------------------------------------------------------
    async def new(self) -> None:
        await self.check_identity()
        name = await self.dialog.ask_required("Enter the new username.", validate=self._new_name)
        full_name = await self.dialog.ask_required(f"Enter the full name for {name}.",
                                                   validate=check_full_name)
        role = await self.choose_role(name, None)
        password_hash = await ask_new_password(self.session, f"Enter the password for {name}.",
                                               "Please enter the new password again.")
        self.keep(AddUser(name, full_name, role, password_hash))

    def _new_name(self, answer: str) -> str:
        name = check_user_name(answer)
        if self.view.get(name) is not None:
            raise InvalidValue(f'The user "{name}" already exists.')
        return name

    async def edit(self) -> None:
        name = await self.choose_user("Enter the user name or number to edit.")
        if name is None:
            return
        await self.check_identity()
        account = self.view.require(name)
        full_name = await self.dialog.ask_required(f"Enter the full name for {name}.",
                                                   default=account.full_name,
                                                   validate=check_full_name)
        if full_name != account.full_name:
            self.keep(SetUserFullName(name, full_name))
        while True:
            role = await self.choose_role(name, account.role)
            if role is account.role or self.keep(SetUserRole(name, role)):
                break
        if await self.dialog.confirm("Would you like to change the password?", default=False):
            password_hash = await ask_new_password(self.session, f"Enter the password for {name}.",
                                                   "Please enter the new password again.")
            self.keep(SetUserPassword(name, password_hash))

    async def delete(self) -> None:
        name = await self.choose_user("Enter the user name or number to delete.")
        if name is None:
            return
        if name == self.session.user:
            self.dialog.error("You cannot delete your own account.")
            return
        if self.view.is_last_admin(name):
            self.dialog.error(f'"{name}" is the last administrator and cannot be deleted.')
            return
        await self.check_identity()
        if not await self.dialog.confirm(f"Are you sure you want to delete {name}?",
                                         default=False):
            return
        if self.keep(DeleteUser(name)):
            self.dialog.say()
            self.dialog.say(f"{name} is deleted.")

    async def sshkey(self) -> None:
        name = await self.choose_user("Enter the user name or number whose SSH keys to manage.")
        if name is None:
            return
        while True:
            account = self.view.require(name)
            _say_keys(self.session, account)
            options = [("NEW", "Add an SSH public key.")]
            if account.keys:
                options.append(("DELETE", "Remove an SSH public key."))
            choice = await self.dialog.menu(options)
            if choice is None:
                return
            await self.check_identity()
            if choice == "NEW":
                await self._new_key(name)
            else:
                await self._delete_key(account)

    async def _new_key(self, name: str) -> None:
        line = await self.dialog.ask_required(
            "Paste the public key: one line as in authorized_keys (ssh-ed25519 AAAA... comment).",
            validate=check_public_key)
        self.keep(AddUserKey(name, line))

    async def _delete_key(self, account: UserRecord) -> None:
        items = [describe_key(line) for line in account.keys]
        index = await self.dialog.choose(items, "Enter the number of the key to remove.",
                                         allow_blank=True)
        if index is not None:
            self.keep(RemoveUserKey(account.name, account.keys[index]))
