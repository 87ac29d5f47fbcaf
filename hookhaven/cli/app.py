"""``hookhaven``: the operator CLI for sources, subscriptions, events, replay and the DLQ."""

from __future__ import annotations

import base64
import functools
import json
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hookhaven.audit import DeliveryState, audit
from hookhaven.aws.dynamodb import DynamoConfigStore, DynamoEventStore
from hookhaven.aws.sqs import SqsDeliveryQueue
from hookhaven.cli import dlq
from hookhaven.cli.target import CliError, Target, explain
from hookhaven.durations import format_duration, parse_duration
from hookhaven.ids import new_subscription_id
from hookhaven.models import (
    ANY_SOURCE,
    SOURCE_NAME,
    DeliveryMessage,
    FieldRef,
    HmacOptions,
    Secret,
    Source,
    SourceKind,
    Subscription,
    is_reserved_header,
)
from hookhaven.ports import StorageUnavailable
from hookhaven.signatures import (
    hmac_digest,
    is_standard_secret,
    new_standard_secret,
    standard_signature_header,
)
from hookhaven.ssrf import SsrfBlocked, check_url

app = typer.Typer(
    name="hookhaven",
    help="Operate hookhaven: sources, subscriptions, events, replay and the dead-letter queue.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
sources_app = typer.Typer(help="Providers that POST to /webhooks/<name>.", no_args_is_help=True)
subscriptions_app = typer.Typer(help="Services events are delivered to.", no_args_is_help=True)
events_app = typer.Typer(help="What was received and what became of it.", no_args_is_help=True)
dlq_app = typer.Typer(help="Deliveries that exhausted their retries.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(subscriptions_app, name="subscriptions")
app.add_typer(events_app, name="events")
app.add_typer(dlq_app, name="dlq")

console = Console()
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_KEEP_OLD = "24h"
#: Event-type patterns: the characters provider types use, plus the glob's ``*``.
PATTERN = re.compile(r"^[A-Za-z0-9._:/\-+@*]{1,128}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")


class State:
    def __init__(self, target: Target, as_json: bool) -> None:
        self.target = target
        self.json = as_json

    @functools.cached_property
    def config(self) -> DynamoConfigStore:
        return DynamoConfigStore(self.target.dynamodb(), self.target.resources.config_table)

    @functools.cached_property
    def events(self) -> DynamoEventStore:
        return DynamoEventStore(self.target.dynamodb(), self.target.resources.events_table)


def state(ctx: typer.Context) -> State:
    value = ctx.find_root().obj
    assert isinstance(value, State)
    return value


def handle_errors(function: F) -> F:
    """One clear line on stderr and exit status 1 for anything a user can cause."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except CliError as error:
            _fail(str(error))
        except StorageUnavailable as error:
            cause = error.__cause__
            if isinstance(cause, Exception):
                _fail(str(explain(cause, where=_where())))
            else:
                _fail(str(error))
        except Exception as error:  # AWS client failures reach here unwrapped
            _fail(str(explain(error, where=_where())))
        raise typer.Exit(1)

    return wrapper  # type: ignore[return-value]


def _fail(message: str) -> None:
    # Plain print, not rich: the message stays on one line whatever the terminal width.
    print(f"error: {' '.join(message.split())}", file=sys.stderr)


_current: State | None = None


def _where() -> str:
    return _current.target.where if _current is not None else "AWS"


def emit(st: State, data: Any, render: Callable[[], None]) -> None:
    if st.json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        render()


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration_option(text: str, name: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise CliError(f"{name}: {error}") from None


@app.callback()
def main_options(
    ctx: typer.Context,
    stack: Annotated[
        str | None,
        typer.Option("--stack", envvar="HOOKHAVEN_STACK", help="CloudFormation stack name."),
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option("--endpoint-url", envvar="HOOKHAVEN_ENDPOINT_URL", help="An AWS emulator."),
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="The local stack (make dev) on 127.0.0.1.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    refresh: Annotated[
        bool, typer.Option("--refresh-outputs", help="Read the stack's outputs again.")
    ] = False,
) -> None:
    global _current
    ctx.obj = _current = State(
        Target(stack=stack, endpoint_url=endpoint_url, local=local, refresh=refresh), as_json
    )


# --- sources -------------------------------------------------------------------------


def _source_view(source: Source, now: float) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": source.name,
        "kind": str(source.kind),
        "active_secrets": len(source.active_secrets(now)),
        "created_at": source.created_at,
        "updated_at": source.updated_at,
    }
    if source.hmac is not None:
        options = source.hmac
        view["hmac"] = {
            "header": options.header,
            "algorithm": options.algorithm,
            "encoding": options.encoding,
            "prefix": options.prefix,
            "id_from": str(options.id_from) if options.id_from else None,
            "type_from": str(options.type_from) if options.type_from else None,
        }
    view["secrets"] = [
        {"created_at": s.created_at, "expires_at": s.expires_at, "active": s.active(now)}
        for s in source.secrets
    ]
    return view


def _read_secret(secret: str | None, secret_stdin: bool) -> str | None:
    if secret and secret_stdin:
        raise CliError("give --secret or --secret-stdin, not both")
    if secret_stdin:
        value = sys.stdin.readline().strip()
        if not value:
            raise CliError("--secret-stdin: nothing on standard input")
        return value
    return secret


def _field_ref(text: str | None, option: str) -> FieldRef | None:
    if text is None:
        return None
    try:
        return FieldRef.parse(text)
    except ValueError as error:
        raise CliError(f"{option}: {error}") from None


@sources_app.command("add")
@handle_errors
def sources_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Providers POST to /webhooks/<name>.")],
    kind: Annotated[SourceKind, typer.Option("--kind", help="How requests are signed.")],
    secret: Annotated[str | None, typer.Option("--secret", help="The signing secret.")] = None,
    secret_stdin: Annotated[
        bool, typer.Option("--secret-stdin", help="Read the secret from stdin.")
    ] = False,
    header: Annotated[str, typer.Option(help="hmac: the signature header.")] = "x-signature",
    algorithm: Annotated[str, typer.Option(help="hmac: sha1, sha256 or sha512.")] = "sha256",
    encoding: Annotated[str, typer.Option(help="hmac: hex or base64.")] = "hex",
    prefix: Annotated[str, typer.Option(help="hmac: prefix before the digest.")] = "",
    id_from: Annotated[
        str | None, typer.Option("--id-from", help="hmac: header:NAME or field:NAME.")
    ] = None,
    type_from: Annotated[
        str | None, typer.Option("--type-from", help="hmac: header:NAME or field:NAME.")
    ] = None,
) -> None:
    """Add a source. A standard source without --secret gets a generated whsec_ secret."""
    st = state(ctx)
    if not SOURCE_NAME.match(name):
        raise CliError(f"bad source name {name!r}: 1-64 lowercase letters, digits, '-' or '_'")
    given = _read_secret(secret, secret_stdin)
    generated = None
    if given is None:
        if kind != SourceKind.STANDARD:
            raise CliError(
                f"a {kind} source needs the provider's secret: --secret or --secret-stdin"
            )
        given = generated = new_standard_secret()
    if kind == SourceKind.STANDARD and not is_standard_secret(given):
        raise CliError("a standard source's secret is whsec_ followed by 24-64 base64 bytes")
    options = None
    if kind == SourceKind.HMAC:
        if algorithm not in ("sha1", "sha256", "sha512"):
            raise CliError("--algorithm: sha1, sha256 or sha512")
        if encoding not in ("hex", "base64"):
            raise CliError("--encoding: hex or base64")
        options = HmacOptions(
            header=header,
            algorithm=algorithm,
            encoding=encoding,
            prefix=prefix,
            id_from=_field_ref(id_from, "--id-from"),
            type_from=_field_ref(type_from, "--type-from"),
        )
    if st.config.get_source(name) is not None:
        raise CliError(f"source {name} already exists (use `sources rotate-secret` to change it)")
    now = time.time()
    source = Source(
        name=name,
        kind=kind,
        secrets=(Secret(value=given, created_at=now),),
        hmac=options,
        created_at=now,
        updated_at=now,
    )
    st.config.put_source(source)
    url = f"{st.target.resources.api_url}/webhooks/{name}" if st.target.resources.api_url else None
    data: dict[str, Any] = {"name": name, "kind": str(kind), "url": url}
    if generated:
        data["secret"] = generated

    def render() -> None:
        console.print(f"added source [bold]{name}[/] ({kind})")
        if url:
            console.print(f"providers POST to {url}")
        if generated:
            console.print(f"secret (shown once): {generated}", markup=False, highlight=False)

    emit(st, data, render)


@sources_app.command("list")
@handle_errors
def sources_list(ctx: typer.Context) -> None:
    """List sources (never their secrets)."""
    st = state(ctx)
    now = time.time()
    sources = sorted(st.config.list_sources(), key=lambda s: s.name)
    views = [_source_view(s, now) for s in sources]

    def render() -> None:
        table = Table("name", "kind", "active secrets", "updated")
        for view in views:
            table.add_row(
                view["name"], view["kind"], str(view["active_secrets"]), when(view["updated_at"])
            )
        console.print(table)

    emit(st, views, render)


def _source(st: State, name: str) -> Source:
    source = st.config.get_source(name)
    if source is None:
        raise CliError(f"no source named {name}")
    return source


@sources_app.command("show")
@handle_errors
def sources_show(ctx: typer.Context, name: str) -> None:
    """Show one source (never its secrets)."""
    st = state(ctx)
    view = _source_view(_source(st, name), time.time())

    def render() -> None:
        for key, value in view.items():
            if key == "secrets":
                for index, secret in enumerate(value, 1):
                    expiry = f"expires {when(secret['expires_at'])}" if secret["expires_at"] else ""
                    state_text = "active" if secret["active"] else "expired"
                    console.print(f"secret {index}: {state_text} {expiry}")
            elif key.endswith("_at"):
                console.print(f"{key}: {when(value)}")
            else:
                console.print(f"{key}: {value}", markup=False)

    emit(st, view, render)


@sources_app.command("remove")
@handle_errors
def sources_remove(ctx: typer.Context, name: str) -> None:
    """Remove a source: its endpoint answers 404 from then on."""
    st = state(ctx)
    if not st.config.delete_source(name):
        raise CliError(f"no source named {name}")
    emit(st, {"name": name, "removed": True}, lambda: console.print(f"removed source {name}"))


def _rotated(
    secrets: tuple[Secret, ...], new: str, now: float, keep_old: int
) -> tuple[Secret, ...]:
    kept = []
    for secret in secrets:
        if not secret.active(now):
            continue  # already past its overlap: drop it
        expires = now + keep_old
        if secret.expires_at is not None:
            expires = min(expires, secret.expires_at)
        kept.append(secret.model_copy(update={"expires_at": expires}))
    return (*kept, Secret(value=new, created_at=now))


@sources_app.command("rotate-secret")
@handle_errors
def sources_rotate_secret(
    ctx: typer.Context,
    name: str,
    secret: Annotated[
        str | None, typer.Option("--secret", help="The provider's new secret.")
    ] = None,
    secret_stdin: Annotated[bool, typer.Option("--secret-stdin")] = False,
    keep_old: Annotated[
        str, typer.Option("--keep-old", help="How long the old secret keeps working.")
    ] = DEFAULT_KEEP_OLD,
) -> None:
    """Add a new secret; the old one is still accepted for --keep-old (24h)."""
    st = state(ctx)
    overlap = duration_option(keep_old, "--keep-old")
    source = _source(st, name)
    given = _read_secret(secret, secret_stdin)
    generated = None
    if given is None:
        if source.kind != SourceKind.STANDARD:
            raise CliError(f"a {source.kind} source's new secret comes from the provider: --secret")
        given = generated = new_standard_secret()
    if source.kind == SourceKind.STANDARD and not is_standard_secret(given):
        raise CliError("a standard source's secret is whsec_ followed by 24-64 base64 bytes")
    now = time.time()
    updated = source.model_copy(
        update={"secrets": _rotated(source.secrets, given, now, overlap), "updated_at": now}
    )
    st.config.put_source(updated)
    data: dict[str, Any] = {"name": name, "old_secret_expires_at": now + overlap}
    if generated:
        data["secret"] = generated

    def render() -> None:
        console.print(
            f"rotated source {name}: the old secret works until {when(now + overlap)} UTC"
        )
        if generated:
            console.print(f"new secret (shown once): {generated}", markup=False, highlight=False)

    emit(st, data, render)


# --- subscriptions ---------------------------------------------------------------------


def _subscription_view(subscription: Subscription, reveal: bool, now: float) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": subscription.id,
        "source": subscription.source,
        "events": list(subscription.event_types),
        "url": subscription.url,
        "enabled": subscription.enabled,
        "status_reason": subscription.status_reason,
        "description": subscription.description,
        "headers": sorted(subscription.headers),  # names only: values may be credentials
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
        "secrets": [
            {
                "created_at": s.created_at,
                "expires_at": s.expires_at,
                "active": s.active(now),
                **({"secret": s.value} if reveal else {}),
            }
            for s in subscription.secrets
        ],
    }
    if reveal:
        view["headers"] = dict(subscription.headers)
    return view


def _validate_url(st: State, url: str) -> None:
    try:
        check_url(url, allow_http=st.target.allow_loopback, allow_loopback=st.target.allow_loopback)
    except SsrfBlocked as error:
        raise CliError(f"--url refused: {error}") from None
    except LookupError as error:
        raise CliError(f"--url refused: {error}") from None


def _patterns(events: list[str] | None) -> tuple[str, ...] | None:
    if events is None:
        return None
    patterns = tuple(p for e in events for p in e.split(",") if p)
    for pattern in patterns:
        if not PATTERN.match(pattern):
            raise CliError(
                f"bad event pattern {pattern!r}: use *, a prefix like order.*, or an exact type"
            )
    return patterns or ("*",)


def _headers(values: list[str] | None) -> dict[str, str] | None:
    if values is None:
        return None
    headers: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        name = name.strip()
        if not sep or not HEADER_NAME.match(name):
            raise CliError(f"bad --header {value!r}: use NAME=VALUE")
        if is_reserved_header(name):
            raise CliError(f"--header {name}: hookhaven sets that header itself")
        if "\r" in text or "\n" in text:
            raise CliError(f"--header {name}: the value may not contain line breaks")
        headers[name] = text.strip()
    return headers


def _source_filter(st: State, source: str | None) -> str:
    if source is None or source == ANY_SOURCE:
        return ANY_SOURCE
    if st.config.get_source(source) is None:
        raise CliError(f"no source named {source}")
    return source


@subscriptions_app.command("add")
@handle_errors
def subscriptions_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Option("--url", help="Where deliveries are POSTed (https).")],
    source: Annotated[
        str | None, typer.Option("--source", help="Only this source's events (default: all).")
    ] = None,
    events: Annotated[
        list[str] | None, typer.Option("--events", help="Event-type patterns, e.g. order.*")
    ] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", help="Static header NAME=VALUE.")
    ] = None,
) -> None:
    """Add a subscription; prints its id and its generated whsec_ secret (shown once)."""
    st = state(ctx)
    _validate_url(st, url)
    patterns = _patterns(events) or ("*",)
    headers = _headers(header) or {}
    now = time.time()
    secret = new_standard_secret()
    subscription = Subscription(
        id=new_subscription_id(now),
        source=_source_filter(st, source),
        event_types=patterns,
        url=url,
        secrets=(Secret(value=secret, created_at=now),),
        description=description,
        headers=headers,
        created_at=now,
        updated_at=now,
    )
    st.config.put_subscription(subscription)
    data = {"id": subscription.id, "secret": secret, "url": url, "events": list(patterns)}

    def render() -> None:
        console.print(f"added subscription [bold]{subscription.id}[/] -> {url}", highlight=False)
        console.print(f"secret (shown once): {secret}", markup=False, highlight=False)

    emit(st, data, render)


def _subscription(st: State, subscription_id: str) -> Subscription:
    subscription = st.config.get_subscription(subscription_id)
    if subscription is None:
        raise CliError(f"no subscription with id {subscription_id}")
    return subscription


@subscriptions_app.command("list")
@handle_errors
def subscriptions_list(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option("--source")] = None,
) -> None:
    """List subscriptions (never their secrets)."""
    st = state(ctx)
    now = time.time()
    subscriptions = [
        s
        for s in st.config.list_subscriptions()
        if source is None or s.source in (source, ANY_SOURCE)
    ]
    views = [_subscription_view(s, False, now) for s in sorted(subscriptions, key=lambda s: s.id)]

    def render() -> None:
        table = Table("id", "source", "events", "url", "state")
        for view in views:
            table.add_row(
                view["id"],
                view["source"],
                ", ".join(view["events"]),
                view["url"],
                "enabled" if view["enabled"] else f"disabled: {view['status_reason'] or ''}",
            )
        console.print(table)

    emit(st, views, render)


@subscriptions_app.command("show")
@handle_errors
def subscriptions_show(
    ctx: typer.Context,
    subscription_id: Annotated[str, typer.Argument(metavar="ID")],
    reveal_secret: Annotated[
        bool, typer.Option("--reveal-secret", help="Include secrets and header values.")
    ] = False,
) -> None:
    """Show one subscription."""
    st = state(ctx)
    view = _subscription_view(_subscription(st, subscription_id), reveal_secret, time.time())

    def render() -> None:
        for key, value in view.items():
            if key == "secrets":
                for index, secret in enumerate(value, 1):
                    text = "active" if secret["active"] else "expired"
                    if secret["expires_at"]:
                        text += f", until {when(secret['expires_at'])}"
                    if "secret" in secret:
                        text += f": {secret['secret']}"
                    console.print(f"secret {index}: {text}", markup=False, highlight=False)
            elif key.endswith("_at"):
                console.print(f"{key}: {when(value)}")
            else:
                console.print(f"{key}: {value}", markup=False, highlight=False)

    emit(st, view, render)


def _save(st: State, subscription: Subscription, message: str) -> None:
    st.config.put_subscription(subscription)
    view = _subscription_view(subscription, False, time.time())
    emit(st, view, lambda: console.print(message, highlight=False))


@subscriptions_app.command("update")
@handle_errors
def subscriptions_update(
    ctx: typer.Context,
    subscription_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Annotated[str | None, typer.Option("--url")] = None,
    source: Annotated[str | None, typer.Option("--source", help="A source, or * for all.")] = None,
    events: Annotated[list[str] | None, typer.Option("--events")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", help="Replaces all static headers.")
    ] = None,
) -> None:
    """Change a subscription's URL, source, event patterns, description or headers."""
    st = state(ctx)
    subscription = _subscription(st, subscription_id)
    changes: dict[str, Any] = {}
    if url is not None:
        _validate_url(st, url)
        changes["url"] = url
    if source is not None:
        changes["source"] = _source_filter(st, source)
    if events is not None:
        changes["event_types"] = _patterns(events)
    if description is not None:
        changes["description"] = description
    if header is not None:
        changes["headers"] = _headers(header)
    if not changes:
        raise CliError(
            "nothing to update: give --url, --source, --events, --description or --header"
        )
    changes["updated_at"] = time.time()
    _save(st, subscription.model_copy(update=changes), f"updated {subscription_id}")


@subscriptions_app.command("disable")
@handle_errors
def subscriptions_disable(
    ctx: typer.Context, subscription_id: Annotated[str, typer.Argument(metavar="ID")]
) -> None:
    """Stop deliveries; queued ones are dropped with a record saying why."""
    st = state(ctx)
    subscription = _subscription(st, subscription_id)
    updated = subscription.model_copy(
        update={
            "enabled": False,
            "status_reason": "disabled by an operator",
            "updated_at": time.time(),
        }
    )
    _save(st, updated, f"disabled {subscription_id}")


@subscriptions_app.command("enable")
@handle_errors
def subscriptions_enable(
    ctx: typer.Context, subscription_id: Annotated[str, typer.Argument(metavar="ID")]
) -> None:
    """Resume deliveries (also after a 410 disabled it)."""
    st = state(ctx)
    subscription = _subscription(st, subscription_id)
    updated = subscription.model_copy(
        update={"enabled": True, "status_reason": None, "updated_at": time.time()}
    )
    _save(st, updated, f"enabled {subscription_id}")


@subscriptions_app.command("remove")
@handle_errors
def subscriptions_remove(
    ctx: typer.Context, subscription_id: Annotated[str, typer.Argument(metavar="ID")]
) -> None:
    """Remove a subscription; queued deliveries for it are dropped."""
    st = state(ctx)
    if not st.config.delete_subscription(subscription_id):
        raise CliError(f"no subscription with id {subscription_id}")
    emit(
        st,
        {"id": subscription_id, "removed": True},
        lambda: console.print(f"removed {subscription_id}"),
    )


@subscriptions_app.command("rotate-secret")
@handle_errors
def subscriptions_rotate_secret(
    ctx: typer.Context,
    subscription_id: Annotated[str, typer.Argument(metavar="ID")],
    keep_old: Annotated[
        str, typer.Option("--keep-old", help="How long the old secret keeps signing.")
    ] = DEFAULT_KEEP_OLD,
) -> None:
    """New signing secret; both sign every delivery during the overlap (24h)."""
    st = state(ctx)
    overlap = duration_option(keep_old, "--keep-old")
    subscription = _subscription(st, subscription_id)
    now = time.time()
    secret = new_standard_secret()
    updated = subscription.model_copy(
        update={"secrets": _rotated(subscription.secrets, secret, now, overlap), "updated_at": now}
    )
    st.config.put_subscription(updated)
    data = {"id": subscription_id, "secret": secret, "old_secret_expires_at": now + overlap}

    def render() -> None:
        console.print(
            f"rotated {subscription_id}: deliveries carry both signatures until "
            f"{when(now + overlap)} UTC"
        )
        console.print(f"new secret (shown once): {secret}", markup=False, highlight=False)

    emit(st, data, render)


# --- send ------------------------------------------------------------------------------


def _signed_request(source: Source, event_type: str, data: Any) -> tuple[bytes, dict[str, str]]:
    now = time.time()
    secrets = source.active_secrets(now)
    if not secrets:
        raise CliError(f"source {source.name} has no active secret")
    message_id = "msg_" + new_subscription_id(now).removeprefix("sub_")
    if source.kind == SourceKind.STANDARD:
        body = json.dumps(
            {
                "type": event_type,
                "timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
                "data": data,
            }
        ).encode()
        return body, {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": standard_signature_header(
                secrets[-1:], message_id, int(now), body
            ),
        }
    options = source.hmac
    assert options is not None
    payload = dict(data) if isinstance(data, dict) else {"data": data}
    headers = {"content-type": "application/json"}
    for ref, value in ((options.type_from, event_type), (options.id_from, message_id)):
        if ref is None:
            continue
        if ref.location == "header":
            headers[ref.name] = value
        else:
            payload.setdefault(ref.name, value)
    body = json.dumps(payload).encode()
    digest = hmac_digest(secrets[-1].encode(), body, options.algorithm)
    encoded = digest.hex() if options.encoding == "hex" else base64.b64encode(digest).decode()
    headers[options.header] = options.prefix + encoded
    return body, headers


@app.command("send")
@handle_errors
def send(
    ctx: typer.Context,
    source_name: Annotated[str, typer.Argument(metavar="SOURCE")],
    event_type: Annotated[str, typer.Option("--type", help="The event type, e.g. order.created")],
    data: Annotated[str | None, typer.Option("--data", help="The event's data as JSON.")] = None,
    data_file: Annotated[
        Path | None, typer.Option("--data-file", help="A file holding the data as JSON.")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="The ingest API's base URL.")] = None,
) -> None:
    """POST a correctly signed test event to a standard or hmac source."""
    st = state(ctx)
    if (data is None) == (data_file is None):
        raise CliError("give exactly one of --data or --data-file")
    try:
        text = data if data is not None else Path(data_file).read_text()  # type: ignore[arg-type]
    except OSError as error:
        raise CliError(f"--data-file: {error.strerror}: {data_file}") from None
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise CliError(f"the data is not JSON: {error}") from None
    if not PATTERN.match(event_type) or "*" in event_type:
        raise CliError(f"bad --type {event_type!r}")
    source = _source(st, source_name)
    if source.kind not in (SourceKind.STANDARD, SourceKind.HMAC):
        raise CliError(
            f"send signs for standard and hmac sources; {source.name} is {source.kind}, "
            "whose provider must sign its own requests"
        )
    base = url or st.target.resources.api_url
    if not base:
        raise CliError("no API URL: give --url (the stack has no ApiUrl output)")
    body, headers = _signed_request(source, event_type, parsed)
    request = urllib.request.Request(  # noqa: S310 (the operator's own endpoint)
        f"{base.rstrip('/')}/webhooks/{source.name}", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            status, reply = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, reply = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CliError(f"cannot reach {base}: {reason}") from None
    try:
        answer = json.loads(reply)
    except ValueError:
        answer = {"body": reply.decode("utf-8", "replace")}
    result = {"status": status, "id": answer.get("id"), "response": answer}
    if status >= 300:
        if st.json:
            sys.stdout.write(json.dumps(result) + "\n")
        raise CliError(
            f"{status} {answer.get('error', '')}: {answer.get('message', answer)}".strip()
        )
    emit(
        st,
        result,
        lambda: console.print(
            f"{status} {answer.get('id')}" + (" (duplicate)" if answer.get("duplicate") else ""),
            highlight=False,
        ),
    )


# --- events ----------------------------------------------------------------------------


@events_app.command("list")
@handle_errors
def events_list(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option("--source")] = None,
    since: Annotated[str, typer.Option("--since", help="How far back, e.g. 1h, 3d.")] = "24h",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
) -> None:
    """Recent events, newest first."""
    st = state(ctx)
    window = duration_option(since, "--since")
    events = st.events.events_since(time.time() - window, source=source, limit=limit)
    views: list[dict[str, Any]] = [
        {
            "id": e.id,
            "source": e.source,
            "type": e.event_type,
            "received_at": e.received_at,
            "provider_event_id": e.provider_event_id,
            "subscriptions": len(e.subscriptions),
            "size": e.body_size,
        }
        for e in events
    ]

    def render() -> None:
        table = Table("id", "received (UTC)", "source", "type", "subscriptions", "bytes")
        for view in views:
            table.add_row(
                view["id"],
                when(view["received_at"]),
                view["source"],
                view["type"],
                str(view["subscriptions"]),
                str(view["size"]),
            )
        console.print(table)

    emit(st, views, render)


