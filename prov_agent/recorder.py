"""The recorder: how our agents, the gateway and the node say what happened.

Every method builds the statements of one record (plain dicts in the stored form, no
validation on the hot path) and hands them to the writer; hashing and storage happen later.

>>> # async with ProvWriter(store) as writer:
>>> #     rec = Recorder(writer, stream="session-42")
>>> #     me, claude = Person(user="alice"), AIAgent(name="claude-code")
>>> #     with rec.model_invocation(claude, AIModel(name="claude-sonnet-4-5"), "why did it fail?") as inv:
>>> #         inv.response("out of memory", tokens_in=12, tokens_out=3)
>>> #     d = rec.decision(claude, "raise memory", "OOM in stderr", ["retry"], informed_by=[inv.id])
>>> #     with rec.tool_call(claude, "start_workflow", {"namespace": "alice"}, on_behalf_of=me,
>>> #                        informed_by=[d]) as call:
>>> #         ...
"""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, ParamSpec, TypeVar

from prov_agent import ids
from prov_agent.chain import time_text
from prov_agent.errors import InvalidProvInput
from prov_agent.model import (
    AIAgent,
    AIModel,
    Element,
    Outcome,
    Person,
    RecordBody,
    RecordKind,
    Relation,
    SoftwareAgent,
)
from prov_agent.gateway_calls import GatewayCalls
from prov_agent.redaction import Redactor, digest
from prov_agent.writer import ProvWriter

P = ParamSpec("P")
R = TypeVar("R")
Actor = AIAgent | SoftwareAgent
WorkflowEvent = Literal[
    "execution_started", "execution_ended", "run_started", "run_ended", "file_created", "slice_created"
]

_BODY = dict[str, Any]
_CALL = ids.call_id("x")[:-1]  # "controlroom:call/"
_flat = itertools.chain.from_iterable
_now = time.time


def _el(ident: str, cls: str, attrs: dict[str, Any], start: float | None = None, end: float | None = None) -> _BODY:
    out: _BODY = {"id": ident, "class": cls, "attrs": attrs}
    if start is not None:
        out["start"] = time_text(start)
    if end is not None:
        out["end"] = time_text(end)
    return out


def _rel(rel: str, src: str, dst: str) -> _BODY:
    return {"rel": rel, "src": src, "dst": dst}


def _actor(agent: Actor) -> _BODY:
    return _el(agent.element_id(), agent.prov_class, agent.attributes())


class ModelInvocation:
    """Handle of an open model invocation; call :meth:`response` once the model answered."""

    def __init__(self, uid: str) -> None:
        self.id = ids.invocation_id(uid)
        self.started = time.time()
        self._t0 = time.perf_counter()
        self.latency_ms: float | None = None
        self.text: str | None = None
        self.tokens_in: int | None = None
        self.tokens_out: int | None = None
        self.stop_reason: str | None = None

    def response(self, text: str, tokens_in: int | None = None, tokens_out: int | None = None, stop_reason: str | None = None) -> None:
        """Note the model's answer; latency is measured from entering the block to this call."""
        self.latency_ms = (time.perf_counter() - self._t0) * 1000.0
        self.text, self.tokens_in, self.tokens_out, self.stop_reason = text, tokens_in, tokens_out, stop_reason


class ToolCall:
    """Handle of an open tool call: note what it used and generated, and its outcome."""

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.id = ids.call_id(uid)
        self.started = time.time()
        self._t0 = time.perf_counter()
        self.outcome: Outcome = "ok"
        self.error: str | None = None
        self.used: list[str] = []
        self.generated: list[str] = []

    def failed(self, outcome: Outcome = "is_error", error: str | None = None) -> None:
        self.outcome, self.error = outcome, error


