"""A big paste into an interactive (prompt_toolkit) SSH session: every pasted line arrives
intact and in order, and another session keeps answering meanwhile.

prompt_toolkit handles the keys it reads in one go, a few hundred microseconds each; the
server gives them to it a slice at a time (segcli/ssh/shells.py, ``KeyPipe``), so the
paste takes many loop turns and other sessions are served between them.  No time is
asserted: the other session's round trips must complete while the paste is worked
through, and the paste must come out whole.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading

from tests.e2e.ssh_fixtures import HOST, PROMPT
from tests.e2e.test_ssh_paramiko import Shell, shell

#: Words with characters of two and three UTF-8 bytes, so that slices of the paste
#: end inside a character.
WORDS = ("café", "naïve", "€uro", "señal", "mail", "gateway", "tdc", "journal", "größe", "x")
_ECHOED = re.compile(r"echoed (\d+) (\d+) ([0-9a-f]{16})")


def pasted_lines(seed: int = 12) -> list[tuple[str, str]]:
    """(tag, words) for each line of the paste: 40 short lines and one of 3,000
    characters (more than a slice, less than a command line may be)."""
    chance = random.Random(seed)
    lines = []
    for number in range(41):
        length = 3000 if number == 20 else chance.randrange(60, 200)
        words: list[str] = []
        while len(" ".join(words)) < length:
            words.append(chance.choice(WORDS))
        lines.append((str(number), " ".join(words)))
    return lines


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def round_trips(session: Shell, until: threading.Event, done: list[int]) -> None:
    """``version`` at the other session, again and again until *until* is set (at
    least once); each must come back with its prompt."""
    while True:
        session.send("version\n")
        assert "Version:" in session.read_until(PROMPT)
        done.append(1)
        if until.is_set():
            return


def test_a_big_paste_arrives_whole_while_another_session_answers(ssh_appliance):
    lines = pasted_lines()
    paste = "".join(f"e2eecho {tag} {words}\r" for tag, words in lines)
    assert len(paste.encode("utf-8")) > 8000
    person, typing = shell(ssh_appliance, term="xterm-256color", width=200, height=50)
    script, other = shell(ssh_appliance)
    try:
        typing.read_until(f"{HOST}>")
        other.read_until(PROMPT)
        pasted = threading.Event()
        answered: list[int] = []
        errors: list[BaseException] = []

        def other_session() -> None:
            try:
                round_trips(other, pasted, answered)
            except BaseException as error:  # reported by the test's own thread
                errors.append(error)

        typing.send(paste)  # one write: the whole paste reaches the server at once
        worker = threading.Thread(target=other_session)
        worker.start()
        last = f"echoed {lines[-1][0]} "
        try:
            seen = typing.read_until(last) + last + typing.read_until(f"{HOST}>")
        finally:
            pasted.set()
            worker.join(timeout=60)
        assert not worker.is_alive() and not errors, errors
        assert answered, "the other session never answered"

        echoed = _ECHOED.findall(seen)
        assert echoed == [(tag, str(len(words)), digest(words)) for tag, words in lines]
        typing.send("quit\r")
        typing.rest()
        assert typing.channel.recv_exit_status() == 0
    finally:
        person.close()
        script.close()
