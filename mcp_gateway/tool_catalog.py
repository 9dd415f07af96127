"""The logical tool list: each node tool once, with the node's schema plus an optional `node` argument.

Collision policy (documented in docs/gateway.md): when nodes publish different schemas under
one tool name, the variant published by the most nodes wins; a tie goes to the variant whose
schema hash sorts first. Calls are still forwarded to any node that has the tool; the node
validates the arguments against its own schema.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mcp_nodes.contract.registration import NodeInfo

NODE_ARGUMENT = "node"
# Said once (list_nodes' description and the gateway's instructions), not on every tool: a
# description here is sent to the model once per node tool on every turn.
_NODE_PROPERTY: dict[str, Any] = {"type": "string"}


def schema_hash(tool: dict[str, Any]) -> str:
    """sha256 of a tool's canonical JSON."""
    return hashlib.sha256(json.dumps(tool, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(slots=True)
class LogicalTool:
    """One tool as the gateway lists it, and the nodes that offer it."""

    name: str
    mcp_tool: dict[str, Any]
    nodes: set[str] = field(default_factory=set)
    read_only: bool = False
    takes_timeout: bool = False
    variants: int = 1


def _with_node_argument(tool: dict[str, Any]) -> dict[str, Any]:
    tool = copy.deepcopy(tool)
    schema = tool.setdefault("inputSchema", {"type": "object"})
    schema.setdefault("properties", {})[NODE_ARGUMENT] = _NODE_PROPERTY
    return tool


def build_catalog(nodes: Iterable[NodeInfo]) -> dict[str, LogicalTool]:
    """Merge the tool lists of all known nodes (up or down) into logical tools."""
    variants: dict[str, dict[str, tuple[dict[str, Any], set[str]]]] = {}
    for info in nodes:
        for tool in info.tools:
            name = tool.get("name")
            if not isinstance(name, str):
                continue
            by_hash = variants.setdefault(name, {})
            digest = schema_hash(tool)
            by_hash.setdefault(digest, (tool, set()))[1].add(info.name)
    catalog: dict[str, LogicalTool] = {}
    for name, by_hash in variants.items():
        digest = min(by_hash, key=lambda d: (-len(by_hash[d][1]), d))
        tool = by_hash[digest][0]
        offering = set().union(*(owners for _, owners in by_hash.values()))
        annotations = tool.get("annotations") or {}
        properties = (tool.get("inputSchema") or {}).get("properties") or {}
        catalog[name] = LogicalTool(
            name=name, mcp_tool=_with_node_argument(tool), nodes=offering,
            read_only=bool(annotations.get("readOnlyHint")), takes_timeout="timeout_s" in properties,
            variants=len(by_hash),
        )
    return catalog
