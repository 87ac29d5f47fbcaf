"""smoke: every step named when it fails, what was added removed whatever happens, and the
subscription in place before any receiver can know its source."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from functions.echo import EchoFunction
from hookhaven.ingest import SourceDirectory
from hookhaven.matching import matching_subscriptions
from hookhaven.memory import MemoryConfig, MemoryEchoSecrets, MemoryEventStore
from hookhaven.models import (
    AttemptOutcome,
    AttemptRecord,
    EventRecord,
    Source,
    Subscription,
    SubscriptionRoute,
)
from hookhaven.operations.smoke import (
    ADD_SOURCE,
    CLEAN_UP,
    FIND_API,
    FIND_ECHO,
    SEND,
    SEND_RETRY_INTERVAL_SECONDS,
    SMOKE_EVENT_TYPE,
    STEPS,
    WAIT,
    SmokeFailed,
    SmokeRun,
    run_smoke,
)
from hookhaven.ports import StorageUnavailable
from hookhaven.signatures import new_standard_secret, standard_signature_header
from hookhaven.verification import InboundRequest, verify

NOW = 1_800_000_000.0
API = "https://api.example.com"
ECHO = "http://127.0.0.1:9/"  # loopback, as against the local stack: no DNS in unit tests
POST_SECONDS = 0.05


@dataclass
class Clock:
    now: float = NOW
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Relay:
    """The deployed pipe in miniature: a receiver that verifies the provider's signature,
    records the event and fans it out, and a dispatcher that signs each delivery with its
    subscription's secrets for the echo subscriber (functions/echo.py)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.config = MemoryConfig()
        self.events = MemoryEventStore()
        self.echo_secrets = MemoryEchoSecrets()
        self.echo = EchoFunction(self.echo_secrets.get, clock=clock, log=lambda line: None)
        self.unknown_for = 0  # sends answered 404 before the source is known
        self.deliver = True
        self.fan_out = True
        self.receiver_clock_offset = 0.0
        self.posts: list[str] = []

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        self.posts.append(url)
        self.clock.now += POST_SECONDS / 2
        source = self.config.get_source(url.rsplit("/", 1)[1])
        if self.unknown_for or source is None:
            self.unknown_for = max(0, self.unknown_for - 1)
            return 404, b'{"error": "unknown_source", "message": "no source with that name"}'
        verified = verify(source, InboundRequest(headers, body), self.clock())
        assert verified.event_type == SMOKE_EVENT_TYPE
        subscriptions = matching_subscriptions(
            self.config.list_subscriptions(), source.name, verified.event_type
        )
        event = EventRecord(
            id=f"evt_{len(self.posts)}",
            source=source.name,
            event_type=verified.event_type,
            received_at=self.clock() + self.receiver_clock_offset,
            body_size=len(body),
            subscriptions=tuple(s.id for s in subscriptions) if self.fan_out else (),
            content_type="application/json",
            headers={},
            body_sha256="-",
        )
        self.events.accept(event, None, expires_at=0)
        if self.deliver:
            for subscription in subscriptions:
                self.attempt(event, subscription, body)
        self.clock.now += POST_SECONDS / 2
        return 202, json.dumps({"id": event.id}).encode()

    def attempt(self, event: EventRecord, subscription: Subscription, body: bytes) -> None:
        at = self.clock()
        secrets = [s.value for s in subscription.secrets]
        answer = self.echo.handle(
            {
                "rawPath": urlsplit(subscription.url).path,
                "headers": {
                    "webhook-id": event.id,
                    "webhook-timestamp": str(int(at)),
                    "webhook-signature": standard_signature_header(
                        secrets, event.id, int(at), body
                    ),
                },
                "body": body.decode(),
                "isBase64Encoded": False,
            }
        )
        status = answer["statusCode"]
        self.record(event.id, subscription.id, status, answer.get("body"), at=at)

    def record(
        self, event_id: str, subscription_id: str, status: int, body: str | None, *, at: float
    ) -> None:
        self.events.record_attempt(
            AttemptRecord(
                event_id=event_id,
                subscription_id=subscription_id,
                attempt=1,
                at=at + self.receiver_clock_offset,
                outcome=AttemptOutcome.DELIVERED if status < 300 else AttemptOutcome.RETRYING,
                status_code=status,
                response_body=body,
                latency_ms=10.0,
            )
        )

    def left_behind(self) -> list[Any]:
        return [*self.config.sources, *self.config.subscriptions, *self.echo_secrets.runs]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def relay(clock: Clock) -> Relay:
    return Relay(clock)


