"""The worker scaling rule: x1.2 above 1.2 x target, x1.5 above 1.5 x target, bounded."""

from __future__ import annotations

import math

import pytest

from agents.testbed.fastproc import slice_ranges
from agents.testbed.scaling import GROW_FAST, GROW_SLOW, next_worker_count, percentile


@pytest.mark.parametrize("current", [1, 7, 10, 30])
def test_rule_grows_by_the_documented_factors(current: int) -> None:
    target = 30.0
    assert next_worker_count(current, measured_s=target, target_s=target, minimum=1, maximum=1000) == current
    assert next_worker_count(current, measured_s=1.2 * target, target_s=target, minimum=1, maximum=1000) == current
    slow = next_worker_count(current, measured_s=1.3 * target, target_s=target, minimum=1, maximum=1000)
    assert slow == max(current + 1, math.ceil(current * GROW_SLOW))
    fast = next_worker_count(current, measured_s=1.6 * target, target_s=target, minimum=1, maximum=1000)
    assert fast == max(current + 1, math.ceil(current * GROW_FAST))
    assert fast >= slow > current


def test_rule_is_bounded() -> None:
    assert next_worker_count(50, measured_s=100, target_s=30, minimum=1, maximum=60) == 60
    assert next_worker_count(0, measured_s=1, target_s=30, minimum=2, maximum=60) == 2
    with pytest.raises(ValueError, match="target_s"):
        next_worker_count(1, measured_s=1, target_s=0, minimum=1, maximum=2)


def test_percentile_and_slices() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 0.5) == 50.0 and percentile(values, 0.99) == 99.0 and percentile([], 0.5) is None
    ranges = slice_ranges(200, 10, 15)
    assert len(ranges) == 15 and sum(c for _, _, c in ranges) == 10
    assert ranges[0][0] == 200 and max(e for _, e, c in ranges if c) == 209
    assert all(a[1] + 1 == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
