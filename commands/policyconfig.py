"""``policyconfig``: the Incoming and Outgoing Mail Policy tables (ASYNCOS.md §5).

Policies are matched top-down, first match wins, DEFAULT last.  For incoming
policies the last service column is the Threat Defense Connector (SPEC.md §1 step 3):
each policy journals to the Default or a Custom Message Intake Address, or not at
all, and the column shows "Not Available" while the connector is disabled globally
(SPEC.md §4.8).  Every policy also has its ANTISPAM and ANTIVIRUS services: on or
off, and what happens to positive messages (deliver with a subject tag, drop, bounce).

Every edit is a change from :mod:`engine.config.changes`, recorded in the session
and pending until ``commit``.  Interactive answers are tried on a scratch copy first,
so a wrong answer is re-asked instead of ending the command; a one-line (batch) form
checks all its changes before recording any, so a failed line changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from commands.dialog import Dialog
from commands.editing import accept, record_all
from commands.errors import CommandError, UsageError
from commands.registry import Names, SessionView, command
from commands.session import CliSession
from engine.config.addresses import InvalidValue, check_email_address, member_matches, split_members
from engine.config.changes import (
    SCAN_SERVICES,
    AddMember,
    AddPolicy,
    Change,
    DeletePolicy,
    MovePolicy,
    RemoveMember,
    RenamePolicy,
    SetScan,
    SetThreatDefense,
)
from engine.config.model import (
    Config,
    ConfigError,
    Direction,
    MailPolicy,
    PolicyTable,
    ScanAction,
    ScanSetting,
    TdcMode,
    check_policy_name,
)
from engine.config.text import is_digits
from engine.config.values import check_subject_tag

TDC_COLUMN = "Threat Defense Connector"
_NAME_WIDTH = 34  # where the first service column starts, as in AsyncOS tables

OPERATIONS = [
    ("NEW", "Create a new policy"),
    ("EDIT", "Edit an existing policy"),
    ("DELETE", "Remove a policy"),
    ("PRINT", "Print all policies"),
    ("SEARCH", "Search for a policy by member"),
    ("MOVE", "Move the position of a policy"),
    ("FILTERS", "Edit content filters"),
    ("CLEAR", "Clear all policies"),
    ("CLUSTERSET", "Set how policies are configured in a cluster"),
    ("CLUSTERSHOW", "Display how policies are configured in a cluster"),
]
#: Shown when a person picks a part of the appliance's menus that segcli does not emulate:
#: the menus list everything the appliance offers (ASYNCOS.md §5), so nobody wonders
#: whether an option is missing or was forgotten.
NOT_EMULATED = "This feature is not emulated by segcli."
DIRECTIONS = ["Incoming Mail Policies", "Outgoing Mail Policies", "Match Headers Priority"]
#: The per-policy services of AsyncOS 15.5 that segcli does not emulate, in menu order.
_OTHER_SERVICES = [
    ("ADVANCEDMALWARE", "Modify Advanced-Malware protection policy"),
    ("OUTBREAK", "Modify Outbreak Filters policy"),
    ("GRAYMAIL", "Modify Graymail policy"),
    ("FILTERS", "Modify filters"),
    ("ASSIGN", "Assign user roles to access this policy"),
]
_PHISHING = ("ADVANCEDPHISHING", "Modify Advanced Phishing Protection policy")
TDC_OPERATIONS = [
    ("DISABLE", "Disable the Threat Defense Connector for this policy"),
    ("DEFAULT", "Use the Default Message Intake Address"),
    ("CUSTOM", "Use a Custom Message Intake Address"),
]
_TDC_MODES = {"DISABLE": TdcMode.DISABLED, "DEFAULT": TdcMode.DEFAULT, "CUSTOM": TdcMode.CUSTOM}
_TDC_CHOICES = [
    (TdcMode.DISABLED, "Disabled"),
    (TdcMode.DEFAULT, "Default Message Intake Address"),
    (TdcMode.CUSTOM, "Custom Message Intake Address"),
]
_BATCH_TDC = {"disable": TdcMode.DISABLED, "default": TdcMode.DEFAULT, "custom": TdcMode.CUSTOM}
#: What a positive verdict is called in each scanning service's questions.
_POSITIVES = {"antispam": "spam", "antivirus": "virus positive"}
_SCAN_ACTIONS = [(ScanAction.DELIVER, "Deliver"), (ScanAction.DROP, "Drop"),
                 (ScanAction.BOUNCE, "Bounce")]
_SIDES = ["Sender", "Receiver"]

MEMBER_SYNTAX = (
    "Members are full addresses such as joe@example.com, user names such as joe@, "
    "domains such as @example.com and sub-domains such as @.example.com."
)
NO_DELETE_DEFAULT = "The DEFAULT policy cannot be deleted."
NO_MOVE_DEFAULT = "The DEFAULT policy cannot be moved: it is always the last policy."
NO_RENAME_DEFAULT = "The DEFAULT policy cannot be renamed."
NO_MEMBERS_DEFAULT = "The DEFAULT policy has no members: it takes all mail no other policy matches."
ONE_MEMBER = "There is only one member in the policy."
INCOMING_ONLY = "The Threat Defense Connector journals incoming mail only."


def _edit_grammar(direction: Direction) -> dict:
    """What may follow ``edit <name>``: THREATDEFENSE exists for incoming policies only."""
    scan = {"enable": None, "disable": None,
            "action": {"deliver": None, "drop": None, "bounce": None}}
    grammar: dict = {"name": None, "new": {"sender": None, "receiver": None}, "delete": None,
                     "print": None, "antispam": scan, "antivirus": scan}
    if direction is Direction.INCOMING:
        grammar["threatdefense"] = {"default": None, "custom": None, "disable": None}
    return grammar


def _direction_grammar(direction: Direction) -> dict:
    """Completion after ``incoming``/``outgoing``: the verbs, then live policy names
    from the session's own view (so pending new policies complete too)."""
    def names(session: SessionView) -> list[str]:
        return session.config.policies(direction).names

    return {
        "new": None,
        "edit": Names(names, then=_edit_grammar(direction)),
        "delete": Names(names),
        "print": None,
        "search": None,
        "move": Names(names),
    }


