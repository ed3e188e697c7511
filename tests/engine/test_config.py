"""The configuration model and its changes: validation, first match, replay."""

from __future__ import annotations

import pytest

from engine.config import Config, ConfigError, Direction, TdcMode
from engine.config_changes import (
    AddMember,
    AddPolicy,
    DeletePolicy,
    MovePolicy,
    RemoveMember,
    RenamePolicy,
    ReplaceConfig,
    SetHostname,
    SetTdc,
    SetThreatDefense,
    replay,
)

IN = Direction.INCOMING
INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"


def _config_with(*names_members: tuple[str, str]) -> Config:
    changes = [AddPolicy(IN, name, recipients=(member,)) for name, member in names_members]
    return replay(Config(), changes)


def test_factory_config_is_valid_and_has_default_policies():
    config = Config()
    assert config.problems() == []
    assert config.incoming.names == ["DEFAULT"] and config.outgoing.names == ["DEFAULT"]


def test_first_match_wins_and_default_is_last():
    config = _config_with(("sales", "@sales.example.com"), ("all-sub", "@.example.com"))
    table = config.incoming
    assert table.match("x@ext.org", "bob@sales.example.com").name == "sales"
    assert table.match("x@ext.org", "bob@hr.example.com").name == "all-sub"
    assert table.match("x@ext.org", "bob@example.net").name == "DEFAULT"
    moved = replay(config, [MovePolicy(IN, "all-sub", 1)])
    assert moved.incoming.match("x@ext.org", "bob@sales.example.com").name == "all-sub"


def test_new_policies_go_above_default_and_names_are_unique():
    config = _config_with(("a", "@a.com"), ("b", "@b.com"))
    assert config.incoming.names == ["a", "b", "DEFAULT"]
    with pytest.raises(ConfigError, match='There is already a policy named "a"'):
        replay(config, [AddPolicy(IN, "A", recipients=("@c.com",))])


def test_default_cannot_be_deleted_moved_or_renamed():
    config = _config_with(("a", "@a.com"))
    for change in (DeletePolicy(IN, "DEFAULT"), MovePolicy(IN, "DEFAULT", 1),
                   RenamePolicy(IN, "DEFAULT", "x")):
        with pytest.raises(ConfigError):
            replay(config, [change])


def test_move_refuses_the_default_position():
    config = _config_with(("a", "@a.com"), ("b", "@b.com"))
    with pytest.raises(ConfigError, match="position of default entry"):
        replay(config, [MovePolicy(IN, "a", 3)])


def test_members():
    config = _config_with(("a", "@a.com"))
    config = replay(config, [AddMember(IN, "a", "Boss@", sender=True)])
    assert config.incoming.get("a").senders == ["boss@"]
    with pytest.raises(ConfigError, match="already a member"):
        replay(config, [AddMember(IN, "a", "@A.com")])
    config = replay(config, [RemoveMember(IN, "a", "@a.com")])
    with pytest.raises(ConfigError, match="only one member"):
        replay(config, [RemoveMember(IN, "a", "boss@")])


def test_threat_defense_intake_address_follows_global_switch():
    config = _config_with(("sales", "@sales.example.com"))
    config = replay(config, [
        SetThreatDefense(IN, "sales", TdcMode.CUSTOM, "other@mail.cmd.cisco.com"),
        SetThreatDefense(IN, "DEFAULT", TdcMode.DEFAULT),
    ])
    sales, default = config.incoming.get("sales"), config.incoming.default
    assert sales.threat_defense.intake_address(config.tdc) is None  # TDC globally disabled
    config = replay(config, [SetTdc(True, INTAKE)])
    sales, default = config.incoming.get("sales"), config.incoming.default
    assert sales.threat_defense.intake_address(config.tdc) == "other@mail.cmd.cisco.com"
    assert default.threat_defense.intake_address(config.tdc) == INTAKE


def test_tdc_cannot_be_enabled_without_an_address_nor_on_outgoing_policies():
    with pytest.raises(ConfigError, match="You must enter a Default Message Intake Address"):
        replay(Config(), [SetTdc(True)])
    with pytest.raises(ConfigError, match="incoming mail only"):
        replay(Config(), [SetThreatDefense(Direction.OUTGOING, "DEFAULT", TdcMode.DEFAULT)])
    with pytest.raises(ConfigError, match="An email address"):
        replay(Config(), [SetThreatDefense(IN, "DEFAULT", TdcMode.CUSTOM, "nope")])


def test_a_failed_replay_leaves_the_base_untouched():
    base = Config()
    with pytest.raises(ConfigError):
        replay(base, [SetHostname("gw.example.com"), SetHostname("bad host")])
    assert base.hostname == "mail1.example.com"


def test_replace_config_refuses_an_invalid_config():
    bad = Config()
    bad.incoming.policies.reverse()
    bad.incoming.policies.insert(0, bad.incoming.policies[0])  # duplicate DEFAULT first
    with pytest.raises(ConfigError, match="DEFAULT"):
        replay(Config(), [ReplaceConfig(bad, "load")])
