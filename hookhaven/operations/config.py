"""Sources and subscriptions: add, list, show, change, rotate their secrets, remove."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hookhaven import catalog
from hookhaven.control import ControlStore
from hookhaven.ids import new_subscription_id
from hookhaven.models import (
    ANY_SOURCE,
    HmacOptions,
    RateLimit,
    Secret,
    Source,
    SourceKind,
    Subscription,
    check_subscription_input,
    rotated,
)
from hookhaven.operations import OperationError
from hookhaven.ports import ConfigStore
from hookhaven.signatures import is_standard_secret, new_standard_secret
from hookhaven.ssrf import SsrfBlocked, check_url

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class SourceAdded:
    source: Source
    generated_secret: str | None  # shown once: nobody can read it back


@dataclass(frozen=True)
class SubscriptionAdded:
    subscription: Subscription
    secret: str


@dataclass(frozen=True)
class SecretRotated:
    name: str  # the source's name or the subscription's id
    old_secret_expires_at: float
    new_secret: str | None  # when generated here: shown once


def _valid(model: type[M], what: str, **values: Any) -> M:
    """The model, or one line naming what was wrong with the operator's input."""
    try:
        return model(**values)
    except ValidationError as error:
        problem = error.errors()[0]
        message = problem["msg"].removeprefix("Value error, ")
        field = " ".join(str(part) for part in problem["loc"])
        if not field:
            raise OperationError(f"bad {what}: {message}") from None
        raise OperationError(f"bad {what} {field} {problem['input']!r}: {message}") from None


def _check_secret(kind: SourceKind, secret: str) -> None:
    """The secret has the form the kind needs (a whsec_ secret, a public key), or one line
    saying what is wrong with it."""
    if catalog.is_standard(kind) and not is_standard_secret(secret):
        raise OperationError(
            f"a {kind} source's secret is whsec_ followed by 24-64 base64 bytes (Standard Webhooks)"
        )
    check = catalog.provider(kind).check_credential
    if check is not None:
        # A public key that does not parse: refused now, not with a 401 at every request.
        try:
            check(secret)
        except ValueError as error:
            raise OperationError(f"bad --secret for a {kind} source: {error}") from None


# --- sources ---------------------------------------------------------------------------


def add_source(
    config: ConfigStore,
    *,
    name: str,
    kind: SourceKind,
    secret: str | None,
    now: float,
    hmac: Mapping[str, Any] | None = None,
) -> SourceAdded:
    """A new source. A standard one without ``secret`` gets a generated whsec_ secret;
    ``hmac`` holds an hmac source's options as the operator gave them (``HmacOptions``
    validates them, and defaults what is left out)."""
    generated = None
    if secret is None:
        if kind != SourceKind.STANDARD:
            raise OperationError(
                f"a {kind} source needs the provider's secret: --secret or --secret-stdin"
            )
        secret = generated = new_standard_secret()
    _check_secret(kind, secret)
    options = None
    if kind == SourceKind.HMAC:
        options = _valid(HmacOptions, "hmac", **(hmac or {}))
    source = _valid(
        Source,
        "source",
        name=name,
        kind=kind,
        secrets=(Secret(value=secret, created_at=now),),
        hmac=options,
        created_at=now,
        updated_at=now,
    )
    if config.get_source(name) is not None:
        raise OperationError(
            f"source {name} already exists (use `sources rotate-secret` to change it)"
        )
    config.put_source(source)
    return SourceAdded(source, generated)


def list_sources(config: ConfigStore) -> list[Source]:
    return sorted(config.list_sources(), key=lambda s: s.name)


def get_source(config: ConfigStore, name: str) -> Source:
    source = config.get_source(name)
    if source is None:
        raise OperationError(f"no source named {name}")
    return source


def remove_source(config: ConfigStore, name: str) -> None:
    if not config.delete_source(name):
        raise OperationError(f"no source named {name}")


def rotate_source_secret(
    config: ConfigStore, name: str, *, secret: str | None, keep_old: int, now: float
) -> SecretRotated:
    """A new secret; the old ones are still accepted for ``keep_old`` seconds."""
    source = get_source(config, name)
    generated = None
    if secret is None:
        if source.kind != SourceKind.STANDARD:
            raise OperationError(
                f"a {source.kind} source's new secret comes from the provider: --secret"
            )
        secret = generated = new_standard_secret()
    _check_secret(source.kind, secret)
    secrets = rotated(source.secrets, secret, now=now, keep_old=keep_old)
    config.put_source(source.model_copy(update={"secrets": secrets, "updated_at": now}))
    return SecretRotated(name, now + keep_old, generated)


