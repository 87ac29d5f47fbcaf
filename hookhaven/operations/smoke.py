"""``hookhaven smoke``: prove a deployment end to end, then leave nothing behind.

One run, in named steps (a failure names its step):

1. *finding the API* (the stack's ``ApiUrl``, the local stack's, or ``--url``) and *finding
   the echo subscriber*: its URL (the stack's ``EchoSubscriberUrl`` output, or a loopback
   server the CLI starts for the local stack);
2. *making the secret known to the echo subscriber*: a fresh ``whsec_`` secret under the
   run's key, ``smoke-<hex>`` (``hookhaven.echo`` says where it is kept, and why there);
3. *adding the subscription*: to ``<echo URL>/<key>``, for the run's source and the event
   type ``hookhaven.smoke`` only, signing with that secret;
4. *adding the source*: a ``standard`` source named after the key;
5. *sending the event*: a signed ``hookhaven.smoke`` event to ``<API>/webhooks/<key>``;
6. *waiting for delivery*: until the subscription's delivery has a 2xx attempt;
7. *cleaning up*: the source, the subscription and the secret are removed, whatever
   happened before (the event and its attempts stay, and expire like any event's).

Why the subscription is added before its source: the receiver caches sources and
subscriptions together, reading sources first in each refresh (``SourceDirectory``). In
this order, any receiver that knows the source has also read the subscription, so the
event is fanned out to it on its first acceptance, with no waiting for caches to expire
(``source_cache_seconds``, 30 s deployed). A source the receiver has not seen yet is
looked up again at most once a second per execution environment, so the send is retried
on 404 (and on 5xx) for a few seconds.

The timings, in seconds: *accepted*, from the POST to its 202 (your clock); *delivered*,
from the POST to the echo subscriber's answer, per the attempt record (the dispatcher's
clock, corrected by the receiver's offset from yours when its time of receipt falls
outside the POST); *end to end*, from the POST to this command reading the delivered
attempt back.
"""

from __future__ import annotations

import json
import secrets as _secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from hookhaven.models import AttemptOutcome, AttemptRecord, SourceKind
from hookhaven.operations import OperationError
from hookhaven.operations.config import add_source, add_subscription
from hookhaven.operations.events import event_story
from hookhaven.operations.send import Post, SendResult, http_post, send_test_event
from hookhaven.ports import ConfigStore, EchoSecrets, EventReader
from hookhaven.signatures import new_standard_secret

FIND_API = "finding the API"
FIND_ECHO = "finding the echo subscriber"
PUBLISH_SECRET = "making the secret known to the echo subscriber"  # noqa: S105 (a step)
ADD_SUBSCRIPTION = "adding the subscription"
ADD_SOURCE = "adding the source"
SEND = "sending the event"
WAIT = "waiting for delivery"
CLEAN_UP = "cleaning up"
STEPS = (FIND_API, FIND_ECHO, PUBLISH_SECRET, ADD_SUBSCRIPTION, ADD_SOURCE, SEND, WAIT, CLEAN_UP)

SMOKE_EVENT_TYPE = "hookhaven.smoke"
DEFAULT_TIMEOUT_SECONDS = 60
#: How long the echo subscriber honours a run's secret, should the run die before cleaning up.
SECRET_LIFETIME_SECONDS = 3600
#: A send answered 404 (the receiver does not know the new source yet) or 5xx is retried
#: this often, for at most this long.
SEND_RETRY_INTERVAL_SECONDS = 1.0
SEND_RETRY_SECONDS = 15.0
RETRIED_SEND_STATUSES = frozenset({404, 500, 502, 503, 504})
POLL_INTERVAL_SECONDS = 0.25
#: 4xx answers a later attempt may turn into a delivery.
TRANSIENT_4XX = frozenset({408, 429})

T = TypeVar("T")


