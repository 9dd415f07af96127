"""How the AI agents find the gateway: explicit URL and token, else what `controlroom up` wrote.

`controlroom up` writes ``STATE_DIR/connection.json`` (``{"url": ..., "token": ...}``, mode
0600) so that `controlroom chat` and `controlroom debug` work with no flags on the same machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from workflows.store.private import private_dir, write_private

CONNECTION_FILE = "connection.json"


class Connection(BaseModel):
    url: str
    token: str


def default_state_dir() -> Path:
    return Path.home() / ".controlroom"


def write_connection(state_dir: Path, connection: Connection) -> Path:
    path = state_dir / CONNECTION_FILE
    private_dir(path.parent)
    write_private(path, connection.model_dump_json())  # it holds a bearer token: 0600 from the first byte
    return path


def resolve_connection(url: str | None, token: str | None, state_dir: Path | None) -> Connection:
    """The gateway to talk to; a missing piece is an error saying how to provide it."""
    if url and token:
        return Connection(url=url, token=token)
    path = (state_dir or default_state_dir()) / CONNECTION_FILE
    try:
        saved = Connection.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ValueError(
            f"no gateway given and {path} does not exist: start one with `controlroom up`, "
            "or pass --url and --token"
        ) from None
    return Connection(url=url or saved.url, token=token or saved.token)