class Recorder:
    """Records PROV-AGENT statements through a :class:`ProvWriter` into one stream by default."""

    def __init__(self, writer: ProvWriter, stream: str = "default", redactor: Redactor | None = None) -> None:
        if not stream or len(stream) > 200:
            raise InvalidProvInput("stream", f"{stream!r} is empty or longer than 200", "name it e.g. by session id")
        self.writer = writer
        self.stream = stream
        self.redactor = redactor or Redactor()
        self._capture = writer.capture
        self._gateway_body = -1  # the writer's number of this recorder's GatewayCalls builder, once used

    # -- plain --------------------------------------------------------------------------------

    def record(
        self, kind: RecordKind, elements: Iterable[Element | dict[str, Any]] = (), relations: Iterable[Relation | dict[str, Any]] = (), stream: str | None = None
    ) -> None:
        """Record arbitrary statements (validated: ids, classes, relation kinds)."""
        body = RecordBody.model_validate(
            {
                "elements": [e.stored() if isinstance(e, Element) else e for e in elements],
                "relations": [r.stored() if isinstance(r, Relation) else r for r in relations],
            }
        )
        self.writer.append(stream or self.stream, kind, body.stored())

    def declare(self, agent: Actor, on_behalf_of: Person | None = None, stream: str | None = None) -> str:
        """Declare an agent (and whom it acts for); returns its id."""
        elements = [_actor(agent)]
        relations = []
        if on_behalf_of is not None:
            elements.append(_el(on_behalf_of.element_id(), "Person", on_behalf_of.attributes()))
            relations.append(_rel("actedOnBehalfOf", agent.element_id(), on_behalf_of.element_id()))
        self.writer.append(stream or self.stream, "declaration", {"elements": elements, "relations": relations})
        return agent.element_id()

    # -- AI agents ----------------------------------------------------------------------------

    @contextmanager
    def model_invocation(self, agent: Actor, model: AIModel, prompt: str, stream: str | None = None) -> Iterator[ModelInvocation]:
        """Record one LLM call: Prompt and AIModel used, ResponseData generated, latency measured."""
        inv = ModelInvocation(ids.time_ordered_key())
        error: str | None = None
        try:
            yield inv
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            end = time.time()
            if inv.latency_ms is None:
                inv.latency_ms = (time.perf_counter() - inv._t0) * 1000.0
            prompt_id = ids.data_id(f"{inv.id.rsplit('/', 1)[1]}", "prompt")
            attrs: _BODY = {"latency_ms": round(inv.latency_ms, 3)}
            for key in ("tokens_in", "tokens_out", "stop_reason"):
                if getattr(inv, key) is not None:
                    attrs[key] = getattr(inv, key)
            if error:
                attrs["error"] = self.redactor.text(error)
            elements = [
                _actor(agent),
                _el(model.element_id(), "AIModel", model.attributes()),
                _el(inv.id, "AIModelInvocation", attrs, inv.started, end),
                _el(prompt_id, "Prompt", {"text": self.redactor.text(prompt), "sha256": digest(prompt)}),
            ]
            relations = [
                _rel("wasAssociatedWith", inv.id, agent.element_id()),
                _rel("used", inv.id, prompt_id),
                _rel("used", inv.id, model.element_id()),
            ]
            if inv.text is not None:
                response_id = ids.data_id(inv.id.rsplit("/", 1)[1], "response")
                elements.append(
                    _el(response_id, "ResponseData", {"text": self.redactor.text(inv.text), "sha256": digest(inv.text)})
                )
                relations.append(_rel("wasGeneratedBy", response_id, inv.id))
            self.writer.append(stream or self.stream, "model_invocation", {"elements": elements, "relations": relations})

    def decision(
        self,
        agent: Actor,
        chosen: str,
        rationale: str,
        alternatives: Iterable[str] = (),
        informed_by: Iterable[str] = (),
        stream: str | None = None,
    ) -> str:
        """Record a choice (what, why, what else) informed by earlier calls/invocations; returns its id."""
        ident = ids.decision_id(ids.time_ordered_key())
        now = time.time()
        attrs = {
            "chosen": self.redactor.text(chosen),
            "rationale": self.redactor.text(rationale),
            "alternatives": self.redactor.text(attr_json(list(alternatives))),
        }
        elements = [_actor(agent), _el(ident, "Decision", attrs, now, now)]
        relations = [_rel("wasAssociatedWith", ident, agent.element_id())]
        relations.extend(_rel("wasInformedBy", ident, ids.check_id(i, "informed_by")) for i in informed_by)
        self.writer.append(stream or self.stream, "decision", {"elements": elements, "relations": relations})
        return ident

    @contextmanager
    def tool_call(
        self,
        agent: Actor,
        tool: str,
        arguments: dict[str, Any] | None = None,
        on_behalf_of: Person | None = None,
        informed_by: Iterable[str] = (),
        stream: str | None = None,
    ) -> Iterator[ToolCall]:
        """Record one tool call by an agent (AgentTool activity), timed, with redacted arguments."""
        call = ToolCall(ids.time_ordered_key())
        informed = list(informed_by)
        try:
            yield call
        except BaseException as exc:
            if call.outcome == "ok":
                call.failed("cancelled" if isinstance(exc, KeyboardInterrupt | GeneratorExit) else "is_error", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            duration_ms = (time.perf_counter() - call._t0) * 1000.0
            self._tool_statements(
                stream or self.stream, "tool_call", call.id, agent, tool, arguments, on_behalf_of, informed,
                call.outcome, duration_ms, call.started, call.error, call.used, call.generated, {},
            )

    def traced(self, agent: Actor, on_behalf_of: Person | None = None, tool: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator: every call of the function (sync or async) is a recorded tool call."""

        def wrap(fn: Callable[P, R]) -> Callable[P, R]:
            name = tool or fn.__name__
            signature = inspect.signature(fn)

            def bound(*args: Any, **kwargs: Any) -> dict[str, Any]:
                try:
                    b = signature.bind_partial(*args, **kwargs)
                    return dict(b.arguments)
                except TypeError:
                    return {"args": list(args), **kwargs}

            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                    with self.tool_call(agent, name, bound(*args, **kwargs), on_behalf_of):
                        return await fn(*args, **kwargs)  # type: ignore[misc]

                return run_async  # type: ignore[return-value]

            @functools.wraps(fn)
            def run(*args: P.args, **kwargs: P.kwargs) -> R:
                with self.tool_call(agent, name, bound(*args, **kwargs), on_behalf_of):
                    return fn(*args, **kwargs)

            return run

        return wrap

    # -- the gateway --------------------------------------------------------------------------

    def gateway_call(
        self,
        principal: str,
        client_name: str,
        client_version: str | None,
        tool: str,
        arguments: dict[str, Any] | None,
        node: str | None,
        node_reason: str | None,
        outcome: Outcome,
        duration_s: float,
        call_id: str | None = None,
        stream: str | None = None,
        client_claimed: bool = True,
    ) -> str:
        """One routed MCP tools/call (the gateway's call record); returns the call's id.

        The hot path: only the references and the timing are queued (the arguments' top-level
        keys and values, flattened; the values must not be changed afterwards); redaction, the digest and the statements are made in the writer's
        thread by :class:`GatewayCalls`, before anything is stored.

        ``client_name``/``client_version`` come from the client's own clientInfo, which nothing
        verifies: the call then carries ``client_claimed: true`` (docs/provenance.md). The
        principal is verified (the bearer token); only the gateway's own clients are not claimed.

        The client agent and the principal are declared (as elements) in the first call of
        each stream that names them, or again when their attributes change; later calls
        carry only the relations (wasAssociatedWith, actedOnBehalfOf), which keeps the
        gateway's records small. Queries and exports resolve the ids either way.
        """
        if call_id is None:
            call_id = ids.time_ordered_key()
        ident = _CALL + call_id if call_id.isalnum() and call_id.isascii() else ids.call_id(call_id)
        build = self._gateway_body
        if build < 0:  # built in the writer's thread (GatewayCalls keeps this recorder's declarations)
            build = self._gateway_body = self.writer.register(GatewayCalls(self.redactor).build)
        if type(arguments) is dict:
            # (key, value, key, value, ...), not the dict: a queued tuple holding only strings and
            # numbers is untracked by the garbage collector (one holding a dict never is), so a
            # full queue of flat arguments adds nothing to a full collection's pause
            arguments = tuple(_flat(arguments.items()))  # type: ignore[assignment]
        self._capture((
            stream or self.stream, "gateway_call", _now(), build,  # one flat tuple: see ProvWriter.capture
            ident, principal, client_name, client_version, tool, arguments, node, node_reason, outcome, duration_s,
            client_claimed,
        ))
        return ident

    def _tool_statements(
        self,
        stream: str,
        kind: str,
        ident: str,
        agent: Actor,
        tool: str,
        arguments: dict[str, Any] | None,
        on_behalf_of: Person | None,
        informed_by: list[str],
        outcome: str,
        duration_ms: float,
        started: float,
        error: str | None,
        used: list[str],
        generated: list[str],
        extra: _BODY,
    ) -> None:
        clean, args_digest = self.redactor.arguments(arguments)
        attrs: _BODY = {
            "tool": tool,
            "arguments": attr_json(clean),
            "arguments_sha256": args_digest,
            "outcome": outcome,
            "duration_ms": round(duration_ms, 3),
            **extra,
        }
        if error:
            attrs["error"] = self.redactor.text(error)
        agent_ident = agent.element_id()
        elements = [
            _el(agent_ident, agent.prov_class, agent.attributes()),
            _el(ident, "AgentTool", attrs, started, started + duration_ms / 1000.0),
        ]
        relations = [_rel("wasAssociatedWith", ident, agent_ident)]
        if on_behalf_of is not None:
            person_ident = on_behalf_of.element_id()
            elements.append(_el(person_ident, "Person", on_behalf_of.attributes()))
            relations.append(_rel("actedOnBehalfOf", agent_ident, person_ident))
        relations.extend(_rel("wasInformedBy", ident, ids.check_id(i, "informed_by")) for i in informed_by)
        relations.extend(_rel("used", ident, ids.check_id(i, "used")) for i in used)
        relations.extend(_rel("wasGeneratedBy", ids.check_id(i, "generated"), ident) for i in generated)
        self.writer.append(stream, kind, {"elements": elements, "relations": relations})

    # -- the testbed --------------------------------------------------------------------------

    def workflow_event(
        self,
        event: WorkflowEvent,
        *,
        execution: str,
        namespace: str | None = None,
        workflow: str | None = None,
        status: str | None = None,
        run: int | None = None,
        file: str | None = None,
        file_kind: Literal["stf", "tf", "slice", "data"] = "stf",
        derived_from: str | None = None,
        informed_by: str | None = None,
        agent: SoftwareAgent | AIAgent | None = None,
        attrs: dict[str, str | int | float | bool] | None = None,
        stream: str | None = None,
    ) -> str:
        """Link executions, runs and files (and the call that started them); returns the main id.

        ``execution_started`` with ``informed_by=call_id``: the execution wasInformedBy the call.
        ``run_started``: the execution hadMember the run. ``file_created``: the file
        wasGeneratedBy the run (or the execution), wasAttributedTo ``agent``, and
        wasDerivedFrom ``derived_from`` (an id, e.g. the STF a slice was cut from).
        """
        now = time.time()
        exe = ids.execution_id(execution)
        exe_attrs: _BODY = {"execution_id": execution}
        if workflow:
            exe_attrs["workflow"] = workflow
        if status:
            exe_attrs["status"] = status
        start = now if event == "execution_started" else None
        end = now if event == "execution_ended" else None
        elements = [_el(exe, "Workflow", exe_attrs, start, end)]
        relations: list[_BODY] = []
        main = exe
        if namespace:
            ns = ids.namespace_id(namespace)
            elements.append(_el(ns, "Campaign", {"namespace": namespace}))
            relations.append(_rel("hadMember", ns, exe))
        if informed_by:
            relations.append(_rel("wasInformedBy", exe, ids.check_id(informed_by, "informed_by")))
        producer = exe
        if run is not None:
            rid = ids.run_id(run)
            elements.append(
                _el(rid, "Task", {"run_number": int(run)}, now if event == "run_started" else None, now if event == "run_ended" else None)
            )
            relations.append(_rel("hadMember", exe, rid))
            producer = main = rid
        if file is not None:
            fid = ids.make_id(file_kind, file)
            elements.append(_el(fid, "DomainData", {"data_kind": file_kind, "name": file, **(attrs or {})}))
            relations.append(_rel("wasGeneratedBy", fid, producer))
            if derived_from:
                relations.append(_rel("wasDerivedFrom", fid, ids.check_id(derived_from, "derived_from")))
            if agent is not None:
                elements.append(_actor(agent))
                relations.append(_rel("wasAttributedTo", fid, agent.element_id()))
            main = fid
        elif agent is not None:
            elements.append(_actor(agent))
            relations.append(_rel("wasAssociatedWith", producer, agent.element_id()))
        if attrs and file is None:
            elements[0]["attrs"].update(attrs)
        self.writer.append(stream or self.stream, "workflow_event", {"elements": elements, "relations": relations, "event": event})
        return main


def attr_json(value: Any) -> str:
    """Compact JSON text for an attribute value (attributes are scalars in PROV)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
