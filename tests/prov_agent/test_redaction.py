from __future__ import annotations

import json

from sqlalchemy import text

from prov_agent.model import AIAgent, AIModel, Person
from prov_agent.recorder import Recorder
from prov_agent.redaction import REDACTED, Redactor, digest
from prov_agent.store import ProvStore
from prov_agent.writer import ProvWriter

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA"


async def test_secrets_never_reach_the_database(sqlite_store: ProvStore) -> None:
    arguments = {
        "namespace": "alice",
        "api_key": "sk-ant-0123456789abcdefghij",
        "headers": {"Authorization": f"Bearer {TOKEN}", "accept": "json"},
        "note": f"use Bearer {TOKEN} please",
        "max_tokens": 100,
        "config": {"db": {"password": "hunter2-hunter2"}},
    }
    async with ProvWriter(sqlite_store, 60) as writer:
        rec = Recorder(writer, "s")
        claude = AIAgent(name="claude-code")
        with rec.tool_call(claude, "start_workflow", arguments, on_behalf_of=Person(user="alice")):
            pass
        rec.gateway_call("alice", "claude-code", "1", "start_workflow", arguments, "n1", "ns", "ok", 0.1)
        with rec.model_invocation(claude, AIModel(name="m"), f"here is my token {TOKEN}") as inv:
            inv.response("ok")
    async with sqlite_store.engine.connect() as conn:
        dump = "\n".join(row[0] for row in await conn.execute(text("SELECT body FROM prov_records")))
    for secret in (TOKEN, "sk-ant-0123456789abcdefghij", "hunter2-hunter2"):
        assert secret not in dump
    body = json.loads(dump.splitlines()[0])
    call = next(e for e in body["elements"] if e["class"] == "AgentTool")
    args = json.loads(call["attrs"]["arguments"])
    assert args["api_key"] == REDACTED and args["headers"]["Authorization"] == REDACTED
    assert args["config"]["db"]["password"] == REDACTED
    assert args["namespace"] == "alice" and args["max_tokens"] == 100 and args["headers"]["accept"] == "json"
    assert call["attrs"]["arguments_sha256"] == digest(arguments)


def test_values_are_capped_per_value() -> None:
    clean, _ = Redactor(max_value_bytes=128).arguments({"log": "x" * 10_000, "rows": list(range(1000)), "n": 1})
    assert clean["log"].startswith("x" * 128) and "truncated 9872 bytes" in clean["log"]
    assert clean["rows"].startswith("[truncated:")
    assert clean["n"] == 1


def test_free_text_keeps_what_names_no_secret() -> None:
    """Pairs are redacted only when their key names a secret; prose about secrets stays readable."""
    redactor = Redactor()
    assert redactor.text("tokens: 5, the password is fine, reason=retry") == "tokens: 5, the password is fine, reason=retry"
    assert redactor.text("db_password='two words' next=1") == f"db_password={REDACTED} next=1"
    assert redactor.text('{"client_secret": "abc", "user": "u"}') == f'{{"client_secret": {REDACTED}, "user": "u"}}'
    assert redactor.text("crt_short") == "crt_short"  # too short to be one of the gateway's tokens
    assert redactor.arguments({"max_tokens": 1, "authored": "x"})[0] == {"authored": REDACTED, "max_tokens": 1}
