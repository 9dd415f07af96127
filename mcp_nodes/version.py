"""The node's version string (the installed controlroom distribution)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

__all__ = ["node_version"]


@cache
def node_version() -> str:
    """The controlroom version, e.g. '0.1.0' ('0+unknown' when not installed)."""
    try:
        return version("controlroom")
    except PackageNotFoundError:
        return "0+unknown"
