"""The interactive renderer's pager: a page of rows since the last prompt, then
``-Press Any Key For More-``; a key shows the next page, ``q`` or Ctrl-C drops the rest."""

from __future__ import annotations

import asyncio

from segcli.terminal.pager import MORE, RAW, Pager


class _Screen:
    """A pager wired to a list of what was written and a queue of keys."""

    def __init__(self, rows: int = 5, columns: int = 20) -> None:
        self.out: list[str] = []
        self.keys: asyncio.Queue[str] = asyncio.Queue()
        self.stopped = 0
        self.size = (rows, columns)
        self.pager = Pager(lambda text, style: self.out.append(text), lambda: self.size,
                           self._read_key, self._stop)

    async def _read_key(self, prompt: str) -> str:
        self.out.append(prompt)
        return await self.keys.get()

    def _stop(self) -> None:
        self.stopped += 1

    @property
    def text(self) -> str:
        return "".join(self.out)

    @property
    def prompts(self) -> int:
        return self.out.count(MORE)


def _lines(n: int, start: int = 1) -> str:
    return "".join(f"line {i}\n" for i in range(start, start + n))


def test_output_that_fits_is_written_at_once():
    async def scenario() -> None:
        screen = _Screen(rows=5)
        screen.pager.write(_lines(4))  # rows - 1: a full page, nothing more
        await asyncio.sleep(0)
        assert screen.text == _lines(4) and screen.prompts == 0
        await screen.pager.drained()
    asyncio.run(scenario())


def test_more_output_waits_for_a_key_page_by_page():
    async def scenario() -> None:
        screen = _Screen(rows=5)
        screen.pager.write(_lines(10))
        await asyncio.sleep(0)
        assert screen.text == _lines(4) + MORE
        assert screen.pager.holding
        screen.pager.write("written while held\n")  # the command went on: held too
        screen.keys.put_nowait(" ")
        await asyncio.sleep(0.01)
        assert screen.prompts == 2 and "line 8" in screen.text and "line 9" not in screen.text
        screen.keys.put_nowait("x")
        await screen.pager.drained()
        assert screen.text.endswith("line 10\nwritten while held\n")
        assert screen.stopped == 0
    asyncio.run(scenario())


def test_q_or_ctrl_c_drop_the_rest_and_stop_the_command():
    for key in ("q", "c-c"):
        async def scenario(key: str = key) -> None:
            screen = _Screen(rows=3)
            screen.pager.write(_lines(10))
            screen.keys.put_nowait(key)
            await screen.pager.drained()
            assert screen.stopped == 1
            screen.pager.write("after the stop\n")  # until the next prompt: dropped
            assert "line 3" not in screen.text and "after the stop" not in screen.text
            screen.pager.reset()
            screen.pager.write("next command\n")
            assert screen.text.endswith("next command\n")
        asyncio.run(scenario())


def test_a_prompt_starts_the_count_again_and_long_lines_take_several_rows():
    async def scenario() -> None:
        screen = _Screen(rows=5, columns=10)
        screen.pager.write(_lines(3))
        screen.pager.reset()  # a prompt came in between
        screen.pager.write(_lines(4))
        assert screen.prompts == 0
        screen.pager.reset()
        screen.pager.write("x" * 25 + "\n")  # three rows of 10 columns
        screen.pager.write("\x1b[1mbold\x1b[0m\n", RAW)  # escape sequences take no room
        screen.pager.write("one more\n")
        await asyncio.sleep(0)
        assert screen.prompts == 1 and not screen.text.endswith("one more\n")
        screen.keys.put_nowait(" ")
        await screen.pager.drained()
        assert screen.text.endswith("one more\n")
    asyncio.run(scenario())
