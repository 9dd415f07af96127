"""The model's side of the canonical task, for Claude Code against the scripted Messages API.

"Start a testbed in namespace alice and run 10 STFs": ToolSearch (Claude Code 2.1.330 defers MCP
tools: the model sees their names first and loads their schemas with ``select:``), then
start_testbed, start_workflow, wait_for_execution, get_workflow_execution, then a closing line.
If a Claude Code version sends the MCP tools in full, the
ToolSearch step is skipped. `Canonical.answer` reads each request to decide (tool names from the request, the execution id
from the start_workflow result), so side requests Claude Code may make are answered with text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.agents.ai.messages_api import Turn

CANONICAL = ["start_testbed", "start_workflow", "wait_for_execution", "get_workflow_execution"]
NAMESPACE = "alice"
STF_COUNT = 10


def block_text(block: dict[str, Any]) -> str:
    """The text a tool_result block gives the model (text parts joined; other parts as JSON)."""
    content = block.get("content")
    if isinstance(content, str):
        return content
    parts = content or []
    return "".join(part["text"] if part.get("type") == "text" else json.dumps(part) for part in parts)


def _all_tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every tool_result block of the conversation (Claude Code may put a system message last)."""
    return [block for message in body["messages"] if isinstance(message.get("content"), list)
            for block in message["content"] if isinstance(block, dict) and block.get("type") == "tool_result"]


def _last_tool_uses(body: dict[str, Any]) -> list[dict[str, Any]]:
    for message in reversed(body["messages"]):
        if message["role"] == "assistant" and isinstance(message["content"], list):
            return [b for b in message["content"] if isinstance(b, dict) and b.get("type") == "tool_use"]
    return []


@dataclass
class Canonical:
    """Answers each Messages-API request; ``results`` maps each canonical tool to what came back."""

    server: str
    results: dict[str, str] = field(default_factory=dict)
    execution_id: str | None = None
    waits: int = 0
    searched: bool = False  # Claude Code deferred the MCP tools and the model loaded them with ToolSearch

    def name(self, tool: str) -> str:
        return f"mcp__{self.server}__{tool}"

    def answer(self, body: dict[str, Any]) -> Turn:
        offered = {t.get("name") for t in body.get("tools", [])}
        if "ToolSearch" not in offered and self.name("start_testbed") not in offered:
            return Turn(text="ok")  # a side request (title, summary): not part of the task
        uses = _last_tool_uses(body)
        returned = {r["tool_use_id"]: block_text(r) for r in _all_tool_results(body)}
        last = uses[-1]["name"] if uses and uses[-1]["id"] in returned else None
        text = returned.get(uses[-1]["id"], "") if last else ""
        if last is None:
            listed = json.dumps(body)
            missing = [t for t in CANONICAL if not re.search(re.escape(self.name(t)), listed)]
            if missing:
                return Turn(text=f"The {self.server} server does not offer {missing}.")
            if self.name("start_testbed") in offered:  # tools sent in full (no deferral): no ToolSearch
                return Turn(tool_calls=[(self.name("start_testbed"), {"namespace": NAMESPACE})])
            self.searched = True
            return Turn(tool_calls=[("ToolSearch", {"query": "select:" + ",".join(map(self.name, CANONICAL)),
                                                    "max_results": len(CANONICAL)})])
        step = last.removeprefix(f"mcp__{self.server}__")
        if last != "ToolSearch":
            self.results[step] = text
        if last == "ToolSearch":
            return Turn(tool_calls=[(self.name("start_testbed"), {"namespace": NAMESPACE})])
        if step == "start_testbed":
            return Turn(tool_calls=[(self.name("start_workflow"),
                                     {"namespace": NAMESPACE, "parameters": {"stf_count": STF_COUNT}})])
        if step == "start_workflow":
            found = re.search(r'"?execution_id"?\s*[:=]\s*"?([\w.:-]+)', text)
            if found is None:
                return Turn(text=f"No execution id in the start_workflow result: {text[:300]}")
            self.execution_id = found.group(1)
            return Turn(tool_calls=[(self.name("wait_for_execution"),
                                     {"execution_id": self.execution_id, "timeout_s": 120})])
        if step == "wait_for_execution":
            self.waits += 1
            if '"finished":false' in text.replace(" ", "") and self.waits < 5:  # as its hint says: call it again
                return Turn(tool_calls=[(self.name("wait_for_execution"),
                                         {"execution_id": self.execution_id, "timeout_s": 120})])
            return Turn(tool_calls=[(self.name("get_workflow_execution"), {"execution_id": self.execution_id})])
        return Turn(text=f"Execution {self.execution_id} finished: {text[:200]}")
