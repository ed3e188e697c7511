"""Where drills are found, and which one wins when two places have the same id."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import segcli.drills
from segcli.drills import catalogue
from segcli.drills.catalogue import DrillNotFound, find_drill, find_drills, shipped_dir, user_dir
from segcli.drills.loader import DrillFileError

EXAMPLE = Path(__file__).parent / "data" / "dns-nxdomain-hard-bounce.toml"


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    shipped, config = tmp_path / "shipped", tmp_path / "config"
    shipped.mkdir()
    monkeypatch.setattr(catalogue, "shipped_dir", lambda: shipped)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return shipped, config / "segcli" / "drills"


def test_the_places() -> None:
    assert shipped_dir() == Path(segcli.drills.__file__).parent / "catalogue"


def test_user_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_dir() == tmp_path / "segcli" / "drills"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert user_dir() == Path.home() / ".config" / "segcli" / "drills"


def test_a_user_drill_replaces_the_shipped_one_of_the_same_id(dirs: tuple[Path, Path]) -> None:
    shipped, user = dirs
    user.mkdir(parents=True)
    shutil.copy(EXAMPLE, shipped)
    mine = user / EXAMPLE.name
    mine.write_text(EXAMPLE.read_text(encoding="utf-8").replace(
        'title      = "Typo', 'title      = "My own typo'), encoding="utf-8")
    (entry,) = find_drills()
    assert (entry.origin, entry.path, entry.overrides) == ("user", mine, shipped / EXAMPLE.name)
    assert entry.drill is not None and entry.drill.title.startswith("My own typo")
    assert find_drill("dns-nxdomain-hard-bounce").source == mine
    assert find_drill(str(shipped / EXAMPLE.name)).source == shipped / EXAMPLE.name


def test_a_broken_file_is_listed_with_its_problems_and_never_found(dirs: tuple[Path, Path],
                                                                   tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "half.toml").write_text('schema = 1\nid = "half"\n', encoding="utf-8")
    (entry,) = find_drills([extra])
    assert (entry.id, entry.origin, entry.drill) == ("half", "path", None)
    assert any("'title' is required" in p.message for p in entry.problems)
    with pytest.raises(DrillFileError):
        find_drill("half", [extra])
    with pytest.raises(DrillNotFound, match="no drill 'nothing'"):
        find_drill("nothing", [extra])
