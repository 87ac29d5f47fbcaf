"""Providers that sign the raw body (and nothing else) with a shared secret; and GitLab,
which signs nothing and sends the shared secret itself.

Nothing signed says when, so a replay is stopped by deduplication only: on the signed
event id where the body carries one (Typeform, Intercom, Vercel), else on the body's
digest (the id these providers send travels in a header the signature does not cover).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from hookhaven.models import Source, SourceKind
from hookhaven.providers.base import Provider
from hookhaven.providers.schemes import HmacScheme, Identify, hmac_verifier
from hookhaven.signatures import any_equal
from hookhaven.verification import (
    Answer,
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    VerifiedWebhook,
    _json_object,
    clean_id,
    clean_type,
)


def _header(request: InboundRequest, *names: str) -> str | None:
    """The first of ``names`` the request carries, stripped; None if none is set.

    ``InboundRequest.header`` looks names up lowercased, so a mutant that upper-cases a
    name passed here is equivalent: make mutate leaves alone the lines marked "(name
    case)", which have no other mutant that survives."""
    for name in names:
        value = request.header(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def _signed_fields(type_field: str, id_field: str) -> Identify:
    """The event's type and id from two fields of the signed body: Typeform's event_type
    and event_id, Intercom's topic (conversation.user.created, ping) and notification id
    (notif_...), Vercel's type and id."""

    def identify(
        request: InboundRequest, body: dict[str, Any] | None, timestamp: str
    ) -> VerifiedWebhook:
        fields = body or {}
        return VerifiedWebhook(
            event_type=clean_type(fields.get(type_field)),
            provider_event_id=clean_id(fields.get(id_field)),
        )

    return identify


def _bitbucket(
    request: InboundRequest, body: dict[str, Any] | None, timestamp: str
) -> VerifiedWebhook:
    # X-Event-Key (repo:push) and X-Request-UUID, both unsigned. X-Hook-UUID names the
    # webhook, the same on every event it sends: no event id.
    event = _header(request, "x-event-key")  # pragma: no mutate (name case)
    if event is None:
        raise MalformedPayload("Bitbucket requests carry X-Event-Key")
    return VerifiedWebhook(
        event_type=clean_type(event),
        provider_event_id=clean_id(
            _header(request, "x-request-uuid")  # pragma: no mutate (name case)
        ),
        id_signed=False,
    )


def _sentry(
    request: InboundRequest, body: dict[str, Any] | None, timestamp: str
) -> VerifiedWebhook:
    # Sentry-Hook-Resource (issue, installation, ...) joined to the body's action
    # (issue.created). Sentry-Hook-Timestamp is not signed, so it is not read at all: a
    # check on it would stop nobody who can change it.
    resource = _header(request, "sentry-hook-resource")  # pragma: no mutate (name case)
    if resource is None:
        raise MalformedPayload("Sentry webhooks carry Sentry-Hook-Resource")
    action = (body or {}).get("action")
    event_type = f"{resource}.{action}" if isinstance(action, str) and action else resource
    return VerifiedWebhook(
        event_type=clean_type(event_type),
        provider_event_id=clean_id(_header(request, "request-id")),  # pragma: no mutate (name case)
        id_signed=False,
    )


def _razorpay(
    request: InboundRequest, body: dict[str, Any] | None, timestamp: str
) -> VerifiedWebhook:
    # The body's event (payment.captured); x-razorpay-event-id ("unique per event", the
    # same on a retry) is a header, unsigned.
    return VerifiedWebhook(
        event_type=clean_type((body or {}).get("event")),
        provider_event_id=clean_id(
            _header(request, "x-razorpay-event-id")  # pragma: no mutate (name case)
        ),
        id_signed=False,
    )


# --- WooCommerce ----------------------------------------------------------------------

_WOOCOMMERCE = HmacScheme(header="x-wc-webhook-signature", encoding="base64")
#: WooCommerce pings a webhook when it is created or first activated (WC_Webhook::
#: deliver_ping): the form body ``webhook_id=<id>``, with no signature and no topic, and it
#: keeps the webhook pending unless the answer is exactly 200.
_PING = re.compile(rb"webhook_id=[0-9]{1,20}")


def _woocommerce(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    signature = request.header("x-wc-webhook-signature")  # pragma: no mutate (name case)
    if signature is None and _PING.fullmatch(request.body):
        # Unsigned by WooCommerce itself: answered 200 and nothing is recorded, so it
        # carries nothing anyone could use.
        return VerifiedWebhook(event_type="ping", provider_event_id=None, answer=Answer(""))
    # Equivalent mutant (make mutate): None for now. Nothing WooCommerce signs says when.
    _WOOCOMMERCE.check(request, secrets, now)  # pragma: no mutate
    topic = _header(request, "x-wc-webhook-topic")  # pragma: no mutate (name case)
    if topic is None:
        raise MalformedPayload("WooCommerce deliveries carry X-WC-Webhook-Topic")
    return VerifiedWebhook(
        event_type=clean_type(topic),
        # WooCommerce sends X-WC-Webhook-Delivery-ID (WC_Webhook::deliver); its REST API
        # docs name it X-WC-Delivery-ID. Either is read; neither is signed.
        provider_event_id=clean_id(
            _header(
                request,
                "x-wc-webhook-delivery-id",  # pragma: no mutate (name case)
                "x-wc-delivery-id",  # pragma: no mutate (name case)
            )
        ),
        id_signed=False,
    )


# --- GitLab ---------------------------------------------------------------------------


def _gitlab(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    """X-Gitlab-Token is the webhook's secret token itself, as configured in GitLab.

    Nothing is signed: the token proves only that the sender knows it, and anyone who sees
    one request on the way (a proxy that logs headers) can send any body with it. It is
    compared whole and in constant time, as SHA-256 digests (so neither its content nor
    its length shows in the time taken).
    """
    token = request.header("x-gitlab-token")  # pragma: no mutate (name case)
    if not token:
        raise InvalidSignature("missing X-Gitlab-Token")
    encoded = token.encode(
        "utf-8",  # pragma: no mutate (equivalent: "UTF-8" is the same codec)
        "surrogatepass",
    )
    provided = hashlib.sha256(encoded).digest()
    expected = [hashlib.sha256(secret.encode()).digest() for secret in secrets]
    if not any_equal(expected, [provided]):
        raise InvalidSignature("X-Gitlab-Token does not match")
    body = _json_object(request.body) or {}
    return VerifiedWebhook(
        event_type=clean_type(_gitlab_type(request, body)),
        # Idempotency-Key (GitLab 17.4+) is the same on every retry of an event;
        # X-Gitlab-Webhook-UUID (16.2+) is one per request; X-Gitlab-Event-UUID is shared
        # by every webhook a webhook-triggered request sets off. None is signed.
        provider_event_id=clean_id(
            _header(
                request,
                "idempotency-key",  # pragma: no mutate (name case)
                "x-gitlab-webhook-uuid",  # pragma: no mutate (name case)
                "x-gitlab-event-uuid",  # pragma: no mutate (name case)
            )
        ),
        id_signed=False,
    )


def _gitlab_type(request: InboundRequest, body: dict[str, Any]) -> str | None:
    """The body's ``object_kind``, joined to ``object_attributes.action`` where the event
    has one (``merge_request.open``, ``issue.close``; ``push`` has none); else a system
    hook's ``event_name`` (``project_create``); else the X-Gitlab-Event header (``Push
    Hook``: a custom webhook template may replace the whole body)."""
    kind = body.get("object_kind")
    if isinstance(kind, str) and kind.strip():
        attributes = body.get("object_attributes")
        action = attributes.get("action") if isinstance(attributes, dict) else None
        return f"{kind}.{action}" if isinstance(action, str) and action else kind
    name = body.get("event_name")
    if isinstance(name, str) and name.strip():
        return name
    return _header(request, "x-gitlab-event")  # pragma: no mutate (name case)


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        kind=SourceKind.TYPEFORM,
        name="Typeform",
        verifies="HMAC-SHA256 of the body, base64 after sha256= in Typeform-Signature",
        docs="https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
        verifier=hmac_verifier(
            HmacScheme(header="typeform-signature", encoding="base64", prefix="sha256="),
            _signed_fields("event_type", "event_id"),
        ),
        credential="the webhook's secret (set on the webhook in Typeform)",
        signed_id=True,
    ),
    Provider(
        kind=SourceKind.INTERCOM,
        name="Intercom",
        verifies="HMAC-SHA1 of the body, hex after sha1= in X-Hub-Signature",
        docs="https://developers.intercom.com/docs/references/webhooks/webhook-models",
        verifier=hmac_verifier(
            HmacScheme(header="x-hub-signature", algorithm="sha1", prefix="sha1="),
            _signed_fields("topic", "id"),
        ),
        credential="the app's client secret (Developer Hub, Basic information)",
        signed_id=True,
    ),
    Provider(
        kind=SourceKind.BITBUCKET,
        name="Bitbucket Cloud",
        verifies="HMAC-SHA256 of the body, hex after sha256= in X-Hub-Signature",
        docs="https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/",
        verifier=hmac_verifier(HmacScheme(header="x-hub-signature", prefix="sha256="), _bitbucket),
        credential="the webhook's secret (a webhook without one sends no signature)",
        # "Troubleshoot webhooks": after a 5xx, up to two more attempts, no interval given.
    ),
    Provider(
        kind=SourceKind.GITLAB,
        name="GitLab",
        verifies="nothing is signed: X-Gitlab-Token carries the webhook's secret token "
        "itself, compared whole in constant time; anyone who sees one request can send "
        "others, with any body",
        docs="https://docs.gitlab.com/user/project/integrations/webhooks/",
        verifier=_gitlab,
        credential="the webhook's secret token",
    ),
    Provider(
        kind=SourceKind.SENTRY,
        name="Sentry (integration platform)",
        verifies="HMAC-SHA256 of the body, hex in Sentry-Hook-Signature (Sentry-Hook-"
        "Timestamp is not signed and not checked)",
        docs="https://docs.sentry.io/organization/integrations/integration-platform/webhooks/",
        verifier=hmac_verifier(HmacScheme(header="sentry-hook-signature"), _sentry),
        credential="the integration's client secret",
    ),
    Provider(
        kind=SourceKind.VERCEL,
        name="Vercel",
        verifies="HMAC-SHA1 of the body, hex in x-vercel-signature",
        docs="https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks",
        verifier=hmac_verifier(
            HmacScheme(header="x-vercel-signature", algorithm="sha1"), _signed_fields("type", "id")
        ),
        credential="the webhook's secret (an integration's webhooks: its client secret)",
        signed_id=True,
    ),
    Provider(
        kind=SourceKind.WOOCOMMERCE,
        name="WooCommerce",
        verifies="HMAC-SHA256 of the body, base64 in X-WC-Webhook-Signature; the unsigned "
        "webhook_id=N ping is answered 200 and not recorded",
        docs="https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks",
        verifier=_woocommerce,
        credential="the webhook's secret",
        handshake="the unsigned webhook_id=N ping: answered 200, nothing recorded",
    ),
    Provider(
        kind=SourceKind.RAZORPAY,
        name="Razorpay",
        verifies="HMAC-SHA256 of the body, hex in X-Razorpay-Signature",
        docs="https://razorpay.com/docs/webhooks/validate-test/",
        verifier=hmac_verifier(HmacScheme(header="x-razorpay-signature"), _razorpay),
        credential="the webhook's secret (not the API key secret)",
        # "Retried ... in exponential backoff policy for 24 hours after event creation".
        retry_seconds=86_400,
    ),
)
