"""Member patterns and addresses as AsyncOS accepts them."""

from __future__ import annotations

import pytest

from engine.config.addresses import (
    InvalidValue,
    check_email_address,
    check_hostname,
    check_member,
    member_matches,
    split_members,
)


@pytest.mark.parametrize("member", ["user@example.com", "user@", "@example.com", "@.example.com"])
def test_the_four_member_forms_are_accepted(member):
    assert check_member(member.upper()) == member


@pytest.mark.parametrize("bad", ["", "@", "example.com", "a@b@c", "@exa mple.com", "@-bad.com", "us er@"])
def test_bad_members_are_refused_with_the_appliance_message(bad):
    with pytest.raises(InvalidValue, match="The entry you have entered is invalid"):
        check_member(bad)


@pytest.mark.parametrize(
    ("member", "address", "expected"),
    [
        ("user@example.com", "USER@Example.com", True),
        ("user@example.com", "other@example.com", False),
        ("user@", "user@anything.org", True),
        ("user@", "user2@anything.org", False),
        ("@example.com", "a@example.com", True),
        ("@example.com", "a@sub.example.com", False),
        ("@.example.com", "a@sub.example.com", True),
        ("@.example.com", "a@deep.sub.example.com", True),
        ("@.example.com", "a@example.com", False),
        ("@.example.com", "a@badexample.com", False),
    ],
)
def test_member_matching(member, address, expected):
    assert member_matches(member, address) is expected


def test_split_members_validates_every_entry():
    assert split_members(" @a.com, b@ ,") == ["@a.com", "b@"]
    with pytest.raises(InvalidValue):
        split_members("@a.com,nonsense")
    with pytest.raises(InvalidValue, match="at least one member"):
        split_members(" , ")


def test_email_addresses():
    assert check_email_address("<X@Beta.CMD.cisco.com>") == "X@beta.cmd.cisco.com"
    for bad in ["nobody", "a@b", "@example.com", "a..b@example.com", "a@exa_mple.com"]:
        with pytest.raises(InvalidValue, match="An email address is a localname"):
            check_email_address(bad)


def test_hostnames():
    assert check_hostname("GW.Example.com.") == "gw.example.com"
    for bad in ["", "-gw.example.com", "gw..example.com", "gw_1.example.com", "a" * 64 + ".com"]:
        with pytest.raises(InvalidValue, match="A hostname must"):
            check_hostname(bad)