class SmokeFailed(OperationError):
    """A step of the run failed: ``step`` names it, ``detail`` says why."""

    def __init__(self, step: str, detail: str, cleanup_problems: tuple[str, ...] = ()) -> None:
        self.step = step
        self.detail = detail
        self.cleanup_problems = cleanup_problems
        text = f'smoke failed at "{step}": {detail}'
        if cleanup_problems and step != CLEAN_UP:
            text += f"; cleaning up failed too: {'; '.join(cleanup_problems)}"
        super().__init__(text)


@dataclass(frozen=True)
class SmokeTimings:
    accepted: float
    delivered: float
    end_to_end: float
    #: How far the receiver's clock seemed from yours (0 when its receipt time fell within
    #: the POST); ``delivered`` is corrected by it.
    clock_offset: float = 0.0


@dataclass(frozen=True)
class SmokeRun:
    key: str  # the run's source name, and the key of its secret
    api_url: str
    subscription_url: str
    subscription_id: str
    event_id: str
    sends: int  # POSTs made, the 404s of a source not yet known included
    attempts: int  # delivery attempts up to the delivered one
    status_code: int | None  # the echo subscriber's answer to that attempt
    timings: SmokeTimings


def new_run_key() -> str:
    return "smoke-" + _secrets.token_hex(4)


@dataclass
class _Sent:
    event_id: str
    started: float
    answered: float
    received_at: float
    sends: int


@dataclass
class _Added:
    secret: bool = False
    subscription_id: str | None = None
    source: bool = False


def run_smoke(
    config: ConfigStore,
    events: EventReader,
    echo_secrets: EchoSecrets,
    *,
    find_api: Callable[[], str | None],
    find_echo: Callable[[], str],
    allow_loopback: bool,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    key: str | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    post: Post = http_post,
    describe: Callable[[Exception], str] = str,
    report: Callable[[str], None] = lambda line: None,
) -> SmokeRun:
    """Run the steps above against one hookhaven; ``SmokeFailed`` names the step that failed.

    ``find_api()`` and ``find_echo()`` return the ingest API's and the echo subscriber's
    base URLs; ``describe(error)`` words an unexpected error for the operator;
    ``report(line)`` is told what each step did.
    """
    run = _Smoke(
        config,
        events,
        echo_secrets,
        key=key or new_run_key(),
        allow_loopback=allow_loopback,
        timeout=timeout,
        clock=clock,
        sleep=sleep,
        post=post,
        describe=describe,
        report=report,
    )
    return run.run(find_api, find_echo)


