"""``${name}`` placeholders and timer formulas of drill files.

Values come from ``[vars]``, from the engine's timers (``L``, ``r``, ``a``, ``d``, ``i``,
``tol``), from the lab (``lab.Cmax``), from traffic (``m1.message_id``) and from the named
groups of checks that matched.  In a regex a value stands for itself (it is escaped); a
formula such as ``"min(${L}, 2*${a}+${r}) + ${tol}"`` allows numbers, ``+ - * /``,
brackets, ``min``, ``max`` and ``ceil`` and nothing else (it is parsed, never ``eval``-ed).
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

#: ``${name}`` or ``${m1.message_id}``.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")

TIMERS = ("L", "r", "a", "d", "i", "tol")
_LONGEST_FORMULA = 500

_OPERATORS: dict[type[ast.AST], Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {"min": min, "max": max, "ceil": math.ceil}


class UndefinedVariable(KeyError):
    """A ``${name}`` with no value (yet)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"${{{self.name}}} is not defined"


class ExpressionError(ValueError):
    """A formula that is not numbers, + - * /, brackets, min, max and ceil."""


def placeholders(text: str) -> list[str]:
    """The names *text* refers to, in order."""
    return PLACEHOLDER.findall(text)


def substitute(text: str, values: Mapping[str, Any], *, regex: bool = False) -> str:
    """*text* with every ``${name}`` replaced by its value (regex-escaped when *regex*)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise UndefinedVariable(name)
        text = _text(values[name])
        return re.escape(text) if regex else text

    return PLACEHOLDER.sub(value, text)


def evaluate(expr: float | int | str, values: Mapping[str, Any]) -> float:
    """The number a formula stands for, its placeholders taken from *values*."""
    if isinstance(expr, bool):
        raise ExpressionError(f"{expr!r} is not a number or a formula")
    if isinstance(expr, int | float):
        return float(expr)
    text = substitute(expr, values)
    if len(text) > _LONGEST_FORMULA:
        raise ExpressionError(f"formula longer than {_LONGEST_FORMULA} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ExpressionError(f"{expr!r} is not a formula (numbers, + - * /, min, max, ceil)"
                              ) from None
    return float(_value(tree.body, expr))


def _value(node: ast.AST, expr: str) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
            and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _value(node.left, expr), _value(node.right, expr)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ExpressionError(f"{expr!r} divides by zero")
        return _OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _value(node.operand, expr)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in _FUNCTIONS and node.args and not node.keywords:
        return float(_FUNCTIONS[node.func.id](*(_value(arg, expr) for arg in node.args)))
    raise ExpressionError(f"{expr!r}: only numbers, + - * /, brackets, min, max and ceil")


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
