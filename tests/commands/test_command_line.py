"""Command lines: the length bound (refused before parsing, the session goes on) and the
one-pass splitting, which must give exactly what ``shlex.split`` gives."""

from __future__ import annotations

import random
import shlex
import time

import pytest

from commands.command_line import MAX_COMMAND_LINE, split_words, too_long
from tests.conftest import run_session


def _outcome(split, line: str) -> tuple[str, object]:
    try:
        return "words", split(line)
    except ValueError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("line", [
    "", "   ", "status detail", "  tophosts\t1 ", "a''b", "''", "a '' b", '""',
    "grep -e '\\d+ MID' mail_logs", 'grep -e "TDC: MID \\d+ x" mail_logs', 'say "a\\"b"',
    'say "a\\\\b"', "a\\ b", "a\\'b", "'un closed", '"un closed', "trailing\\", '"esc at end\\',
    "x'y z'w", 'mixed"a b"\'c d\'e', "tab\there", "é ü 'ß'", "a;b 'c;d'",
])
def test_split_words_is_shlex_split(line):
    assert _outcome(split_words, line) == _outcome(shlex.split, line)


def test_split_words_agrees_with_shlex_on_random_lines():
    rng = random.Random(20240601)
    alphabet = ["a", "b", " ", "\t", "'", '"', "\\", "\n", "é", ";"]
    for _ in range(20_000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert _outcome(split_words, line) == _outcome(shlex.split, line), repr(line)


def test_split_words_is_linear():
    """shlex took about 20 s for one word of a megabyte (quadratic); this must not."""
    started = time.perf_counter()
    assert split_words("status " + "A" * 1_000_000) == ["status", "A" * 1_000_000]
    split_words('say "' + "\\a" * 200_000 + '"')
    assert time.perf_counter() - started < 5  # about 0.1 s; the defect took 20 s


def test_too_long_names_the_sizes_not_the_line():
    assert too_long("x" * MAX_COMMAND_LINE) is None
    message = too_long("x" * (MAX_COMMAND_LINE + 1))
    assert message is not None and "x" * 20 not in message
    assert f"{MAX_COMMAND_LINE + 1:,} characters" in message


def test_a_line_too_long_is_refused_and_the_session_goes_on(appliance):
    status, term, _ = run_session(appliance, ["status " + "A" * 1_000_000, "version"])
    assert status == 1
    assert ("Invalid arguments when processing: the command line is 1,000,007 characters "
            f"long; the limit is {MAX_COMMAND_LINE:,}.") in term.text
    assert "Current Version" in term.text  # the next command ran
    assert term.text.count("AAAAAAAAAA") == 100_000  # the echo only: the error quotes none


def test_a_long_line_within_the_limit_still_runs(appliance):
    padding = " " * (MAX_COMMAND_LINE - len("version"))
    status, term, _ = run_session(appliance, ["version" + padding])
    assert status == 0
    assert "Current Version" in term.text