class _Smoke:
    def __init__(
        self,
        config: ConfigStore,
        events: EventReader,
        echo_secrets: EchoSecrets,
        *,
        key: str,
        allow_loopback: bool,
        timeout: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        post: Post,
        describe: Callable[[Exception], str],
        report: Callable[[str], None],
    ) -> None:
        self.config = config
        self.events = events
        self.echo_secrets = echo_secrets
        self.api_url = ""
        self.key = key
        self.allow_loopback = allow_loopback
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self.post = post
        self.describe = describe
        self.report = report
        self.added = _Added()

    def run(self, find_api: Callable[[], str | None], find_echo: Callable[[], str]) -> SmokeRun:
        try:
            result = self._steps(find_api, find_echo)
        except SmokeFailed as failure:
            problems = self._clean_up()
            raise SmokeFailed(failure.step, failure.detail, problems) from failure.__cause__
        except BaseException:  # an interrupt, or a bug: still leave nothing behind
            self._clean_up()
            raise
        problems = self._clean_up()
        if problems:
            raise SmokeFailed(CLEAN_UP, "; ".join(problems), problems)
        self.report("removed the source, the subscription and the secret")
        return result

    def _step(self, name: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except SmokeFailed:
            raise
        except Exception as error:
            raise SmokeFailed(name, self.describe(error)) from error

    def _steps(self, find_api: Callable[[], str | None], find_echo: Callable[[], str]) -> SmokeRun:
        api_url = self._step(FIND_API, find_api)
        if not api_url:
            raise SmokeFailed(FIND_API, "no API URL: give --url (the stack has no ApiUrl output)")
        self.api_url = api_url
        self.report(f"API: {api_url}")
        base = self._step(FIND_ECHO, find_echo)
        self.report(f"echo subscriber: {base}")
        url = f"{base.rstrip('/')}/{self.key}"
        secret = new_standard_secret()

        def publish() -> None:
            expires_at = self.clock() + SECRET_LIFETIME_SECONDS
            self.added.secret = True  # before the write: a write that times out may land
            self.echo_secrets.put(self.key, [secret], expires_at=expires_at)

        self._step(PUBLISH_SECRET, publish)
        self.report(f"secret made known to the echo subscriber as {self.key}")

        def subscribe() -> str:
            added = add_subscription(
                self.config,
                url=url,
                now=self.clock(),
                allow_loopback=self.allow_loopback,
                source=self.key,
                event_types=(SMOKE_EVENT_TYPE,),
                description="hookhaven smoke test: removed when the run ends",
                secret=secret,
                source_added_next=True,
            )
            self.added.subscription_id = added.subscription.id
            return added.subscription.id

        subscription_id = self._step(ADD_SUBSCRIPTION, subscribe)
        self.report(f"subscription {subscription_id} added")

        def add() -> None:
            try:
                add_source(
                    self.config,
                    name=self.key,
                    kind=SourceKind.STANDARD,
                    secret=None,
                    now=self.clock(),
                )
            except OperationError:
                raise  # refused before writing (a source of that name exists): not ours
            except BaseException:
                self.added.source = True  # a write that failed may still have landed
                raise
            self.added.source = True

        self._step(ADD_SOURCE, add)
        self.report(f"source {self.key} added")

        sent = self._step(SEND, lambda: self._send(subscription_id))
        tries = f" after {sent.sends} tries" if sent.sends > 1 else ""
        self.report(f"event {sent.event_id} accepted{tries}")

        delivered, attempts, seen = self._step(
            WAIT, lambda: self._wait(sent.event_id, subscription_id, sent)
        )
        self.report(f"delivered: attempt {delivered.attempt}, {describe_attempt(delivered)}")
        return SmokeRun(
            key=self.key,
            api_url=self.api_url,
            subscription_url=url,
            subscription_id=subscription_id,
            event_id=sent.event_id,
            sends=sent.sends,
            attempts=attempts,
            status_code=delivered.status_code,
            timings=timings(sent.started, sent.answered, sent.received_at, delivered, seen),
        )

    def _send(self, subscription_id: str) -> _Sent:
        deadline = self.clock() + min(SEND_RETRY_SECONDS, self.timeout)
        sends = 0
        window: list[float] = []  # the last POST's start and end

        def timed(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
            window[:] = [self.clock()]
            try:
                return self.post(url, body, headers)
            finally:
                window.append(self.clock())

        while True:
            sends += 1
            result = send_test_event(
                self.config,
                source_name=self.key,
                event_type=SMOKE_EVENT_TYPE,
                data={"smoke": self.key},
                base_url=self.api_url,
                now=self.clock(),
                post=timed,
            )
            if result.status == 202 and isinstance(result.event_id, str):
                break
            if result.status not in RETRIED_SEND_STATUSES or self.clock() >= deadline:
                tried = f" ({sends} tries)" if sends > 1 else ""
                raise SmokeFailed(SEND, f"the API answered {answer_text(result)}{tried}")
            self.sleep(SEND_RETRY_INTERVAL_SECONDS)
        event = self.events.get_event(result.event_id)
        if event is None:
            raise SmokeFailed(SEND, f"{result.event_id} was accepted but is not recorded")
        if subscription_id not in event.subscriptions:
            raise SmokeFailed(
                SEND,
                f"{result.event_id} was accepted but not queued for {subscription_id}: "
                "the receiver's cached configuration did not hold the new subscription",
            )
        return _Sent(result.event_id, window[0], window[1], event.received_at, sends)

    def _wait(
        self, event_id: str, subscription_id: str, sent: _Sent
    ) -> tuple[AttemptRecord, int, float]:
        deadline = sent.started + self.timeout
        while True:
            story = event_story(self.events, event_id)
            mine = [d for d in story.deliveries if d.subscription_id == subscription_id]
            attempts = mine[0].attempts if mine else []
            for attempt in attempts:
                if attempt.outcome is AttemptOutcome.DELIVERED:
                    return attempt, attempt.attempt, self.clock()
            last = mine[0].last_attempt if mine else None
            if last is not None and hopeless(last):
                raise SmokeFailed(
                    WAIT,
                    f"attempt {last.attempt} was refused: {describe_attempt(last)} "
                    "(another attempt would fare no better)",
                )
            if self.clock() >= deadline:
                so_far = f"last attempt: {describe_attempt(last)}" if last else "no attempt yet"
                raise SmokeFailed(
                    WAIT, f"no delivered attempt within {self.timeout:g} s ({so_far})"
                )
            self.sleep(POLL_INTERVAL_SECONDS)

    def _clean_up(self) -> tuple[str, ...]:
        """Remove what was added, source first (then nothing new reaches the subscription);
        each removal is tried whatever became of the others."""
        removals: list[tuple[str, Callable[[], object]]] = []
        if self.added.source:
            removals.append((f"source {self.key}", lambda: self.config.delete_source(self.key)))
        subscription_id = self.added.subscription_id
        if subscription_id is not None:
            removals.append(
                (
                    f"subscription {subscription_id}",
                    lambda: self.config.delete_subscription(subscription_id),
                )
            )
        if self.added.secret:
            removals.append(("the echo secret", lambda: self.echo_secrets.delete(self.key)))
        problems = []
        for what, remove in removals:
            try:
                remove()
            except Exception as error:
                problems.append(f"could not remove {what}: {self.describe(error)}")
        self.added = _Added()
        return tuple(problems)


def timings(
    started: float, answered: float, received_at: float, delivered: AttemptRecord, seen: float
) -> SmokeTimings:
    """The run's timings from the POST's start and end and the point the delivered attempt
    was read back (your clock) and the event's receipt and its delivered attempt (AWS's)."""
    if received_at < started:
        offset = received_at - started
    elif received_at > answered:
        offset = received_at - answered
    else:
        offset = 0.0
    answered_by_echo = delivered.at + (delivered.latency_ms or 0) / 1000
    return SmokeTimings(
        accepted=answered - started,
        delivered=answered_by_echo - offset - started,
        end_to_end=seen - started,
        clock_offset=offset,
    )


def hopeless(attempt: AttemptRecord) -> bool:
    """An attempt whose failure no later attempt can turn into a delivery."""
    if attempt.outcome in (AttemptOutcome.GONE, AttemptOutcome.DROPPED, AttemptOutcome.EXHAUSTED):
        return True
    status = attempt.status_code
    return status is not None and 400 <= status < 500 and status not in TRANSIENT_4XX


def describe_attempt(attempt: AttemptRecord) -> str:
    """``204``, ``401 invalid_signature``, ``timeout``, ``dropped: subscription deleted``."""
    if attempt.status_code is not None:
        code = _error_code(attempt.response_body)
        return f"{attempt.status_code} {code}" if code else str(attempt.status_code)
    if attempt.error:
        return (
            f"{attempt.error} ({attempt.error_detail})" if attempt.error_detail else attempt.error
        )
    if attempt.reason:
        return f"{attempt.outcome}: {attempt.reason}"
    return str(attempt.outcome)


def answer_text(result: SendResult) -> str:
    """``404 unknown_source``, ``503 unavailable``, ``200`` (a duplicate) ..."""
    code = result.response.get("error")
    return f"{result.status} {code}" if isinstance(code, str) else str(result.status)


def _error_code(body: str | None) -> str | None:
    """The ``error`` of a JSON answer like hookhaven's and the echo subscriber's."""
    try:
        parsed = json.loads(body or "")
    except ValueError:
        return None
    code = parsed.get("error") if isinstance(parsed, dict) else None
    return code if isinstance(code, str) else None
