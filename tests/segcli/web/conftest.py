"""The live gateway's network fixtures (real SMTP listeners, TLS material) for the web tests."""

from tests.engine.conftest import server_tls, smtp_servers, tls_dir, tls_material  # noqa: F401
