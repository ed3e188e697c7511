"""docs/drill-format.md stays true: its complete example loads, and it names every shape,
every check kind and every fault action the loader knows."""

from __future__ import annotations

import re
from pathlib import Path

from segcli.drills.loader import BLACKHOLE_NAME, LAB_NAMES, parse_drill
from segcli.drills.model import CHECK_KINDS, FAULT_ACTIONS, TRAFFIC_KINDS
from segcli.drills.shapes import SHAPES, groups

REPO = Path(__file__).resolve().parents[3]
DOC = (REPO / "docs" / "drill-format.md").read_text(encoding="utf-8")


def test_the_complete_example_is_a_valid_drill() -> None:
    section = DOC.split("## A complete example", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.S)
    assert example is not None
    drill = parse_drill(example.group(1), Path("dns-nxdomain-hard-bounce.toml"))
    assert drill.solved is not None and drill.fix.cli
    tested = Path(__file__).parent / "data" / f"{drill.id}.toml"  # the loader's tests use it
    assert example.group(1) == tested.read_text(encoding="utf-8")


def test_every_shape_is_documented_with_its_groups() -> None:
    for shape in SHAPES.values():
        fields = ", ".join(f"`{g}`" for g in groups(shape.regex))
        assert f"| `{shape.id}` | {fields} | {shape.description} |" in DOC, shape.id


def test_every_check_kind_fault_action_and_traffic_kind_is_documented() -> None:
    for kind in CHECK_KINDS:
        assert f"\n| `{kind}` |" in DOC, kind
    for action in (a for actions in FAULT_ACTIONS.values() for a in actions):
        assert f"`{action}`" in DOC, action
    for kind in TRAFFIC_KINDS:
        assert f"`{kind}`" in DOC, kind


def test_every_lab_value_is_documented() -> None:
    for name in (*LAB_NAMES, BLACKHOLE_NAME):
        assert f"`{name}`" in DOC, name
