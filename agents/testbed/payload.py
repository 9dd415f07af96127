"""The synthetic work agents do: a deterministic checksum over a few KiB derived from a name.

Real payloads (reconstruction, calibration) replace this; what matters for the testbed is
that the work is real CPU (small), deterministic and checkable.

Example::

    >>> work_checksum("swf.100010.000001.stf") == work_checksum("swf.100010.000001.stf")
    True
"""

from __future__ import annotations

import hashlib
import zlib

PAYLOAD_BYTES = 4096


def work_checksum(name: str, size: int = PAYLOAD_BYTES) -> str:
    """``adler32:<8 hex>`` over ``size`` bytes expanded from ``name`` by SHA-256 (deterministic)."""
    seed = hashlib.sha256(name.encode()).digest()
    block = (seed * (size // len(seed) + 1))[:size]
    return f"adler32:{zlib.adler32(block):08x}"