HELP = """
policyconfig                          asks Incoming or Outgoing, then shows the policy table
                                      and a menu: NEW, EDIT, DELETE, PRINT, SEARCH, MOVE
policyconfig incoming|outgoing        goes straight to that table and its menu

One-line forms (for scripts; keywords in any case, policy names case-insensitive):
policyconfig incoming|outgoing new <name> <member>[,<member>...]
        creates a policy just above DEFAULT (incoming: receiver members,
        outgoing: sender members)
policyconfig incoming edit <name> threatdefense default
policyconfig incoming edit <name> threatdefense custom <address>
policyconfig incoming edit <name> threatdefense disable
        journals the policy's clean mail to the Default or a Custom Message Intake
        Address of Cisco Secure Email Threat Defense, or stops journaling it
policyconfig incoming|outgoing edit <name> name <new name>
policyconfig incoming|outgoing edit <name> new sender|receiver <member>[,<member>...]
policyconfig incoming|outgoing edit <name> delete <member>
policyconfig incoming|outgoing edit <name> print
policyconfig incoming|outgoing edit <name> antispam|antivirus enable|disable
policyconfig incoming|outgoing edit <name> antispam|antivirus action deliver [<subject tag>]
policyconfig incoming|outgoing edit <name> antispam|antivirus action drop|bounce
        turns the policy's Anti-Spam or Anti-Virus scanning on or off, and chooses
        what happens to positive messages: delivered (with the tag added to the
        subject; "" for none), dropped or bounced
policyconfig incoming|outgoing delete <name>
policyconfig incoming|outgoing move <name> <position>      (1 is the top; DEFAULT stays last)
policyconfig incoming|outgoing print
policyconfig incoming|outgoing search <address>

Members: user@example.com, user@, @example.com (the domain), @.example.com (its
sub-domains).  The Threat Defense Connector must also be enabled globally (tdcconfig);
while it is disabled the column shows "Not Available".  Changes need a commit.
"""


@command(
    "policyconfig",
    summary="Configure per recipient or sender based policies",
    help=HELP,
    changes_config=True,
    grammar={d.value: _direction_grammar(d) for d in Direction},
)
async def policyconfig(session: CliSession, args: list[str]) -> None:
    """No arguments: the dialog; a direction alone: that table's menu; more: a one-line form."""
    if not args:
        chosen = await _ask_direction(session.dialog)
        if chosen is not None:
            await _interactive(session, chosen)
        return
    direction = _parse_direction(args[0])
    if len(args) == 1:
        await _interactive(session, direction)
        return
    _batch(session, direction, args[1].lower(), args[2:])


# -- shared helpers --------------------------------------------------------------------


def _usage(form: str) -> UsageError:
    """The appliance's wording for a malformed line, naming the form that was meant."""
    return UsageError(f"Invalid arguments when processing: usage is policyconfig {form}")


def _parse_direction(word: str) -> Direction:
    """The first word picks the table; anything else is a usage error."""
    try:
        return Direction(word.lower())
    except ValueError:
        raise _usage("[incoming|outgoing] ...  (enter \"help policyconfig\" for the forms)") from None


def _policy(config: Config, direction: Direction, name: str) -> MailPolicy:
    """The policy named *name* (any case), or the ConfigError message as a CommandError."""
    try:
        return config.policies(direction).get(name)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None




def _check_new_name(table: PolicyTable, current: str | None) -> Callable[[str], str]:
    """Validator for a policy name that must not clash with another policy's name."""

    def check(answer: str) -> str:
        name = check_policy_name(answer)
        other = table.find(name)
        if other is not None and (current is None or other.name.lower() != current.lower()):
            raise InvalidValue(f'There is already a policy named "{other.name}".')
        return name

    return check


