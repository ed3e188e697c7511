"""Monitor > Message Tracking: the search form's fields read into a query of
:mod:`engine.observe.tracking_search`, each bad field with the appliance's error beside it.

No HTTP here: the page (segcli/web/pages/tracking.py) hands the query string's values in
and renders the form, the results and a message's details.  Times in the form are UTC
(the appliance's clock, as ``(GMT +00:00)`` says on every time shown).

Tests: tests/segcli/web/test_tracking_form.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from engine.config.text import InvalidValue, check_text, is_digits
from engine.observe.tracking import tracking_time
from engine.observe.tracking_search import Match, Query, TextFilter

#: The text fields: (name in the form, label, what an error calls it).
TEXT_FIELDS = (("sender", "Envelope Sender", "envelope sender"),
               ("recipient", "Envelope Recipient", "envelope recipient"),
               ("subject", "Subject", "subject"))
MATCHES = tuple(match.value for match in Match)
#: Results per page, as the page's menu offers them (and nothing else).
LIMITS = (25, 50, 100, 250, 1000)
DEFAULT_LIMIT = 100
#: The form of ``<input type="datetime-local">`` (seconds optional), or typed with a space.
_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
MAX_SEARCH_TEXT = 256
T = TypeVar("T")


@dataclass
class SearchForm:
    """The form as sent (to show it again), its errors by field, and the query when there
    is none.  ``searched``: the form was submitted (the first visit shows only the form)."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    query: Query | None = None
    searched: bool = False


def parse_search(params: Mapping[str, str]) -> SearchForm:
    """Read the form's fields; every field is optional, every one given must be valid."""
    names = [name for name, _, _ in TEXT_FIELDS]
    keys = [*names, *(f"{n}_match" for n in names), "mid", "since", "until", "limit"]
    values = {key: params.get(key, "").strip() for key in keys}
    form = SearchForm(values, searched="search" in params)
    filters: dict[str, TextFilter | None] = {}
    for name, _, what in TEXT_FIELDS:
        filters[name] = _field(form, name, partial(_text_filter, values, name, what))
    mid = _field(form, "mid", lambda: _mid(values["mid"]))
    since = _field(form, "since", lambda: _time(values["since"], "start"))
    until = _field(form, "until", lambda: _time(values["until"], "end"))
    limit = _field(form, "limit", lambda: _limit(values["limit"]))
    if since is not None and until is not None and until <= since and "until" not in form.errors:
        form.errors["until"] = "The end of the time range must be after its start."
    if not form.errors:
        form.query = Query(sender=filters["sender"], recipient=filters["recipient"],
                           subject=filters["subject"], mid=mid, since=since, until=until,
                           limit=limit or DEFAULT_LIMIT)
    return form


def _field(form: SearchForm, name: str, read: Callable[[], T]) -> T | None:
    """*read*'s value, or None with its error noted beside the field *name*."""
    try:
        return read()
    except InvalidValue as exc:
        form.errors[name] = str(exc)
        return None


def _text_filter(values: Mapping[str, str], name: str, what: str) -> TextFilter | None:
    text = values[name]
    match = values[f"{name}_match"] or Match.BEGINS.value
    if match not in MATCHES:
        raise InvalidValue(f"Choose how the {what} matches: {', '.join(MATCHES)}.")
    if not text:
        return None
    check_text(text, what, max_length=MAX_SEARCH_TEXT)
    return TextFilter(text, Match(match))


def _mid(text: str) -> int | None:
    if not text:
        return None
    if not is_digits(text):
        raise InvalidValue("A Message ID (MID) is a number.")
    return int(text)


def _time(text: str, which: str) -> float | None:
    if not text:
        return None
    for form in _TIME_FORMATS:
        try:
            return datetime.strptime(text, form).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise InvalidValue(f"Enter the {which} of the time range as YYYY-MM-DD HH:MM (GMT).")


def _limit(text: str) -> int | None:
    if not text:
        return None
    if not is_digits(text) or int(text) not in LIMITS:
        raise InvalidValue(f"Results per page: one of {', '.join(map(str, LIMITS))}.")
    return int(text)


def shown_time(at: float) -> str:
    """A time as the tracking page shows it: ``16 Feb 2024 21:19:24 (GMT +00:00)``."""
    return tracking_time(at)
