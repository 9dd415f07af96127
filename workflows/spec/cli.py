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


@app.command
def generate(
    path: Annotated[Path, Parameter(help="The SPEC.md to generate from.")],
    *,
    out: Annotated[Path, Parameter(name=["--out", "-o"], help="Directory to write the workflow into (created).")],
    dry_run: Annotated[bool, Parameter(help="Run the workflow once in fast mode and check the criteria.")] = True,
    workers: Annotated[int | None, Parameter(help="In-process workers of the dry run (default: agents.toml).")] = None,
) -> int:
    """Generate the task workflow of a SPEC.md (config, definition, agent wiring, README), then dry-run it.

    The same spec always gives the same bytes. Scripts the stage commands run are copied from
    beside the SPEC.md. Prints PASS/FAIL per automatic criterion; exit status 1 when the spec has
    an error, the dry run fails or a criterion fails.
    """
    from workflows.spec.generate import generate_from_text

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"{path}: error: cannot read the file ({exc.strerror or exc})", file=sys.stderr)
        return 1
    except UnicodeDecodeError:
        print(f"{path}: error: the file is not UTF-8 text", file=sys.stderr)
        return 1
    if workers is not None and workers < 1:
        print("--workers must be >= 1", file=sys.stderr)
        return 1
    from workflows.tasks.sandbox import SandboxUnavailable

    try:
        report = generate_from_text(text, out, source_dir=path.parent, dry_run=dry_run, workers=workers)
    except SandboxUnavailable as exc:  # the dry run runs the stage commands only in bubblewrap
        print(f"{path}: error: {exc}; or pass --no-dry-run", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line.replace("SPEC.md", str(path), 1) if line.startswith("SPEC.md") else line)
    return 0 if report.ok else 1
