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


def _patterns_only(value: str) -> str:
    """What ``Redactor.text`` redacts, by the two patterns alone (no screen, no cap)."""
    from prov_agent.redaction import _SECRET_PAIR, _SECRET_VALUE

    value = _SECRET_VALUE.sub(REDACTED, value)
    return _SECRET_PAIR.sub(lambda m: m.group(1) + REDACTED, value)


def test_the_screen_lets_through_everything_the_patterns_redact() -> None:
    """The cheap screen before the patterns never hides a secret: upper case, every value form,
    pairs, and letters that re.I folds onto ASCII ones (dotless ı, long ſ, the Kelvin sign)."""
    samples = [
        "alice", "swf.100010.000001.stf", "/data/run/100010/swf.100010.000001.stf", "reason=retry",
        "PASSWORD=abc", "Password: 'two words'", "x_token=abc", "tokens=5", "API-KEY: k1", "apikey=z",
        "Authorization: Basic dXNlcjpwYXNzd29yZA==", f"BEARER {TOKEN}", TOKEN, "SK-ant-0123456789abcdefghij",
        "GHP_" + "a" * 24, "xoxB-1234567890-abc", "akia" + "B" * 16, "-----BEGIN RSA PRIVATE KEY-----",
        "CRT_abcdefgh12", "credentıal=abc123", "paſsword: x", "\u212aey=1 secret=2", "séssion_key=abc",
        "Private-Key = xyz", "cookie:c", "the password is fine", "signature=0xabc", "pwd = hunter2",
    ]
    redactor = Redactor()
    for sample in samples:
        assert redactor.text(sample) == _patterns_only(sample), sample
    assert redactor.text("credentıal=abc123") == f"credentıal={REDACTED}"


def test_arguments_json_is_the_canonical_text_of_arguments() -> None:
    """One encoding when nothing changes, and exactly what ``arguments`` + canonical JSON give."""
    from prov_agent.chain import canonical

    redactor = Redactor(max_value_bytes=64)
    cases = [
        {}, None, {"namespace": "alice", "limit": 5}, {"b": 1.5, "a": None, "c": True},
        {"api_key": "k", "namespace": "x"}, {"note": f"Bearer {TOKEN}"}, {"log": "y" * 100},
        {"nested": {"password": "p", "k": [1, 2]}}, {"t": (1, 2)}, {1: "one"}, {"é": "ü\n"},
        {"f": 0.1, "g": -0.0, "h": 1e300, "i": 2**70, "j": False, "k\"q": "\u2028 \x00"},
        {"nan": float("nan")}, {"inf": float("inf"), "a": 1}, {"x": -float("inf")},
        {"secret": 5, "token": None, "z": "password=hunter2"},
    ]
    for arguments in cases:
        clean, args_digest = redactor.arguments(arguments)
        assert redactor.arguments_json(arguments) == (canonical(clean), args_digest), arguments


def test_remembered_values_are_redacted_every_time_under_every_key() -> None:
    """Flat arguments remember each short value's redacted text and each key's verdict: a value
    seen before, under another key or after the memory was cleared, is redacted as the first time."""
    from prov_agent.chain import canonical

    redactor = Redactor(max_value_bytes=64)
    bearer = f"Bearer {TOKEN}"
    for _ in range(3):
        assert TOKEN not in redactor.arguments_json({"note": bearer, "namespace": "alice"})[0]
        assert TOKEN not in redactor.arguments_json({"token": bearer})[0]
        assert json.loads(redactor.arguments_json({"namespace": "alice"})[0]) == {"namespace": "alice"}
    for n in range(5000):  # past the memory's bound: it starts over
        redactor.arguments_json({f"k{n}": f"v{n}"})
    for arguments in ({"note": bearer}, {"a": "password=hunter2", "b": "password=hunter2"}, {"token": "t", "n": 1}):
        clean, args_digest = redactor.arguments(arguments)
        assert redactor.arguments_json(arguments) == (canonical(clean), args_digest)
        assert TOKEN not in clean.get("note", "") and "hunter2" not in json.dumps(clean)
