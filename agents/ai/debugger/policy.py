"""The policy gate: AUTO, ASK or STOP for a fix, by fix name and scope, per principal.

A policy file is TOML::

    [default]             # by scope
    agent = "AUTO"
    execution = "AUTO"
    testbed = "AUTO"
    node = "ASK"

    [default.fixes]       # by fix name, wins over the scope
    rerun_with_parameter = "ASK"

    [principals.alice]    # a principal's own rules win over the defaults
    node = "STOP"
    [principals.alice.fixes]
    free_space = "AUTO"

``report_only`` fixes never act, whatever the policy says.

The intent rule sits above these layers: a fix that would undo an action a principal took
within ``intent_window_s`` (a top-level key, default 3600) is never AUTO, only ASK
(``agents.ai.debugger.intent.undone_by``; the loop applies it).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from agents.ai.debugger.fixes import Fix

Verdict = Literal["AUTO", "ASK", "STOP"]


class Rules(BaseModel):
    model_config = {"extra": "forbid"}

    agent: Verdict | None = None
    execution: Verdict | None = None
    testbed: Verdict | None = None
    node: Verdict | None = None
    fixes: dict[str, Verdict] = Field(default_factory=dict)


class Policy(BaseModel):
    model_config = {"extra": "forbid"}

    default: Rules = Field(
        default_factory=lambda: Rules(
            agent="AUTO", execution="AUTO", testbed="AUTO", node="ASK", fixes={"rerun_with_parameter": "ASK"}
        )
    )
    principals: dict[str, Rules] = Field(default_factory=dict)
    intent_window_s: float = Field(default=3600.0, ge=0, description="a principal's action this recent is never undone by AUTO")

    def verdict(self, fix: Fix, principal: str | None = None) -> Verdict:
        """AUTO, ASK or STOP for ``fix`` asked by ``principal`` (most specific rule wins; STOP when unsure)."""
        if fix.scope == "none":
            return "AUTO"
        layers = [self.principals[principal]] if principal in self.principals else []
        layers.append(self.default)
        for layer in layers:
            if fix.name in layer.fixes:
                return layer.fixes[fix.name]
        for layer in layers:
            found = getattr(layer, fix.scope)
            if found is not None:
                return found
        return "STOP"


def load_policy(path: Path) -> Policy:
    """Read a policy file; a bad file is an error naming the file and the field."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"policy file {path} does not exist; create it or omit --policy for the default") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"policy file {path} is not valid TOML: {exc}") from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"policy file {path}: field {field!r}: {first['msg']} (use AUTO, ASK or STOP)") from None