# --- subscriptions ---------------------------------------------------------------------


def _check_url(url: str, allow_loopback: bool) -> None:
    """The dispatcher's SSRF rules; ``allow_loopback`` (plain http too) against an emulator."""
    try:
        check_url(url, allow_http=allow_loopback, allow_loopback=allow_loopback)
    except (SsrfBlocked, LookupError) as error:
        raise OperationError(f"--url refused: {error}") from None


def _check_input(
    config: ConfigStore,
    *,
    source: str | None = None,
    event_types: tuple[str, ...] | None = None,
    headers: dict[str, str] | None = None,
    filter: str | None = None,
    max_in_flight: int | None = None,
    source_must_exist: bool = True,
) -> None:
    try:
        check_subscription_input(
            source=source,
            event_types=event_types,
            headers=headers,
            filter=filter,
            max_in_flight=max_in_flight,
        )
    except ValueError as error:
        raise OperationError(str(error)) from None
    if not source_must_exist:
        return
    if source not in (None, ANY_SOURCE) and config.get_source(source) is None:
        raise OperationError(f"no source named {source}")


def rate_limit(rate: str | RateLimit) -> RateLimit:
    """``5/s`` or ``300/m`` as a RateLimit, or one line saying what is accepted."""
    if isinstance(rate, RateLimit):
        return rate
    try:
        return RateLimit.parse(rate)
    except ValueError:  # pydantic's ValidationError (the count's range) included
        raise OperationError(
            f"bad rate {rate!r}: give N/s or N/m with N from 1 to 10000, e.g. 5/s or 300/m"
        ) from None


#: What ``update_subscription`` can remove: its content filter and its delivery control.
CLEARABLE = ("filter", "rate", "max_in_flight")


def add_subscription(
    config: ConfigStore,
    *,
    url: str,
    now: float,
    allow_loopback: bool = False,
    source: str | None = None,
    event_types: tuple[str, ...] = ("*",),
    description: str | None = None,
    headers: dict[str, str] | None = None,
    secret: str | None = None,
    filter: str | None = None,
    rate: str | RateLimit | None = None,
    max_in_flight: int | None = None,
    source_added_next: bool = False,
) -> SubscriptionAdded:
    """A new subscription, signing with ``secret`` (generated unless given).

    ``filter``: a JMESPath expression over the event's JSON body (``hookhaven.filters``);
    ``rate`` (``5/s``, ``300/m``) and ``max_in_flight`` are for the dispatcher to enforce.
    ``source_added_next``: the source does not exist yet and the caller adds it next
    (``hookhaven smoke`` does, so that no receiver can cache the source without it).
    """
    _check_url(url, allow_loopback)
    source = source or ANY_SOURCE
    headers = headers or {}
    _check_input(
        config,
        source=source,
        event_types=event_types,
        headers=headers,
        filter=filter,
        max_in_flight=max_in_flight,
        source_must_exist=not source_added_next,
    )
    limit = rate_limit(rate) if rate is not None else None
    secret = secret or new_standard_secret()
    subscription = Subscription(
        id=new_subscription_id(now),
        source=source,
        event_types=event_types,
        url=url,
        secrets=(Secret(value=secret, created_at=now),),
        description=description,
        headers=headers,
        filter=filter,
        rate=limit,
        max_in_flight=max_in_flight,
        created_at=now,
        updated_at=now,
    )
    config.put_subscription(subscription)
    return SubscriptionAdded(subscription, secret)


def list_subscriptions(config: ConfigStore, *, source: str | None = None) -> list[Subscription]:
    """Every subscription, or those a source's events can reach (its own and every-source ones)."""
    return sorted(
        (
            s
            for s in config.list_subscriptions()
            if source is None or s.source in (source, ANY_SOURCE)
        ),
        key=lambda s: s.id,
    )


def get_subscription(config: ConfigStore, subscription_id: str) -> Subscription:
    subscription = config.get_subscription(subscription_id)
    if subscription is None:
        raise OperationError(f"no subscription with id {subscription_id}")
    return subscription


