"""The printable-text rule, everywhere a string enters the configuration.

A control character once reached a committed XML document (``policyconfig incoming new
p\\x01x ...``): every later commit failed and the appliance could not start.  These tests
walk the model's string fields and every change record's, so a field or a record added
later is covered or the test says which one is not.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any

import pytest

from engine.config import changes
from engine.config.addresses import InvalidValue
from engine.config.changes import (
    AddAcceptedDomain,
    AddMember,
    AddPolicy,
    AddRelayHost,
    AddRoute,
    AddTrustedCa,
    Change,
    ReplaceConfig,
    SetDestination,
    SetDns,
    SetHostPort,
    SetListenerName,
    SetThreatDefense,
    replay,
)
from engine.config.model import Config, ConfigError, Direction, TdcMode, TlsMode
from engine.config.text import MAX_TEXT, check_text, shown, text_problem
from engine.config.xml_document import ConfigXmlError, from_xml, to_xml
from engine.store import users
from engine.store.users import UserChange, UserDirectory, UserError, UserRecord
from tests.certificates import ca_pem

IN = Direction.INCOMING
#: The characters the issue names: NUL, SOH, ESC, DEL and an unpaired surrogate.
BAD = ["\x00", "\x01", "\x1b", "\x7f", "\ud800"]
#: More that no value may hold: C1 controls, XML-illegal, line breaking, reordering.
MORE_BAD = ["\t", "\n", "\x85", "\x9b", "\ufffe", "\uffff", "\u2028", "\u202e", "\u2066"]


# -- the rule itself ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD + MORE_BAD)
def test_the_rule_refuses_each_character_and_never_quotes_it(bad):
    with pytest.raises(InvalidValue) as caught:
        check_text(f"ab{bad}c", "policy name")
    message = str(caught.value)
    assert message.startswith("The policy name cannot contain the ")
    assert f"U+{ord(bad):04X} at position 3: enter printable text." in message
    assert bad not in message


@pytest.mark.parametrize("good", ["sales", "Ventes-Q3 (Zürich)", "営業部", "✉ [SPAM]", ""])
def test_printable_text_of_any_script_is_accepted(good):
    assert check_text(good, "value") == good


def test_a_field_may_allow_line_breaks_and_nothing_else():
    assert check_text("line 1\r\nline 2", "certificate", allow="\r\n") == "line 1\r\nline 2"
    assert text_problem("a\tb", allow="\r\n") == "the control character U+0009 at position 2"


def test_length_is_bounded():
    assert check_text("x" * MAX_TEXT, "value")
    with pytest.raises(InvalidValue, match=f"at most {MAX_TEXT} characters"):
        check_text("x" * (MAX_TEXT + 1), "value")
    with pytest.raises(InvalidValue) as caught:
        check_text("x" * 6, "comment", max_length=5)
    assert str(caught.value) == "The comment must be at most 5 characters long."


def test_shown_escapes_what_the_rule_refuses():
    assert shown("a\x1b[2Jb\ud800") == "a\\x1b[2Jb\\ud800"
    assert shown("plain ✉") == "plain ✉"


def test_shown_keeps_only_what_it_is_told_to_keep():
    assert shown("a\nb\x1b\tc\x85", keep="\n") == "a\nb\\x1b\\tc\\x85"
    assert shown("a\nb") == "a\\nb"
    assert shown("Grüße\u00a0営業部 ✉") == "Grüße\u00a0営業部 ✉"  # not isprintable(), yet fine


# -- every string field of the model --------------------------------------------------------


def full_config() -> Config:
    """A configuration in which every list and table holds at least one entry, so that a
    walk meets every string field the model has."""
    return replay(Config(), [
        changes.SetHostname("gw.example.com"),
        changes.SetTdc(True, "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"),
        AddPolicy(IN, "sales", senders=("ceo@example.org",), recipients=("@sales.example.com",)),
        SetThreatDefense(IN, "sales", TdcMode.CUSTOM, "second@mail.eu.cmd.cisco.com"),
        AddPolicy(Direction.OUTGOING, "staff", senders=("@example.com",)),
        SetListenerName("Inbound"),
        AddAcceptedDomain("example.com"),
        AddRelayHost("10.1.1.0/24"),
        AddRoute("example.com", ("mx1.example.net:2525",)),
        SetDestination("example.net", create=True, tls=TlsMode.REQUIRED),
        SetDns(("127.0.0.1:5353",)),
        AddTrustedCa(ca_pem()),
        SetHostPort("mx.example.org", 2526),
    ])


Setter = Callable[[Config, str], None]


def string_slots(value: Any, path: str = "") -> Iterator[tuple[str, str, Callable[[Any], Any], Any]]:
    """``(path, text, locate, key)`` for every string in *value*: ``locate(config)`` finds
    the container again in a copy and ``key`` is the attribute, index or dict key there."""
    def nested(getter, more):
        for inner_path, text, locate, key in more:
            yield inner_path, text, (lambda config, locate=locate: locate(getter(config))), key

    if dataclasses.is_dataclass(value):
        for item in dataclasses.fields(value):
            inner = getattr(value, item.name)
            where = f"{path}.{item.name}" if path else item.name
            if isinstance(inner, Enum):
                continue  # a choice from a fixed set (TdcMode, TlsMode...), not free text
            if isinstance(inner, str):
                yield where, inner, (lambda config: config), item.name
            else:
                yield from nested(lambda obj, name=item.name: getattr(obj, name),
                                  string_slots(inner, where))
    elif isinstance(value, list):
        for number, entry in enumerate(value):
            where = f"{path}[{number + 1}]"
            if isinstance(entry, str):
                yield where, entry, (lambda obj: obj), number
            else:
                yield from nested(lambda obj, n=number: obj[n], string_slots(entry, where))
    elif isinstance(value, dict):
        for number, key in enumerate(value):
            yield f"{path}[{number + 1}] (name)", key, (lambda obj: obj), ("dict key", key)


def spoiled(config: Config, locate, key, bad: str) -> Config:
    """A copy of *config* with *bad* put into the string at (*locate*, *key*)."""
    copy = config.copy()
    container = locate(copy)
    if isinstance(key, tuple):  # a dict key: the entry moves to the spoiled name
        old = key[1]
        container[old[:1] + bad + old[1:]] = container.pop(old)
    elif isinstance(key, int):
        container[key] = container[key][:1] + bad + container[key][1:]
    else:
        text = getattr(container, key)
        setattr(container, key, text[:1] + bad + text[1:])
    return copy


SLOTS = list(string_slots(full_config()))


def _string_fields(cls: type, seen: set[type]) -> Iterator[tuple[str, str]]:
    """``(class name, field)`` for every field of the model declared to hold text
    (``str``, ``list[str]``, ``dict[str, ...]``), through every nested dataclass."""
    if cls in seen:
        return
    seen.add(cls)
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        hint = hints[item.name]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is str or (origin in (list, dict) and args and args[0] is str):
            yield cls.__name__, item.name
        for inner in (hint, *args):
            if dataclasses.is_dataclass(inner):
                yield from _string_fields(inner, seen)


def test_the_walk_meets_every_string_field_the_model_declares():
    """If this fails, full_config() leaves a new field empty: fill it, so the tests
    below prove that field refuses control characters too."""
    walked = {re.sub(r"\[\d+\]( \(name\))?", "", path).rsplit(".", 1)[-1] for path, *_ in SLOTS}
    declared = set(_string_fields(Config, set()))
    assert {field for _, field in declared} - walked == set()
    assert len(declared) >= 16  # the walk of the declarations found them too


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize(("path", "locate", "key"), [(p, loc, k) for p, _, loc, k in SLOTS],
                         ids=[p for p, *_ in SLOTS])
def test_every_string_field_refuses_the_character(path, locate, key, bad):
    good = full_config()
    bad_config = spoiled(good, locate, key, bad)
    problems = bad_config.problems()
    assert problems and all(f"U+{ord(bad):04X}" in p for p in problems), problems
    assert all(bad not in p for p in problems)
    # loadconfig / rollbackconfig: a whole configuration holding it is refused as a whole
    target = good.copy()
    with pytest.raises(ConfigError):
        ReplaceConfig(bad_config, "test").apply(target)
    assert target == good
    # ... and a document holding it never loads (a custom address a policy does not use
    # is not written at all)
    document = to_xml(bad_config)
    if bad in document:
        with pytest.raises(ConfigXmlError):
            from_xml(document)


def test_the_full_configuration_itself_is_fine():
    assert full_config().problems() == []


# -- every change record ---------------------------------------------------------------------

PEM = ca_pem()
#: A valid record of every kind, against full_config() (and ACCOUNTS for account changes).
SAMPLES: list[Change] = [
    changes.SetHostname("gw2.example.com"),
    changes.SetTdc(True, "new@beta.cmd.cisco.com"),
    AddPolicy(IN, "eng", recipients=("@eng.example.com",), senders=("x@example.org",)),
    changes.DeletePolicy(IN, "sales"),
    changes.RenamePolicy(IN, "sales", "ventes"),
    changes.MovePolicy(IN, "sales", 1),
    AddMember(IN, "sales", "boss@"),
    changes.RemoveMember(IN, "sales", "ceo@example.org"),
    SetThreatDefense(IN, "sales", TdcMode.CUSTOM, "third@beta.cmd.cisco.com"),
    changes.SetScan(IN, "sales", "antispam", True, None, "[SPAM?]"),
    SetListenerName("Public"),
    changes.SetListenerAddress("127.0.0.1:2626"),
    changes.SetMaxMessageSize(1024 * 1024),
    changes.SetOfferTls(False),
    AddAcceptedDomain(".example.org"),
    changes.RemoveAcceptedDomain("example.com"),
    AddRelayHost("10.2.2.2"),
    changes.RemoveRelayHost("10.1.1.0/24"),
    AddRoute("example.org", ("mx2.example.net", "mx3.example.net:26")),
    changes.EditRoute("example.com", ("mx9.example.net",)),
    changes.DeleteRoute("example.com"),
    changes.ClearRoutes(),
    SetDestination("example.net", max_concurrency=5),
    changes.DeleteDestination("example.net"),
    changes.SetDelivery(max_concurrency=50),
    SetDns(("127.0.0.1:5354", "[::1]:53")),
    changes.SetTdcTimers(retry_delay=1.0),
    changes.SetCliTimeout(45),
    AddTrustedCa(ca_pem("Another Root")),
    changes.RemoveTrustedCa(PEM),
    SetHostPort("mx.example.net", 2527),
    changes.RemoveHostPort("mx.example.org"),
    ReplaceConfig(Config(), "Loaded a pasted configuration"),
    users.AddUser("bob", "Bob Example", users.Role.OPERATOR, "$2b$04$" + "x" * 53),
    users.DeleteUser("alice"),
    users.SetUserRole("alice", users.Role.READONLY),
    users.SetUserFullName("alice", "Alice B. Example"),
    users.SetUserPassword("alice", "$2b$04$" + "y" * 53),
    users.AddUserKey("alice", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0"
                              "dh2l9GKJl alice@laptop"),
    users.RemoveUserKey("alice", "ssh-ed25519 AAAA alice@old"),
]


def _accounts() -> UserDirectory:
    return UserDirectory([
        UserRecord("admin", "Administrator", users.Role.ADMIN, "h"),
        UserRecord("alice", "Alice Example", users.Role.OPERATOR, "h",
                   keys=["ssh-ed25519 AAAA alice@old"]),
    ])


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def _record_kinds() -> set[type]:
    """Every concrete change record (a dataclass), wherever it is defined."""
    return {cls for cls in _all_subclasses(Change) if dataclasses.is_dataclass(cls)}


def test_every_record_kind_has_a_sample():
    """A new change record needs a sample here, so the next test covers its fields."""
    assert _record_kinds() <= {type(sample) for sample in SAMPLES}


def test_every_sample_applies_as_it_is():
    for sample in SAMPLES:
        config = full_config()
        sample.apply(config)
        if isinstance(sample, UserChange):
            sample.apply_users(_accounts())


def test_no_record_bypasses_the_check():
    """``apply`` (and ``apply_users``) check the text, then call ``edit``; a record that
    overrides them would skip the check."""
    for cls in _record_kinds():
        assert "apply" not in vars(cls), cls.__name__
        assert "apply_users" not in vars(cls), cls.__name__


def _text_fields(record: Change) -> list[str]:
    return [item.name for item in dataclasses.fields(record)
            if isinstance(getattr(record, item.name), str | tuple)]


RECORD_FIELDS = [(sample, name) for sample in SAMPLES for name in _text_fields(sample)]


def _spoil(value: str | tuple, bad: str) -> str | tuple:
    if isinstance(value, tuple):
        return (*value[:-1], _spoil(value[-1], bad)) if value else (f"a{bad}",)
    return value[:1] + bad + value[1:]


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize(("sample", "name"), RECORD_FIELDS,
                         ids=[f"{type(s).__name__}.{n}" for s, n in RECORD_FIELDS])
def test_every_text_field_of_every_record_refuses_the_character(sample, name, bad):
    record = dataclasses.replace(sample, **{name: _spoil(getattr(sample, name), bad)})
    config = full_config()
    with pytest.raises(ConfigError) as caught:
        record.apply(config)
    assert f"U+{ord(bad):04X}" in str(caught.value)
    assert bad not in str(caught.value)
    assert config == full_config()
    if isinstance(record, UserChange):
        directory = _accounts()
        with pytest.raises(UserError):
            record.apply_users(directory)
        assert [r.__dict__ for r in directory.records()] == [r.__dict__ for r in _accounts().records()]


@pytest.mark.parametrize(("record", "message"), [
    (AddPolicy(IN, "p\x01x", recipients=("@x.example.com",)),
     "The policy name cannot contain the control character U+0001 at position 2: enter "
     "printable text."),
    (SetListenerName("a\x00b"),
     "The listener name cannot contain the control character U+0000 at position 2: enter "
     "printable text."),
    (AddPolicy(IN, "p", recipients=("@x\x1b.example.com",)),
     "The member cannot contain the control character U+001B at position 3: enter printable text."),
    (users.SetUserFullName("alice", "Alice\x7f"),
     "The full name cannot contain the control character U+007F at position 6: enter "
     "printable text."),
])
def test_a_refusal_names_the_field_as_a_person_knows_it(record, message):
    with pytest.raises(ConfigError) as caught:
        record.apply(Config())
    assert str(caught.value) == message
