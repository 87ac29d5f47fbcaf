"""The tunables: one model for every setting an operator may change.

The same model is read from ``cdk.json`` context by the CDK app (``Tunables``)
and from the functions' environment at cold start (``hookhaven.wiring.FunctionSettings``),
so a value means the same thing on both sides and is validated once, early.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hookhaven import quotas
from hookhaven.durations import format_duration, parse_duration
from hookhaven.verification import MAX_TYPE_LENGTH

#: SQS refuses a visibility timeout above 12 hours, so no single delay may exceed it.
MAX_DELAY_SECONDS = quotas.SQS_VISIBILITY_MAX.value
#: Kept off that ceiling (clock skew, the call's own time). The 12 hours count from the
#: message's receive, so the dispatcher sets at most 12 h less this and less the time
#: since the receive: a "12h" slot is about 11 h 58 min.
VISIBILITY_MARGIN_SECONDS = 60
#: SQS keeps a message at most 14 days; DLQ expiry counts from the original enqueue time.
MAX_QUEUE_RETENTION_DAYS = quotas.SQS_RETENTION_MAX.value // 86400
#: The largest body whose HTTP API event always fits Lambda's 6 MB synchronous payload,
#: however API Gateway encodes it (base64, or JSON-escaped text up to 6x): about 1 MB.
MAX_BODY_LIMIT_BYTES = quotas.largest_body_that_always_fits()
#: A delivery message holds, besides the body: the content type (a header value, at most
#: the HTTP API's header quota, up to twice as long once JSON-escaped), the event type
#: (JSON-escaped, up to 6x) and fixed fields. The body travels base64-encoded (4/3).
DELIVERY_MESSAGE_ENVELOPE_BYTES = (
    2 * quotas.HTTP_API_REQUEST_LINE_AND_HEADERS.value + 6 * MAX_TYPE_LENGTH + 1024
)
#: The largest inline body with which one delivery message still fits its queue.
MAX_INLINE_BODY_BYTES = int(
    (quotas.DELIVERY_MESSAGE_SIZE_MAX - DELIVERY_MESSAGE_ENVELOPE_BYTES) / quotas.BASE64_GROWTH
)
#: ``operational_events_bus`` that turns operational events off ("" means the same).
OPERATIONAL_EVENTS_OFF = "off"
#: The account's default event bus (``quotas.EVENTBRIDGE_BUS_NAMES``).
DEFAULT_EVENT_BUS = "default"
#: A custom event bus's name: 1-256 of these, no "/" (``quotas.EVENTBRIDGE_BUS_NAMES``).
EVENT_BUS_NAME = re.compile(r"[.\-_A-Za-z0-9]{1,256}")
#: CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)

#: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then 12 h five times: 12 attempts, ~3.2 days.
DEFAULT_RETRY_SCHEDULE: tuple[int, ...] = (
    0,
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    12 * 3600,
    12 * 3600,
    12 * 3600,
    12 * 3600,
    12 * 3600,
)

ENV_PREFIX = "HOOKHAVEN_"

#: The dispatcher's AWS calls give up after this many tries of a connect and a read, so
#: that a delivery's storage calls fit in the invocation it started in.
DISPATCHER_AWS_ATTEMPTS = 3
DISPATCHER_AWS_CONNECT_SECONDS = 1
DISPATCHER_AWS_READ_SECONDS = 2
#: botocore's standard retry mode waits at most 1 s, then 2 s, between tries.
DISPATCHER_AWS_BACKOFF_SECONDS = 3
#: One AWS call of the dispatcher's, every try timing out, with the backoff between them.
AWS_CALL_WORST_SECONDS = (
    DISPATCHER_AWS_ATTEMPTS * (DISPATCHER_AWS_CONNECT_SECONDS + DISPATCHER_AWS_READ_SECONDS)
    + DISPATCHER_AWS_BACKOFF_SECONDS
)
#: AWS calls a delivery must make once its request is answered: the attempt record, then
#: the retry delay or the move to the DLQ. (Telling the circuit breaker and publishing an
#: operational event come after them, and only while the invocation has time.)
AWS_CALLS_AFTER_A_REQUEST = 2


def _schedule(value: Any) -> Any:
    if isinstance(value, str):
        value = value.split(",") if not value.strip().startswith("[") else json.loads(value)
    if isinstance(value, list | tuple):
        return tuple(parse_duration(v.strip() if isinstance(v, str) else v) for v in value)
    return value


RetrySchedule = Annotated[tuple[int, ...], BeforeValidator(_schedule)]
Seconds = Annotated[int, BeforeValidator(lambda v: parse_duration(v) if isinstance(v, str) else v)]


class RuntimeTunables(BaseModel):
    """Settings the functions need at run time; the CDK app passes them as environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry_schedule: RetrySchedule = Field(
        default=DEFAULT_RETRY_SCHEDULE,
        description="Delay before each attempt (the first is usually 0); its length is the "
        "number of attempts and the queue's maxReceiveCount.",
    )
    retry_jitter: float = Field(
        default=0.2, ge=0, le=0.5, description="Each delay varies by +- this fraction."
    )
    request_timeout_seconds: int = Field(
        default=15, ge=1, le=120, description="Timeout of one delivery request."
    )
    delivery_concurrency: int = Field(
        default=16, ge=1, le=256, description="Deliveries in flight at once within one batch."
    )
    retention_days: int = Field(
        default=30, ge=1, le=3650, description="How long events, attempts and bodies are kept."
    )
    dedupe_window: Seconds = Field(
        default=72 * 3600,
        ge=60,
        description="A provider event id seen again within this window is a duplicate.",
    )
    max_body_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        le=MAX_BODY_LIMIT_BYTES,
        description="Larger request bodies are refused with 413. At most "
        f"{MAX_BODY_LIMIT_BYTES:,} bytes: the largest body whose HTTP API event fits "
        "Lambda's 6 MB invocation payload however API Gateway encodes it.",
    )
    inline_body_limit_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        le=MAX_INLINE_BODY_BYTES,
        description="Bodies above this live in S3 and the queue message carries a pointer.",
    )
    source_cache_seconds: int = Field(
        default=30, ge=0, le=60, description="How long the receiver caches sources."
    )
    batching_window_seconds: int = Field(
        default=0,
        ge=0,
        le=quotas.ESM_BATCHING_WINDOW_MAX.value,
        description="How long the event source mapping gathers messages before invoking.",
    )

    circuit_failure_threshold: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="Failed attempts in a row that open a subscription's circuit: its "
        "deliveries are then held (no request, no attempt spent) while one probe at a time "
        "tests it.",
    )
    circuit_probe_seconds: Seconds = Field(
        default=30, ge=5, le=3600, description="The first probe's delay after the circuit opens."
    )
    circuit_probe_max_seconds: Seconds = Field(
        default=3600,
        ge=5,
        le=MAX_DELAY_SECONDS - VISIBILITY_MARGIN_SECONDS,
        description="Probe delays double up to this.",
    )
    disable_after_failing: Seconds = Field(
        default=5 * 86400,
        ge=3600,
        description="A subscription with no successful delivery for this long is disabled.",
    )

    public_base_url: str = Field(
        default="",
        pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$",
        description="The public URL in front of /webhooks/ (https://hooks.example.com, or "
        "with a custom domain's API mapping path): providers that sign the URL they call "
        "(Twilio, Square, HubSpot, Trello) are verified against it. Empty: the HTTP API's own "
        "domain and path.",
    )

    operational_events_bus: str = Field(
        default=DEFAULT_EVENT_BUS,
        description="The EventBridge bus the dispatcher puts operational events on: "
        '"default" (the account\'s default bus), another bus of this account by name, or '
        '"off" (or "") for none.',
    )

    @field_validator("operational_events_bus", mode="before")
    @classmethod
    def _check_bus(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        name = value.strip()
        if name.lower() in ("", OPERATIONAL_EVENTS_OFF):
            return OPERATIONAL_EVENTS_OFF
        if name.startswith("arn:"):
            raise ValueError(
                "name the bus, not its ARN: the dispatcher may put events only on a bus of "
                "its own account and region"
            )
        if not EVENT_BUS_NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not an event bus name: EventBridge allows 1 to 256 letters, "
                "digits, '.', '-' and '_' (no '/', which only partner buses have)"
            )
        return name

    @property
    def operational_events_bus_name(self) -> str | None:
        """The bus operational events go to; None when they are off."""
        bus = self.operational_events_bus
        return None if bus == OPERATIONAL_EVENTS_OFF else bus

    @field_validator("retry_schedule")
    @classmethod
    def _check_schedule(cls, schedule: tuple[int, ...]) -> tuple[int, ...]:
        if not schedule:
            raise ValueError("the retry schedule needs at least one attempt")
        if len(schedule) > 1000:
            raise ValueError("SQS allows at most 1000 receives (attempts) per message")
        too_long = [format_duration(d) for d in schedule if d > MAX_DELAY_SECONDS]
        if too_long:
            raise ValueError(
                f"each delay must be at most 12h (SQS's visibility limit, counted from the "
                f"receive: the dispatcher caps each at what is left of it); got {too_long}"
            )
        return schedule

    @model_validator(mode="after")
    def _check_probes(self) -> RuntimeTunables:
        if self.circuit_probe_max_seconds < self.circuit_probe_seconds:
            raise ValueError("circuit_probe_max_seconds must be at least circuit_probe_seconds")
        return self

    @property
    def max_attempts(self) -> int:
        return len(self.retry_schedule)

    @property
    def delivery_reserve_seconds(self) -> int:
        """How long a delivery may take once started: its request, whole, then its storage
        calls, each with every retry. None starts later than this before its invocation
        ends (the rest come back at once, without spending an attempt)."""
        return self.request_timeout_seconds + AWS_CALLS_AFTER_A_REQUEST * AWS_CALL_WORST_SECONDS

    @property
    def worst_case_schedule_seconds(self) -> int:
        """The longest the whole schedule can take, with every delay jittered up."""
        longest = MAX_DELAY_SECONDS - VISIBILITY_MARGIN_SECONDS
        return sum(min(longest, round(d * (1 + self.retry_jitter))) for d in self.retry_schedule)

    def function_environment(self) -> dict[str, str]:
        """The ``HOOKHAVEN_*`` variables that carry these values to a function."""
        env = {}
        for name in RuntimeTunables.model_fields:
            value = getattr(self, name)
            if value == "":
                continue  # absent is the same (the default), and costs none of the 4 KB
            encoded = json.dumps(list(value)) if isinstance(value, tuple) else str(value)
            env[ENV_PREFIX + name.upper()] = encoded
        return env


