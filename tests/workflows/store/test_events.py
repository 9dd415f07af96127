"""State events and workflow messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflows.store import MessageIn, Store


async def test_state_events(store: Store) -> None:
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    for tick, (state, substate) in enumerate([("no_beam", "not_ready"), ("beam", "not_ready"), ("run", "physics")]):
        await store.events.add_state_event("alice", "transition", state, substate, execution_id="wf",
                                           run_number=100010, timestamp=t0 + timedelta(seconds=tick),
                                           simulation_tick=float(tick), data={"tick": tick})
    await store.events.add_state_event("bob", "transition", "no_beam", "not_ready")
    page = await store.events.list_state_events(namespace="alice")
    assert [e.state for e in page.items] == ["run", "beam", "no_beam"]
    assert page.items[0].data == {"tick": 2} and page.items[0].timestamp == t0 + timedelta(seconds=2)
    window = await store.events.list_state_events(execution_id="wf", start_time=t0 + timedelta(seconds=1),
                                                  end_time=t0 + timedelta(seconds=1))
    assert [e.state for e in window.items] == ["beam"]


async def test_messages_batch_filters_and_prune(store: Store) -> None:
    old = datetime.now(UTC) - timedelta(days=10)
    batch = [MessageIn(namespace="alice", execution_id="wf", run_number=100010, msg_type="stf_gen",
                       sender="daq", destination="/topic/x", body={"sequence": i}) for i in range(5)]
    batch.append(MessageIn(namespace="alice", msg_type="run_imminent", sender="daq", created_at=old))
    batch.append(MessageIn(namespace="bob", msg_type="stf_ready", sender="data"))
    assert await store.events.add_messages(batch) == 7
    assert await store.events.add_messages([]) == 0
    alice = await store.events.list_messages(namespace="alice")
    assert alice.total == 6 and alice.items[-1].msg_type == "run_imminent"
    assert [m.body["sequence"] for m in (await store.events.list_messages(msg_type="stf_gen")).items] == [4, 3, 2, 1, 0]
    assert (await store.events.list_messages(agent="data")).items[0].namespace == "bob"
    assert (await store.events.list_messages(start_time=old + timedelta(days=1))).total == 6
    assert await store.events.prune_messages(datetime.now(UTC) - timedelta(days=1)) == 1
    assert (await store.events.list_messages()).total == 6


async def test_naive_times_are_refused_with_the_field_named(store: Store) -> None:
    from workflows.store import InvalidQuery

    with pytest.raises(InvalidQuery, match="start_time: .* has no timezone"):
        await store.events.list_messages(start_time=datetime(2026, 1, 1))
    with pytest.raises(InvalidQuery, match="end_time: is before start_time"):
        await store.events.list_messages(start_time=datetime(2026, 1, 2, tzinfo=UTC),
                                         end_time=datetime(2026, 1, 1, tzinfo=UTC))
