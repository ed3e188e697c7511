"""The drills shipped inside the package (segcli/drills/catalogue): every file is TOML that
tomllib reads, names itself by its file name, and no two share an id.  (Whether each one is
a valid drill is the loader's test; this one guards the files themselves.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import segcli.drills

CATALOGUE = Path(segcli.drills.__file__).parent / "catalogue"
FILES = sorted(CATALOGUE.glob("*.toml"))

#: DRILLS.md §5: the twenty drills of the first catalogue.
EXPECTED = {
    "baseline-healthy", "uncommitted-tdc-config", "tdc-globally-disabled", "policy-no-scan",
    "custom-intake-policy-mismatch", "by-design-spam-virus-not-journaled", "smtp-550-no-retry",
    "smtp-4xx-retry-success", "smtp-4xx-twice-gives-up", "smtp-503-552-retried",
    "tls-untrusted-certificate", "tls-starttls-stripped", "conn-timeout-120s-expiry",
    "intake-domain-without-mx", "disconnect-after-dot", "dns-nxdomain-hard-bounce",
    "dns-servfail-retry", "dns-wrong-server", "backlog-burst-connections",
    "slow-setd-queue-growth",
}


def _read(path: Path) -> dict:
    with path.open("rb") as file:
        return tomllib.load(file)


def test_the_twenty_drills_are_shipped() -> None:
    assert {p.stem for p in FILES} == EXPECTED


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_a_shipped_file_parses_and_names_itself(path: Path) -> None:
    data = _read(path)
    assert data["schema"] == 1
    assert data["id"] == path.stem


def test_no_two_files_share_an_id() -> None:
    ids = [_read(p)["id"] for p in FILES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_a_shipped_drill_says_how_to_fix_and_prove_it(path: Path) -> None:
    """DRILLS.md §8: a ticket, two or three hints, diagnosis steps, a [fix] and a [solved]
    section with checks; by-design drills carry a quiz."""
    data = _read(path)
    assert data["ticket"]["text"].strip()
    assert 2 <= len(data["hint"]) <= 3
    assert data["diagnosis"]["steps"]
    assert data["fix"]["story"].strip()
    assert data["solved"]["expect"]
    if data["category"] == "by-design":
        assert data["quiz"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_a_shipped_drill_is_valid(path: Path) -> None:
    """The loader takes every shipped drill; strictly, only its warn-only checks are named."""
    from segcli.drills.loader import load_drill, validate

    drill = load_drill(path)
    assert drill.id == path.stem
    assert validate(drill) == []
    for problem in validate(drill, strict=True):
        assert "warn-only check" in problem.message, problem