class Tunables(RuntimeTunables):
    """Everything ``cdk.json`` context may set under the ``hookhaven`` key."""

    stack_name: str = Field(default="HookHaven", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    service_name: str = Field(default="hookhaven", pattern=r"^[a-z][a-z0-9-]{0,63}$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_retention_days: int = 30
    receiver_timeout_seconds: int = Field(default=10, ge=3, le=29)
    receiver_memory_mb: int = Field(default=512, ge=128, le=10240)
    receiver_reserved_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="Concurrency set aside for the receiver alone, so that other functions "
        "in the account can never starve ingest; off by default (a new account has too "
        "little concurrency to reserve any).",
    )
    dispatcher_timeout_seconds: int = Field(default=60, ge=10, le=quotas.LAMBDA_TIMEOUT_MAX.value)
    dispatcher_memory_mb: int = Field(default=512, ge=128, le=10240)
    batch_size: int = Field(default=10, ge=1, le=quotas.ESM_BATCH_SIZE_MAX.value)
    max_concurrency: int = Field(
        default=10,
        ge=2,
        le=quotas.ESM_MAX_CONCURRENCY.value,
        description="Most dispatcher instances the queue may drive.",
    )
    queue_retention_days: int = Field(default=14, ge=1, le=MAX_QUEUE_RETENTION_DAYS)
    dlq_retention_days: int = Field(default=14, ge=1, le=MAX_QUEUE_RETENTION_DAYS)
    api_throttle_rate: float = Field(default=200, gt=0, description="Requests per second.")
    api_throttle_burst: int = Field(default=400, ge=1)
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    oldest_message_alarm_seconds: Seconds = Field(default=3600, ge=60)
    success_rate_alarm_percent: float = Field(
        default=95, gt=0, le=100, description="Delivery success rate over 15 min that alarms."
    )
    success_rate_alarm_min_attempts: int = Field(
        default=20, ge=1, description="Fewer attempts in 15 min than this never alarm."
    )
    receiver_5xx_alarm_count: int = Field(
        default=5, ge=1, description="Receiver 5xx answers in 5 min that alarm."
    )
    runbook_url: str | None = Field(default=None, pattern=r"^https://\S+$")
    echo_subscriber: bool = Field(
        default=False,
        description="Deploy the echo subscriber (a Lambda function URL that answers 204 to "
        "deliveries signed with the smoke test's secret) for `hookhaven smoke`; off by default.",
    )
    customer_managed_key: bool = Field(
        default=True,
        description="Encrypt the config table (sources' and subscriptions' secrets) with a "
        "KMS key of this stack, rotated yearly, that only the relay's functions and the "
        "principals you grant may use (about $1 a month). Off: the AWS-managed aws/dynamodb "
        "key, which every principal of the account that may read the table may use.",
    )

    @field_validator("log_retention_days")
    @classmethod
    def _check_log_retention(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs accepts only {list(LOG_RETENTION_DAYS)} days")
        return days

    @model_validator(mode="after")
    def _check_consistency(self) -> Tunables:
        if self.dispatcher_timeout_seconds < self.batch_budget_seconds:
            raise ValueError(
                f"dispatcher_timeout_seconds must be at least {self.batch_budget_seconds}: "
                "a batch runs in waves of delivery_concurrency, each up to "
                "request_timeout_seconds, plus 10 s for storage calls"
            )
        if self.dispatcher_timeout_seconds < self.delivery_reserve_seconds + 5:
            raise ValueError(
                f"dispatcher_timeout_seconds must be at least {self.delivery_reserve_seconds + 5}"
                f": a delivery started may take {self.delivery_reserve_seconds} s (its request, "
                "then its storage calls with their retries), and deliveries must be able to "
                "start at all"
            )
        if self.queue_visibility_timeout_seconds > MAX_DELAY_SECONDS:
            raise ValueError("6 x dispatcher_timeout_seconds must fit in SQS's 12h visibility")
        longest_stay = self.worst_case_schedule_seconds + self.disable_after_failing
        if self.queue_retention_days * 86400 <= longest_stay:
            raise ValueError(
                f"queue_retention_days ({self.queue_retention_days}) must outlast the whole "
                f"retry schedule ({format_duration(self.worst_case_schedule_seconds)} with "
                f"jitter) plus disable_after_failing ({format_duration(self.disable_after_failing)}"
                "): a delivery held behind an open circuit spends none of its schedule, and "
                "SQS deletes what outstays the retention"
            )
        if self.oldest_message_alarm_seconds <= self.normal_queue_age_seconds:
            raise ValueError(
                f"oldest_message_alarm_seconds must exceed "
                f"{format_duration(self.normal_queue_age_seconds)}: a message waiting for its "
                "third attempt is that old without anything being wrong"
            )
        if self.batch_size > 10 and self.batching_window_seconds < 1:
            raise ValueError("SQS needs batching_window_seconds >= 1 when batch_size > 10")
        return self

    @property
    def batch_budget_seconds(self) -> int:
        """The longest one batch can take: every wave of deliveries timing out, plus slack."""
        waves = -(-self.batch_size // self.delivery_concurrency)
        return waves * self.request_timeout_seconds + 10

    @property
    def normal_queue_age_seconds(self) -> int:
        """How old a healthy retry can make the oldest message SQS still ages.

        ApproximateAgeOfOldestMessage stops counting a message once it has been received
        three times, so a message waiting for its third attempt, every delay so far
        jittered up, is the oldest a healthy retry can make it.
        """
        return sum(round(d * (1 + self.retry_jitter)) for d in self.retry_schedule[:3])

    @property
    def queue_visibility_timeout_seconds(self) -> int:
        # AWS's guidance for SQS event sources: at least six times the function timeout.
        return 6 * self.dispatcher_timeout_seconds

    @classmethod
    def from_context(cls, context: Mapping[str, Any] | None, **overrides: Any) -> Tunables:
        """Build from the ``hookhaven`` context object plus ``hookhaven.<name>`` overrides.

        ``cdk deploy -c hookhaven.alarm_email=ops@example.com`` arrives as a flat string
        key; lists may be given as JSON or comma-separated.
        """
        values = dict(context or {})
        values.update(overrides)
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'hookhaven'}: {e['msg']}"
                for e in error.errors()
            )
            raise ConfigurationError(
                f"invalid hookhaven settings in cdk.json: {problems}"
            ) from None


class ConfigurationError(ValueError):
    """A setting is missing or out of range; the message says which and why."""