def _members(text: str) -> list[str]:
    """Comma separated members, each validated, without repeats (order kept)."""
    return list(dict.fromkeys(split_members(text)))


async def _choose_from(dialog: Dialog, question: str, items: Sequence[str], *,
                       default: int) -> int:
    """A question above a numbered list (``Would you like ...?`` / ``1. ...`` / ``[1]>``);
    Enter takes *default*."""
    return await dialog.choose(items, "", default=default, heading=question)


# -- what the tables show --------------------------------------------------------------


def tdc_column(config: Config, policy: MailPolicy) -> str:
    """The policy table cell: "Not Available" whenever the connector is off globally."""
    if not config.tdc.enabled:
        return "Not Available"
    return "Disabled" if policy.threat_defense.mode is TdcMode.DISABLED else "Enabled"


def tdc_setting(config: Config, policy: MailPolicy) -> str:
    """The policy's own choice, with the address its journal copies would go to."""
    td = policy.threat_defense
    if td.mode is TdcMode.CUSTOM:
        return f"Custom Message Intake Address: {td.custom_address}"
    if td.mode is TdcMode.DEFAULT:
        return f"Default Message Intake Address: {config.tdc.intake_address or '(not set)'}"
    return "Disabled"


def tdc_lines(config: Config, policy: MailPolicy) -> list[str]:
    """PRINT's Threat Defense Connector lines; the setting is kept visible even while
    the connector is disabled globally, so the person sees what enabling it will do."""
    if config.tdc.enabled:
        return [f"{TDC_COLUMN}: {tdc_setting(config, policy)}"]
    return [f"{TDC_COLUMN}: Not Available (disabled globally; see tdcconfig)",
            f"    Policy setting: {tdc_setting(config, policy)}"]


def table_lines(config: Config, direction: Direction) -> list[str]:
    """The numbered policy table; incoming tables carry the TDC column (incoming-only)."""
    policies = config.policies(direction).policies
    rows = [f"{number}. {policy.name}" for number, policy in enumerate(policies, 1)]
    if direction is Direction.OUTGOING:
        return rows
    width = max(_NAME_WIDTH, *(len(row) + 2 for row in rows))
    header = [f"{'':<{width}}{TDC_COLUMN}", f"{'':<{width}}{'-' * len(TDC_COLUMN)}"]
    return header + [f"{row:<{width}}{tdc_column(config, policy)}"
                     for row, policy in zip(rows, policies, strict=True)]


def policy_lines(config: Config, direction: Direction, number: int, policy: MailPolicy) -> list[str]:
    """One policy as PRINT shows it: members by side, then (incoming) its TDC setting."""
    lines = [f"{number}. {policy.name}"]
    if policy.is_default:
        lines.append("   Members: all mail that no policy above matches")
    else:
        for label, members in (("Senders", policy.senders), ("Receivers", policy.recipients)):
            lines.append(f"   {label}:")
            lines += [f"       {member}" for member in members] or ["       (none)"]
    if direction is Direction.INCOMING:
        lines += [f"   {line}" for line in tdc_lines(config, policy)]
    lines += [f"   {scan_line(service, getattr(policy, service))}" for service in SCAN_SERVICES]
    return lines


def scan_line(service: str, scan: ScanSetting) -> str:
    """``Anti-Spam: Enabled; positive messages: delivered with "[SPAM]" added to the subject``."""
    label = SCAN_SERVICES[service]
    if not scan.enabled:
        return f"{label}: Disabled"
    if scan.action is ScanAction.DELIVER:
        tag = f' with "{scan.subject_tag}" added to the subject' if scan.subject_tag else ""
        outcome = f"delivered{tag}"
    else:
        outcome = "dropped" if scan.action is ScanAction.DROP else "bounced"
    return f"{label}: Enabled; positive messages are {outcome}"


def _show_table(session: CliSession, direction: Direction) -> None:
    """The heading and table shown before every menu, as AsyncOS does."""
    say = session.dialog.say
    say()
    say(f"{direction.label} Mail Policy Configuration")
    say()
    for line in table_lines(session.config, direction):
        say(line)


def _print_all(session: CliSession, direction: Direction) -> None:
    """PRINT: every policy in table order, DEFAULT last."""
    config = session.config
    for number, policy in enumerate(config.policies(direction).policies, 1):
        session.dialog.say()
        for line in policy_lines(config, direction, number, policy):
            session.dialog.say(line)


def _print_one(session: CliSession, direction: Direction, name: str) -> None:
    """One policy, numbered by its position in the table."""
    config = session.config
    table = config.policies(direction)
    policy = table.get(name)
    session.dialog.say()
    for line in policy_lines(config, direction, table.policies.index(policy) + 1, policy):
        session.dialog.say(line)