def update_subscription(
    config: ConfigStore,
    subscription_id: str,
    *,
    now: float,
    allow_loopback: bool = False,
    url: str | None = None,
    source: str | None = None,
    event_types: tuple[str, ...] | None = None,
    description: str | None = None,
    headers: dict[str, str] | None = None,
    filter: str | None = None,
    rate: str | RateLimit | None = None,
    max_in_flight: int | None = None,
    clear: Collection[str] = (),
) -> Subscription:
    """Change what is given; the rest stays. ``clear`` names what to remove (of
    ``CLEARABLE``): no filter, no rate limit, no limit on deliveries in flight."""
    unknown = set(clear) - set(CLEARABLE)
    if unknown:
        raise OperationError(f"cannot clear {', '.join(sorted(unknown))}")
    given = {
        "url": url,
        "source": source,
        "event_types": event_types,
        "description": description,
        "headers": headers,
        "filter": filter,
        "rate": rate,
        "max_in_flight": max_in_flight,
    }
    both = [name for name in CLEARABLE if name in clear and given[name] is not None]
    if both:
        raise OperationError(f"{both[0]}: give a new value or clear it, not both")
    subscription = get_subscription(config, subscription_id)
    if url is not None:
        _check_url(url, allow_loopback)
    _check_input(
        config,
        source=source,
        event_types=event_types,
        headers=headers,
        filter=filter,
        max_in_flight=max_in_flight,
    )
    if rate is not None:
        given["rate"] = rate_limit(rate)
    changes: dict[str, Any] = {field: value for field, value in given.items() if value is not None}
    changes |= dict.fromkeys(clear)
    if not changes:
        raise OperationError(
            "nothing to update: give --url, --source, --events, --description, --header, "
            "--filter, --rate or --max-in-flight (or --no-filter, --no-rate, --no-max-in-flight)"
        )
    return _save(config, subscription.model_copy(update={**changes, "updated_at": now}))


def set_enabled(
    config: ConfigStore,
    subscription_id: str,
    *,
    enabled: bool,
    now: float,
    control: ControlStore | None = None,
) -> Subscription:
    """Disabled, queued deliveries are dropped with a record; enabled, they flow again,
    with a fresh circuit (its failures forgotten: the operator vouches for the subscriber)."""
    subscription = get_subscription(config, subscription_id)
    reason = None if enabled else "disabled by an operator"
    if enabled and control is not None:
        control.reset(subscription_id)
    return _save(
        config,
        subscription.model_copy(
            update={"enabled": enabled, "status_reason": reason, "updated_at": now}
        ),
    )


def remove_subscription(config: ConfigStore, subscription_id: str) -> None:
    if not config.delete_subscription(subscription_id):
        raise OperationError(f"no subscription with id {subscription_id}")


def rotate_subscription_secret(
    config: ConfigStore, subscription_id: str, *, keep_old: int, now: float
) -> SecretRotated:
    """A new signing secret; both sign every delivery for ``keep_old`` seconds."""
    subscription = get_subscription(config, subscription_id)
    secret = new_standard_secret()
    secrets = rotated(subscription.secrets, secret, now=now, keep_old=keep_old)
    _save(config, subscription.model_copy(update={"secrets": secrets, "updated_at": now}))
    return SecretRotated(subscription_id, now + keep_old, secret)


def _save(config: ConfigStore, subscription: Subscription) -> Subscription:
    """Store it, without secrets whose overlap has ended: they sign nothing any more, and
    need not stay in the table (and its backups) until the next rotation."""
    now = subscription.updated_at
    live = tuple(s for s in subscription.secrets if s.active(now))
    if live and len(live) < len(subscription.secrets):
        subscription = subscription.model_copy(update={"secrets": live})
    config.put_subscription(subscription)
    return subscription


def delivery_state(subscription: Subscription, control: ControlStore, now: float) -> dict[str, Any]:
    """Where a subscription's deliveries stand: ``state`` is ``disabled`` (with ``reason``),
    or its circuit's ``closed``, ``open`` or ``probing`` (``hookhaven.control``)."""
    circuit = control.circuit(subscription.id)
    if not subscription.enabled:
        state, text = "disabled", f"disabled: {subscription.status_reason or 'by an operator'}"
    else:
        state, text = circuit.state(now), circuit.describe(now)
    return {
        "state": state,
        "summary": text,
        "reason": subscription.status_reason if not subscription.enabled else None,
        "consecutive_failures": circuit.failures,
        "failing_since": circuit.failing_since,
        "last_failure": circuit.last_failure,
        "open_since": circuit.opened_at,
        "next_probe_at": circuit.probe_at if circuit.is_open else None,
    }
