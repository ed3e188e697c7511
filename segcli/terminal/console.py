"""The interactive renderer: prompt_toolkit for a person at a terminal.

Completion comes from the command registry (commands, sub-commands, policy names)
and, at a question, from the answers the dialog offers; history is kept per user
across runs; the bottom toolbar shows the hostname, pending changes and the
connector at a glance.  Output goes through a rich Console sized to this terminal, and
through a pager (segcli/terminal/pager.py) that shows ``-Press Any Key For More-`` when more than a
window's worth is written between two prompts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion, WordCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.history import DummyHistory, FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.keys import Keys
from prompt_toolkit.output import Output
from rich.console import Console
from rich.text import Text

from commands.command_line import split_words, too_long
from commands.io import Cancelled, EndOfInput
from commands.registry import suggestions
from engine.config.text import shown
from segcli.terminal.pager import RAW, Pager

if TYPE_CHECKING:
    from commands.session import CliSession
    from engine.store.database import ConfigVersion


#: How often the toolbar is redrawn while a prompt waits, when it shows a caller's item.
TOOLBAR_REFRESH_S = 1.0


def _key_name(key: Keys | str) -> str:
    """``c-c`` for Ctrl-C, the character itself for a printable key."""
    return key.value if isinstance(key, Keys) else key


class CommandCompleter(Completer):
    """Completes the word under the cursor from the registry's grammar."""

    def __init__(self, terminal: PromptTerminal) -> None:
        self._terminal = terminal

    def get_completions(self, document: Document, complete_event: CompleteEvent
                        ) -> Iterable[Completion]:
        session = self._terminal.session
        if session is None:
            return
        text = document.text_before_cursor
        if too_long(text) is not None:  # it will be refused; nothing to complete
            return
        try:
            words = split_words(text)
        except ValueError:
            return
        prefix = "" if not text or text[-1].isspace() else (words.pop() if words else "")
        for word in suggestions(session, words, prefix):
            yield Completion(word, start_position=-len(prefix))


