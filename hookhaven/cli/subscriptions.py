"""``hookhaven subscriptions``: services events are delivered to."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from hookhaven.cli.render import emit, fields, say, table, when
from hookhaven.cli.sources import KeepOld
from hookhaven.cli.state import State, seconds, state
from hookhaven.cli.target import CliError
from hookhaven.models import Subscription
from hookhaven.operations import config

app = typer.Typer(help="Services events are delivered to.", no_args_is_help=True)
SubscriptionId = Annotated[str, typer.Argument(metavar="ID")]
EventPatterns = Annotated[
    list[str] | None, typer.Option("--events", help="Event-type patterns, e.g. order.*")
]
Description = Annotated[str | None, typer.Option("--description")]
Filter = Annotated[
    str | None,
    typer.Option(
        "--filter",
        metavar="EXPR",
        help="JMESPath over the event's JSON body; only events where it is truthy "
        "(0 is truthy; false, null, '', [] and {} are not). Non-JSON bodies never match.",
    ),
]
Rate = Annotated[
    str | None,
    typer.Option(
        "--rate",
        metavar="N/s|N/m",
        help="At most N deliveries a second or a minute (enforced by the dispatcher).",
    ),
]
MaxInFlight = Annotated[
    int | None,
    typer.Option(
        "--max-in-flight",
        metavar="N",
        help="At most N deliveries at once, 1-1000 (enforced by the dispatcher).",
    ),
]
RevealSecret = Annotated[
    bool,
    typer.Option(
        "--reveal-secret",
        help="Show full URLs (which often hold a credential), secrets and header values.",
    ),
]


def shown_url(url: str, reveal: bool) -> str:
    """``scheme://host/…``: many subscriber URLs carry their credential in the path or the
    query (Slack and Discord webhooks, ``?token=``), so only ``--reveal-secret`` shows more.
    The user part (``user:password@``) is never shown."""
    if reveal:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment
    return origin + ("/…" if hidden else "/")


def subscription_view(subscription: Subscription, reveal: bool, now: float) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": subscription.id,
        "source": subscription.source,
        "events": list(subscription.event_types),
        "filter": subscription.filter,
        "rate": str(subscription.rate) if subscription.rate else None,
        "max_in_flight": subscription.max_in_flight,
        "url": shown_url(subscription.url, reveal),
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


def event_patterns(values: list[str] | None) -> tuple[str, ...] | None:
    """``--events order.* --events refund.created`` or ``--events order.*,refund.created``;
    none at all means every type."""
    if values is None:
        return None
    return tuple(p for value in values for p in value.split(",") if p) or ("*",)


def static_headers(values: list[str] | None) -> dict[str, str] | None:
    if values is None:
        return None
    headers: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise CliError(f"bad --header {value!r}: use NAME=VALUE")
        headers[name.strip()] = text.strip()
    return headers


def limits_text(view: dict[str, Any]) -> str:
    """``5/s, 10 in flight``; empty without delivery control."""
    parts = []
    if view["rate"]:
        parts.append(view["rate"])
    if view["max_in_flight"]:
        parts.append(f"{view['max_in_flight']} in flight")
    return ", ".join(parts)


def cleared(**flags: tuple[object, bool]) -> tuple[str, ...]:
    """The fields whose ``--no-`` form was given; refuses a value and its ``--no-`` form
    together (a mistake in the command line: exit status 2)."""
    names = []
    for name, (value, clear) in flags.items():
        if not clear:
            continue
        option = "--" + name.replace("_", "-")
        if value is not None:
            raise typer.BadParameter(
                f"give {option} or --no-{option[2:]}, not both", param_hint=f"'--no-{option[2:]}'"
            )
        names.append(name)
    return tuple(names)


def _saved(st: State, subscription: Subscription, message: str, reveal: bool) -> None:
    view = subscription_view(subscription, reveal, time.time())
    emit(st, view, lambda: say(st, message))


@app.command("add")
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Option("--url", help="Where deliveries are POSTed (https).")],
    source: Annotated[
        str | None, typer.Option("--source", help="Only this source's events (default: all).")
    ] = None,
    events: EventPatterns = None,
    description: Description = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", help="Static header NAME=VALUE.")
    ] = None,
    filter_: Filter = None,
    rate: Rate = None,
    max_in_flight: MaxInFlight = None,
    reveal_secret: RevealSecret = False,
) -> None:
    """Add a subscription; prints its id and its generated whsec_ secret (shown once)."""
    st = state(ctx)
    added = config.add_subscription(
        st.config,
        url=url,
        allow_loopback=st.target.allow_loopback,
        source=source,
        event_types=event_patterns(events) or ("*",),
        description=description,
        headers=static_headers(header),
        filter=filter_,
        rate=rate,
        max_in_flight=max_in_flight,
        now=time.time(),
    )
    subscription = added.subscription
    shown = shown_url(url, reveal_secret)
    view = subscription_view(subscription, reveal_secret, time.time())
    data = {
        "id": subscription.id,
        "secret": added.secret,
        "url": shown,
        "events": list(subscription.event_types),
        **{key: view[key] for key in ("filter", "rate", "max_in_flight")},
    }

    def draw() -> None:
        st.console.print(
            f"added subscription [bold]{subscription.id}[/] -> {shown}", highlight=False
        )
        say(st, f"secret (shown once): {added.secret}")

    emit(st, data, draw)


@app.command("list")
def list_(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option("--source")] = None,
    reveal_secret: RevealSecret = False,
) -> None:
    """List subscriptions: no secrets, URLs as scheme://host/… (all with --reveal-secret)."""
    st = state(ctx)
    now = time.time()
    views = []
    for s in config.list_subscriptions(st.config, source=source):
        view = subscription_view(s, reveal_secret, now)
        view["delivery"] = config.delivery_state(s, st.control, now)
        views.append(view)
    rows = (
        (
            v["id"],
            v["source"],
            ", ".join(v["events"]),
            v["filter"] or "",
            limits_text(v),
            v["url"],
            v["delivery"]["summary"],
        )
        for v in views
    )
    columns = ("id", "source", "events", "filter", "limits", "url", "state")
    emit(st, views, lambda: table(st, columns, rows))


