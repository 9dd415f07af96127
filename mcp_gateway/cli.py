"""The `controlroom` command line: one root, each package owns its sub-commands.

Sub-command groups are loaded lazily by import path, so `controlroom --help` does not import
SimPy, SQLAlchemy or the MCP stack. Each group is a cyclopts ``App`` named ``app`` in its
package's ``cli`` module.
"""

from __future__ import annotations

import sys

from cyclopts import App

app = App(
    name="controlroom",
    help="An LLM-agent-first control plane for streaming-workflow testbeds, built around MCP.",
)

# (import path of the sub-app, command name); a group whose module is absent is skipped.
_GROUPS: list[tuple[str, str]] = [
    ("mcp_gateway.up:app", "up"),
    ("mcp_gateway.tokens_cli:app", "token"),
    ("mcp_gateway.gateway_cli:app", "gateway"),
    ("mcp_nodes.cli:app", "node"),
    ("agents.testbed.workflow_cli:app", "workflow"),
    ("agents.tasks.spec_cli:app", "spec"),  # workflows.spec.cli with the task runtime (its dry run)
    ("prov_agent.cli:app", "prov"),
    ("agents.ai.debug_cli:app", "debug"),
    ("agents.ai.chat_cli:app", "chat"),
    ("agents.ai.evaluation.chaos.cli:app", "chaos"),
]


def _module_exists(import_path: str) -> bool:
    """Whether the group's top-level package is installed. Only the top level: ``find_spec`` of a
    dotted name imports every parent package, and ``agents.tasks`` installs the task runtime when
    imported (0.15 s on every command, `controlroom token list` included)."""
    from importlib.util import find_spec

    return find_spec(import_path.partition(":")[0].partition(".")[0]) is not None


for _path, _name in _GROUPS:
    if _module_exists(_path):
        app.command(_path, name=_name)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app() or 0)


if __name__ == "__main__":
    main()
