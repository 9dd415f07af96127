"""SPEC.md: the specification a workflow is generated from (schema, render, parse, validate).

Import the pieces from their modules: ``workflows.spec.model`` (the schema),
``workflows.spec.render``, ``workflows.spec.parse``, ``workflows.spec.validate``; the
``controlroom spec`` commands live in ``workflows.spec.cli``.
"""

from workflows.spec.errors import SpecError, SpecInvalidError, SpecSyntaxError
from workflows.spec.model import Spec
from workflows.spec.parse import parse_spec, read_spec
from workflows.spec.problems import Problem
from workflows.spec.render import render_spec
from workflows.spec.validate import check_spec, validate_text

__all__ = [
    "Problem",
    "Spec",
    "SpecError",
    "SpecInvalidError",
    "SpecSyntaxError",
    "check_spec",
    "parse_spec",
    "read_spec",
    "render_spec",
    "validate_text",
]
