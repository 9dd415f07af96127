"""A problem found in a SPEC.md, located by line, as the parser and the validator report it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Severity = Literal["error", "warning"]


class Problem(BaseModel):
    """One finding about a SPEC.md.

    ``line`` is 1-based in the SPEC.md text, or ``None`` when the spec did not come from text.

    Example::

        >>> Problem(line=12, severity="error", code="stage-cycle", message="...").format("SPEC.md")
        'SPEC.md:12: error: ...'
    """

    model_config = ConfigDict(frozen=True)

    line: int | None
    severity: Severity
    code: str
    message: str

    def format(self, path: str = "SPEC.md") -> str:
        """Render as ``PATH:LINE: severity: message`` (the form compilers and editors understand)."""
        where = f"{path}:{self.line}" if self.line is not None else path
        return f"{where}: {self.severity}: {self.message}"