def _search(session: CliSession, direction: Direction, address: str) -> None:
    """First match as a sender and as a receiver (the engine's rule: top-down, DEFAULT
    last), then every policy that lists a member matching the address."""
    table = session.config.policies(direction)
    say = session.dialog.say
    say()
    say(f"{address} is matched first (first match wins, DEFAULT last):")
    say(f"    as a sender:    {table.match(address, '').name}")
    say(f"    as a receiver:  {table.match('', address).name}")
    say()
    found = table.search(address)
    if not found:
        say(f"No policy has a member matching {address}.")
        return
    say(f"Policies with a member matching {address}:")
    for policy in found:
        number = table.policies.index(policy) + 1
        say(f"    {number}. {policy.name}: {', '.join(_matching_members(policy, address))}")


def _matching_members(policy: MailPolicy, address: str) -> list[str]:
    """Which of the policy's members match, labelled by side, for SEARCH."""
    return [f"{side} {member}"
            for side, members in (("sender", policy.senders), ("receiver", policy.recipients))
            for member in members if member_matches(member, address)]


# -- the interactive dialog ------------------------------------------------------------


async def _ask_direction(dialog: Dialog) -> Direction | None:
    """The AsyncOS opening question; Enter takes Incoming, the table TDC lives in.

    None for Match Headers Priority, which is listed as on the appliance but not emulated.
    """
    index = await _choose_from(
        dialog, "Would you like to configure Incoming Mail Policy or Outgoing Mail Policies "
                "or Match Headers Priority?",
        DIRECTIONS, default=0,
    )
    if index == 2:
        _not_emulated(dialog)
        return None
    return Direction.INCOMING if index == 0 else Direction.OUTGOING


def _not_emulated(dialog: Dialog) -> None:
    dialog.say()
    dialog.say(NOT_EMULATED)


async def _interactive(session: CliSession, direction: Direction) -> None:
    """The table and the operations menu, again after each operation; blank leaves."""
    while True:
        _show_table(session, direction)
        choice = await session.dialog.menu(OPERATIONS)
        if choice is None:
            return
        await _OPERATION_HANDLERS[choice](session, direction)


async def _choose_policy(session: CliSession, direction: Direction, verb: str) -> str | None:
    """Pick a policy by number (as in the table) or name; None for a blank answer."""
    names = session.config.policies(direction).names
    index = await session.dialog.choose(
        names, f"Enter the name or number of the policy you wish to {verb}.", allow_blank=True
    )
    return None if index is None else names[index]


async def _new_policy(session: CliSession, direction: Direction) -> None:
    """NEW: name, members, then (incoming) the TDC choice; recorded together at the
    end so an interrupted dialog leaves nothing half-made."""
    dialog = session.dialog
    table = session.config.policies(direction)
    name = await dialog.ask_required("Enter the name for this policy:",
                                     validate=_check_new_name(table, None))
    senders, receivers = await _ask_policy_members(dialog, direction)
    changes: list[Change] = [AddPolicy(direction, name, tuple(senders), tuple(receivers))]
    if direction is Direction.INCOMING:
        mode, address = await _ask_new_tdc(session)
        if mode is not TdcMode.DISABLED:
            changes.append(SetThreatDefense(direction, name, mode, address))
    record_all(session, changes)


async def _ask_policy_members(dialog: Dialog, direction: Direction) -> tuple[list[str], list[str]]:
    """Senders and receivers; the usual side for the direction is offered first by
    default (incoming policies match receivers, outgoing ones senders)."""
    dialog.say()
    dialog.say("Begin entering policy members.  " + MEMBER_SYNTAX)
    incoming = direction is Direction.INCOMING
    while True:
        senders = await _ask_side(dialog, "sender", default=not incoming)
        receivers = await _ask_side(dialog, "receiver", default=incoming)
        if senders or receivers:
            return senders, receivers
        dialog.error("You must enter at least one member.")


async def _ask_side(dialog: Dialog, side: str, *, default: bool) -> list[str]:
    """One side's members, or none if the person declines that side."""
    if not await dialog.confirm(f"Add {side}s for this policy?", default=default):
        return []
    return await dialog.ask(f"Enter the {side}s for this policy [comma separated]:",
                            validate=_members)


async def _ask_new_tdc(session: CliSession) -> tuple[TdcMode, str]:
    """The new incoming policy's Threat Defense Connector choice (SPEC.md §1 step 3)."""
    dialog = session.dialog
    _say_tdc_notes(session)
    index = await _choose_from(
        dialog, "Choose the Threat Defense Connector setting for this policy:",
        [label for _, label in _TDC_CHOICES], default=0,
    )
    mode = _TDC_CHOICES[index][0]
    if mode is not TdcMode.CUSTOM:
        return mode, ""
    return mode, await _ask_custom_address(dialog, None)