@events_app.command("show")
@handle_errors
def events_show(
    ctx: typer.Context, event_id: Annotated[str, typer.Argument(metavar="EVENT_ID")]
) -> None:
    """One event and every delivery attempt, per subscription, as a timeline."""
    st = state(ctx)
    event = st.events.get_event(event_id)
    if event is None:
        raise CliError(f"no event with id {event_id} (events are kept for the retention period)")
    attempts = sorted(st.events.attempts(event_id), key=lambda a: (a.subscription_id, a.at))
    per_subscription: dict[str, list[dict[str, Any]]] = {s: [] for s in event.subscriptions}
    for attempt in attempts:
        per_subscription.setdefault(attempt.subscription_id, []).append(
            attempt.model_dump(mode="json", exclude_none=True)
        )
    view: dict[str, Any] = {
        "id": event.id,
        "source": event.source,
        "type": event.event_type,
        "provider_event_id": event.provider_event_id,
        "received_at": event.received_at,
        "content_type": event.content_type,
        "size": event.body_size,
        "sha256": event.body_sha256,
        "subscriptions": [
            {"subscription_id": sub, "state": _final_state(items), "attempts": items}
            for sub, items in per_subscription.items()
        ],
    }

    def render() -> None:
        console.print(
            f"[bold]{event.id}[/] {event.event_type} from {event.source}, received "
            f"{when(event.received_at)} UTC, {event.body_size} bytes",
            highlight=False,
        )
        if not view["subscriptions"]:
            console.print("no subscription matched this event")
        for entry in view["subscriptions"]:
            console.print(f"\n{entry['subscription_id']}: {entry['state']}", highlight=False)
            table = Table("time (UTC)", "attempt", "result", "latency", "next / final")
            for item in entry["attempts"]:
                result = str(item.get("status_code") or item.get("error") or "")
                if item.get("error_detail"):
                    result += f" ({item['error_detail'][:60]})"
                if item.get("reason"):
                    result += f" {item['reason']}"
                latency = f"{item['latency_ms']:.0f} ms" if "latency_ms" in item else "-"
                following = (
                    f"retry {when(item['next_attempt_at'])}"
                    if item.get("next_attempt_at")
                    else item["outcome"]
                )
                table.add_row(when(item["at"]), str(item["attempt"]), result, latency, following)
            console.print(table)

    emit(st, view, render)


