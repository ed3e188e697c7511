"""The live engine of tests/engine (``gateway``) needs that package's SMTP servers and TLS
material: the template tests read output of real traffic."""

from tests.engine.conftest import server_tls, smtp_servers, tls_dir, tls_material  # noqa: F401