async def _ask_custom_address(dialog: Dialog, current: str | None) -> str:
    """The custom intake address; Enter keeps the current one when there is one."""
    return await dialog.ask_required(
        "Enter the Custom Message Intake Address (generated in Secure Email Threat Defense):",
        default=current or None, validate=check_email_address,
    )


def _say_tdc_notes(session: CliSession) -> None:
    """Say why a TDC setting would not journal yet, before the person chooses one."""
    if not session.config.tdc.enabled:
        session.dialog.say()
        session.dialog.say("Note: the Threat Defense Connector is disabled globally (tdcconfig); "
                           "policy settings take effect once it is enabled.")


async def _delete_policy(session: CliSession, direction: Direction) -> None:
    """DELETE: DEFAULT is refused before the confirmation, so nothing is asked in vain."""
    dialog = session.dialog
    name = await _choose_policy(session, direction, "delete")
    if name is None:
        return
    if session.config.policies(direction).get(name).is_default:
        dialog.error(NO_DELETE_DEFAULT)
        return
    if not await dialog.confirm(f"Are you sure you want to delete {name}?", default=False):
        return
    session.record(DeletePolicy(direction, name))
    dialog.say()
    dialog.say(f"{name} is deleted.")


async def _move_policy(session: CliSession, direction: Direction) -> None:
    """MOVE: positions run 1..(policies above DEFAULT); Enter keeps the current one."""
    dialog = session.dialog
    name = await _choose_policy(session, direction, "move")
    if name is None:
        return
    table = session.config.policies(direction)
    if table.get(name).is_default:
        dialog.error(NO_MOVE_DEFAULT)
        return
    current = table.names.index(name) + 1
    last = len(table.policies) - 1
    position = await dialog.ask_number(
        f"Enter the new position of {name} (1 to {last}):", low=1, high=last, default=current
    )
    if position != current:
        session.record(MovePolicy(direction, name, position))


async def _print_policies(session: CliSession, direction: Direction) -> None:
    """PRINT from the operations menu."""
    _print_all(session, direction)


async def _search_policies(session: CliSession, direction: Direction) -> None:
    """SEARCH asks a full address: that is what the engine matches mail against."""
    address = await session.dialog.ask_required("Enter the email address to search for:",
                                                validate=check_email_address)
    _search(session, direction, address)


async def _edit_policy(session: CliSession, direction: Direction) -> None:
    """The per-policy sub-menu; blank goes back to the table.  The policy is looked up
    by name each time round, since a rename or any recorded change replaces the view."""
    name = await _choose_policy(session, direction, "edit")
    while name is not None:
        policy = session.config.policies(direction).get(name)
        _say_policy_summary(session, direction, policy)
        choice = await session.dialog.menu(_edit_options(direction, policy))
        if choice is None:
            return
        name = await _EDIT_HANDLERS[choice](session, direction, name)


def _edit_options(direction: Direction, policy: MailPolicy) -> list[tuple[str, str]]:
    """DEFAULT has no name or members to edit; ADVANCEDPHISHING and THREATDEFENSE are for
    incoming policies.  The appliance's other services are listed too (not emulated)."""
    options = [] if policy.is_default else [
        ("NAME", "Change the name of the policy"),
        ("NEW", "Add a new member"),
        ("DELETE", "Remove a member"),
    ]
    options.append(("PRINT", "Print the policy"))
    options += [("ANTISPAM", "Modify Anti-Spam policy"), ("ANTIVIRUS", "Modify Anti-Virus policy")]
    options += _OTHER_SERVICES
    if direction is Direction.INCOMING:
        options += [_PHISHING, ("THREATDEFENSE", "Modify the Threat Defense Connector setting")]
    return options


def _say_policy_summary(session: CliSession, direction: Direction, policy: MailPolicy) -> None:
    """Shown above the sub-menu so the person sees what they are editing."""
    say = session.dialog.say
    say()
    say(f"Policy: {policy.name}")
    if direction is Direction.INCOMING:
        for line in tdc_lines(session.config, policy):
            say(line)


async def _edit_name(session: CliSession, direction: Direction, name: str) -> str:
    """NAME: Enter keeps the name; returns the name the sub-menu goes on with."""
    table = session.config.policies(direction)
    new_name = await session.dialog.ask_required(
        "Enter the new name for this policy:", default=name, validate=_check_new_name(table, name)
    )
    if new_name != name:
        session.record(RenamePolicy(direction, name, new_name))
    return new_name


async def _edit_add_members(session: CliSession, direction: Direction, name: str) -> str:
    """NEW (member): each entry is tried on a scratch copy, so an existing member or a
    bad entry re-asks the question instead of ending the command."""
    dialog = session.dialog
    index = await _choose_from(dialog, "Would you like to add senders or receivers?", _SIDES,
                               default=1 if direction is Direction.INCOMING else 0)
    side = _SIDES[index].lower()
    sender = side == "sender"
    dialog.say()
    dialog.say(MEMBER_SYNTAX)

    def check(text: str) -> list[Change]:
        return accept(session, [AddMember(direction, name, m, sender) for m in _members(text)])

    changes = await dialog.ask(f"Enter the {side}s to add [comma separated]:", validate=check)
    record_all(session, changes)
    return name