def smoke(relay: Relay, config: Any = None, **options: Any) -> SmokeRun:
    settings: dict[str, Any] = {
        "find_api": lambda: API,
        "find_echo": lambda: ECHO,
        "allow_loopback": True,
        "clock": relay.clock,
        "sleep": relay.clock.sleep,
        "post": relay.post,
        **options,
    }
    return run_smoke(config or relay.config, relay.events, relay.echo_secrets, **settings)


def failure(relay: Relay, config: Any = None, **options: Any) -> SmokeFailed:
    with pytest.raises(SmokeFailed) as caught:
        smoke(relay, config, **options)
    return caught.value


def test_a_run_proves_the_pipe_reports_each_step_and_removes_what_it_added(relay):
    lines: list[str] = []
    run = smoke(relay, report=lines.append)
    assert run.status_code == 204
    assert run.key.startswith("smoke-")
    assert run.subscription_url == f"{ECHO}{run.key}"
    assert (run.sends, run.attempts) == (1, 1)
    assert run.timings.accepted == pytest.approx(POST_SECONDS, abs=1e-3)
    assert run.timings.delivered == pytest.approx(POST_SECONDS / 2 + 0.010, abs=1e-3)
    assert run.timings.end_to_end == pytest.approx(POST_SECONDS, abs=1e-3)
    assert run.timings.clock_offset == 0
    assert relay.left_behind() == []
    assert relay.posts == [f"{API}/webhooks/{run.key}"]
    assert lines[-1] == "removed the source, the subscription and the secret"
    assert any(line.startswith(f"event {run.event_id} accepted") for line in lines)


class Recording(MemoryConfig):
    def __init__(self, relay: Relay, log: list[str]) -> None:
        super().__init__()
        self.sources, self.subscriptions = relay.config.sources, relay.config.subscriptions
        self.log = log

    def put_source(self, source: Source) -> None:
        self.log.append("source")
        super().put_source(source)

    def put_subscription(self, subscription: Subscription) -> None:
        self.log.append("subscription")
        super().put_subscription(subscription)


class RecordingSecrets(MemoryEchoSecrets):
    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def put(self, key: str, secrets: Sequence[str], *, expires_at: float) -> None:
        self.log.append("secret")
        super().put(key, secrets, expires_at=expires_at)


class WrongSecrets(MemoryEchoSecrets):
    """A test hook: the echo subscriber is told a secret that is not the subscription's."""

    def put(self, key: str, secrets: Sequence[str], *, expires_at: float) -> None:
        super().put(key, [new_standard_secret()], expires_at=expires_at)


def with_echo_secrets(relay: Relay, secrets: MemoryEchoSecrets) -> None:
    relay.echo_secrets = secrets
    relay.echo = EchoFunction(secrets.get, clock=relay.clock, log=lambda line: None)


def test_the_secret_and_the_subscription_are_in_place_before_the_source(relay):
    order: list[str] = []
    with_echo_secrets(relay, RecordingSecrets(order))
    smoke(relay, Recording(relay, order))
    assert order == ["secret", "subscription", "source"]


def test_a_receiver_refresh_reads_sources_before_subscriptions():
    """What the order above rests on: a receiver that has read the new source has read
    the subscription added before it too."""
    calls: list[str] = []

    class Config(MemoryConfig):
        def list_sources(self) -> list[Source]:
            calls.append("sources")
            return super().list_sources()

        def list_routes(self) -> list[SubscriptionRoute]:
            calls.append("subscriptions")
            return super().list_routes()

    SourceDirectory(Config(), ttl=30).source("smoke-1a2b3c4d")
    assert calls[:2] == ["sources", "subscriptions"]


def test_a_source_the_receiver_does_not_know_yet_is_sent_again(relay, clock):
    relay.unknown_for = 2
    run = smoke(relay)
    assert run.sends == 3
    assert clock.slept[:2] == [SEND_RETRY_INTERVAL_SECONDS] * 2
    assert relay.left_behind() == []


def test_a_source_never_known_fails_at_sending_and_cleans_up(relay):
    relay.unknown_for = 1000
    failed = failure(relay)
    assert failed.step == SEND
    assert "the API answered 404 unknown_source" in str(failed)
    assert "tries" in str(failed)
    assert str(failed).startswith('smoke failed at "sending the event": ')
    assert relay.left_behind() == []


def test_a_rejected_delivery_fails_at_once_naming_the_answer(relay, clock):
    with_echo_secrets(relay, WrongSecrets())
    failed = failure(relay)
    assert failed.step == WAIT
    assert "attempt 1 was refused: 401 invalid_signature" in str(failed)
    assert clock.now - NOW < 1, "a 401 will not change on retry: no waiting for the timeout"
    assert relay.left_behind() == []


def test_no_attempt_within_the_timeout_is_named(relay, clock):
    relay.deliver = False
    failed = failure(relay, timeout=5)
    assert str(failed) == (
        'smoke failed at "waiting for delivery": no delivered attempt within 5 s (no attempt yet)'
    )
    assert 5 <= clock.now - NOW < 6
    assert relay.left_behind() == []


