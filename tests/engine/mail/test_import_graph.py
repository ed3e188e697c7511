"""The mail package's parts are handed what they use (STYLE.md example 3): none of them
imports the mail engine that wires them -- not even for type checking -- and their
imports form no circle."""

from __future__ import annotations

import ast
from pathlib import Path

MAIL = Path(__file__).resolve().parents[3] / "engine" / "mail"
WIRING = "engine.mail.mail_engine"


def _module(path: Path) -> str:
    return "engine.mail." + path.stem


def imports_of(path: Path) -> set[str]:
    """Every engine.mail module *path* imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("engine.mail.")}


def mail_graph(directory: Path = MAIL) -> dict[str, set[str]]:
    """Each module of the mail package and the modules of the package it imports."""
    paths = [p for p in directory.glob("*.py") if p.name != "__init__.py"]
    modules = {_module(p) for p in paths}
    return {_module(p): imports_of(p) & modules for p in paths}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of *graph* (each as a path that ends where it started)."""
    done: set[str] = set()

    def circle_from(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name):], name]
        if name in done:
            return None
        for imported in sorted(graph.get(name, ())):
            found = circle_from(imported, [*path, name])
            if found:
                return found
        done.add(name)
        return None

    found: dict[frozenset[str], list[str]] = {}
    for name in sorted(graph):
        circle = circle_from(name, [])
        if circle:
            found.setdefault(frozenset(circle), circle)  # each circle once
    return list(found.values())


def test_only_the_appliance_wiring_imports_the_mail_engine():
    importers = sorted(name for name, imported in mail_graph().items() if WIRING in imported)
    assert importers == []


def test_the_mail_modules_import_each_other_without_a_circle():
    assert circles(mail_graph()) == []


def test_the_checks_see_a_circle_and_a_back_reference_for_type_checking(tmp_path):
    (tmp_path / "queue.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from engine.mail import bounces\n"
        "if TYPE_CHECKING:\n"
        "    from engine.mail.mail_engine import MailEngine\n")
    (tmp_path / "bounces.py").write_text("import engine.mail.queue\n")
    (tmp_path / "mail_engine.py").write_text("")
    graph = mail_graph(tmp_path)
    assert WIRING in graph["engine.mail.queue"]
    assert circles(graph) == [["engine.mail.bounces", "engine.mail.queue", "engine.mail.bounces"]]