async def _edit_remove_member(session: CliSession, direction: Direction, name: str) -> str:
    """DELETE (member): a policy must keep at least one member (config.problems)."""
    dialog = session.dialog
    members = list(dict.fromkeys(session.config.policies(direction).get(name).members))
    if len(members) == 1:
        dialog.error(ONE_MEMBER)
        return name
    index = await dialog.choose(members, "Enter the number or the member you wish to remove.",
                                allow_blank=True)
    if index is not None:
        session.record(RemoveMember(direction, name, members[index]))
    return name


async def _edit_print(session: CliSession, direction: Direction, name: str) -> str:
    """PRINT in the sub-menu: this policy only."""
    _print_one(session, direction, name)
    return name


async def _edit_threat_defense(session: CliSession, direction: Direction, name: str) -> str:
    """The THREATDEFENSE sub-menu: the current setting, then DISABLE / DEFAULT / CUSTOM."""
    dialog = session.dialog
    policy = session.config.policies(direction).get(name)
    dialog.say()
    dialog.say(f"Current setting for {name}: {tdc_setting(session.config, policy)}")
    _say_tdc_notes(session)
    choice = await dialog.menu(TDC_OPERATIONS)
    if choice is None:
        return name
    mode = _TDC_MODES[choice]
    address = ""
    if mode is TdcMode.CUSTOM:
        address = await _ask_custom_address(dialog, policy.threat_defense.custom_address)
    session.record(SetThreatDefense(direction, name, mode, address))
    return name


async def _edit_scan(session: CliSession, direction: Direction, name: str, service: str) -> str:
    """The ANTISPAM / ANTIVIRUS sub-menu: ENABLE, DISABLE, or EDIT the action for positives."""
    dialog, label = session.dialog, SCAN_SERVICES[service]
    scan: ScanSetting = getattr(session.config.policies(direction).get(name), service)
    dialog.say()
    dialog.say(f"Current setting for {name}: {scan_line(service, scan)}")
    choice = await dialog.menu([
        ("ENABLE", f"Enable {label} scanning for this policy"),
        ("DISABLE", f"Disable {label} scanning for this policy"),
        ("DEFAULT", "Use the policy table default"),
        ("EDIT", f"Choose what happens to {_POSITIVES[service]} messages"),
    ])
    if choice == "DEFAULT":
        _not_emulated(dialog)
    elif choice in ("ENABLE", "DISABLE") and scan.enabled != (choice == "ENABLE"):
        session.record(SetScan(direction, name, service, enabled=choice == "ENABLE"))
    elif choice == "EDIT":
        action, tag = await _ask_scan_action(dialog, service, scan)
        if (action, tag) != (scan.action, scan.subject_tag):
            session.record(SetScan(direction, name, service, action=action, subject_tag=tag))
    return name


async def _ask_scan_action(dialog: Dialog, service: str, scan: ScanSetting) -> tuple[ScanAction, str]:
    """The action for positives and, when they are delivered, the subject tag."""
    actions = [action for action, _ in _SCAN_ACTIONS]
    index = await _choose_from(
        dialog, f"What do you want to do with messages identified as {_POSITIVES[service]}?",
        [label for _, label in _SCAN_ACTIONS], default=actions.index(scan.action),
    )
    action = actions[index]
    if action is not ScanAction.DELIVER:
        return action, scan.subject_tag
    if not await dialog.confirm("Do you want to add text to the subject of these messages?",
                                default=bool(scan.subject_tag)):
        return action, ""
    default_tag = scan.subject_tag or ("[SPAM]" if service == "antispam"
                                       else "[WARNING: VIRUS DETECTED]")
    tag = await dialog.ask_required("What text do you want to add?", default=default_tag,
                                    validate=check_subject_tag)
    return action, tag


async def _edit_antispam(session: CliSession, direction: Direction, name: str) -> str:
    return await _edit_scan(session, direction, name, "antispam")


async def _edit_antivirus(session: CliSession, direction: Direction, name: str) -> str:
    return await _edit_scan(session, direction, name, "antivirus")


async def _operation_not_emulated(session: CliSession, direction: Direction) -> None:
    _not_emulated(session.dialog)


async def _service_not_emulated(session: CliSession, direction: Direction, name: str) -> str:
    _not_emulated(session.dialog)
    return name


