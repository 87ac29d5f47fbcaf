"""The receiver's rules with in-memory adapters: no AWS, no network."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from hookhaven.ids import new_event_id, ulid
from hookhaven.ingest import (
    Accepted,
    Duplicate,
    InProgress,
    InvalidSignature,
    PayloadTooLarge,
    Receiver,
    SourceDirectory,
    Unavailable,
    UnknownSource,
)
from hookhaven.matching import matching_subscriptions, type_matches
from hookhaven.memory import MemoryBodyStore, MemoryConfig, MemoryEventStore, MemoryQueue
from hookhaven.models import DeliveryMessage, Secret, Source, SourceKind, Subscription
from hookhaven.ports import StorageUnavailable
from hookhaven.signatures import standard_signature_header
from hookhaven.tunables import RuntimeTunables
from hookhaven.verification import InboundRequest

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = 1_795_881_600.0


def subscription(sub_id: str, *, source: str = "*", types=("*",), enabled=True) -> Subscription:
    return Subscription(
        id=sub_id,
        source=source,
        event_types=tuple(types),
        url="https://example.com/hook",
        secrets=(Secret(value=SECRET, created_at=NOW),),
        enabled=enabled,
        created_at=NOW,
        updated_at=NOW,
    )


def standard_source(name: str = "bookhaven") -> Source:
    return Source(
        name=name,
        kind=SourceKind.STANDARD,
        secrets=(Secret(value=SECRET, created_at=NOW),),
        created_at=NOW,
        updated_at=NOW,
    )


def request(
    body: bytes = b'{"type":"order.created"}', msg_id: str = "msg_1", now: float = NOW
) -> InboundRequest:
    return InboundRequest(
        headers={
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": standard_signature_header([SECRET], msg_id, int(now), body),
            "content-type": "application/json",
        },
        body=body,
    )


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world():
    config = MemoryConfig()
    config.sources["bookhaven"] = standard_source()
    clock = Clock()
    events, bodies, queue = MemoryEventStore(), MemoryBodyStore(), MemoryQueue()
    receiver = Receiver(
        directory=SourceDirectory(config, ttl=30, clock=clock),
        events=events,
        bodies=bodies,
        queue=queue,
        settings=RuntimeTunables(inline_body_limit_bytes=1024, max_body_bytes=4096),
        clock=clock,
    )
    return config, clock, events, bodies, queue, receiver


def test_glob_patterns_match_event_types():
    assert type_matches("*", "anything")
    assert type_matches("order.*", "order.created")
    assert not type_matches("order.*", "orders.created")
    assert type_matches("orders/*", "orders/create")
    assert type_matches("order.created", "order.created")
    assert not type_matches("Order.created", "order.created")


def test_only_enabled_subscriptions_of_the_source_or_any_source_match():
    subscriptions = [
        subscription("a", source="bookhaven"),
        subscription("b"),
        subscription("c", source="other"),
        subscription("d", source="bookhaven", enabled=False),
        subscription("e", source="bookhaven", types=("refund.*", "order.*")),
    ]
    matched = matching_subscriptions(subscriptions, "bookhaven", "order.created")
    assert [s.id for s in matched] == ["a", "b", "e"]


def test_event_ids_sort_by_time():
    earlier, later = new_event_id(NOW), new_event_id(NOW + 0.002)
    assert earlier.startswith("evt_")
    assert len(earlier) == 30
    assert earlier < later
    assert len({ulid(NOW) for _ in range(1000)}) == 1000


def test_a_new_source_works_within_a_second(world):
    config, clock, *_, receiver = world
    with pytest.raises(UnknownSource):
        receiver.receive("newshop", request())
    config.sources["newshop"] = standard_source("newshop")
    with pytest.raises(UnknownSource):  # the same instant: no second read
        receiver.receive("newshop", request())
    clock.now += 1
    assert isinstance(receiver.receive("newshop", request(now=clock.now)), Accepted)


def test_changes_to_a_known_source_show_after_the_cache_expires(world):
    config, clock, *_, receiver = world
    assert isinstance(receiver.receive("bookhaven", request(msg_id="msg_0")), Accepted)
    config.sources["bookhaven"] = config.sources["bookhaven"].model_copy(
        update={"secrets": (Secret(value="whsec_" + "A" * 44, created_at=NOW),)}
    )
    clock.now += 10
    assert isinstance(receiver.receive("bookhaven", request(now=clock.now)), Accepted)  # cached
    clock.now += 25
    with pytest.raises(InvalidSignature):
        receiver.receive("bookhaven", request(msg_id="msg_2", now=clock.now))


def test_unknown_sources_do_not_each_cost_a_read(world):
    config, *_, receiver = world
    for name in ("a", "b", "c", "d"):
        with pytest.raises(UnknownSource):
            receiver.receive(name, request())
    assert config.reads == 1


def test_body_limit_is_checked_before_anything_else(world):
    *_, events, _, queue, receiver = world
    with pytest.raises(PayloadTooLarge):
        receiver.receive("bookhaven", request(b"x" * 5000))
    assert events.events == {}
    assert queue.messages == []


def test_bodies_above_the_inline_limit_travel_by_pointer(world):
    config, _, events, bodies, queue, receiver = world
    config.subscriptions["s"] = subscription("s")
    body = json.dumps({"type": "order.created", "pad": "x" * 2000}).encode()
    outcome = receiver.receive("bookhaven", request(body))
    assert isinstance(outcome, Accepted)
    (message,) = queue.messages
    assert message.body_ref is not None
    assert bodies.objects[message.body_ref.key] == body
    assert events.events[outcome.event_id].body is None


def test_a_claim_in_progress_elsewhere_is_refused_for_now(world):
    _, _, events, _, _, receiver = world
    from hookhaven.ports import DedupeKey

    events.claim(DedupeKey("bookhaven", "msg_1"), "evt_other", now=NOW, window=3600, lease=60)
    with pytest.raises(InProgress):
        receiver.receive("bookhaven", request())


def test_a_claim_whose_lease_lapsed_is_taken_over_with_its_event_id(world):
    _, clock, events, _, _, receiver = world
    from hookhaven.ports import DedupeKey

    events.claim(DedupeKey("bookhaven", "msg_1"), "evt_crashed", now=NOW, window=3600, lease=60)
    clock.now += 61
    outcome = receiver.receive("bookhaven", request())
    assert isinstance(outcome, Accepted)
    assert outcome.event_id == "evt_crashed"


def test_the_caller_bounds_how_long_its_claim_blocks_a_retry(world):
    _, clock, events, _, queue, receiver = world
    from hookhaven.ports import DedupeKey

    def stuck(*args, **kwargs):
        raise RuntimeError("the invocation dies here, before it can release its claim")

    events.release = stuck
    queue.send = stuck
    with pytest.raises(RuntimeError):
        receiver.receive("bookhaven", request(), lease_seconds=12.3)
    del events.release, queue.send
    clock.now += 12
    with pytest.raises(InProgress):
        receiver.receive("bookhaven", request())
    clock.now += 2  # past 13 s (rounded up): the invocation cannot be running any more
    assert isinstance(receiver.receive("bookhaven", request()), Accepted)
    assert events.dedupe[DedupeKey("bookhaven", "msg_1")].status == "complete"


def test_after_the_dedupe_window_the_same_id_is_a_new_event(world):
    _, clock, _, _, _, receiver = world
    first = receiver.receive("bookhaven", request())
    clock.now += 72 * 3600 - 1
    assert isinstance(receiver.receive("bookhaven", request(now=clock.now)), Duplicate)
    clock.now += 2
    again = receiver.receive("bookhaven", request(now=clock.now))
    assert isinstance(first, Accepted)
    assert isinstance(again, Accepted)
    assert again.event_id != first.event_id


class BrokenQueue(MemoryQueue):
    def __init__(self, failing: set[str]) -> None:
        super().__init__()
        self.failing = failing

    def send(self, messages: Sequence[DeliveryMessage]) -> set[str]:
        ok = [m for m in messages if m.subscription_id not in self.failing]
        self.messages.extend(ok)
        return {m.subscription_id for m in messages} & self.failing


def test_enqueue_failure_releases_the_claim_and_the_retry_sends_only_the_rest(world):
    config, _, events, bodies, _, _ = world
    for name in ("a", "b", "c"):
        config.subscriptions[name] = subscription(name)
    queue = BrokenQueue({"b"})
    receiver = Receiver(
        directory=SourceDirectory(config, ttl=30, clock=Clock()),
        events=events,
        bodies=bodies,
        queue=queue,
        settings=RuntimeTunables(),
        clock=Clock(),
    )
    with pytest.raises(Unavailable):
        receiver.receive("bookhaven", request())
    assert events.events == {}
    assert sorted(m.subscription_id for m in queue.messages) == ["a", "c"]
    queue.failing = set()
    outcome = receiver.receive("bookhaven", request())
    assert isinstance(outcome, Accepted)
    assert sorted(m.subscription_id for m in queue.messages) == ["a", "b", "c"]
    assert {m.event_id for m in queue.messages} == {outcome.event_id}


def test_config_outage_is_unavailable_not_unknown(world):
    class DownConfig(MemoryConfig):
        def list_sources(self):
            raise StorageUnavailable("throttled")

    _, _, events, bodies, queue, _ = world
    receiver = Receiver(
        directory=SourceDirectory(DownConfig(), ttl=30),
        events=events,
        bodies=bodies,
        queue=queue,
        settings=RuntimeTunables(),
    )
    with pytest.raises(Unavailable):
        receiver.receive("bookhaven", request())


def test_ulid_is_the_crockford_base32_of_time_and_randomness(monkeypatch):
    def reference(now: float, randomness: bytes) -> str:
        value = (int(now * 1000) << 80) | int.from_bytes(randomness, "big")
        digits = []
        for _ in range(26):
            value, index = divmod(value, 32)
            digits.append("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[index])
        return "".join(reversed(digits))

    for step, randomness in enumerate([b"\x00" * 10, b"\xff" * 10, bytes(range(10))]):
        monkeypatch.setattr("hookhaven.ids.os.urandom", lambda n, r=randomness: r)
        now = NOW + step * 1234.567
        assert ulid(now) == reference(now, randomness)


def test_the_public_url_is_rebuilt_only_for_a_kind_that_signs_it(world):
    """Building the URL costs every request; only Twilio, Square, HubSpot and Trello sign it."""
    from tests.provider_cases import CASES, source_of
    from tests.unit.test_provider_cases import request as case_request

    config, *_, receiver = world
    square = next(case for case in CASES if case.kind == "square")
    config.sources["square"] = source_of("square", square.source_secret)

    def unused() -> str:
        raise AssertionError("a Standard Webhooks source does not sign its URL")

    assert isinstance(receiver.receive("bookhaven", request(), url=unused), Accepted)
    unsigned = case_request(square)._replace(url="")
    assert isinstance(receiver.receive("square", unsigned, url=lambda: square.url), Accepted)
    elsewhere = square.url.replace("/webhooks/", "/webhooks/x")
    with pytest.raises(InvalidSignature):
        receiver.receive("square", unsigned, url=lambda: elsewhere)
