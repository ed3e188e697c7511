"""The configuration directory's rules, shared by the CLI and (later) the SFTP server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.config.files import (
    MAX_DOCUMENT_BYTES,
    ConfigFileError,
    check_file_name,
    config_dir,
    list_config_files,
    locate_config_file,
    read_config_file,
    saved_config_name,
    write_config_file,
)


def test_config_dir_is_in_the_data_dir(tmp_path):
    assert config_dir(tmp_path) == tmp_path / "configuration"


def test_saved_name_shape():
    moment = datetime(2024, 2, 16, 21, 19, 22, tzinfo=UTC)
    assert saved_config_name("C100V", "ABC-123", moment) == "C100V-ABC-123-20240216T211922.xml"


def test_write_then_list_hides_partial_files(tmp_path):
    path = write_config_file(tmp_path, "b.xml", "<config/>")
    write_config_file(tmp_path, "a.xml", "<config/>")
    (config_dir(tmp_path) / ".c.xml.partial").write_text("half")
    (config_dir(tmp_path) / "subdir").mkdir()
    assert path.read_text() == "<config/>"
    assert list_config_files(tmp_path) == ["a.xml", "b.xml"]


def test_list_without_a_directory(tmp_path):
    assert list_config_files(tmp_path) == []


@pytest.mark.parametrize("name", ["", "..", ".", "a/b", "../x", "a\\b", "a\0b"])
def test_check_file_name_refuses_ways_out(name):
    with pytest.raises(ConfigFileError):
        check_file_name(name)


def test_write_refuses_paths(tmp_path):
    with pytest.raises(ConfigFileError):
        write_config_file(tmp_path, "../escape.xml", "x")
    assert not (tmp_path / "escape.xml").exists()


def test_locate_host_paths_only_when_allowed(tmp_path):
    assert locate_config_file(tmp_path, "/etc/hosts", host_paths=True).as_posix() == "/etc/hosts"
    assert locate_config_file(tmp_path, "x.xml", host_paths=True) == config_dir(tmp_path) / "x.xml"
    with pytest.raises(ConfigFileError):
        locate_config_file(tmp_path, "/etc/hosts", host_paths=False)


def test_read_errors(tmp_path):
    with pytest.raises(ConfigFileError, match='the file "x" does not exist'):
        read_config_file(tmp_path / "missing", "x")
    with pytest.raises(ConfigFileError, match="is not a regular file"):
        read_config_file(tmp_path, "dir")
    big = tmp_path / "big.xml"
    big.write_bytes(b" " * (MAX_DOCUMENT_BYTES + 1))
    with pytest.raises(ConfigFileError, match="too large"):
        read_config_file(big, "big.xml")
    ok = tmp_path / "ok.xml"
    ok.write_bytes(b"<config/>")
    assert read_config_file(ok, "ok.xml") == b"<config/>"


def test_a_name_longer_than_the_file_system_allows(tmp_path):
    """``loadconfig <300 characters>`` ended in an application fault (OSError: File name
    too long) when the name was looked up (found by benchmarks/fuzz.py)."""
    long_name = "a" * 300 + ".xml"
    with pytest.raises(ConfigFileError, match="too long"):
        check_file_name(long_name)
    with pytest.raises(ConfigFileError, match="too long"):
        locate_config_file(tmp_path, long_name, host_paths=False)
    with pytest.raises(ConfigFileError, match="too long"):
        check_file_name("é" * 200)  # 400 bytes
    # a host path (the console's loadconfig, certconfig import) with too long a part
    with pytest.raises(ConfigFileError, match="cannot be read"):
        read_config_file(tmp_path / long_name, long_name[:20])