_OPERATION_HANDLERS: dict[str, Callable[[CliSession, Direction], Awaitable[None]]] = {
    "NEW": _new_policy,
    "EDIT": _edit_policy,
    "DELETE": _delete_policy,
    "PRINT": _print_policies,
    "SEARCH": _search_policies,
    "MOVE": _move_policy,
    **{keyword: _operation_not_emulated for keyword in ("FILTERS", "CLEAR", "CLUSTERSET",
                                                         "CLUSTERSHOW")},
}
_EDIT_HANDLERS: dict[str, Callable[[CliSession, Direction, str], Awaitable[str]]] = {
    "NAME": _edit_name,
    "NEW": _edit_add_members,
    "DELETE": _edit_remove_member,
    "PRINT": _edit_print,
    "ANTISPAM": _edit_antispam,
    "ANTIVIRUS": _edit_antivirus,
    "THREATDEFENSE": _edit_threat_defense,
    **{keyword: _service_not_emulated for keyword, _ in [*_OTHER_SERVICES, _PHISHING]},
}


# -- one-line (batch) forms ------------------------------------------------------------


def _batch(session: CliSession, direction: Direction, verb: str, rest: list[str]) -> None:
    """Dispatch a one-line form; an unknown verb is a usage error naming the verbs."""
    handler = _BATCH_HANDLERS.get(verb)
    if handler is None:
        raise _usage(f"{direction.value} new|edit|delete|print|search|move ...  "
                     '(enter "help policyconfig" for the forms)')
    handler(session, direction, rest)


def _batch_new(session: CliSession, direction: Direction, rest: list[str]) -> None:
    """Incoming policies match receivers, outgoing ones senders (the usual AsyncOS use).
    Members may be one comma separated word or several words."""
    if len(rest) < 2:
        raise _usage(f"{direction.value} new <name> <member>[,<member>...]")
    name = rest[0]
    _check_batch_name(session, direction, name, None)
    members = tuple(_batch_members(rest[1:]))
    if direction is Direction.INCOMING:
        change = AddPolicy(direction, name, recipients=members)
    else:
        change = AddPolicy(direction, name, senders=members)
    record_all(session, [change])


def _batch_members(words: list[str]) -> list[str]:
    """Members given as several words are joined, so ``a@x, b@y`` works unquoted."""
    try:
        return _members(",".join(words))
    except InvalidValue as exc:
        raise CommandError(str(exc)) from None


def _check_batch_name(session: CliSession, direction: Direction, name: str,
                      current: str | None) -> None:
    """The same name rules and duplicate message as the interactive questions."""
    try:
        _check_new_name(session.config.policies(direction), current)(name)
    except InvalidValue as exc:
        raise CommandError(str(exc)) from None


def _batch_delete(session: CliSession, direction: Direction, rest: list[str]) -> None:
    """DEFAULT is refused with its own message rather than the generic change error."""
    if len(rest) != 1:
        raise _usage(f"{direction.value} delete <name>")
    policy = _policy(session.config, direction, rest[0])
    if policy.is_default:
        raise CommandError(NO_DELETE_DEFAULT)
    record_all(session, [DeletePolicy(direction, policy.name)])


def _batch_move(session: CliSession, direction: Direction, rest: list[str]) -> None:
    """A non-number is refused here; the range is MovePolicy's rule and message."""
    if len(rest) != 2:
        raise _usage(f"{direction.value} move <name> <position>")
    table = session.config.policies(direction)
    policy = _policy(session.config, direction, rest[0])
    if policy.is_default:
        raise CommandError(NO_MOVE_DEFAULT)
    if not is_digits(rest[1]):
        raise CommandError(f'"{rest[1]}" is not a valid position: the value must be an integer '
                           f"from 1 to {len(table.policies) - 1}.")
    record_all(session, [MovePolicy(direction, policy.name, int(rest[1]))])


def _batch_print(session: CliSession, direction: Direction, rest: list[str]) -> None:
    """The table (with the TDC column) and then every policy in detail."""
    if rest:
        raise _usage(f"{direction.value} print")
    _show_table(session, direction)
    _print_all(session, direction)


def _batch_search(session: CliSession, direction: Direction, rest: list[str]) -> None:
    """``search <address>``: the same report as the dialog's SEARCH."""
    if len(rest) != 1:
        raise _usage(f"{direction.value} search <address>")
    try:
        address = check_email_address(rest[0])
    except InvalidValue as exc:
        raise CommandError(str(exc)) from None
    _search(session, direction, address)


def _batch_edit(session: CliSession, direction: Direction, rest: list[str]) -> None:
    """``edit <name> <keyword> ...``: the policy must exist before the keyword is read."""
    subs = "name|new|delete|print|antispam|antivirus" + (
        "|threatdefense" if direction is Direction.INCOMING else "")
    if len(rest) < 2:
        raise _usage(f"{direction.value} edit <name> {subs} ...")
    policy = _policy(session.config, direction, rest[0])
    handler = _BATCH_EDIT_HANDLERS.get(rest[1].lower())
    if handler is None:
        raise _usage(f"{direction.value} edit <name> {subs} ...")
    handler(session, direction, policy, rest[2:])