def _secret_line(secret: dict[str, Any]) -> str:
    text = "active" if secret["active"] else "expired"
    if secret["expires_at"]:
        text += f", until {when(secret['expires_at'])}"
    if "secret" in secret:
        text += f": {secret['secret']}"
    return text


@app.command("show")
def show(
    ctx: typer.Context,
    subscription_id: SubscriptionId,
    reveal_secret: RevealSecret = False,
) -> None:
    """Show one subscription (its full URL, secrets and header values with --reveal-secret)."""
    st = state(ctx)
    subscription = config.get_subscription(st.config, subscription_id)
    now = time.time()
    view = subscription_view(subscription, reveal_secret, now)
    view["delivery"] = config.delivery_state(subscription, st.control, now)
    emit(st, view, lambda: fields(st, view, _secret_line))


@app.command("update")
def update(
    ctx: typer.Context,
    subscription_id: SubscriptionId,
    url: Annotated[str | None, typer.Option("--url")] = None,
    source: Annotated[str | None, typer.Option("--source", help="A source, or * for all.")] = None,
    events: EventPatterns = None,
    description: Description = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", help="Replaces all static headers.")
    ] = None,
    filter_: Filter = None,
    no_filter: Annotated[
        bool, typer.Option("--no-filter", help="Remove the filter: every body matches.")
    ] = False,
    rate: Rate = None,
    no_rate: Annotated[bool, typer.Option("--no-rate", help="Remove the rate limit.")] = False,
    max_in_flight: MaxInFlight = None,
    no_max_in_flight: Annotated[
        bool, typer.Option("--no-max-in-flight", help="Remove the limit on deliveries at once.")
    ] = False,
    reveal_secret: RevealSecret = False,
) -> None:
    """Change a subscription's URL, source, event patterns, description, headers, filter,
    rate or max in-flight; --no-filter, --no-rate and --no-max-in-flight remove them."""
    st = state(ctx)
    clear = cleared(
        filter=(filter_, no_filter),
        rate=(rate, no_rate),
        max_in_flight=(max_in_flight, no_max_in_flight),
    )
    updated = config.update_subscription(
        st.config,
        subscription_id,
        allow_loopback=st.target.allow_loopback,
        url=url,
        source=source,
        event_types=event_patterns(events),
        description=description,
        headers=static_headers(header),
        filter=filter_,
        rate=rate,
        max_in_flight=max_in_flight,
        clear=clear,
        now=time.time(),
    )
    _saved(st, updated, f"updated {subscription_id}", reveal_secret)


@app.command("disable")
def disable(
    ctx: typer.Context, subscription_id: SubscriptionId, reveal_secret: RevealSecret = False
) -> None:
    """Stop deliveries; queued ones are dropped with a record saying why."""
    st = state(ctx)
    updated = config.set_enabled(st.config, subscription_id, enabled=False, now=time.time())
    _saved(st, updated, f"disabled {subscription_id}", reveal_secret)


@app.command("enable")
def enable(
    ctx: typer.Context, subscription_id: SubscriptionId, reveal_secret: RevealSecret = False
) -> None:
    """Resume deliveries (also after a 410 disabled it)."""
    st = state(ctx)
    updated = config.set_enabled(
        st.config, subscription_id, enabled=True, now=time.time(), control=st.control
    )
    _saved(st, updated, f"enabled {subscription_id}", reveal_secret)


@app.command("remove")
def remove(ctx: typer.Context, subscription_id: SubscriptionId) -> None:
    """Remove a subscription; queued deliveries for it are dropped."""
    st = state(ctx)
    config.remove_subscription(st.config, subscription_id)
    data = {"id": subscription_id, "removed": True}
    emit(st, data, lambda: say(st, f"removed {subscription_id}"))


@app.command("rotate-secret")
def rotate_secret(
    ctx: typer.Context,
    subscription_id: SubscriptionId,
    keep_old: KeepOld = "24h",
) -> None:
    """New signing secret; both sign every delivery during the overlap (24h)."""
    st = state(ctx)
    overlap = seconds(keep_old, "--keep-old")
    rotated = config.rotate_subscription_secret(
        st.config, subscription_id, keep_old=overlap, now=time.time()
    )
    data = {
        "id": subscription_id,
        "secret": rotated.new_secret,
        "old_secret_expires_at": rotated.old_secret_expires_at,
    }

    def draw() -> None:
        until = when(rotated.old_secret_expires_at)
        say(st, f"rotated {subscription_id}: deliveries carry both signatures until {until} UTC")
        say(st, f"new secret (shown once): {rotated.new_secret}")

    emit(st, data, draw)