def test_a_failure_that_may_pass_is_waited_for_then_named(relay):
    relay.deliver = False
    original = relay.post

    def post_then_fail(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        status, answer = original(url, body, headers)
        (subscription,) = relay.config.subscriptions
        relay.record(json.loads(answer)["id"], subscription, 503, None, at=relay.clock())
        return status, answer

    failed = failure(relay, post=post_then_fail, timeout=5)
    assert failed.step == WAIT
    assert "no delivered attempt within 5 s (last attempt: 503)" in str(failed)


def test_an_event_not_queued_for_the_subscription_fails_at_sending(relay):
    relay.fan_out = False
    failed = failure(relay)
    assert failed.step == SEND
    assert "not queued for sub_" in str(failed)
    assert relay.left_behind() == []


class FailingConfig(MemoryConfig):
    def __init__(self, relay: Relay, *, fail: str) -> None:
        super().__init__()
        self.sources, self.subscriptions = relay.config.sources, relay.config.subscriptions
        self.fail = fail

    def put_source(self, source: Source) -> None:
        if self.fail == "put_source":
            raise StorageUnavailable("config table write failed: ThrottlingException")
        super().put_source(source)

    def delete_source(self, name: str) -> bool:
        if self.fail == "delete_source":
            raise StorageUnavailable("config table write failed: AccessDeniedException")
        return super().delete_source(name)


def test_a_failing_step_is_named_and_what_came_before_it_is_removed(relay):
    failed = failure(relay, FailingConfig(relay, fail="put_source"))
    assert failed.step == ADD_SOURCE
    assert str(failed) == (
        'smoke failed at "adding the source": config table write failed: ThrottlingException'
    )
    assert relay.left_behind() == []


def test_errors_are_worded_by_the_caller(relay):
    failed = failure(relay, FailingConfig(relay, fail="put_source"), describe=lambda e: "explained")
    assert str(failed) == 'smoke failed at "adding the source": explained'


def test_a_cleanup_that_fails_fails_the_run(relay):
    failed = failure(relay, FailingConfig(relay, fail="delete_source"))
    assert failed.step == CLEAN_UP
    assert "could not remove source smoke-" in str(failed)
    # The rest was still removed.
    assert relay.config.subscriptions == {}
    assert relay.echo_secrets.runs == {}


def test_a_cleanup_that_fails_after_a_failure_says_both(relay):
    relay.deliver = False
    failed = failure(relay, FailingConfig(relay, fail="delete_source"), timeout=1)
    assert failed.step == WAIT
    assert "; cleaning up failed too: could not remove source smoke-" in str(failed)


def test_a_source_name_already_taken_is_never_removed(relay):
    existing = Source(
        name="smoke-0000aaaa",
        kind="standard",
        secrets=({"value": new_standard_secret(), "created_at": NOW},),
        created_at=NOW,
        updated_at=NOW,
    )
    relay.config.put_source(existing)
    failed = failure(relay, key="smoke-0000aaaa")
    assert failed.step == ADD_SOURCE
    assert "already exists" in str(failed)
    assert relay.config.sources == {"smoke-0000aaaa": existing}
    assert relay.config.subscriptions == {}


def test_an_interrupted_run_still_cleans_up(relay, clock):
    relay.deliver = False

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        smoke(relay, sleep=interrupt)
    assert relay.left_behind() == []


def test_without_an_api_url_the_first_step_fails_and_nothing_is_added(relay):
    failed = failure(relay, find_api=lambda: None)
    assert failed.step == FIND_API
    assert "--url" in str(failed)
    assert relay.left_behind() == []


def test_an_echo_subscriber_that_cannot_be_found_is_named(relay):
    def missing() -> str:
        raise ValueError("stack HookHaven has no EchoSubscriberUrl output")

    failed = failure(relay, find_echo=missing)
    assert str(failed) == (
        'smoke failed at "finding the echo subscriber": '
        "stack HookHaven has no EchoSubscriberUrl output"
    )
    assert relay.left_behind() == []


def test_delivered_is_corrected_by_the_receivers_clock_offset(relay):
    relay.receiver_clock_offset = 10.0  # AWS's clock 10 s ahead of this machine's
    run = smoke(relay)
    assert run.timings.clock_offset == pytest.approx(10.0 - POST_SECONDS / 2)
    assert 0 < run.timings.delivered <= run.timings.end_to_end + POST_SECONDS


def test_every_step_has_a_name_a_person_can_read():
    assert len(set(STEPS)) == len(STEPS)
    assert FIND_ECHO in STEPS
    for step in STEPS:
        assert step.split()[0].endswith("ing")
