"""The AsyncOS commands.  Every module here that declares commands registers them in
:data:`commands.registry.REGISTRY` when imported; :func:`load_all` imports them all."""

from __future__ import annotations

import importlib
import pkgutil

_INFRASTRUCTURE = {"dialog", "errors", "io", "registry", "session"}


def load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _INFRASTRUCTURE:
            importlib.import_module(f"{__name__}.{module.name}")
