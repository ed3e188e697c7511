"""Regular expressions that people type (``grep``, ``findevent``), matched so that no
pattern can stall the appliance.

Python's ``re`` backtracks: ``(a+)+b`` over 28 ``a`` and a ``!`` tries 2**28 ways (about
20 s) and holds the GIL all along, so the event loop -- the mail -- waits, even though the
search runs in a thread.  RE2 (google-re2) never backtracks: its time is linear in the
text, and it releases the GIL while it matches.  Linear can still be slow when a pattern
is built to be: if its DFA runs out of memory RE2 simulates the NFA, at a cost of the
program's size per character.  So:

- a pattern's program is capped (:data:`MAX_PROGRAM`) and captures are off (a search only
  asks whether a line matches);
- a search has a budget of matching time (:data:`SEARCH_SECONDS`), checked after every
  line: past it the search stops with :class:`TooSlow`, which the command reports;
- a search the command no longer waits for (Ctrl-C, a closed channel) stops at the next
  line instead of running on in its thread.

What RE2 lacks (backreferences, look-around) is refused as an invalid expression.
"""

from __future__ import annotations

import time

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

from engine.config.addresses import InvalidValue

#: The most matching time one search may take, in seconds.  Scanning every mail log file
#: (21 files of 10 MB) with an ordinary pattern takes a few seconds; a minute is far above
#: that and still ends a pattern built to be slow.
SEARCH_SECONDS = 60.0
#: The largest compiled pattern (RE2 program instructions).  When RE2 falls back to its
#: NFA a character costs up to about 10 ns per instruction; 3,000 keeps a log line of a
#: kilobyte under 30 ms, and is well above what searches compile to (most patterns to
#: under 100 instructions, ``[0-9a-f]{32}`` to 68, a list of 100 addresses to 2,000).
MAX_PROGRAM = 3_000
TOO_SLOW = "the regular expression took too long; simplify it."


class TooSlow(Exception):
    """A search used up its matching time (``str()`` says so, for the command's error)."""


class SearchStopped(Exception):
    """The search was stopped because nobody waits for it any more."""


class UserRegex:
    """A person's regular expression, checked and compiled once."""

    def __init__(self, text: str, *, ignore_case: bool = False) -> None:
        self.text = text
        self._regexp = _compile(text, ignore_case)

    def search(self, budget: float | None = None) -> Search:
        """A matcher for one search, with its own budget of matching time (by default
        :data:`SEARCH_SECONDS`)."""
        return Search(self._regexp, SEARCH_SECONDS if budget is None else budget)


class Search:
    """``search(line)`` is true when *line* matches: the callable the log readers take,
    run in their thread.  Raises TooSlow once the budget is spent, SearchStopped after
    :meth:`stop`."""

    def __init__(self, regexp: re2._Regexp, budget: float) -> None:
        self._search = regexp.search
        self._left = budget
        self._stopped = False

    def __call__(self, line: str) -> bool:
        if self._stopped:
            raise SearchStopped
        started = time.perf_counter()
        found = self._search(line) is not None
        self._left -= time.perf_counter() - started
        if self._left < 0:
            raise TooSlow(TOO_SLOW)
        return found

    def stop(self) -> None:
        """The command is over (or cancelled): the thread stops at its next line."""
        self._stopped = True


def _compile(text: str, ignore_case: bool) -> re2._Regexp:
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.never_capture = True
    options.log_errors = False  # the reason goes to the person, not to stderr
    try:
        regexp = re2.compile(text, options)
    except re2.error as exc:
        raise InvalidValue(f"Invalid regular expression {text!r}: {_reason(exc)}.") from None
    if regexp.programsize > MAX_PROGRAM:
        raise InvalidValue(f"Invalid regular expression {text!r}: it is too complex; "
                           "simplify it.")
    return regexp


def _reason(error: re2.error) -> str:
    """RE2's reason (it comes as bytes), e.g. ``missing ): (unclosed``."""
    reason = error.args[0] if error.args else "not understood"
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    return str(reason)
