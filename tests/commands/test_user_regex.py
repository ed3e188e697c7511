"""People's regular expressions (commands/user_regex.py) and the commands that take them:
no catastrophic backtracking, a budget of matching time with a clear message when it is
spent, clear errors for what RE2 does not have, and searches that stop when cancelled."""

from __future__ import annotations

import random
import time

import pytest

from commands import user_regex
from commands.user_regex import SearchStopped, TooSlow, UserRegex
from engine.config.addresses import InvalidValue
from engine.observe.log_files import mail_log_directory
from engine.observe.mail_log import CURRENT
from tests.conftest import run_session

#: ``(a+)+b`` backtracks 2**28 ways on this line with Python's re (about 20 s).
CRAFTED = "Mon Jan  1 00:00:00 2024 Info: " + "a" * 28 + "!"
#: A pattern whose DFA would need 2**900 states: RE2 runs out of DFA memory and simulates
#: the NFA, tens of milliseconds for each of these lines (x and y by chance).  Slow by
#: design, yet linear.
SLOW = r"x[xy]{900}z"
_CHANCE = random.Random(9)
SLOW_LINES = ["".join(_CHANCE.choice("xy") for _ in range(10_000)) for _ in range(20)]


def test_a_backtracking_pattern_answers_at_once():
    started = time.perf_counter()
    assert not UserRegex("(a+)+b").search()(CRAFTED)
    assert UserRegex("(a+)+!").search()(CRAFTED)
    assert time.perf_counter() - started < 2  # microseconds; Python's re took 20 s


def test_case_insensitive_and_python_syntax():
    assert UserRegex("tdc: mid \\d+", ignore_case=True).search()("Info: TDC: MID 12 queued")
    assert not UserRegex("tdc: mid \\d+").search()("Info: TDC: MID 12 queued")
    assert UserRegex(r"(?P<mid>MID \d+) (?:from|to)").search()("MID 5 to")


@pytest.mark.parametrize("text, reason", [
    ("(", "missing ): ("),
    (r"(a)\1", r"invalid escape sequence: \1"),  # backreferences: not in RE2
    ("(?=x)", "invalid perl operator: (?="),  # look-around: not in RE2
    ("((a{100}){100}){100}", "invalid repetition size"),
    (r"\w{1000}", "it is too complex; simplify it"),
])
def test_what_cannot_be_matched_safely_is_an_invalid_expression(text, reason):
    with pytest.raises(InvalidValue) as refused:
        UserRegex(text)
    assert str(refused.value).startswith(f"Invalid regular expression {text!r}: ")
    assert reason in str(refused.value)


def test_a_search_stops_when_its_budget_is_spent():
    search = UserRegex(SLOW).search(budget=0.05)
    with pytest.raises(TooSlow, match="took too long; simplify it"):
        for line in SLOW_LINES:
            search(line)


def test_a_stopped_search_matches_nothing_more():
    search = UserRegex("x").search()
    assert search("x")
    search.stop()
    with pytest.raises(SearchStopped):
        search("x")


# -- through the commands --------------------------------------------------------------------------
@pytest.fixture
def crafted_log(appliance):
    directory = mail_log_directory(appliance.options.data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / CURRENT, "a", encoding="utf-8") as log:
        log.write(f"{CRAFTED}\n")
        log.write(f'Mon Jan  1 00:00:01 2024 Info: MID 7 Subject "{"a" * 28}!"\n')
        for mid, line in enumerate(SLOW_LINES, 100):
            log.write(f'Mon Jan  1 00:00:02 2024 Info: MID {mid} Subject "{line}"\n')
    return appliance


@pytest.mark.parametrize("command, answer", [
    ("grep -e '(a+)+b' -c mail_logs", "0\n"),
    ("grep -e '(a+)+!' -c mail_logs", "2\n"),
    ("findevent -s '(a+)+b'", "No matching message IDs\n"),
])
def test_commands_answer_a_backtracking_pattern(crafted_log, command, answer):
    status, term, _ = run_session(crafted_log, [command])
    assert status == 0, term.text
    assert term.text.endswith(answer + "mail1.example.com> ")


@pytest.mark.parametrize("command, message", [
    (f"grep -e '{SLOW}' mail_logs", "Unable to grep: the regular expression took too long; "
                                    "simplify it."),
    (f"grep -e '{SLOW}' -c mail_logs", "Unable to grep: the regular expression took too long"),
    (f"findevent -s '{SLOW}'", "Unable to search: the regular expression took too long"),
])
def test_commands_stop_a_search_that_takes_too_long(crafted_log, monkeypatch, command, message):
    monkeypatch.setattr(user_regex, "SEARCH_SECONDS", 0.05)
    status, term, _ = run_session(crafted_log, [command, "version"])
    assert status == 1
    assert message in term.text
    assert "Current Version" in term.text  # the session goes on


def test_an_invalid_expression_fails_the_command(crafted_log):
    status, term, _ = run_session(crafted_log, ["grep -e '(a)\\1' mail_logs"])
    assert status == 1
    assert "Unable to grep: Invalid regular expression '(a)\\\\1': invalid escape sequence" \
        in term.text


def test_interactive_grep_refuses_an_expression_too_complex_when_case_is_ignored(crafted_log):
    """The expression is asked before case sensitivity; ``k{1000}`` is fine as it is but
    too complex ignoring case (k, K and the Kelvin sign), so it is asked again."""
    _, term, _ = run_session(crafted_log, ["grep", "mail_logs", "k{1000}", "(a+)+!", "Y", "N",
                                           "N", ""])
    assert ("[]> k{1000}\nInvalid regular expression 'k{1000}': it is too complex; simplify "
            "it.\n\nEnter the regular expression to grep.\n[]> (a+)+!\n") in term.text
    assert term.text.endswith(f'{CRAFTED}\nMon Jan  1 00:00:01 2024 Info: MID 7 Subject '
                              f'"{"a" * 28}!"\nmail1.example.com> ')