class PromptTerminal:
    """A :class:`~commands.io.Terminal` for a person: line editing, completion, toolbar.

    The bottom toolbar is drawn only where prompt_toolkit knows the room below the
    cursor, i.e. when the terminal answers cursor-position requests (real terminals
    do; ``PROMPT_TOOLKIT_NO_CPR=1`` turns it off).
    """

    interactive = True

    def __init__(self, *, history_file: Path | None = None, input: Input | None = None,
                 output: Output | None = None, stdout: Any = None,
                 toolbar_item: Callable[[], str] | None = None) -> None:
        self.session: CliSession | None = None
        #: One more toolbar item from whoever runs the console (``segcli drill start``
        #: shows the drill's state): a plain callable, so the terminal knows no drill.
        self._toolbar_item = toolbar_item
        self._unsubscribe: Callable[[], None] | None = None
        history: History = InMemoryHistory()
        if history_file is not None:
            history_file.parent.mkdir(parents=True, exist_ok=True)
            history = FileHistory(str(history_file))
        self._commands: PromptSession[str] = PromptSession(
            history=history, completer=CommandCompleter(self), complete_while_typing=False,
            bottom_toolbar=self._toolbar, input=input, output=output,
            # the caller's item may change while the prompt waits (a drill solved from
            # another terminal): redraw now and then to show it
            refresh_interval=TOOLBAR_REFRESH_S if toolbar_item is not None else 0,
        )
        # Answers keep no history: Up-arrow at a question must never bring back an
        # earlier answer that may have been a password.
        self._answers: PromptSession[str] = PromptSession(
            history=DummyHistory(), input=input, output=output
        )
        self._output = self._commands.output
        self._input = self._commands.input
        self._console = Console(file=stdout, highlight=False, emoji=False, markup=False,
                                soft_wrap=True)
        self._pager = Pager(self._emit, self._size, self._read_key, self._stop_command)

    def attach(self, session: CliSession) -> None:
        self.session = session
        self._unsubscribe = session.appliance.on_config_change(self._redraw)

    def detach(self) -> None:
        """Stop following the appliance's commits (a session that ends, e.g. over SSH)."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()

    def _redraw(self, _version: ConfigVersion) -> None:
        """A new version (perhaps from another console) changes the prompt and the
        toolbar: redraw the prompt being shown now rather than at the next one."""
        app = self._commands.app
        if app.is_running:
            app.invalidate()

    def _live_prompt(self) -> str:
        assert self.session is not None
        return self.session.prompt

    @property
    def width(self) -> int:
        return self._output.get_size().columns

    # -- output (through the pager) ---------------------------------------------------
    def write(self, text: str) -> None:
        self._pager.write(text)

    def error(self, text: str) -> None:
        self._pager.write(text, "bold red")

    def show(self, renderable: Any) -> None:
        self._console.width = self.width
        with self._console.capture() as captured:
            self._console.print(renderable)
        self._pager.write(captured.get(), RAW)

    def _emit(self, text: str, style: str | None) -> None:
        """Write to the terminal now (the pager decides when)."""
        if style == RAW:
            self._console.file.write(text)
            self._console.file.flush()
            return
        self._console.width = self.width
        self._console.print(Text(text, style=style or ""), end="")

    def _size(self) -> tuple[int, int]:
        size = self._output.get_size()
        return size.rows, size.columns

    async def _read_key(self, prompt: str) -> str:
        """Show the pager's *prompt* and read one key press, in raw mode (no line editing
        runs while a command's output is paged); returns prompt_toolkit's key name."""
        pressed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def ready() -> None:
            if self._input.closed:
                keys = ["eof"]
            else:
                keys = [_key_name(press.key)
                        for press in self._input.read_keys() or self._input.flush_keys()]
            if keys and not pressed.done():
                pressed.set_result(keys[0])

        with self._input.raw_mode(), self._input.attach(ready):
            self._emit(prompt, RAW)
            return await pressed

    def _stop_command(self) -> None:
        """``q`` or Ctrl-C at the pager's prompt: the command is cancelled like with Ctrl-C."""
        if self.session is not None:
            self.session.interrupt()

    async def _before_prompt(self) -> None:
        """Every held page is shown first; then the page count starts again."""
        await self._pager.drained()
        self._pager.reset()

    # -- input ---------------------------------------------------------------------
    async def read_command(self, prompt: str) -> str:
        """One command line.  Ctrl-C abandons the line; Ctrl-D means ``quit``.

        The prompt is re-read at every redraw (see :meth:`_redraw`), so it follows a
        hostname committed elsewhere.  ``handle_sigint=False`` leaves SIGINT to
        ``segcli.main``, which cancels a running command with it.
        """
        message = self._live_prompt if self.session is not None else prompt
        await self._before_prompt()
        try:
            return await self._commands.prompt_async(message, handle_sigint=False)
        except KeyboardInterrupt:
            return ""
        except EOFError:
            if self._commands.input.closed:  # the terminal went away: nobody to ask
                raise EndOfInput from None
            # Like AsyncOS quit: pending changes are not dropped without a warning.
            return "quit"

    async def ask(self, prompt: str, *, choices: Sequence[str] = (), secret: bool = False) -> str:
        completer = WordCompleter(list(choices), ignore_case=True) if choices else None
        await self._before_prompt()
        try:
            return await self._answers.prompt_async(
                prompt, completer=completer, is_password=secret, handle_sigint=False,
                complete_while_typing=False,
            )
        except KeyboardInterrupt:
            raise Cancelled from None
        except EOFError:
            raise EndOfInput from None

    def _toolbar(self) -> str:
        session = self.session
        if session is None:
            return ""
        config = session.appliance.config
        pending = len(session.pending.changes)
        tdc = (f"TDC enabled → {config.tdc.intake_address}" if config.tdc.enabled
               else "TDC disabled")
        changes = f"{pending} uncommitted change(s)" if pending else "no uncommitted changes"
        items = [config.hostname, session.user, changes, tdc]
        if self._toolbar_item is not None:
            items.append(self._extra_item())
        return f" {' | '.join(item for item in items if item)} "

    def _extra_item(self) -> str:
        """The caller's item; a failing callable costs its item, never the prompt."""
        assert self._toolbar_item is not None
        try:
            return shown(self._toolbar_item())
        except Exception:  # the toolbar is drawn at every key press
            return ""
