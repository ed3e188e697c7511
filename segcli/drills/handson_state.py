"""What a hands-on drill has been through: ``<data>/drill.json``, and where the current one runs.

``segcli drill start`` writes the record and keeps it up to date as the trainee asks for hints,
checks, reveals or resets; ``drill stop`` closes it (the record stays, as the trainee's result).
The record is the answer to "what happened", never the way to reach the drill: the other
terminal's commands talk to the running drill over the lab's control socket.

Which data directory is current (``segcli drill status`` without ``--data``) is kept in
``<drills home>/current``, one line naming the directory, written at start.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.durable import write_durably

STATE_FILE = "drill.json"
CURRENT_FILE = "current"


class StateError(Exception):
    """A ``drill.json`` that cannot be read as a drill record (the text says which and why)."""


@dataclass
class DrillState:
    """One hands-on drill, as far as the trainee has got.  Times are UTC, ISO 8601."""

    id: str
    title: str = ""
    source: str = ""  # the drill file it came from
    timescale: float = 1.0
    started_at: str = field(default_factory=lambda: now())
    hints_used: int = 0
    hints_total: int = 0
    revealed: bool = False
    revealed_at: str | None = None
    solved: bool = False
    solved_at: str | None = None  # the first time it was solved (a reset does not undo it)
    checks_run: int = 0
    resets: int = 0
    #: the faults armed now (their ids, in the drill's order); empty once the drill stopped
    faults: list[str] = field(default_factory=list)
    #: quiz answers given: one entry per question, the 1-based choice, 0 not yet
    answers: list[int] = field(default_factory=list)
    stopped_at: str | None = None

    # -- derived ------------------------------------------------------------------------
    def running_s(self, at: datetime | None = None) -> float:
        """Seconds from the start to *at* (default: now, or the stop when it stopped)."""
        end = at or (_parse(self.stopped_at) if self.stopped_at else datetime.now(UTC))
        return max(0.0, (end - _parse(self.started_at)).total_seconds())

    def solve_s(self) -> float | None:
        """Seconds from the start to the first passing check; None while unsolved."""
        return self.running_s(_parse(self.solved_at)) if self.solved_at else None

    @property
    def label(self) -> str:
        """``solved``, ``revealed`` or ``unsolved``: the word the toolbar and status show."""
        if self.solved:
            return "solved"
        return "revealed" if self.revealed else "unsolved"

    def toolbar(self) -> str:
        """The console toolbar's item: ``drill: policy-no-scan · unsolved · hints 1/3``."""
        return f"drill: {self.id} · {self.label} · hints {self.hints_used}/{self.hints_total}"

    # -- on disk ------------------------------------------------------------------------
    def save(self, data_dir: Path) -> None:
        """Write the record (a whole new file, renamed into place: a reader never sees half)."""
        text = json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"
        write_durably(data_dir / STATE_FILE, text.encode("utf-8"), mode=0o600)

    @classmethod
    def load(cls, data_dir: Path) -> DrillState:
        path = data_dir / STATE_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StateError(f"no drill was started in {data_dir}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(f"{path} cannot be read: {exc}") from None
        return cls.from_dict(raw, path)

    @classmethod
    def from_dict(cls, raw: Any, where: Path | str = "drill record") -> DrillState:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            raise StateError(f"{where} is not a drill record (no drill id)")
        values = {key: value for key, value in raw.items() if key in _TYPES}
        for key, value in values.items():
            if not isinstance(value, _TYPES[key]) or (isinstance(value, bool)
                                                      and bool not in _TYPES[key]):
                raise StateError(f"{where} is not a drill record: {key} is {value!r}")
        return cls(**values)


#: What each field of the record may hold (a hand-edited file is refused, not half-read).
_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,), "title": (str,), "source": (str,), "timescale": (int, float),
    "started_at": (str,), "hints_used": (int,), "hints_total": (int,), "revealed": (bool,),
    "revealed_at": (str, type(None)), "solved": (bool,), "solved_at": (str, type(None)),
    "checks_run": (int,), "resets": (int,), "faults": (list,), "answers": (list,),
    "stopped_at": (str, type(None)),
}
assert set(_TYPES) == {f.name for f in fields(DrillState)}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``: a time as a trainee reads it."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# -- the drills' home and the current drill ---------------------------------------------------

def drills_home() -> Path:
    """``$XDG_DATA_HOME/segcli/drills``, else ``~/.local/share/segcli/drills``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "segcli" / "drills"


def default_data_dir(drill_id: str) -> Path:
    """Where ``drill start ID`` runs its lab when no ``--data`` is given."""
    return drills_home() / drill_id


def remember_current(data_dir: Path) -> None:
    """Record *data_dir* as the drill the other terminal's commands mean by default."""
    home = drills_home()
    home.mkdir(parents=True, exist_ok=True)
    write_durably(home / CURRENT_FILE, f"{data_dir.resolve()}\n".encode())


def forget_current(data_dir: Path) -> None:
    """Forget *data_dir* as the current drill, if it still is (another may have started)."""
    if current_data_dir() == data_dir.resolve():
        (drills_home() / CURRENT_FILE).unlink(missing_ok=True)


def current_data_dir() -> Path | None:
    """The data directory of the drill started last, or None."""
    try:
        text = (drills_home() / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return Path(text) if text else None


def resolve_data_dir(data: Path | None, drill_id: str | None) -> Path:
    """The data directory a command means: ``--data``, else the drill's default directory
    (when an id is given), else the current drill's, else the drills' home."""
    if data is not None:
        return data.expanduser().resolve()
    if drill_id:
        return default_data_dir(drill_id).resolve()
    return current_data_dir() or drills_home()
