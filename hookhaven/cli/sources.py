"""``hookhaven sources``: providers that POST to /webhooks/<name>."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from hookhaven import catalog
from hookhaven.cli.render import emit, fields, say, table, when
from hookhaven.cli.state import seconds, state
from hookhaven.cli.target import CliError
from hookhaven.models import FieldRef, Source, SourceKind
from hookhaven.operations import config

app = typer.Typer(help="Providers that POST to /webhooks/<name>.", no_args_is_help=True)
#: How long an old secret keeps working after a rotation (sources and subscriptions).
KeepOld = Annotated[
    str, typer.Option("--keep-old", help="How long the old secret keeps working (e.g. 24h).")
]


def source_view(source: Source, now: float) -> dict[str, Any]:
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


def read_secret(secret: str | None, secret_stdin: bool) -> str | None:
    if secret and secret_stdin:
        raise CliError("give --secret or --secret-stdin, not both")
    if secret_stdin:
        value = sys.stdin.readline().strip()
        if not value:
            raise CliError("--secret-stdin: nothing on standard input")
        return value
    return secret


def field_ref(text: str | None, option: str) -> FieldRef | None:
    if text is None:
        return None
    try:
        return FieldRef.parse(text)
    except ValueError as error:
        raise CliError(f"{option}: {error}") from None


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Providers POST to /webhooks/<name>.")],
    kind: Annotated[
        SourceKind,
        typer.Option("--kind", help="The provider or signing scheme: see `sources kinds`."),
    ],
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
    hmac: dict[str, Any] | None = None
    if kind == SourceKind.HMAC:
        hmac = {
            "header": header,
            "algorithm": algorithm,
            "encoding": encoding,
            "prefix": prefix,
            "id_from": field_ref(id_from, "--id-from"),
            "type_from": field_ref(type_from, "--type-from"),
        }
    added = config.add_source(
        st.config,
        name=name,
        kind=kind,
        secret=read_secret(secret, secret_stdin),
        hmac=hmac,
        now=time.time(),
    )
    api_url = st.target.api_url
    url = f"{api_url}/webhooks/{name}" if api_url else None
    generated = added.generated_secret
    data: dict[str, Any] = {"name": name, "kind": str(kind), "url": url}
    if generated:
        data["secret"] = generated

    def draw() -> None:
        st.console.print(f"added source [bold]{name}[/] ({kind})")
        if url:
            st.console.print(f"providers POST to {url}")
        if generated:
            say(st, f"secret (shown once): {generated}")

    emit(st, data, draw)


def kind_view(provider: catalog.Provider) -> dict[str, Any]:
    return {
        "kind": str(provider.kind),
        "provider": provider.name,
        "verifies": provider.verifies,
        "replay_protection": provider.replay,
        "tolerance_seconds": provider.tolerance,
        "signed_timestamp": provider.signed_timestamp,
        "signed_id": provider.signed_id,
        "handshake": provider.handshake,
        "alias_of": str(provider.alias_of) if provider.alias_of else None,
        "credential": provider.credential,
        "provider_retries_seconds": provider.retry_seconds,
        "docs": provider.docs,
    }


@app.command("kinds")
def kinds(ctx: typer.Context) -> None:
    """The providers a source can be: what each verifies and what stops a replay."""
    st = state(ctx)
    views = [kind_view(p) for p in catalog.PROVIDERS]
    rows = (
        (
            v["kind"],
            v["provider"] + (f" (= {v['alias_of']})" if v["alias_of"] else ""),
            v["verifies"],
            v["replay_protection"],
        )
        for v in views
    )
    emit(st, views, lambda: table(st, ("kind", "provider", "verifies", "replay protection"), rows))


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List sources (never their secrets)."""
    st = state(ctx)
    now = time.time()
    views = [source_view(s, now) for s in config.list_sources(st.config)]
    rows = ((v["name"], v["kind"], str(v["active_secrets"]), when(v["updated_at"])) for v in views)
    emit(st, views, lambda: table(st, ("name", "kind", "active secrets", "updated"), rows))


def _secret_line(secret: dict[str, Any]) -> str:
    expiry = f"expires {when(secret['expires_at'])}" if secret["expires_at"] else ""
    return f"{'active' if secret['active'] else 'expired'} {expiry}"


@app.command("show")
def show(ctx: typer.Context, name: str) -> None:
    """Show one source (never its secrets)."""
    st = state(ctx)
    view = source_view(config.get_source(st.config, name), time.time())
    emit(st, view, lambda: fields(st, view, _secret_line))


@app.command("remove")
def remove(ctx: typer.Context, name: str) -> None:
    """Remove a source: its endpoint answers 404 from then on."""
    st = state(ctx)
    config.remove_source(st.config, name)
    emit(st, {"name": name, "removed": True}, lambda: say(st, f"removed source {name}"))


@app.command("rotate-secret")
def rotate_secret(
    ctx: typer.Context,
    name: str,
    secret: Annotated[
        str | None, typer.Option("--secret", help="The provider's new secret.")
    ] = None,
    secret_stdin: Annotated[bool, typer.Option("--secret-stdin")] = False,
    keep_old: KeepOld = "24h",
) -> None:
    """Add a new secret; the old one is still accepted for --keep-old (24h)."""
    st = state(ctx)
    overlap = seconds(keep_old, "--keep-old")
    rotated = config.rotate_source_secret(
        st.config,
        name,
        secret=read_secret(secret, secret_stdin),
        keep_old=overlap,
        now=time.time(),
    )
    data: dict[str, Any] = {"name": name, "old_secret_expires_at": rotated.old_secret_expires_at}
    if rotated.new_secret:
        data["secret"] = rotated.new_secret

    def draw() -> None:
        until = when(rotated.old_secret_expires_at)
        say(st, f"rotated source {name}: the old secret works until {until} UTC")
        if rotated.new_secret:
            say(st, f"new secret (shown once): {rotated.new_secret}")

    emit(st, data, draw)
