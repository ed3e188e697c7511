"""The XML document: a faithful round trip, and all-or-nothing loading with every problem named."""

from __future__ import annotations

import pytest

from engine.config import Config, Direction, TdcMode
from engine.config_changes import AddMember, AddPolicy, SetHostname, SetTdc, SetThreatDefense, replay
from engine.config_xml import ConfigXmlError, from_xml, to_xml

IN = Direction.INCOMING


def _rich_config() -> Config:
    return replay(Config(), [
        SetHostname("gw.example.com"),
        SetTdc(True, "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"),
        AddPolicy(IN, "sales", recipients=("@sales.example.com", "boss@")),
        AddMember(IN, "sales", "ceo@example.org", sender=True),
        SetThreatDefense(IN, "sales", TdcMode.CUSTOM, "second@mail.eu.cmd.cisco.com"),
        SetThreatDefense(IN, "DEFAULT", TdcMode.DEFAULT),
        AddPolicy(Direction.OUTGOING, "out", senders=("@example.com",)),
    ])


def test_round_trip_is_exact():
    config = _rich_config()
    text = to_xml(config)
    assert from_xml(text) == config
    assert to_xml(from_xml(text)) == text
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<config>')


def test_malformed_xml_names_the_line():
    with pytest.raises(ConfigXmlError, match="Parsing failed: not well-formed XML at line 4"):
        from_xml("<config>\n<hostname>x</hostname>\n<oops>\n</config>")


def test_empty_document():
    with pytest.raises(ConfigXmlError, match="No data to load"):
        from_xml("  \n")


def test_every_problem_is_reported_together():
    text = to_xml(_rich_config())
    text = text.replace("<hostname>gw.example.com", "<hostname>bad_host!")
    text = text.replace("<member>@sales.example.com</member>", "<member>nonsense</member>")
    text = text.replace("<tdc_enabled>1", "<tdc_enabled>yes")
    text = text.replace("</config>", "<colour>blue</colour></config>")
    with pytest.raises(ConfigXmlError) as caught:
        from_xml(text)
    problems = caught.value.problems
    assert any("Unknown element <colour>" in p for p in problems)
    assert any("<tdc_enabled> must be 0 or 1" in p for p in problems)
    assert len(problems) >= 2


def test_semantic_problems_are_reported():
    text = to_xml(_rich_config()).replace("<member>@sales.example.com</member>",
                                          "<member>nonsense</member>")
    with pytest.raises(ConfigXmlError, match=r'policy "sales".*The entry you have entered is invalid'):
        from_xml(text)


def test_default_policy_must_be_last():
    config = _rich_config()
    config.incoming.policies.reverse()
    with pytest.raises(ConfigXmlError, match="DEFAULT policy must be present and last"):
        from_xml(to_xml(config))


def test_wrong_root_element():
    with pytest.raises(ConfigXmlError, match="not <config>"):
        from_xml("<configuration/>")
