"""Machine-checkable validation criteria: a small, safe expression language.

An automatic criterion's ``expression`` is a python boolean expression restricted to
constants, names, arithmetic, comparisons, ``and``/``or``/``not``, subscripts, attribute
reads and calls of a few pure functions. Names are the spec's parameters and the results
a finished run provides:

- ``status``: the execution status (``"completed"``, ``"failed"``, ...)
- ``duration_s``: wall time of the execution in seconds
- ``stage_runs``: completed task count per stage id, e.g. ``stage_runs["train"] == K * T``
- ``failed``: number of failed tasks
- ``outputs``: produced output file names
- ``metrics``: named numbers the workflow reported, e.g. ``metrics["accuracy"] >= 0.5``

Example::

    >>> evaluate_expression('status == "completed" and stage_runs["train"] == K * T',
    ...                     {"status": "completed", "stage_runs": {"train": 6}, "K": 3, "T": 2})
    True
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

RESULT_NAMES: frozenset[str] = frozenset({"status", "duration_s", "stage_runs", "failed", "outputs", "metrics"})
FUNCTIONS = {"len": len, "min": min, "max": max, "abs": abs, "all": all, "any": any, "sum": sum,
             "round": round}

_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Constant, ast.Name, ast.Load, ast.Subscript, ast.Call, ast.List, ast.Tuple,
)


class ExpressionError(ValueError):
    """An expression that is not valid or not allowed; the message says why."""


def check_expression(expression: str, names: Iterable[str]) -> None:
    """Raise :class:`ExpressionError` unless ``expression`` parses, uses only allowed syntax,
    and refers only to ``names``, :data:`RESULT_NAMES` and the allowed functions."""
    known = set(names) | RESULT_NAMES
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"not a valid expression ({exc.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExpressionError(f"{type(node).__name__} is not allowed in a criterion expression")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
                raise ExpressionError(f"only the functions {', '.join(sorted(FUNCTIONS))} may be called")
        elif isinstance(node, ast.Name) and node.id not in known and node.id not in FUNCTIONS:
            raise ExpressionError(
                f"unknown name {node.id!r}; use a parameter of the spec or one of {', '.join(sorted(RESULT_NAMES))}"
            )


def evaluate_expression(expression: str, variables: Mapping[str, object]) -> bool:
    """Check then evaluate ``expression`` with ``variables`` bound; the result as a bool."""
    check_expression(expression, variables.keys())
    code = compile(ast.parse(expression, mode="eval"), "<criterion>", "eval")
    scope = {**FUNCTIONS, **variables}
    return bool(eval(code, {"__builtins__": {}}, scope))  # noqa: S307 - syntax whitelisted above
