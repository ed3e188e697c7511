"""The AsyncOS dialog conventions, on a scripted terminal."""

from __future__ import annotations

import asyncio

import pytest

from commands.dialog import Dialog, pick
from commands.io import Cancelled, EndOfInput
from engine.config.addresses import InvalidValue, check_hostname
from tests.conftest import CTRL_C, ScriptedTerminal


def _run(answers, action):
    term = ScriptedTerminal(answers)
    dialog = Dialog(term)
    result = asyncio.run(action(dialog))
    return result, term, dialog


def test_ask_shows_the_default_and_enter_takes_it():
    result, term, _ = _run([""], lambda d: d.ask("Hostname?", default="gw.example.com"))
    assert result == "gw.example.com"
    assert term.text == "\nHostname?\n[gw.example.com]> \n"


def test_ask_re_asks_after_the_validators_message():
    result, term, dialog = _run(["bad host", "ok.example.com"],
                                lambda d: d.ask("Host?", validate=check_hostname))
    assert result == "ok.example.com"
    assert term.prompts == ["[]> ", "[]> "]
    assert "A hostname must contain only letters" in term.text
    assert dialog.errors == 1


def test_ask_required_refuses_blank():
    result, term, _ = _run(["", "x"], lambda d: d.ask_required("Name?"))
    assert result == "x" and "You must enter a value." in term.text


@pytest.mark.parametrize(("answer", "expected"), [("y", True), ("YES", True), ("n", False),
                                                  ("No", False), ("", False)])
def test_confirm(answer, expected):
    result, term, _ = _run([answer], lambda d: d.confirm("Sure?", default=False))
    assert result is expected
    assert term.prompts == ["Sure? [N]> "]


def test_confirm_insists_on_y_or_n():
    result, term, _ = _run(["maybe", "y"], lambda d: d.confirm("Sure?", default=True))
    assert result is True and "Please answer Y or N." in term.text


def test_menu_is_case_insensitive_and_blank_goes_back():
    options = [("NEW", "Create"), ("EDIT", "Edit")]
    result, term, _ = _run(["nope", "eDiT"], lambda d: d.menu(options))
    assert result == "EDIT"
    assert "Choose the operation you want to perform:\n- NEW - Create\n- EDIT - Edit\n[]> " in term.text
    assert "Unknown option: nope" in term.text
    assert term.choices[0] == ["NEW", "EDIT"]  # what completion offers
    back, _, _ = _run([""], lambda d: d.menu(options))
    assert back is None


def test_choose_by_number_or_name_with_default():
    items = ["sales", "DEFAULT"]
    assert _run(["2"], lambda d: d.choose(items, "Which?"))[0] == 1
    assert _run(["SALES"], lambda d: d.choose(items, "Which?"))[0] == 0
    assert _run([""], lambda d: d.choose(items, "Which?", default=1))[0] == 1
    result, term, _ = _run(["3", "0", "1"], lambda d: d.choose(items, "Which?"))
    assert result == 0 and term.text.count("is not a valid choice") == 2
    assert _run([""], lambda d: d.choose(items, "Which?", allow_blank=True))[0] is None


def test_ask_number_range():
    result, term, _ = _run(["9", "x", "3"], lambda d: d.ask_number("How many?", low=1, high=5))
    assert result == 3 and term.text.count("The value must be an integer from 1 to 5.") == 2


def test_ctrl_c_and_end_of_input_propagate():
    with pytest.raises(Cancelled):
        _run([CTRL_C], lambda d: d.ask("Q?"))
    with pytest.raises(EndOfInput):
        _run([], lambda d: d.confirm("Q?", default=True))


def test_read_document_until_dot_or_end():
    text, _, _ = _run(["<a>", "</a>", ".", "after"], lambda d: d.read_document("Paste:"))
    assert text == "<a>\n</a>"
    text, _, _ = _run(["<b/>"], lambda d: d.read_document("Paste:"))
    assert text == "<b/>"


def test_pick():
    assert pick(["a", "b"], "2") == 1 and pick(["a", "b"], "B") == 1
    assert pick(["a", "b"], "c") is None and pick(["a", "b"], "0") is None


def test_validator_exceptions_other_than_invalid_value_propagate():
    def boom(_answer):
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        _run(["x"], lambda d: d.ask("Q?", validate=boom))
    assert issubclass(InvalidValue, ValueError)


#: Text from outside (a Subject, a log line, a remote reply): terminal title with BEL,
#: clear screen, NUL, CR, DEL, a C1 CSI, a bidirectional override.
HOSTILE = "a\x1b]0;PWNED\x07 \x1b[2J\x00\r\x7f\x9b\u202ez"
ESCAPED = "a\\x1b]0;PWNED\\x07 \\x1b[2J\\x00\\r\\x7f\\x9b\\u202ez"


def _raw_controls(text: str) -> list[str]:
    """The control characters in *text* but line ends (what a terminal would obey)."""
    return [c for c in text if (c < " " and c != "\n") or "\x7f" <= c <= "\x9f" or c == "\u202e"]


def test_text_from_outside_is_printed_with_its_controls_escaped():
    term = ScriptedTerminal()
    dialog = Dialog(term)
    dialog.say(f"MID 7 Subject \"{HOSTILE}\"\nsecond line")
    dialog.error(f"Unknown command or missing feature key: {HOSTILE}")
    dialog.say("Grüße aus Köln ✉ 営業部")
    assert _raw_controls(term.text) == []
    assert term.out == [f"MID 7 Subject \"{ESCAPED}\"\nsecond line\n",
                        f"Unknown command or missing feature key: {ESCAPED}\n",
                        "Grüße aus Köln ✉ 営業部\n"]


def test_a_list_from_outside_is_shown_and_chosen_escaped():
    items = ["plain", f"MID 7 {HOSTILE}"]
    result, term, _ = _run([f"mid 7 {ESCAPED}"], lambda d: d.choose(items, "Which?"))
    assert result == 1  # chosen by the name as it was shown
    assert _raw_controls(term.text) == []
    assert f"2. MID 7 {ESCAPED}\n" in term.text
    assert term.choices == [["plain", f"MID 7 {ESCAPED}"]]  # completion offers them escaped


def test_a_prompt_is_printed_safely_too():
    result, term, _ = _run(["y"], lambda d: d.confirm(f"Delete {HOSTILE}?", default=False))
    assert result is True
    assert term.prompts == [f"Delete {ESCAPED}? [N]> "]
