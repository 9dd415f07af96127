"""Logging for `controlroom up`: one line per event on the console, tracebacks in the log file.

A caller's mistake (an unknown parameter, stopping a testbed that is not running) is answered to
the caller as an ``isError`` result and is not the operator's problem: the console shows at most
one line for it. Our own bugs are logged once, by the node's error edge (`mcp_nodes.edge`), with
their traceback in the log file; the console gets their one-line summary and where the traceback is.

FastMCP logs "Error calling tool 'X'" (with a rich traceback for every exception that is not a
FastMCP error) from ``fastmcp.server.server`` before the edge has judged the error; those records
are dropped here, since the edge logs exactly the ones that are bugs.

Example::

    log_file = configure_console_logging(state_dir)
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

__all__ = ["LOG_FILE", "OneLineFormatter", "configure_console_logging", "drop_tool_error_noise"]

LOG_FILE = "controlroom.log"
FASTMCP_TOOL_LOGGER = "fastmcp.server.server"


class OneLineFormatter(logging.Formatter):
    """``LEVEL logger: message`` on one line; an exception becomes its type and where its traceback is."""

    def __init__(self, log_file: Path | None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
        self.log_file = log_file

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record).replace("\n", " | ")
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            where = f"; traceback in {self.log_file}" if self.log_file is not None else ""
            line += f" ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}{where})"
        return line


def drop_tool_error_noise(record: logging.LogRecord) -> bool:
    """Filter for FastMCP's tool logger: its "Error calling tool" records are judged by the edge instead."""
    return not str(record.msg).startswith("Error calling tool")


def configure_console_logging(state_dir: Path, *, stream: TextIO | None = None,
                              console_level: int = logging.WARNING) -> Path:
    """Send every logger (ours, FastMCP's, uvicorn's) to ``state_dir/controlroom.log`` with
    tracebacks and to ``stream`` (stderr) one line each at ``console_level`` and above."""
    import fastmcp  # noqa: F401 - FastMCP configures its loggers on import: reconfigure after it

    log_file = state_dir / LOG_FILE
    state_dir.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(log_file, encoding="utf-8")
    to_file.setLevel(logging.INFO)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    to_console = logging.StreamHandler(stream or sys.stderr)
    to_console.setLevel(console_level)
    to_console.setFormatter(OneLineFormatter(log_file))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(to_file)
    root.addHandler(to_console)
    root.setLevel(logging.INFO)
    fastmcp_logger = logging.getLogger("fastmcp")  # FastMCP gives it rich handlers and stops propagation
    for handler in list(fastmcp_logger.handlers):
        fastmcp_logger.removeHandler(handler)
    fastmcp_logger.propagate = True
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one INFO line per node request: noise in the file
    tool_logger = logging.getLogger(FASTMCP_TOOL_LOGGER)
    if drop_tool_error_noise not in tool_logger.filters:
        tool_logger.addFilter(drop_tool_error_noise)
    return log_file
