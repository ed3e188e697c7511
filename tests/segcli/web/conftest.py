"""The web interface's tests use the engine's live gateway (tests/engine/gateway_lab.py)."""

from tests.engine.conftest import server_tls, smtp_servers, tls_dir, tls_material  # noqa: F401
