"""Where drills are found: shipped with segcli, the user's own, and ``--path`` directories.

The shipped drills are package data (``segcli/drills/catalogue/*.toml``), so a user who
installs segcli with pip has them.  A user's drills live in ``$XDG_CONFIG_HOME/segcli/drills``
(``~/.config/segcli/drills``); more directories come with ``--path DIR``.  Later places win:
a user drill with a shipped drill's id replaces it (and ``drill list`` says so), and a
``--path`` drill replaces both.  A file that does not load is listed with its problems; it
never stops the others from being listed, and it never runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from segcli.drills.loader import DrillFileError, Problem, is_slug, load_drill
from segcli.drills.model import Drill

SHIPPED = "shipped"
USER = "user"
PATH = "path"


class DrillNotFound(LookupError):
    """No drill has that id in any of the places searched."""

    def __init__(self, drill_id: str, places: Sequence[Path]) -> None:
        super().__init__(drill_id)
        self.drill_id = drill_id
        self.places = tuple(places)

    def __str__(self) -> str:
        return (f"no drill {self.drill_id!r} (looked in "
                f"{', '.join(str(p) for p in self.places)}; `segcli drill list` shows them)")


@dataclass(frozen=True)
class DrillEntry:
    """One drill file found: the drill, or the problems that keep it from loading."""

    id: str
    path: Path
    origin: str  # SHIPPED, USER or PATH
    drill: Drill | None
    problems: tuple[Problem, ...] = ()
    #: The file with the same id this one replaces (a shipped drill under a user's own).
    overrides: Path | None = None


def shipped_dir() -> Path:
    """The drills that come with segcli (package data)."""
    return Path(str(resources.files("segcli.drills").joinpath("catalogue")))


def user_dir() -> Path:
    """``$XDG_CONFIG_HOME/segcli/drills``, else ``~/.config/segcli/drills``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "segcli" / "drills"


def places(paths: Sequence[Path] = ()) -> list[tuple[str, Path]]:
    """Where drills are looked for, lowest precedence first."""
    return [(SHIPPED, shipped_dir()), (USER, user_dir()), *((PATH, Path(p)) for p in paths)]


def find_drills(paths: Sequence[Path] = ()) -> list[DrillEntry]:
    """Every drill of every place, one per id (the last place wins), sorted by id."""
    found: dict[str, DrillEntry] = {}
    for origin, directory in places(paths):
        for path in _files(directory):
            entry = _entry(path, origin)
            earlier = found.get(entry.id)
            if earlier is not None and earlier.path.resolve() != path.resolve():
                entry = DrillEntry(entry.id, entry.path, entry.origin, entry.drill,
                                   entry.problems, overrides=earlier.path)
            found[entry.id] = entry
    return sorted(found.values(), key=lambda e: e.id)


def find_drill(id_or_path: str, paths: Sequence[Path] = ()) -> Drill:
    """The drill of a file (a name ending in ``.toml``, or with a ``/``) or of an id
    (the last place that has ``<id>.toml`` wins).  :class:`DrillFileError` if it does not
    load, :class:`DrillNotFound` if no place has it."""
    if id_or_path.endswith(".toml") or os.sep in id_or_path or "/" in id_or_path:
        return load_drill(Path(id_or_path))
    searched = [directory for _, directory in places(paths)]
    if is_slug(id_or_path):
        for directory in reversed(searched):
            candidate = directory / f"{id_or_path}.toml"
            if candidate.is_file():
                return load_drill(candidate)
    raise DrillNotFound(id_or_path, searched)


def _files(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.glob("*.toml") if p.is_file())
    except OSError:
        return []


def _entry(path: Path, origin: str) -> DrillEntry:
    try:
        drill = load_drill(path)
    except DrillFileError as exc:
        return DrillEntry(path.stem, path, origin, None, tuple(exc.problems))
    return DrillEntry(drill.id, path, origin, drill)
