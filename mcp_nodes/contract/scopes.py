"""Capabilities: which scope each tool needs. The one table the gateway and the nodes both check.

A token carries scopes as well as namespaces (docs/security.md):

* ``read``: list, get, wait, provenance queries;
* ``operate``: start/stop testbeds and workflows, agents, messages, debugging and approving fixes,
  within the token's namespaces;
* ``author``: anything that makes a node run code or commands the caller wrote (spec_generate,
  register_workflow_definition, task payloads);
* ``admin``: every namespace, ``prune``, nodes, tokens.

``admin`` implies the other three; ``operate`` and ``author`` do not imply ``read`` on their own,
but tokens are created with ``read,operate`` by default. A tool missing from the table needs
``admin`` (a new tool is closed until someone says otherwise), except node tools whose annotations
say read-only, which `required_scope` maps to ``read``.

Example::

    required_scope("start_workflow")            # "operate"
    missing_scope(["read"], "start_workflow")    # "operate"
    missing_scope(["read", "operate"], "start_workflow") is None
"""

from __future__ import annotations

from typing import Literal

__all__ = ["DEFAULT_SCOPES", "NODE_SCOPE", "SCOPES", "TOOL_SCOPES", "Scope", "grant_hint",
           "missing_scope", "normalize_scopes", "reads_only", "required_scope", "scope_refusal"]

Scope = Literal["read", "operate", "author", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "operate", "author", "admin")
DEFAULT_SCOPES: tuple[Scope, ...] = ("read", "operate")
NODE_SCOPE = "node"
"""Not a capability of callers: lets a token register (and heartbeat) the node named by its user."""

TOOL_SCOPES: dict[str, Scope] = {
    # node tools: reading
    "get_system_state": "read", "list_namespaces": "read", "get_namespace": "read",
    "get_testbed_status": "read", "list_workflow_definitions": "read",
    "list_workflow_executions": "read", "get_workflow_execution": "read",
    "get_workflow_monitor": "read", "wait_for_execution": "read",
    "list_agents": "read", "get_agent": "read", "list_runs": "read", "get_run": "read",
    "list_stf_files": "read", "get_stf_file": "read", "list_tf_slices": "read", "get_tf_slice": "read",
    "list_logs": "read", "get_log_entry": "read", "list_messages": "read", "spec_validate": "read",
    "get_execution_timeline": "read", "get_execution_statistics": "read",
    # node tools: operating within granted namespaces
    "start_testbed": "operate", "stop_testbed": "operate", "start_workflow": "operate",
    "stop_workflow": "operate", "restart_agent": "operate", "kill_agent": "operate",
    "send_message": "operate",
    # node tools: running code the caller wrote
    "spec_generate": "author", "register_workflow_definition": "author",
    # node tools: across namespaces
    "prune": "admin",
    # gateway tools
    "whoami": "read", "list_nodes": "read", "get_node": "read",
    "prov_timeline": "read", "prov_lineage": "read", "prov_agent_activity": "read",
    "prov_export": "read", "prov_verify": "read", "list_pending_fixes": "read", "list_debug_sessions": "read",
    "debug_execution": "operate", "approve_fix": "operate", "reject_fix": "operate",
}
"""Tool name -> the scope a token needs to call it (docs/security.md shows this table)."""


def normalize_scopes(scopes: list[str] | tuple[str, ...] | str) -> list[str]:
    """Validated, de-duplicated scopes in table order; ``ValueError`` names an unknown one.

    >>> normalize_scopes("operate,read")
    ['read', 'operate']
    """
    items = [s.strip() for s in scopes.split(",")] if isinstance(scopes, str) else [s.strip() for s in scopes]
    wanted = {s for s in items if s}
    unknown = sorted(wanted - set(SCOPES) - {NODE_SCOPE})
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    return [s for s in (*SCOPES, NODE_SCOPE) if s in wanted]


def required_scope(tool: str, read_only: bool = False) -> Scope:
    """The scope ``tool`` needs (unknown tools: ``read`` when annotated read-only, else ``admin``)."""
    found = TOOL_SCOPES.get(tool)
    if found is not None:
        return found
    return "read" if read_only else "admin"


def reads_only(tool: str) -> bool:
    """True when ``tool`` only reads (its scope is ``read``)."""
    return required_scope(tool) == "read"


def missing_scope(granted: list[str] | tuple[str, ...], tool: str, read_only: bool = False) -> Scope | None:
    """The scope ``tool`` needs that ``granted`` lacks, or None when the call is allowed."""
    need = required_scope(tool, read_only)
    if "admin" in granted or need in granted:
        return None
    return need


def grant_hint(user: str, namespaces: list[str], scope: str) -> str:
    """The command an admin runs to grant ``scope`` (appended to refusals)."""
    ns = ",".join(n for n in namespaces if n != "*") or "NS"
    scopes = "read,operate,admin" if scope == "admin" else ",".join(s for s in ("read", "operate", scope) if s)
    unique = ",".join(dict.fromkeys(scopes.split(",")))
    return f"ask an admin for a token with it: controlroom token create --user {user} --namespaces {ns} --scopes {unique}"


def scope_refusal(tool: str, need: str, user: str, namespaces: list[str], granted: list[str]) -> str:
    """The refusal text both the gateway and the nodes send: the missing scope and the command that grants it."""
    have = ",".join(s for s in granted if s in SCOPES) or "none"
    return (f"{tool} needs the {need!r} scope, which your token does not grant (scopes: {have}); "
            + grant_hint(user, namespaces, need))
