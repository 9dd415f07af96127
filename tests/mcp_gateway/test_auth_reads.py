"""How often the gateway reads token rows: once for all concurrent calls, never past the 0.5 s bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import event

from mcp_gateway.auth import REFRESH_S, Authenticator, create_token
from mcp_gateway.errors import AuthError
from mcp_gateway.models import Principal
from mcp_gateway.registry_store import RegistryStore, open_engine


async def test_concurrent_calls_share_one_read_and_a_revocation_is_still_seen(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    reads: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM gateway_tokens" in statement:
            reads.append(statement)

    try:
        store = RegistryStore(engine)
        await store.upgrade()
        token = await create_token(store, Principal(user="alice", namespaces=["a"]))
        auth = Authenticator(store)  # nothing cached: every call below finds no answer
        users: list[str] = []

        async def one() -> None:
            users.append((await auth.principal(f"Bearer {token}")).user)

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(one)
        assert users == ["alice"] * 20
        assert len(reads) == 1, f"20 concurrent calls read the token row {len(reads)} times"

        await store.revoke_tokens(user="alice")
        await anyio.sleep(REFRESH_S + 0.05)
        with pytest.raises(AuthError, match="unknown or revoked"):
            await auth.principal(f"Bearer {token}")
    finally:
        await engine.dispose()
