"""The edge's structure check agrees with the real nesting of any JSON text (strings full of
brackets, quotes and backslashes included), and counts objects and arrays exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_gateway.transport import EnvelopeError, check_structure, parse_envelope

TRICKY_TEXT = st.text(alphabet='[]{}"\\/ab\n\u00e9\u2028', max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TRICKY_TEXT, children, max_size=4),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def containers(value: Any) -> int:
    if isinstance(value, list):
        return 1 + sum(containers(v) for v in value)
    if isinstance(value, dict):
        return 1 + sum(containers(v) for v in value.values())
    return 0


@settings(max_examples=400, deadline=None)
@given(value=JSON_VALUES, limit=st.integers(min_value=2, max_value=6), ascii_only=st.booleans())
def test_depth_check_matches_the_real_depth(value: Any, limit: int, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert check_structure(body, limit, 10_000) == (depth(value) > limit)


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES)
def test_container_count_is_exact(value: Any) -> None:
    body = json.dumps(value).encode()
    count = containers(value)
    if count > 2:
        with pytest.raises(EnvelopeError, match=f"holds {count} JSON objects and arrays"):
            check_structure(body, 1_000, count - 1)
    assert check_structure(body, 1_000, max(count, 1)) is False


def test_a_valid_call_passes_and_keeps_its_values() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": "r-1", "method": "tools/call",
                       "params": {"name": "noop", "arguments": {"text": "[[[ \"quoted\" \\ ]]]"}}}).encode()
    message = parse_envelope(body)
    assert message["params"]["arguments"]["text"] == "[[[ \"quoted\" \\ ]]]"
