"""The per-slice bodies built by hand equal what their models dump, and validate as those models."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from agents.testbed.kinds.fast_processing import request_ids
from agents.testbed.pipeline_messages import (
    SliceContent, SliceMessage, SliceResult, json_time, slice_content_body, slice_message_body, slice_result_body,
)

WHEN = datetime(2026, 11, 30, 12, 0, 1, 250000, tzinfo=UTC)


def content_fields() -> dict[str, object]:
    return dict(run_id=100010, execution_id="stf_datataking-alice-0001", req_id="r-1",
                filename="swf.100010.000001.stf", tf_filename="swf.100010.000001.tf", slice_id=3, start=30, end=39,
                tf_count=10, requested_at=WHEN, attempt=2)


def test_json_time_is_the_models_json_form() -> None:
    for value in (WHEN, WHEN.replace(microsecond=0), WHEN.astimezone(UTC)):
        assert json_time(value) == SliceContent(**content_fields() | {"requested_at": value}).model_dump(
            mode="json")["requested_at"]


def test_slice_message_body_equals_the_models_dump() -> None:
    content = slice_content_body(**content_fields() | {"requested_at": json_time(WHEN)})  # type: ignore[arg-type]
    model = SliceMessage(namespace="alice", run_id=100010, timestamp=WHEN + timedelta(seconds=1),
                         content=SliceContent(**content_fields()))  # type: ignore[arg-type]
    body = slice_message_body("alice", content, json_time(WHEN + timedelta(seconds=1)))
    assert body == model.model_dump(mode="json")
    assert SliceMessage.model_validate(body) == model


def test_slice_result_body_equals_the_models_dump() -> None:
    content = SliceContent(**content_fields())  # type: ignore[arg-type]
    started, processed = WHEN + timedelta(seconds=1), WHEN + timedelta(seconds=2)
    for (result, error), requested in itertools.product(
            (({"checksum": "adler32:0000002a", "tf_count": 10, "processed": True}, None),
             (None, "InjectedFailure: boom")), (None, json_time(WHEN))):
        body = slice_result_body(namespace="alice", content=content, processing_start_at=started,
                                 processed_at=processed, hostname="h", worker="worker-agent-alice-1", result=result,
                                 error=error, requested_at=requested)
        model = SliceResult(namespace="alice", timestamp=processed, run_id=content.run_id,
                            execution_id=content.execution_id, req_id=content.req_id, tf_filename=content.tf_filename,
                            slice_id=content.slice_id, attempt=content.attempt, requested_at=content.requested_at,
                            processing_start_at=started, processed_at=processed,
                            state="done" if error is None else "failed", hostname="h", worker="worker-agent-alice-1",
                            result=result, error=error)
        assert body == model.model_dump(mode="json")
        assert SliceResult.model_validate(body) == model


def test_request_ids_are_distinct_version_4_uuids() -> None:
    ids = request_ids(200)
    assert len(set(ids)) == 200
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
