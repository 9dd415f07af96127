"""The worker-pool scaling rule of the reference fast-processing workflow.

When the measured slice processing time (dispatch to result) exceeds the target by more than
20 %, the pool grows x1.2; by more than 50 %, x1.5 (rounded up, at least one more worker).
The result is bounded by ``[minimum, maximum]``. The rule never shrinks a pool during a run;
the fast processing agent returns the pool to its minimum once a run has drained.

Example::

    >>> next_worker_count(10, measured_s=40.0, target_s=30.0, minimum=1, maximum=60)
    12
    >>> next_worker_count(10, measured_s=50.0, target_s=30.0, minimum=1, maximum=60)
    15
    >>> next_worker_count(50, measured_s=50.0, target_s=30.0, minimum=1, maximum=60)
    60
"""

from __future__ import annotations

import math

GROW_SLOW = 1.2
GROW_FAST = 1.5


def next_worker_count(current: int, *, measured_s: float, target_s: float, minimum: int, maximum: int) -> int:
    """The pool size the rule asks for, given the measured and target processing times."""
    if target_s <= 0:
        raise ValueError(f"target_s must be > 0, got {target_s}")
    if minimum > maximum:
        raise ValueError(f"minimum ({minimum}) must not exceed maximum ({maximum})")
    ratio = measured_s / target_s
    wanted = current
    if ratio > GROW_FAST:
        wanted = max(current + 1, math.ceil(current * GROW_FAST - 1e-9))
    elif ratio > GROW_SLOW:
        wanted = max(current + 1, math.ceil(current * GROW_SLOW - 1e-9))
    return max(minimum, min(maximum, wanted))


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values (None when empty)."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]
