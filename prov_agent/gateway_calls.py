"""The gateway's call records, built in the writer's thread from what the hot path captured.

:meth:`Recorder.gateway_call <prov_agent.recorder.Recorder.gateway_call>` queues only
references and the timing; :meth:`GatewayCalls.build` turns them into the stored body:
arguments redacted and digested, the AgentTool activity, the client agent and the principal
(declared in the first call of each stream that names them, or again when their attributes
change), and the relations between them. It writes the body's JSON text directly, the same
text (and the same mentions) the generic path (body dict, then ``chain.compact``) gives.

>>> from prov_agent.redaction import Redactor
>>> text, roles = GatewayCalls(Redactor()).build("gw", 1.0, (
...     "controlroom:call/1", "alice", "claude-code", None, "list_runs", {"token": "s3cret"},
...     None, None, "ok", 0.5, True))
>>> "s3cret" in text, roles["controlroom:person/alice"]
(False, 5)
"""

from __future__ import annotations

import math
from typing import Any

from prov_agent import ids
from prov_agent.chain import DECLARED, DOWN, UP, compact, quoted, time_text
from prov_agent.redaction import Redactor

#: What the hot path captures, in this order.
Captured = tuple[
    str, str, str, "str | None", str, "dict[str, Any] | tuple[Any, ...] | None", "str | None",
    "str | None", str, float, bool,
]

_CALL_ROLE, _AGENT_ROLE, _PERSON_ROLE = DECLARED | UP, UP | DOWN, DOWN
_CACHE = 10_000


def _json(value: Any) -> str:
    """A scalar's JSON text as ``chain.compact`` writes it (strings and finite floats directly)."""
    kind = type(value)
    if kind is str:
        return quoted(value)
    if kind is float and math.isfinite(value):
        return repr(value)
    return compact(value)


class GatewayCalls:
    """Builds gateway call bodies for one recorder; used by one writer thread at a time."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        # (name, version) / user -> (id, quoted id, declaration text)
        self._agents: dict[tuple[str, str | None], tuple[str, str, str]] = {}
        self._persons: dict[str, tuple[str, str, str]] = {}
        # (stream, element id) -> the declaration text last written into that stream
        self._declared: dict[tuple[str, str], str] = {}
        # (tool, outcome, node, node_reason, client_claimed) -> the call element's fixed text
        self._texts: dict[tuple[Any, ...], tuple[str, str, str]] = {}

    def _agent(self, name: str, version: str | None) -> tuple[str, str, str]:
        found = self._agents.get((name, version))
        if found is None:
            ident = ids.agent_id(name)
            attrs: dict[str, Any] = {"name": name}
            if version is not None:
                attrs["version"] = version
            decl = compact({"id": ident, "class": "AIAgent", "attrs": attrs})
            if len(self._agents) >= _CACHE:
                self._agents.clear()
            found = self._agents[(name, version)] = (ident, quoted(ident), decl)
        return found

    def _person(self, user: str) -> tuple[str, str, str]:
        found = self._persons.get(user)
        if found is None:
            ident = ids.person_id(user)
            decl = compact({"id": ident, "class": "Person", "attrs": {"user": user}})
            if len(self._persons) >= _CACHE:
                self._persons.clear()
            found = self._persons[user] = (ident, quoted(ident), decl)
        return found

    def _first(self, stream: str, ident: str, decl: str) -> bool:
        """True when (stream, ident) was not declared with this text by this recorder yet."""
        key = (stream, ident)
        if self._declared.get(key) == decl:
            return False
        if len(self._declared) >= _CACHE:
            self._declared.clear()  # bounded memory; re-declaring is harmless
        self._declared[key] = decl
        return True

    def _fixed(self, tool: Any, outcome: Any, node: Any, node_reason: Any, client_claimed: Any) -> tuple[str, str, str]:
        """The call element's text around its varying parts, for these values (calls repeat them):
        up to the arguments, between the digest and the duration, after the duration."""
        key = (tool, outcome, node, node_reason, client_claimed, type(client_claimed))  # True == 1, not its text
        try:
            found = self._texts.get(key)
        except TypeError:  # an unhashable value: not remembered
            found, key = None, None
        if found is None:
            tail = f',"client_claimed":{_json(client_claimed)}'
            if node is not None:
                tail += f',"node":{_json(node)}'
            if node_reason is not None:
                tail += f',"node_reason":{_json(node_reason)}'
            found = (
                f'"class":"AgentTool","attrs":{{"tool":{_json(tool)},"arguments":',
                f'","outcome":{_json(outcome)},"duration_ms":',
                f'{tail}}},"start":"',
            )
            if key is not None:
                if len(self._texts) >= _CACHE:
                    self._texts.clear()
                self._texts[key] = found
        return found

    def build(self, stream: str, epoch: float, captured: Captured) -> tuple[str, dict[str, int]]:
        """(body JSON text, mentioned ids with their roles) of one captured gateway call."""
        (ident, principal, client_name, client_version, tool, arguments, node, node_reason, outcome,
         duration_s, client_claimed) = captured
        if type(arguments) is tuple:  # the hot path queues (key, value, ...) (see Recorder.gateway_call)
            arguments = dict(zip(arguments[::2], arguments[1::2]))
        args_text, args_digest = self.redactor.arguments_json(arguments)
        head, middle, tail = self._fixed(tool, outcome, node, node_reason, client_claimed)
        duration_ms = duration_s * 1000.0
        started = epoch - duration_s
        call_q = quoted(ident)
        agent, agent_q, agent_decl = self._agent(client_name or "unknown-client", client_version)
        person, person_q, person_decl = self._person(principal)
        agent_new = self._first(stream, agent, agent_decl)
        person_new = self._first(stream, person, person_decl)
        text = (
            f'{{"elements":[{agent_decl + "," if agent_new else ""}{{"id":{call_q},{head}{quoted(args_text)},'
            f'"arguments_sha256":"{args_digest}{middle}{_json(round(duration_ms, 3))}{tail}{time_text(started)}",'
            f'"end":"{time_text(started + duration_ms / 1000.0)}"}}{"," + person_decl if person_new else ""}],'
            f'"relations":[{{"rel":"wasAssociatedWith","src":{call_q},"dst":{agent_q}}},'
            f'{{"rel":"actedOnBehalfOf","src":{agent_q},"dst":{person_q}}}]}}'
        )
        roles = {
            ident: _CALL_ROLE,
            agent: _AGENT_ROLE | DECLARED if agent_new else _AGENT_ROLE,
            person: _PERSON_ROLE | DECLARED if person_new else _PERSON_ROLE,
        }
        return text, roles
