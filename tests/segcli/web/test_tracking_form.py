"""The Message Tracking form's fields read into a query (segcli/web/tracking.py): each bad
field gets its own error and no query is made."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.observe.tracking_search import Match, TextFilter
from segcli.web.tracking import DEFAULT_LIMIT, parse_search


def test_an_empty_form_is_not_a_search_and_an_empty_search_finds_everything():
    form = parse_search({})
    assert not form.searched and form.errors == {} and form.query is not None
    form = parse_search({"search": "Search"})
    assert form.searched and form.query is not None
    assert form.query.limit == DEFAULT_LIMIT and form.query.subject is None


def test_every_field_is_read():
    form = parse_search({"search": "Search", "sender": " alice@example.org ",
                         "sender_match": "Is", "recipient": "bob@", "subject": "<script>",
                         "subject_match": "Contains", "mid": "42",
                         "since": "2026-12-06T13:00", "until": "2026-12-06 14:00:30",
                         "limit": "25"})
    assert form.errors == {}
    query = form.query
    assert query is not None
    assert query.sender == TextFilter("alice@example.org", Match.IS)
    assert query.recipient == TextFilter("bob@", Match.BEGINS)  # the page's default
    assert query.subject == TextFilter("<script>", Match.CONTAINS)
    assert query.mid == 42 and query.limit == 25
    assert query.since == datetime(2026, 12, 6, 13, 0, tzinfo=UTC).timestamp()
    assert query.until == datetime(2026, 12, 6, 14, 0, 30, tzinfo=UTC).timestamp()
    assert form.values["sender"] == "alice@example.org"  # shown again as sent


def test_bad_fields_get_their_own_errors_and_no_query():
    form = parse_search({"search": "Search", "mid": "12a", "since": "yesterday",
                         "limit": "7", "subject": "a\x1bb", "sender_match": "Regex"})
    assert form.query is None
    assert form.errors["mid"] == "A Message ID (MID) is a number."
    assert "time range" in form.errors["since"]
    assert "25, 50, 100, 250, 1000" in form.errors["limit"]
    assert "U+001B" in form.errors["subject"] and "\x1b" not in form.errors["subject"]
    assert "Begins With, Is, Contains" in form.errors["sender"]
    for mid in ("²", "1" * 40, "-1"):
        assert "mid" in parse_search({"mid": mid}).errors


def test_the_end_of_the_range_comes_after_its_start():
    form = parse_search({"since": "2026-12-06T14:00", "until": "2026-12-06T13:00"})
    assert form.query is None and form.errors == {
        "until": "The end of the time range must be after its start."}
