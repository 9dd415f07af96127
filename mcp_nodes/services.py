"""`NodeServices`: what every tool works with (store, testbed manager, settings), passed explicitly."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mcp_nodes.contract.identity import IdentityKeys
from mcp_nodes.settings import NodeSettings

if TYPE_CHECKING:
    from mcp_nodes.provenance import ProvLinker
    from agents.testbed.testbed import TestbedManager
    from workflows.store.store import Store

__all__ = ["NodeServices"]


@dataclass
class NodeServices:
    """The node's collaborators, built once by `mcp_nodes.runtime.node_runtime`.

    Example::

        services = NodeServices(settings=NodeSettings(), store=store, manager=manager)
        build_node(services.settings, store=services.store, manager=services.manager)
    """

    settings: NodeSettings
    store: Store
    manager: TestbedManager
    linker: ProvLinker | None = None
    started_monotonic: float = field(default_factory=time.monotonic)
    identity_keys: IdentityKeys = field(default_factory=IdentityKeys)
    """The gateway's public keys: the token verifier reads them, the registration keeps them fresh."""