def _final_state(attempts: list[dict[str, Any]]) -> str:
    if not attempts:
        return "pending (no attempt yet)"
    last = attempts[-1]
    outcome = last["outcome"]
    if outcome == "retrying":
        return f"pending: attempt {last['attempt'] + 1} at {when(last.get('next_attempt_at'))} UTC"
    if outcome == "exhausted":
        return "dead-lettered (see `hookhaven dlq list`)"
    if outcome in ("gone", "dropped"):
        return f"{outcome}: {last.get('reason', '')}"
    return str(outcome)


# --- replay ------------------------------------------------------------------------------


@app.command("replay")
@handle_errors
def replay(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(metavar="EVENT_ID")],
    subscription: Annotated[
        str | None, typer.Option("--subscription", help="Only this subscription.")
    ] = None,
) -> None:
    """Deliver an event again (same webhook-id) to all or one of its subscriptions."""
    st = state(ctx)
    event = st.events.get_event(event_id)
    if event is None:
        raise CliError(f"no event with id {event_id}")
    targets = list(event.subscriptions)
    if subscription is not None:
        if subscription not in targets:
            raise CliError(f"event {event_id} was not for subscription {subscription}")
        targets = [subscription]
    if not targets:
        raise CliError(f"event {event_id} matched no subscription; nothing to replay")
    messages = [
        DeliveryMessage(
            event_id=event.id,
            subscription_id=target,
            source=event.source,
            event_type=event.event_type,
            received_at=event.received_at,
            content_type=event.content_type,
            body_b64=base64.b64encode(event.body).decode() if event.body is not None else None,
            body_ref=event.body_ref,
            body_size=event.body_size,
        )
        for target in targets
    ]
    failed = SqsDeliveryQueue(st.target.sqs(), st.target.resources.deliveries_queue_url).send(
        messages
    )
    if failed:
        raise CliError(f"could not enqueue for {', '.join(sorted(failed))}; run replay again")
    emit(
        st,
        {"id": event_id, "subscriptions": targets},
        lambda: console.print(f"replaying {event_id} to {len(targets)} subscription(s)"),
    )


