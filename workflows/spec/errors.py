"""Errors of the SPEC.md toolchain.

The hierarchy::

    SpecError                    anything wrong with a SPEC.md or a spec model
    ├── SpecSyntaxError          the markdown cannot be read as a spec (carries every problem found)
    └── SpecInvalidError         the spec reads but fails its checks (carries every problem found)

Both subclasses carry ``problems``: a list of :class:`workflows.spec.problems.Problem`, each with
the SPEC.md line it concerns, so a caller can print ``SPEC.md:LINE: message`` for all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workflows.spec.problems import Problem


class SpecError(Exception):
    """Base class of every error raised by ``workflows.spec``."""


class _ProblemsError(SpecError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "; ".join(problem.format() for problem in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{len(problems)} problem(s): {lines}{more}")


class SpecSyntaxError(_ProblemsError):
    """The text is not a readable SPEC.md: a missing section, a malformed table, a bad cell."""


class SpecInvalidError(_ProblemsError):
    """The spec was read but breaks a rule: a cycle, a missing check, a default out of range."""
