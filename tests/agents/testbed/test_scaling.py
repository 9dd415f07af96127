"""The worker scaling rule: x1.2 above 1.2 x target, x1.5 above 1.5 x target, bounded."""

from __future__ import annotations

import pytest

from agents.testbed.kinds.fast_processing import slice_ranges
from agents.testbed.scaling import next_worker_count, percentile


# docs/agents.md: above 1.2x the target the pool grows x1.2, above 1.5x it grows x1.5, rounded up,
# at least one more worker. The expected sizes are worked out by hand from that sentence, not
# from the module's constants: (current, after x1.2, after x1.5).
DOCUMENTED = [(1, 2, 2), (7, 9, 11), (10, 12, 15), (30, 36, 45), (100, 120, 150)]


@pytest.mark.parametrize(("current", "slow", "fast"), DOCUMENTED)
def test_rule_grows_by_the_documented_factors(current: int, slow: int, fast: int) -> None:
    target = 30.0

    def grown(ratio: float) -> int:
        return next_worker_count(current, measured_s=ratio * target, target_s=target, minimum=1, maximum=1000)

    assert grown(1.0) == current
    assert grown(1.2) == current  # "above" 1.2x: exactly 1.2x does not grow
    assert grown(1.21) == slow
    assert grown(1.5) == slow  # exactly 1.5x is still the slow step
    assert grown(1.51) == fast
    assert grown(10.0) == fast  # one step per decision, however far behind
    assert grown(0.5) == current  # the rule never shrinks a pool during a run


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