@app.command("audit")
@handle_errors
def audit_command(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="How far back, e.g. 1h, 3d.")] = "24h",
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
) -> None:
    """Account for every event received in the window, per subscription; exit 1 if any
    delivery is unaccounted for."""
    st = state(ctx)
    window = duration_option(since, "--since")
    until = time.time()
    start = until - window
    events = st.events.events_since(start, source=source)
    attempts = st.events.attempts_since(start)
    queue = st.target.sqs().get_queue_attributes(
        QueueUrl=st.target.resources.deliveries_queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    report = audit(
        events,
        attempts,
        queued_messages=sum(int(v) for v in queue.values()),
        since=start,
        until=until,
        recheck=lambda event_id: st.events.attempts(event_id, consistent=True),
    )
    totals = report.totals()

    def listed(state_: DeliveryState) -> list[dict[str, Any]]:
        return [
            {
                "event_id": d.event_id,
                "subscription_id": d.subscription_id,
                "source": d.source,
                "received_at": d.received_at,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at,
                "reason": d.reason,
            }
            for d in report.in_state(state_)
        ]

    data: dict[str, Any] = {
        "since": start,
        "until": until,
        "source": source,
        "events": report.events,
        "deliveries": len(report.deliveries),
        "queued_messages": report.queued_messages,
        "totals": totals,
        "subscriptions": report.by_subscription(),
        **{
            state_.value: listed(state_)
            for state_ in DeliveryState
            if state_ is not DeliveryState.DELIVERED
        },
    }

    def render() -> None:
        scope = f"source {source}" if source else "all sources"
        console.print(
            f"{report.events} event(s) from {scope} since {when(start)} UTC "
            f"({format_duration(window)}): {len(report.deliveries)} deliveries; the deliveries "
            f"queue holds {report.queued_messages} message(s)"
        )
        columns = [s.value.replace("_", " ") for s in DeliveryState]
        table = Table("subscription", *columns)
        for subscription_id, counts in report.by_subscription().items():
            table.add_row(subscription_id, *(str(counts[s.value]) for s in DeliveryState))
        table.add_row("total", *(str(totals[s.value]) for s in DeliveryState), style="bold")
        console.print(table)
        for entry in data["pending"][:10]:
            due = entry["next_attempt_at"]
            console.print(
                f"pending {entry['event_id']} -> {entry['subscription_id']}: "
                + (f"next attempt {when(due)} UTC" if due else "queued, first attempt due")
            )
        if len(data["pending"]) > 10:
            console.print(f"... and {len(data['pending']) - 10} more pending (--json lists all)")
        reasons: dict[str, int] = {}
        for entry in data["dead_lettered"] + data["dropped"]:
            reasons[entry["reason"]] = reasons.get(entry["reason"], 0) + 1
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            console.print(f"{count} x {reason}")
        for entry in data["unaccounted"]:
            console.print(
                f"UNACCOUNTED {entry['event_id']} -> {entry['subscription_id']}: {entry['reason']}",
                style="bold red",
            )

    emit(st, data, render)
    if report.unaccounted:
        _fail(f"{report.unaccounted} deliveries are unaccounted for")
        raise typer.Exit(1)


# --- dlq -------------------------------------------------------------------------------


def _letter_view(letter: dlq.DeadLetter) -> dict[str, Any]:
    delivery = letter.delivery or {}
    return {
        "message_id": letter.message_id,
        "event_id": letter.event_id,
        "subscription_id": letter.subscription_id,
        "event_type": delivery.get("event_type"),
        "source": delivery.get("source"),
        "receive_count": letter.receive_count,
        "sent_at": letter.sent_at,
        "reason": letter.reason or ("retries exhausted" if letter.event_id else "malformed"),
    }


def _subscription_matches(subscription: str | None) -> Callable[[dlq.DeadLetter], bool]:
    return lambda letter: subscription is None or letter.subscription_id == subscription


@dlq_app.command("list")
@handle_errors
def dlq_list(
    ctx: typer.Context,
    subscription: Annotated[str | None, typer.Option("--subscription")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
) -> None:
    """Messages in the dead-letter queue (read without removing them)."""
    st = state(ctx)
    letters = dlq.browse(
        st.target.sqs(),
        st.target.resources.dead_letter_queue_url,
        limit=limit,
        matches=_subscription_matches(subscription),
    )
    views = [_letter_view(letter) for letter in letters]

    def render() -> None:
        table = Table("message id", "event", "subscription", "type", "reason")
        for view in views:
            table.add_row(
                view["message_id"],
                view["event_id"] or "-",
                view["subscription_id"] or "-",
                view["event_type"] or "-",
                view["reason"],
            )
        console.print(table)

    emit(st, views, render)


@dlq_app.command("show")
@handle_errors
def dlq_show(
    ctx: typer.Context, message_id: Annotated[str, typer.Argument(metavar="MESSAGE_ID")]
) -> None:
    """One dead-lettered message: what it was for and why it is here."""
    st = state(ctx)
    found = dlq.browse(
        st.target.sqs(),
        st.target.resources.dead_letter_queue_url,
        limit=1,
        matches=lambda letter: letter.message_id == message_id,
    )
    if not found:
        raise CliError(f"no message {message_id} in the dead-letter queue")
    view = _letter_view(found[0])
    view["body"] = {
        k: v for k, v in (found[0].delivery or {}).items() if k not in ("body_b64",)
    } or found[0].body

    def render() -> None:
        for key, value in view.items():
            console.print(f"{key}: {when(value) if key == 'sent_at' else value}", markup=False)

    emit(st, view, render)


@dlq_app.command("redrive")
@handle_errors
def dlq_redrive(
    ctx: typer.Context,
    subscription: Annotated[str | None, typer.Option("--subscription")] = None,
    maximum: Annotated[int | None, typer.Option("--max", min=1)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, move nothing.")] = False,
) -> None:
    """Move dead-lettered deliveries back for a fresh retry schedule (send, then delete)."""
    st = state(ctx)
    sqs = st.target.sqs()
    resources = st.target.resources
    matches = _subscription_matches(subscription)
    if dry_run or st.json:
        report = dlq.redrive(
            sqs,
            dead_letter_queue_url=resources.dead_letter_queue_url,
            deliveries_queue_url=resources.deliveries_queue_url,
            matches=matches,
            maximum=maximum,
            dry_run=dry_run,
        )
    else:
        depth = int(
            sqs.get_queue_attributes(
                QueueUrl=resources.dead_letter_queue_url,
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
        total = min(depth, maximum) if maximum else depth
        with Progress(
            TextColumn("redriving"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("redrive", total=total or None)
            report = dlq.redrive(
                sqs,
                dead_letter_queue_url=resources.dead_letter_queue_url,
                deliveries_queue_url=resources.deliveries_queue_url,
                matches=matches,
                maximum=maximum,
                on_progress=lambda moved: progress.update(task, completed=moved),
            )
    data = {"matched": report.matched, "moved": report.moved, "dry_run": dry_run}
    verb = "would move" if dry_run else "moved"
    emit(
        st,
        data,
        lambda: console.print(
            f"{verb} {report.matched if dry_run else report.moved} message(s) "
            "back to the deliveries queue"
        ),
    )


# --- status ----------------------------------------------------------------------------


@app.command("status")
@handle_errors
def status(ctx: typer.Context) -> None:
    """Queue depths, oldest message age, and the last hour's delivery success."""
    st = state(ctx)
    sqs = st.target.sqs()
    resources = st.target.resources
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    queue = sqs.get_queue_attributes(
        QueueUrl=resources.deliveries_queue_url,
        AttributeNames=names,  # type: ignore[arg-type]
    )["Attributes"]
    dead = sqs.get_queue_attributes(
        QueueUrl=resources.dead_letter_queue_url,
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    now = time.time()
    attempts = st.events.attempts_since(now - 3600)
    delivered = sum(1 for a in attempts if a.outcome == "delivered")
    failed_attempts = [a for a in attempts if a.outcome in ("retrying", "exhausted", "gone")]
    finished = delivered + len(failed_attempts)
    failing: dict[str, int] = {}
    for attempt in failed_attempts:
        failing[attempt.subscription_id] = failing.get(attempt.subscription_id, 0) + 1
    data: dict[str, Any] = {
        "deliveries_queue": {
            "visible": int(queue.get("ApproximateNumberOfMessages", 0)),
            "in_flight_or_waiting_to_retry": int(
                queue.get("ApproximateNumberOfMessagesNotVisible", 0)
            ),
            "oldest_message_age_seconds": _oldest_age(st, resources.deliveries_queue_url),
        },
        "dead_letter_queue": {"visible": int(dead.get("ApproximateNumberOfMessages", 0))},
        "last_hour": {
            "attempts": finished,
            "delivered": delivered,
            "success_rate": round(delivered / finished, 4) if finished else None,
            "failing_subscriptions": [
                {"subscription_id": s, "failed_attempts": n}
                for s, n in sorted(failing.items(), key=lambda kv: -kv[1])[:5]
            ],
        },
    }

    def render() -> None:
        q, d, h = data["deliveries_queue"], data["dead_letter_queue"], data["last_hour"]
        age = q["oldest_message_age_seconds"]
        console.print(
            f"deliveries queue: {q['visible']} waiting, {q['in_flight_or_waiting_to_retry']} "
            f"in flight or backing off; oldest message "
            f"{format_duration(age) if age is not None else 'unknown (no CloudWatch data)'}"
        )
        console.print(f"dead-letter queue: {d['visible']} message(s)")
        rate = h["success_rate"]
        console.print(
            f"last hour: {h['delivered']} of {h['attempts']} attempts delivered"
            + (f" ({rate:.1%})" if rate is not None else "")
        )
        for entry in h["failing_subscriptions"]:
            console.print(
                f"  failing: {entry['subscription_id']} "
                f"({entry['failed_attempts']} failed attempts)"
            )

    emit(st, data, render)


def _oldest_age(st: State, queue_url: str) -> int | None:
    """SQS only reports this to CloudWatch; None when there is no datapoint (or no CloudWatch)."""
    queue_name = queue_url.rstrip("/").rsplit("/", 1)[-1]
    try:
        response = st.target.cloudwatch().get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": queue_name}],
            StartTime=datetime.fromtimestamp(time.time() - 900, UTC),
            EndTime=datetime.now(UTC),
            Period=60,
            Statistics=["Maximum"],
        )
    except Exception:  # an emulator without CloudWatch, or no permission: not fatal here
        return None
    points = sorted(response.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return int(points[-1]["Maximum"]) if points else None


def main() -> None:
    """Entry point: usage mistakes, like every other error, are one line on stderr."""
    # typer >= 0.26 carries its own copy of click; its BadParameter is a UsageError.
    usage_error: type[Exception] = next(
        c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
    )
    Abort = typer.Abort

    try:
        result = app(standalone_mode=False)
    except usage_error as error:
        _fail(error.format_message())  # type: ignore[attr-defined]
        sys.exit(2)
    except Abort:
        _fail("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        _fail("interrupted")
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)


__all__ = ["app", "main"]


# --- dev: the local stack ----------------------------------------------------------------


@app.command("dev")
@handle_errors
def dev(
    api_port: Annotated[int, typer.Option("--api-port", help="The ingest API's port.")] = 3000,
    aws_port: Annotated[int, typer.Option("--aws-port", help="The AWS emulator's port.")] = 4566,
    fast_retries: Annotated[
        bool, typer.Option("--fast-retries", help="Retry within seconds, to watch the DLQ fill.")
    ] = False,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="The Book Haven shop and its subscribers.")
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", help="The functions' logs too.")] = False,
    chaos_aws_failure_rate: Annotated[
        float,
        typer.Option(
            "--chaos-aws-failure-rate",
            min=0.0,
            max=0.5,
            help="Fail this share of the receiver's AWS calls with throttling errors.",
        ),
    ] = 0.0,
) -> None:
    """Run the whole relay locally: AWS emulator, ingest API and dispatcher. Ctrl-C stops it."""
    import signal

    from hookhaven.local.demo import DEMO_SOURCE, demo_subscribers
    from hookhaven.local.stack import LocalStack, PortInUse, project_tunables

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and `kill` both stop cleanly, also when started without a terminal.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    tunables = project_tunables(fast_retries=fast_retries)
    stack = LocalStack(
        api_port=api_port,
        aws_port=aws_port,
        tunables=tunables,
        verbose=verbose,
        aws_failure_rate=chaos_aws_failure_rate,
    )
    try:
        stack.start()
    except PortInUse as error:
        stack.stop()
        raise CliError(str(error)) from None
    subscribers = []
    try:
        assert stack.resources is not None
        lines = [
            "hookhaven local stack",
            f"  ingest API     {stack.api_url}/webhooks/<source>",
            f"  AWS emulator   {stack.aws_url} (moto: tables, queues with their DLQ, bucket)",
            "  retry schedule "
            + " ".join(format_duration(d) for d in tunables.retry_schedule)
            + (
                " (--fast-retries)" if fast_retries else " (as deployed; --fast-retries to shorten)"
            ),
        ]
        if demo:
            subscribers = demo_subscribers(say=lambda line: print(line, flush=True))
            secret = _demo_setup(stack, DEMO_SOURCE, subscribers)
            lines += [
                f"  demo source    {DEMO_SOURCE} (standard), secret {secret}",
                "  subscribers    "
                + ", ".join(f"{s.name} {s.url}" for s in subscribers)
                + " (flaky fails half its requests)",
            ]
        cli = "hookhaven" if api_port == 3000 and aws_port == 4566 else None
        prefix = f"{cli} --local" if cli else f"hookhaven --endpoint-url {stack.aws_url}"
        send_url = "" if cli else f" --url {stack.api_url}"
        lines += [
            "",
            "Try (in another terminal, after `source .venv/bin/activate`):",
            f"  {prefix} send {DEMO_SOURCE} --type order.created "
            f"--data-file events/bookhaven/order_created.json{send_url}",
            f"  {prefix} events list",
            f"  {prefix} status",
            "",
            "Ctrl-C stops everything.",
        ]
        print("\n".join(lines), flush=True)
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        for subscriber in subscribers:
            subscriber.stop()
        stack.stop()
    print("stopped", flush=True)


def _demo_setup(stack: Any, source_name: str, subscribers: list[Any]) -> str:
    now = time.time()
    secret = new_standard_secret()
    assert stack.resources is not None
    from hookhaven.local.stack import local_session

    session = local_session()
    config = DynamoConfigStore(
        session.client("dynamodb", endpoint_url=stack.aws_url), stack.resources.config_table
    )
    config.put_source(
        Source(
            name=source_name,
            kind=SourceKind.STANDARD,
            secrets=(Secret(value=secret, created_at=now),),
            created_at=now,
            updated_at=now,
        )
    )
    for subscriber in subscribers:
        config.put_subscription(
            Subscription(
                id=new_subscription_id(now),
                source=source_name,
                event_types=("order.*",),
                url=subscriber.url,
                secrets=(Secret(value=subscriber.secret, created_at=now),),
                description=f"Book Haven {subscriber.name} service",
                created_at=now,
                updated_at=now,
            )
        )
    return secret
