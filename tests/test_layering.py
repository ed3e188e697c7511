"""The direction of imports (DESIGN.md, "Layers (folders) and the direction of imports"),
checked from the source the way cowrie's test_import_layering does: every module of
``engine/``, ``commands/`` and ``segcli/`` is parsed with :mod:`ast`, and every import
counts -- at the top, inside a function, or under ``if TYPE_CHECKING:`` (a circle that
only the type checker sees is still a circle to the reader).

- ``engine/`` imports neither ``commands`` nor ``segcli``, nor prompt_toolkit, Conch or rich;
- ``commands/`` imports no prompt_toolkit, Conch or ``segcli``;
- no two modules of the project import each other, directly or through others.
"""

from __future__ import annotations

import ast
import functools
import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "commands", "segcli")

#: What each layer must never import: the layers above it, and the libraries only
#: ``segcli/`` (the terminals and transports) may know.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "engine": ("commands", "segcli", "prompt_toolkit", "twisted.conch", "rich"),
    "commands": ("prompt_toolkit", "twisted.conch", "segcli"),
}

#: module -> {module it imports: line of its first import there}
Graph = Mapping[str, Mapping[str, int]]


# -- reading the imports -------------------------------------------------------------------

def module_name(path: Path) -> str:
    """``engine/mail/delivery.py`` -> ``engine.mail.delivery``; a package is its __init__."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def project_modules() -> dict[str, Path]:
    return {module_name(path): path
            for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def imported_names(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """Every absolute name *source* imports, wherever the import statement is, with its
    line; relative imports are resolved against *module*.  ``from a import b`` gives
    ``a.b``: *b* may be a module of package *a* or a name defined in module *a*."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute_base(node, package)
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def _absolute_base(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of ``from <base> import ...``, for ``.x`` and ``..`` too."""
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    if node.level - 1 >= len(parts):
        raise ValueError(f"relative import beyond the top package at line {node.lineno}")
    base = parts[:len(parts) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def module_imports(module: str) -> list[tuple[int, str]]:
    path = project_modules()[module]
    return imported_names(path.read_text(encoding="utf-8"), module,
                          is_package=path.name == "__init__.py")


def owner(name: str, modules: Iterable[str]) -> str | None:
    """The project module an imported name lives in: the name itself when it is a
    module, else its longest dotted prefix that is one (None outside the project)."""
    known = set(modules)
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def import_graph() -> dict[str, dict[str, int]]:
    """The project's modules and which of them each one imports (itself left out)."""
    modules = project_modules()
    graph: dict[str, dict[str, int]] = {}
    for module in modules:
        edges = graph.setdefault(module, {})
        for line, name in module_imports(module):
            target = owner(name, modules)
            if target is not None and target != module:
                edges.setdefault(target, line)
    return graph


# -- finding circles ---------------------------------------------------------------------

def strongly_connected(graph: Graph) -> list[list[str]]:
    """The groups of modules that import each other, directly or not (Tarjan), each
    sorted, with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.get(module, {}):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(groups)


def shortest_cycle(graph: Graph, group: list[str]) -> list[str]:
    """A shortest circle through the group's first module, as a path that ends where it
    starts (breadth first, inside the group)."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for imported in sorted(graph.get(module, {})):
            if imported == start:
                back = [module]
                while back[-1] != start:
                    back.append(came_from[back[-1]])
                return [*reversed(back), start]
            if imported in members and imported not in came_from:
                came_from[imported] = module
                queue.append(imported)
    raise AssertionError(f"{group} is not a circle")


def describe_cycle(graph: Graph, path: list[str]) -> str:
    """``a -> b -> a`` with the import that makes each step (file:line)."""
    steps = [f"{_file(a)}:{graph[a][b]} imports {b}" for a, b in itertools.pairwise(path)]
    return " -> ".join(path) + "\n    " + "\n    ".join(steps)


def _file(module: str) -> str:
    path = project_modules().get(module)
    return str(path.relative_to(ROOT)) if path is not None else module.replace(".", "/") + ".py"


def cycle_report(graph: Graph) -> list[str]:
    """One entry per group of modules in a circle: its shortest circle, step by step."""
    return [f"{len(group)} modules in a circle ({', '.join(group)}), e.g. "
            + describe_cycle(graph, shortest_cycle(graph, group))
            for group in strongly_connected(graph)]


# -- the rules -----------------------------------------------------------------------------

@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_neither_the_layers_above_nor_the_terminal_libraries(layer):
    forbidden = FORBIDDEN[layer]
    violations = [
        f"{_file(module)}:{line} imports {name}"
        for module in project_modules() if module == layer or module.startswith(f"{layer}.")
        for line, name in module_imports(module)
        if any(name == banned or name.startswith(f"{banned}.") for banned in forbidden)
    ]
    assert violations == []


def test_the_mail_queues_are_handed_what_they_use_not_the_mail_engine():
    """STYLE.md example 3: the engine wires its queues, listener and bounces; none of them
    names it back, not even for type checking.  Only the appliance and the terminals may."""
    importers = sorted(f"{_file(module)}:{line}" for module in project_modules()
                       for line, name in module_imports(module)
                       if name.startswith("engine.mail.mail_engine")
                       and module.startswith("engine.") and module != "engine.appliance")
    assert importers == []


def test_the_project_has_no_import_cycles():
    report = cycle_report(import_graph())
    assert not report, "import circles:\n" + "\n".join(report)


# -- the checker checked -------------------------------------------------------------------

def test_every_kind_of_import_is_seen_and_relative_ones_resolved():
    source = """
from __future__ import annotations
import os.path
from typing import TYPE_CHECKING
from . import sibling
from .lines import split
from .. import terminal
from ..terminal.pager import Pager

if TYPE_CHECKING:
    from commands.session import CliSession

def later():
    import prompt_toolkit
    from twisted import conch
"""
    names = [name for _, name in imported_names(source, "segcli.ssh.session")]
    assert names == ["__future__.annotations", "os.path", "typing.TYPE_CHECKING",
                     "segcli.ssh.sibling", "segcli.ssh.lines.split", "segcli.terminal",
                     "segcli.terminal.pager.Pager", "commands.session.CliSession",
                     "prompt_toolkit", "twisted.conch"]
    in_package = imported_names("from .registry import REGISTRY", "commands", is_package=True)
    assert in_package == [(1, "commands.registry.REGISTRY")]


def test_an_imported_name_belongs_to_the_module_that_defines_it():
    modules = {"engine", "engine.mail", "engine.mail.delivery"}
    assert owner("engine.mail.delivery.DeliveryQueues", modules) == "engine.mail.delivery"
    assert owner("engine.mail.delivery", modules) == "engine.mail.delivery"
    assert owner("engine.mail.MailEngine", modules) == "engine.mail"
    assert owner("twisted.internet.defer", modules) is None


def test_a_new_cycle_is_reported_with_the_imports_that_make_it():
    graph = {"a.one": {"a.two": 3}, "a.two": {"a.three": 5}, "a.three": {"a.one": 7, "a.four": 9},
             "a.four": {}, "b.x": {"b.y": 1}, "b.y": {"b.x": 2}}
    assert strongly_connected(graph) == [["a.one", "a.three", "a.two"], ["b.x", "b.y"]]
    assert shortest_cycle(graph, ["a.one", "a.three", "a.two"]) == ["a.one", "a.two", "a.three",
                                                                     "a.one"]
    [first, second] = cycle_report(graph)
    assert "a.one -> a.two -> a.three -> a.one" in first
    assert "a/two.py:5 imports a.three" in first
    assert "b.x -> b.y -> b.x" in second
    acyclic = {**graph, "a.three": {"a.four": 9}, "b.y": {}}
    assert cycle_report(acyclic) == []


def test_the_automation_package_knows_nothing_of_the_appliance():
    """segcli/automation runs in the scripts of people who drive an appliance from afar
    (netmiko, TextFSM): it must import without the engine, the commands or the servers."""
    package = "segcli.automation"
    violations = [
        f"{_file(module)}:{line} imports {name}"
        for module in project_modules() if module == package or module.startswith(f"{package}.")
        for line, name in module_imports(module)
        if name.split(".")[0] in PACKAGES and not name.startswith(package)
    ]
    assert violations == []
