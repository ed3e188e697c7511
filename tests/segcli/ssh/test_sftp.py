"""The SFTP server's view of ``/configuration`` (segcli/ssh/sftp.py), without a network:
the end-to-end behaviour is in tests/e2e/test_ssh_sftp.py."""

from __future__ import annotations

from types import SimpleNamespace

from twisted.conch.ssh.filetransfer import FXF_CREAT, FXF_TRUNC, FXF_WRITE

from engine.store.users import Role
from segcli.ssh.sftp import ConfigurationFiles


def test_an_upload_is_the_first_use_of_the_configuration_directory(tmp_path):
    """On a new data directory nothing has made ``configuration/`` yet (saveconfig and a
    listing make it): an upload must still land there, not fail with "No such file"
    (found by benchmarks/fuzz.py: every SFTP upload before the first listing failed)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    avatar = SimpleNamespace(user=SimpleNamespace(name="admin", role=Role.ADMIN), data_dir=data_dir)
    files = ConfigurationFiles(avatar)
    upload = files.openFile(b"/configuration/new.xml", FXF_WRITE | FXF_CREAT | FXF_TRUNC, {})
    upload.writeChunk(0, b"<config/>")
    upload._finish()  # what close() runs in a thread
    assert (data_dir / "configuration" / "new.xml").read_bytes() == b"<config/>"
