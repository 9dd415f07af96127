"""``controlroom spec``: check a SPEC.md from the command line.

``controlroom spec validate SPEC.md`` prints each problem as ``SPEC.md:LINE: severity: message``
and exits 1 when there is an error (warnings alone exit 0).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

from cyclopts import App, Parameter

app = App(name="spec", help="Write and check SPEC.md workflow specifications.")


@app.command
def validate(
    path: Annotated[Path, Parameter(help="The SPEC.md file to check.")],
    *,
    quiet: Annotated[bool, Parameter(help="Print errors only, no warnings or summary.")] = False,
) -> int:
    """Check a SPEC.md: its sections and tables, then its rules (acyclic stages, checks, ranges, ids).

    Exit status 1 when any error is found, each printed as ``PATH:LINE: error: message``.
    """
    from workflows.spec.validate import validate_text

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"{path}: error: cannot read the file ({exc.strerror or exc})", file=sys.stderr)
        return 1
    except UnicodeDecodeError:
        print(f"{path}: error: the file is not UTF-8 text", file=sys.stderr)
        return 1
    problems = validate_text(text)
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        if quiet and problem.severity != "error":
            continue
        print(problem.format(str(path)))
    if not quiet:
        warnings = len(problems) - len(errors)
        verdict = "invalid" if errors else "valid"
        print(f"{path}: {verdict} ({len(errors)} error(s), {warnings} warning(s))")
    return 1 if errors else 0
