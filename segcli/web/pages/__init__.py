"""The pages of the web interface: each module registers its routes when imported
(:func:`segcli.web.app.page` / :func:`segcli.web.app.action`).  Add a module's name to
:data:`PAGE_MODULES` to serve it."""

from __future__ import annotations

import importlib

PAGE_MODULES = ("policies", "tdc", "commit", "reporting", "message_tracking")


def load_pages() -> None:
    """Import every page module once (registering their routes)."""
    for name in PAGE_MODULES:
        importlib.import_module(f"{__name__}.{name}")