def _batch_edit_name(session: CliSession, direction: Direction, policy: MailPolicy,
                     rest: list[str]) -> None:
    """Renaming to the same name is accepted and records nothing."""
    if len(rest) != 1:
        raise _usage(f"{direction.value} edit <name> name <new name>")
    if policy.is_default:
        raise CommandError(NO_RENAME_DEFAULT)
    _check_batch_name(session, direction, rest[0], policy.name)
    if rest[0] != policy.name:
        record_all(session, [RenamePolicy(direction, policy.name, rest[0])])


def _batch_edit_new(session: CliSession, direction: Direction, policy: MailPolicy,
                    rest: list[str]) -> None:
    """Several members are added all or none."""
    if len(rest) < 2 or rest[0].lower() not in ("sender", "receiver"):
        raise _usage(f"{direction.value} edit <name> new sender|receiver <member>[,<member>...]")
    if policy.is_default:
        raise CommandError(NO_MEMBERS_DEFAULT)
    sender = rest[0].lower() == "sender"
    record_all(session, [AddMember(direction, policy.name, member, sender)
                          for member in _batch_members(rest[1:])])


def _batch_edit_delete(session: CliSession, direction: Direction, policy: MailPolicy,
                       rest: list[str]) -> None:
    """Refuse removing the last member with the interactive wording."""
    if len(rest) != 1:
        raise _usage(f"{direction.value} edit <name> delete <member>")
    if policy.is_default:
        raise CommandError(NO_MEMBERS_DEFAULT)
    if len(set(policy.members)) == 1 and rest[0].strip().lower() in policy.members:
        raise CommandError(ONE_MEMBER)
    record_all(session, [RemoveMember(direction, policy.name, rest[0])])


def _batch_edit_print(session: CliSession, direction: Direction, policy: MailPolicy,
                      rest: list[str]) -> None:
    """``edit <name> print``: one policy, as the sub-menu's PRINT shows it."""
    if rest:
        raise _usage(f"{direction.value} edit <name> print")
    _print_one(session, direction, policy.name)


def _batch_edit_threat_defense(session: CliSession, direction: Direction, policy: MailPolicy,
                               rest: list[str]) -> None:
    """``threatdefense default|disable|custom <address>``; the address is checked by
    SetThreatDefense, so batch and dialog refuse the same values."""
    if direction is not Direction.INCOMING:
        raise CommandError(INCOMING_ONLY)
    mode = _BATCH_TDC.get(rest[0].lower()) if rest else None
    expected = 2 if mode is TdcMode.CUSTOM else 1
    if mode is None or len(rest) != expected:
        raise _usage("incoming edit <name> threatdefense default|disable|custom <address>")
    record_all(session, [SetThreatDefense(direction, policy.name, mode,
                                           rest[1] if mode is TdcMode.CUSTOM else "")])


def _batch_edit_scan(session: CliSession, direction: Direction, policy: MailPolicy,
                     service: str, rest: list[str]) -> None:
    """``antispam|antivirus enable|disable|action deliver [<tag>]|drop|bounce``."""
    form = _usage(f"{direction.value} edit <name> {service} enable|disable|"
                  "action deliver [<subject tag>]|drop|bounce")
    verb = rest[0].lower() if rest else ""
    if verb in ("enable", "disable") and len(rest) == 1:
        change = SetScan(direction, policy.name, service, enabled=verb == "enable")
    elif verb == "action" and len(rest) == 2 and rest[1].lower() in ("drop", "bounce"):
        change = SetScan(direction, policy.name, service, action=ScanAction(rest[1].lower()))
    elif verb == "action" and len(rest) in (2, 3) and rest[1].lower() == "deliver":
        tag = rest[2] if len(rest) == 3 else None
        change = SetScan(direction, policy.name, service, action=ScanAction.DELIVER,
                         subject_tag=tag)
    else:
        raise form
    record_all(session, [change])


def _batch_edit_antispam(session: CliSession, direction: Direction, policy: MailPolicy,
                         rest: list[str]) -> None:
    _batch_edit_scan(session, direction, policy, "antispam", rest)


def _batch_edit_antivirus(session: CliSession, direction: Direction, policy: MailPolicy,
                          rest: list[str]) -> None:
    _batch_edit_scan(session, direction, policy, "antivirus", rest)


_BATCH_HANDLERS: dict[str, Callable[[CliSession, Direction, list[str]], None]] = {
    "new": _batch_new,
    "edit": _batch_edit,
    "delete": _batch_delete,
    "move": _batch_move,
    "print": _batch_print,
    "search": _batch_search,
}
_BATCH_EDIT_HANDLERS: dict[str, Callable[[CliSession, Direction, MailPolicy, list[str]], None]] = {
    "name": _batch_edit_name,
    "new": _batch_edit_new,
    "delete": _batch_edit_delete,
    "print": _batch_edit_print,
    "antispam": _batch_edit_antispam,
    "antivirus": _batch_edit_antivirus,
    "threatdefense": _batch_edit_threat_defense,
}
