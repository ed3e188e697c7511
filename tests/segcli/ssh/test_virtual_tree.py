"""Paths in the virtual tree SFTP and SCP show (segcli/ssh/virtual_tree.py): lengths are
checked before anything is resolved, and every refusal is one line of ASCII."""

from __future__ import annotations

import pytest
from twisted.conch.ssh.filetransfer import FX_FAILURE, FX_NO_SUCH_FILE

from segcli.ssh.virtual_tree import MAX_NAME_BYTES, MAX_PATH_BYTES, PathError, VirtualPath


def refusal(raw: bytes) -> PathError:
    with pytest.raises(PathError) as caught:
        VirtualPath(raw).file_name()
    return caught.value


def test_a_path_longer_than_path_max_is_refused_before_it_is_resolved():
    error = refusal(b"/configuration/" + b"x/../" * (MAX_PATH_BYTES // 5) + b"ok.xml")
    assert error.code == FX_FAILURE
    assert error.message == f"File name too long: a path has at most {MAX_PATH_BYTES} bytes"


def test_a_name_too_long_for_the_file_system_is_refused_with_its_limit():
    error = refusal(b"/configuration/" + b"n" * (MAX_NAME_BYTES + 1))
    assert error.code == FX_FAILURE
    assert error.message.endswith(f": File name too long (at most {MAX_NAME_BYTES} bytes)")
    assert len(error.message) < 150  # the name is cut in the middle
    assert VirtualPath(b"/configuration/" + b"n" * MAX_NAME_BYTES).file_name()


def test_a_name_counts_in_bytes_not_characters():
    assert refusal(("/configuration/" + "\u00e9" * (MAX_NAME_BYTES // 2 + 1)).encode()).code \
        == FX_FAILURE


def test_messages_are_one_line_of_ascii():
    error = refusal("/elsewhere/\u00e9t\u00e9\n.xml".encode())
    assert error.code == FX_NO_SUCH_FILE
    assert error.message == "No such file: /elsewhere/\\xe9t\\xe9\\n.xml"
    assert error.message.isascii()
