"""Drive a real ``segcli`` process under a pseudo-terminal, the way pgcli tests its REPL.

Cursor-position requests are off (``PROMPT_TOOLKIT_NO_CPR=1``) and the terminal size is
fixed, so prompt_toolkit's output does not depend on the machine; a test that needs CPR
(the bottom toolbar is drawn only when prompt_toolkit knows the room below the cursor)
asks for it and the driver answers every request.  Every wait is an ``expect`` on output,
never a sleep, with timeouts generous enough for a slow shared machine; a failed wait says
what was expected and shows the screen text so far.
"""

from __future__ import annotations

import io
import re
import sys
import time
from pathlib import Path

import pexpect

from tests.conftest import REPO, segcli_env

#: Tall enough that no test's output is paged (``-Press Any Key For More-``) unless the test
#: makes the window small itself (``child.setwinsize``).
ROWS, COLUMNS = 200, 160
START_TIMEOUT = 90  # the first prompt: interpreter start, imports, store migration
TIMEOUT = 45
#: prompt_toolkit turns bracketed paste off when a prompt (command or question) is
#: accepted, cancelled or ended: past this mark the next prompt drawn is a new one.
ACCEPTED = "\x1b[?2004l"
CPR_REQUEST = "\x1b[6n"
UP, CTRL_C, CTRL_D, TAB = "\x1b[A", "\x03", "\x04", "\t"
HOST = "mail1.example.com"

_CONTROL = re.compile(r"\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
                      r"|[\r\n\b]")


def screen_text(raw: str) -> str:
    """What a person would read in the terminal (scroll-back included) after *raw*.

    A tiny line-oriented emulation of the few controls prompt_toolkit uses outside
    full-screen mode: text, CR, LF, backspace, cursor up/down/forward/back (it draws
    spaces as cursor moves), erase line and erase below.  Colours and modes are dropped.
    """
    rows: list[list[str]] = [[]]
    row = col = 0
    position = 0
    for match in [*_CONTROL.finditer(raw), None]:
        end = match.start() if match else len(raw)
        for char in raw[position:end]:
            line = rows[row]
            line.extend(" " * (col - len(line) + 1))
            line[col] = char
            col += 1
        if match is None:
            break
        position = match.end()
        token, final = match.group(0), match.group(2)
        count = int(match.group(1)) if match.group(1) and match.group(1).isdigit() else 1
        if token == "\r":
            col = 0
        elif token == "\n":
            row += 1
        elif token == "\b":
            col = max(col - 1, 0)
        elif final == "A":
            row = max(row - count, 0)
        elif final == "B":
            row += count
        elif final == "C":
            col += count
        elif final == "D":
            col = max(col - count, 0)
        elif final == "K":
            del rows[row][col:]
        elif final == "J":
            del rows[row][col:]
            del rows[row + 1:]
        rows.extend([] for _ in range(row + 1 - len(rows)))
    return "\n".join("".join(line).rstrip() for line in rows)


