"""Providers that sign the raw body (and nothing else) with a shared secret.

Nothing signed says when, so a replay is stopped by deduplication only: on the signed
event id where the body carries one, else on the body's digest.
"""

from __future__ import annotations

from typing import Any

from hookhaven.models import SourceKind
from hookhaven.providers.base import Provider
from hookhaven.providers.schemes import HmacScheme, hmac_verifier
from hookhaven.verification import InboundRequest, VerifiedWebhook, clean_id, clean_type


def _typeform(
    request: InboundRequest, body: dict[str, Any] | None, timestamp: str
) -> VerifiedWebhook:
    body = body or {}
    return VerifiedWebhook(
        event_type=clean_type(body.get("event_type")),
        provider_event_id=clean_id(body.get("event_id")),
    )


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        kind=SourceKind.TYPEFORM,
        name="Typeform",
        verifies="HMAC-SHA256 of the body, base64 after sha256= in Typeform-Signature",
        docs="https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
        verifier=hmac_verifier(
            HmacScheme(header="typeform-signature", encoding="base64", prefix="sha256="),
            _typeform,
        ),
        credential="the webhook's secret (set on the webhook in Typeform)",
        signed_id=True,
    ),
)
