"""Replay: a genuine request captured off the wire and sent again, byte for byte.

Within the signature tolerance it is deduplicated (same event, nothing enqueued);
after it, a provider that signs a timestamp has it rejected. GitHub and Shopify sign
no timestamp: for them the dedupe window (72 h by default) is the protection.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from tests.integration.helpers import add_source
from tests.integration.test_receiver import SAMPLES, add_subscription, call, queued, sample

TIMESTAMPED = ["standard", "stripe", "slack"]
UNTIMESTAMPED = ["github", "shopify", "hmac"]


def captured(load_event, kind: str) -> dict[str, Any]:
    return sample(load_event, kind, now=time.time())


@pytest.mark.parametrize("kind", TIMESTAMPED + UNTIMESTAMPED)
def test_a_replay_within_the_tolerance_is_a_duplicate(
    kind, aws, receiver_function, load_event, lambda_context
):
    add_source(aws, SAMPLES[kind][1], kind)
    add_subscription(aws)
    request = captured(load_event, kind)
    status, first = call(receiver_function, copy.deepcopy(request), lambda_context)
    assert status == 202
    assert len(queued(aws)) == 1
    receiver_function.receiver._clock = lambda: time.time() + 240  # four minutes later
    status, again = call(receiver_function, copy.deepcopy(request), lambda_context)
    assert (status, again) == (200, {"id": first["id"], "duplicate": True})
    assert queued(aws) == []


@pytest.mark.parametrize("kind", TIMESTAMPED)
@pytest.mark.parametrize("accepted_first", [True, False])
def test_a_replay_after_the_tolerance_is_rejected(
    kind, accepted_first, aws, receiver_function, load_event, lambda_context
):
    add_source(aws, SAMPLES[kind][1], kind)
    add_subscription(aws)
    request = captured(load_event, kind)
    if accepted_first:
        assert call(receiver_function, copy.deepcopy(request), lambda_context)[0] == 202
        queued(aws)
    receiver_function.receiver._clock = lambda: time.time() + 301
    status, body = call(receiver_function, copy.deepcopy(request), lambda_context)
    assert status == 401
    assert body["error"] == "invalid_signature"
    assert queued(aws) == []


@pytest.mark.parametrize("kind", UNTIMESTAMPED)
def test_without_a_signed_timestamp_the_dedupe_window_stops_a_late_replay(
    kind, aws, tunables, receiver_function, load_event, lambda_context
):
    add_source(aws, SAMPLES[kind][1], kind)
    add_subscription(aws)
    request = captured(load_event, kind)
    status, first = call(receiver_function, copy.deepcopy(request), lambda_context)
    assert status == 202
    queued(aws)
    window = tunables.dedupe_window
    receiver_function.receiver._clock = lambda: time.time() + window - 60
    status, again = call(receiver_function, copy.deepcopy(request), lambda_context)
    assert (status, again) == (200, {"id": first["id"], "duplicate": True})
    assert queued(aws) == []