class Segcli:
    """One ``segcli`` process on a pty, with helpers for prompts, commands and answers."""

    def __init__(self, child: pexpect.spawn, log: io.StringIO, *, cpr: bool) -> None:
        self.child = child
        self._log = log
        self._cpr = cpr

    @classmethod
    def spawn(cls, data_dir: Path, *args: str, cpr: bool = False, env: dict[str, str] | None = None,
              preload: str | None = None, stderr: Path | None = None) -> Segcli:
        """Start ``python -m segcli --data DIR ARGS``.

        *preload* imports a module first (a test-only command); *stderr* sends the
        process's standard error to a file, so that it can be told from its output.
        """
        env = dict(segcli_env() if env is None else env)
        if cpr:
            env.pop("PROMPT_TOOLKIT_NO_CPR", None)
        argv = ["-m", "segcli"]
        if preload:
            argv = ["-c", f"import {preload}; from segcli.main import main; raise SystemExit(main())"]
        argv += ["--data", str(data_dir), *args]
        command, arguments = sys.executable, argv
        if stderr is not None:
            command, arguments = "/bin/sh", ["-c", f'exec "$0" "$@" 2>"{stderr}"', sys.executable,
                                            *argv]
        log = io.StringIO()
        child = pexpect.spawn(command, arguments, env=env, cwd=str(REPO), encoding="utf-8",
                              codec_errors="replace", dimensions=(ROWS, COLUMNS), timeout=TIMEOUT)
        child.logfile_read = log
        return cls(child, log, cpr=cpr)

    # -- what was seen -----------------------------------------------------------------
    @property
    def raw(self) -> str:
        """Everything the process wrote so far, escape sequences included."""
        return self._log.getvalue()

    @property
    def text(self) -> str:
        return screen_text(self.raw)

    # -- waiting -------------------------------------------------------------------------
    def expect(self, text: str, *, timeout: float = TIMEOUT, regex: bool = False) -> str:
        """Wait for *text* (exact, or a regular expression); return what came before it."""
        patterns: list = [re.compile(text) if regex else re.compile(re.escape(text)), pexpect.EOF]
        if self._cpr:
            patterns.append(re.compile(re.escape(CPR_REQUEST)))
        before = ""
        while True:
            try:
                index = self.child.expect_list(patterns, timeout=timeout)
            except pexpect.TIMEOUT:
                raise AssertionError(self._report(f"timed out after {timeout}s waiting for", text)
                                     ) from None
            before += self.child.before
            if index == 0:
                return before
            if index == 1:
                raise AssertionError(self._report("the process ended while waiting for", text))
            self.child.send(f"\x1b[{ROWS - 2};1R")  # a cursor position report

    def expect_screen(self, text: str, *, host: str = HOST, timeout: float = TIMEOUT) -> None:
        """Wait until the screen, from the last ``host>`` prompt on, reads *text* as a
        person sees it.

        For what prompt_toolkit may draw in pieces (a completion drawn after the typed
        letters were echoed on their own), so that the raw stream never holds it whole."""
        deadline = time.monotonic() + timeout
        while text not in self.text.rpartition(f"{host}>")[2]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(self._report(f"timed out after {timeout}s waiting to see",
                                                  text))
            try:
                self.child.read_nonblocking(4096, timeout=min(left, 0.5))  # logged as read
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                raise AssertionError(self._report("the process ended while waiting for",
                                                  text)) from None

    def _report(self, what: str, text: str) -> str:
        tail = self.text[-3000:]
        return f"{what} {text!r}\n--- screen text so far (tail) ---\n{tail}\n--- end ---"

    def prompt(self, host: str = HOST, *, timeout: float = TIMEOUT) -> None:
        """Wait for the main prompt ``host>`` (prompt_toolkit draws its trailing space
        as a cursor move, so the space is not part of the match)."""
        self.expect(f"{host}>", timeout=timeout)

    def started(self, host: str = HOST) -> Segcli:
        self.prompt(host, timeout=START_TIMEOUT)
        return self

    # -- typing --------------------------------------------------------------------------
    def command(self, line: str) -> None:
        """Type *line* and Enter, and wait until the prompt has taken it."""
        self.child.send(line + "\r")
        self.expect(ACCEPTED)

    answer = command

    def keys(self, keys: str) -> None:
        self.child.send(keys)

    def run(self, line: str, *, host: str = HOST) -> str:
        """Run a command and return its output (the text up to the next prompt)."""
        self.command(line)
        return screen_text(self.expect(f"{host}>"))

    # -- the end -------------------------------------------------------------------------
    def wait_exit(self, *, timeout: float = TIMEOUT) -> int | None:
        """Wait for the process to end by itself; return its exit status."""
        try:
            self.child.expect(pexpect.EOF, timeout=timeout)
        except pexpect.TIMEOUT:
            raise AssertionError(self._report("timed out waiting for", "the process to end")) from None
        self.child.close()
        return self.child.exitstatus

    def close(self) -> None:
        """Stop the process if it still runs (SIGHUP, then SIGINT, then SIGKILL)."""
        if self.child.isalive():
            self.child.close(force=True)
        elif not self.child.closed:
            self.child.close()
