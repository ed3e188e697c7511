"""The appliance's two ways of writing a time.

Mail log lines use C's ``asctime`` (day of month padded with a space:
``Wed Sep  6 13:13:16 2023``); CLI reports add the zone: ``... 2024 GMT``.

Tests: tests/engine/observe/test_mail_log.py.
"""

from __future__ import annotations

from datetime import UTC, datetime


def asctime(moment: datetime) -> str:
    """``%a %b %e %H:%M:%S %Y`` in UTC, e.g. ``Wed Sep  6 13:13:16 2023``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%a %b ") + f"{moment.day:2d}" + moment.strftime(" %H:%M:%S %Y")


def cli_time(moment: datetime) -> str:
    """``Fri Feb 16 21:19:22 2024 GMT``, as ``commit`` and ``tophosts`` print it."""
    return f"{asctime(moment)} GMT"


def now() -> datetime:
    return datetime.now(UTC)
