"""Replay: a genuine request captured off the wire and sent again, byte for byte.

Within the signature tolerance it is deduplicated (same event, nothing enqueued);
after it, a provider that signs a timestamp has it rejected. GitHub and Shopify sign
no timestamp: for them the dedupe window (72 h by default) is the protection. Their
event id and type come from headers the signature does not cover: for them, and for an
hmac source reading its id from a header, a byte-identical body is a duplicate whatever
those headers say.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from hookhaven.models import FieldRef, Secret, Source, SourceKind
from tests.integration.helpers import COURIER, add_source, config
from tests.integration.test_receiver import SAMPLES, add_subscription, call, queued, sample
from tests.providers import SECRETS

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


# --- kinds whose event id the signature does not cover ------------------------------------

#: Where each kind takes its (unsigned) id and type from.
UNSIGNED_ID = {
    "github": ("x-github-delivery", "x-github-event", "issues"),
    "shopify": ("x-shopify-webhook-id", "x-shopify-topic", "orders/paid"),
    "hmac": ("x-courier-delivery", "x-courier-event", "shipment.cancelled"),
}


def _source_with_an_unsigned_id(aws, kind: str) -> None:
    if kind != "hmac":
        add_source(aws, SAMPLES[kind][1], kind)
        return
    now = time.time()
    options = COURIER.model_copy(update={"id_from": FieldRef.parse("header:x-courier-delivery")})
    config(aws).put_source(
        Source(
            name=SAMPLES[kind][1],
            kind=SourceKind.HMAC,
            secrets=(Secret(value=SECRETS["hmac"], created_at=now),),
            hmac=options,
            created_at=now,
            updated_at=now,
        )
    )


def _genuine(load_event, kind: str) -> dict[str, Any]:
    request = captured(load_event, kind)
    id_header = UNSIGNED_ID[kind][0]
    request["headers"][id_header] = request["headers"].get(id_header) or "delivery-0001"
    return request


@pytest.mark.parametrize("kind", list(UNSIGNED_ID))
def test_a_replay_under_a_fresh_id_is_a_duplicate(
    kind, aws, receiver_function, load_event, lambda_context
):
    """Anyone who saw one genuine request could send its signed body again with a new id
    header, as often as they liked; a byte-identical body is now a duplicate."""
    _source_with_an_unsigned_id(aws, kind)
    add_subscription(aws)
    request = _genuine(load_event, kind)
    status, first = call(receiver_function, copy.deepcopy(request), lambda_context)
    assert status == 202
    assert len(queued(aws)) == 1
    for n in range(3):
        replay = copy.deepcopy(request)
        replay["headers"][UNSIGNED_ID[kind][0]] = f"attacker-{n}"
        status, again = call(receiver_function, replay, lambda_context)
        assert (status, again) == (200, {"id": first["id"], "duplicate": True})
    assert queued(aws) == []


@pytest.mark.parametrize("kind", list(UNSIGNED_ID))
def test_a_replay_under_another_event_type_reaches_no_one(
    kind, aws, receiver_function, load_event, lambda_context
):
    """An orders/create body sent again as orders/paid must not reach orders/paid's
    subscribers: the type header is not signed either."""
    _source_with_an_unsigned_id(aws, kind)
    id_header, type_header, other_type = UNSIGNED_ID[kind]
    add_subscription(aws, types=(other_type,))
    request = _genuine(load_event, kind)
    assert call(receiver_function, copy.deepcopy(request), lambda_context)[0] == 202
    retyped = copy.deepcopy(request)
    retyped["headers"][id_header] = "attacker-1"
    retyped["headers"][type_header] = other_type
    status, body = call(receiver_function, retyped, lambda_context)
    assert status == 200
    assert body["duplicate"] is True
    assert queued(aws) == []


@pytest.mark.parametrize("kind", list(UNSIGNED_ID))
def test_a_replay_without_an_id_is_refused_or_a_duplicate(
    kind, aws, receiver_function, load_event, lambda_context
):
    """A missing id header used to switch dedupe off altogether."""
    _source_with_an_unsigned_id(aws, kind)
    add_subscription(aws)
    request = _genuine(load_event, kind)
    assert call(receiver_function, copy.deepcopy(request), lambda_context)[0] == 202
    queued(aws)
    idless = copy.deepcopy(request)
    del idless["headers"][UNSIGNED_ID[kind][0]]
    status, body = call(receiver_function, idless, lambda_context)
    if kind == "hmac":  # the id is optional there: the body decides
        assert (status, body["duplicate"]) == (200, True)
    else:  # GitHub and Shopify always send theirs
        assert (status, body["error"]) == (400, "bad_request")
    assert queued(aws) == []
