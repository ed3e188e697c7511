"""Paging end to end: ``-Press Any Key For More-`` for a person at a terminal whose window
is too small, page by page; ``q`` or Ctrl-C stop the output (and a command still running);
never in plain mode, even at a small terminal, nor for a script."""

from __future__ import annotations

import io

import pexpect
import pytest

from tests.conftest import REPO, SEGCLI, run_segcli, segcli_env
from tests.e2e.pty_console import CTRL_C, START_TIMEOUT, TIMEOUT, screen_text

MORE = "-Press Any Key For More-"


def _help_lines(data_dir) -> list[str]:
    """What ``help`` prints, as a script sees it (the reference for the pages)."""
    result = run_segcli(data_dir, "help\n")
    assert result.returncode == 0, result.stdout
    lines = result.stdout.split("mail1.example.com> help\n", 1)[1].splitlines()
    return lines[: lines.index("mail1.example.com> ")] if "mail1.example.com> " in lines else lines


def test_long_output_pages_in_a_small_window(spawn, data_dir):
    expected = _help_lines(data_dir)
    assert len(expected) > 20  # several pages of a 10-row window
    console = spawn().started()
    console.child.setwinsize(10, 120)
    console.command("help")
    first = screen_text(console.expect(MORE)).split("mail1.example.com> help\n")[-1].splitlines()
    assert first == expected[:9]  # rows - 1 lines, the last row for the prompt
    console.keys(" ")
    second = screen_text(console.expect(MORE))
    assert second.splitlines()[-9:] == expected[9:18]  # the next page, the prompt erased
    console.keys("q")  # the rest is dropped
    console.prompt()
    rest = screen_text(console.child.before)
    assert expected[18] not in rest and expected[-1] not in rest
    out = console.run("showchanges")  # short output: no paging, the count started again
    assert "No changes have been made" in out and MORE not in out
    console.command("quit")
    assert console.wait_exit() == 0


def test_ctrl_c_at_the_pager_cancels_a_running_command(spawn):
    console = spawn().started()
    console.child.setwinsize(4, 120)  # tail's first lines do not fit
    console.command("tail -n 3 mail_logs")  # follows the log until cancelled
    console.expect(MORE)
    console.keys(CTRL_C)
    console.prompt()
    assert "Time offset from UTC" not in console.child.before  # the rest was dropped
    console.command("quit")
    assert console.wait_exit() == 0


@pytest.mark.parametrize(("args", "term"), [(("--plain",), "xterm-256color"), ((), "dumb")],
                         ids=["--plain", "TERM=dumb"])
def test_plain_mode_never_pages_even_in_a_small_terminal(data_dir, args, term):
    env = segcli_env()
    env["TERM"] = term
    child = pexpect.spawn(SEGCLI[0], [*SEGCLI[1:], "--data", str(data_dir), *args], env=env,
                          cwd=str(REPO), dimensions=(5, 80), timeout=TIMEOUT, encoding="utf-8")
    child.logfile_read = seen = io.StringIO()
    try:
        child.expect_exact("mail1.example.com> ", timeout=START_TIMEOUT)
        child.send("help\r")
        child.expect_exact("tlsverify ")  # near the end of the list, many rows below
        child.expect_exact("mail1.example.com> ")
        child.send("quit\r")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert MORE not in seen.getvalue()
    assert "version" in seen.getvalue().split("tlsverify", 1)[1]


def test_a_script_never_pages(data_dir):
    result = run_segcli(data_dir, "help\nhelp\nhelp\n")
    assert result.returncode == 0 and MORE not in result.stdout
    assert result.stdout.count("tlsverify ") == 3
