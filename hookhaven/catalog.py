"""The provider catalog: every source kind, how it is verified and what stops a replay.

``hookhaven sources kinds`` prints it and the README's kinds table lists it (a test keeps
the three in step). A kind is verified exactly as its provider documents: the page is in
``docs``. Replay protection is one of: a signed timestamp checked against the provider's
documented tolerance; a signed event id, deduplicated for ``dedupe_window``; or, where the
provider signs neither, the body's digest, deduplicated for ``dedupe_window``.
"""

from __future__ import annotations

import importlib

from hookhaven.models import SourceKind
from hookhaven.providers import bodyhmac, keys, timestamped, urlsigned
from hookhaven.providers.base import Provider

__all__ = ["PROVIDERS", "Provider", "is_standard", "provider", "verifier_for"]
from hookhaven.verification import (
    TOLERANCE_SECONDS,
    Verifier,
    _github,
    _hmac,
    _shopify,
    _slack,
    _standard,
    _stripe,
)

_SVIX_RETRY = 5 + 300 + 1_800 + 7_200 + 18_000 + 36_000 + 36_000
_STANDARD_DOCS = (
    "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md"
)


def _standard_alias(kind: SourceKind, name: str, docs: str, retry: int | None) -> Provider:
    return Provider(
        kind=kind,
        name=name,
        verifies="Standard Webhooks: HMAC-SHA256 of id.timestamp.body (webhook-* or svix-*)",
        docs=docs,
        verifier=_standard,
        credential="the endpoint's whsec_ signing secret",
        tolerance=TOLERANCE_SECONDS,
        signed_timestamp=True,
        signed_id=True,
        retry_seconds=retry,
        alias_of=SourceKind.STANDARD,
    )


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        kind=SourceKind.STANDARD,
        name="Standard Webhooks (Svix)",
        verifies="HMAC-SHA256 of id.timestamp.body, base64 v1 signatures in webhook-signature "
        "(or svix-signature); several during a rotation",
        docs=_STANDARD_DOCS,
        verifier=_standard,
        credential="whsec_ secret (generated if not given)",
        tolerance=TOLERANCE_SECONDS,
        signed_timestamp=True,
        signed_id=True,
        # Svix's schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about 27.6 hours.
        retry_seconds=_SVIX_RETRY,
    ),
    Provider(
        kind=SourceKind.STRIPE,
        name="Stripe",
        verifies="HMAC-SHA256 of t.body, hex v1 values in Stripe-Signature (t=...,v1=...)",
        docs="https://docs.stripe.com/webhooks#verify-manually",
        verifier=_stripe,
        credential="the endpoint's whsec_ signing secret",
        tolerance=TOLERANCE_SECONDS,
        signed_timestamp=True,
        signed_id=True,
        # Up to 3 days in live mode, exponential backoff ("Webhooks: retries").
        retry_seconds=3 * 86_400,
    ),
    Provider(
        kind=SourceKind.GITHUB,
        name="GitHub",
        verifies="HMAC-SHA256 of the body, hex after sha256= in X-Hub-Signature-256",
        docs="https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
        verifier=_github,
        # None: "GitHub does not automatically redeliver failed deliveries".
        retry_seconds=0,
    ),
    Provider(
        kind=SourceKind.SHOPIFY,
        name="Shopify",
        verifies="HMAC-SHA256 of the body, base64 in X-Shopify-Hmac-Sha256",
        docs="https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-2-validate-the-origin-of-your-webhook-to-ensure-its-coming-from-shopify",
        verifier=_shopify,
        credential="the app's client secret",
        # 8 tries over 4 hours (changelog, "Updates to webhook retry mechanism", 2024-09).
        retry_seconds=4 * 3_600,
    ),
    Provider(
        kind=SourceKind.SLACK,
        name="Slack (Events API, slash commands, interactivity)",
        verifies="HMAC-SHA256 of v0:timestamp:body, hex after v0= in X-Slack-Signature",
        docs="https://api.slack.com/authentication/verifying-requests-from-slack",
        verifier=_slack,
        credential="the app's signing secret",
        tolerance=TOLERANCE_SECONDS,
        signed_timestamp=True,
        signed_id=True,
        # 3 retries: at once, after 1 minute, after 5 minutes.
        retry_seconds=6 * 60,
        handshake="url_verification: answers the challenge",
    ),
    Provider(
        kind=SourceKind.HMAC,
        name="Any HMAC sender (configurable)",
        verifies="HMAC (sha1, sha256 or sha512) of the body, hex or base64, in a header you "
        "name, after an optional prefix",
        docs="README: Sources of kind hmac",
        verifier=_hmac,
        credential="the shared secret",
    ),
    _standard_alias(
        SourceKind.CLERK,
        "Clerk (Svix)",
        "https://clerk.com/docs/webhooks/sync-data",
        _SVIX_RETRY,
    ),
    _standard_alias(
        SourceKind.RESEND,
        "Resend (Svix)",
        "https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests",
        _SVIX_RETRY,
    ),
    _standard_alias(
        SourceKind.REPLICATE,
        "Replicate",
        "https://replicate.com/docs/topics/webhooks/verify-webhook",
        None,
    ),
    _standard_alias(
        SourceKind.OPENAI,
        "OpenAI",
        "https://platform.openai.com/docs/guides/webhooks",
        None,
    ),
    # Each family of named providers, one module apiece (hookhaven/providers/).
    *timestamped.PROVIDERS,
    *bodyhmac.PROVIDERS,
    *keys.PROVIDERS,
    *urlsigned.PROVIDERS,
)

_BY_KIND = {provider.kind: provider for provider in PROVIDERS}


def provider(kind: SourceKind) -> Provider:
    return _BY_KIND[kind]


def is_standard(kind: SourceKind) -> bool:
    """Signed with Standard Webhooks (a whsec_ secret)."""
    return provider(kind).scheme == SourceKind.STANDARD


def verifier_for(kind: SourceKind) -> Verifier:
    found = provider(kind).verifier
    if isinstance(found, str):
        # Equivalent mutant (make mutate): rpartition. A module's dotted path has no ":".
        module, _, name = found.partition(":")  # pragma: no mutate
        loaded: Verifier = getattr(importlib.import_module(module), name)
        return loaded
    return found
