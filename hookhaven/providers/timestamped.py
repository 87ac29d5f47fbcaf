"""Providers that sign a timestamp with the body, and those with a handshake.

Each is verified as its provider documents it (the page in ``docs``). A signed timestamp
is checked against the provider's documented tolerance where it documents one (Twitch,
Paddle, Calendly, Linear); Zoom and Zendesk sign one but document none, so none is
imposed (``tolerance=None``) and the dedupe window does the work. Zoom and Twitch prove
the endpoint with a signed handshake, which is answered and never recorded.
"""

from __future__ import annotations

import json
from typing import Any

from hookhaven.models import Source, SourceKind
from hookhaven.providers.base import Provider
from hookhaven.providers.schemes import HmacScheme, Params, hmac_verifier, joined
from hookhaven.signatures import hmac_digest
from hookhaven.verification import (
    UNKNOWN_TYPE,
    Answer,
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    VerifiedWebhook,
    _json_object,
    _required,
    clean_id,
    clean_type,
)

# --- Zoom ---------------------------------------------------------------------------------

#: https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events: "v0=" + hex
#: HMAC-SHA256(secret token, "v0:{x-zm-request-timestamp}:{body}"). Zoom documents no
#: tolerance for the timestamp, and its retries (5, 20 and 60 minutes apart) are not said
#: to be signed afresh, so none is imposed.
_ZOOM = HmacScheme(
    header="x-zm-signature",
    message=joined("v0:", ":"),
    prefix="v0=",
    timestamp_header="x-zm-request-timestamp",
)
ZOOM_VALIDATION = "endpoint.url_validation"


def _zoom(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    # Zoom signs the validation request like any event (its documented example headers
    # carry x-zm-signature, and its sample app checks the signature before answering), so
    # the signature is checked first: an unsigned challenge gets no answer.
    # Equivalent mutant (make mutate): None for now. Zoom documents no tolerance, so its
    # scheme parses the timestamp but never compares it with now.
    _ZOOM.check(request, secrets, now)  # pragma: no mutate
    body = _json_object(request.body)
    if body is None:
        raise MalformedPayload("a Zoom event is a JSON object")
    if body.get("event") == ZOOM_VALIDATION:
        payload = body.get("payload")
        token = payload.get("plainToken") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise MalformedPayload("endpoint.url_validation without a plainToken")
        # Hashed with the secret token the request was signed with (the one that matched,
        # when a rotation leaves two active).
        # Equivalent mutant (make mutate): None for now, which Zoom's scheme never reads.
        secret = _matching_secret(_ZOOM, request, secrets, now)  # pragma: no mutate
        encrypted = hmac_digest(secret.encode(), token.encode()).hex()
        answer = json.dumps({"plainToken": token, "encryptedToken": encrypted})
        return VerifiedWebhook(
            event_type=ZOOM_VALIDATION,
            provider_event_id=None,
            answer=Answer(answer, "application/json"),
        )
    # Zoom's body carries no event id, and the signature covers no header that names one:
    # x-zm-request-id (sent by Zoom, in its "Webhook structure" example) is kept as a label
    # only, and duplicates are found by the body's digest.
    return VerifiedWebhook(
        event_type=clean_type(body.get("event")),
        provider_event_id=clean_id(
            request.header("x-zm-request-id")  # pragma: no mutate (name case)
        ),
        id_signed=False,
    )


def _matching_secret(
    scheme: HmacScheme, request: InboundRequest, secrets: list[str], now: float
) -> str:
    for secret in secrets:
        try:
            # Equivalent mutant (make mutate): None for now. The one scheme this is given
            # is Zoom's, which has no tolerance to compare the timestamp with.
            scheme.check(request, [secret], now)  # pragma: no mutate
        except InvalidSignature:
            continue
        return secret
    raise InvalidSignature(f"{scheme.header} does not match")  # checked before: unreachable


# --- Twitch EventSub ----------------------------------------------------------------------


def _twitch_message(request: InboundRequest, timestamp: str) -> bytes:
    # https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message:
    # message id + timestamp + raw body, nothing between them.
    message_id = _required(request, "twitch-eventsub-message-id")  # pragma: no mutate (name case)
    return message_id.encode() + timestamp.encode() + request.body


#: "Make sure the value in the Twitch-Eventsub-Message-Timestamp header isn't older than
#: 10 minutes" (the same page, "Guarding against replay attacks"); the timestamp is RFC 3339
#: with nanoseconds.
_TWITCH = HmacScheme(
    header="twitch-eventsub-message-signature",
    message=_twitch_message,
    prefix="sha256=",
    timestamp_header="twitch-eventsub-message-timestamp",
    timestamp_format="iso",
    tolerance=600,
)
TWITCH_VERIFICATION = "webhook_callback_verification"


def _twitch(
    request: InboundRequest, body: dict[str, Any] | None, timestamp: str
) -> VerifiedWebhook:
    message_type = request.header("twitch-eventsub-message-type")  # pragma: no mutate (name case)
    if not message_type:
        raise MalformedPayload("Twitch sends Twitch-Eventsub-Message-Type")
    message_type = message_type.strip()
    if body is None:
        raise MalformedPayload("a Twitch EventSub message is a JSON object")
    if message_type == TWITCH_VERIFICATION:
        challenge = body.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            raise MalformedPayload("webhook_callback_verification without a challenge")
        # Answered with the raw challenge as text/plain, 200; nothing recorded.
        return VerifiedWebhook(
            event_type=TWITCH_VERIFICATION, provider_event_id=None, answer=Answer(challenge)
        )
    # The subscription type from the signed body; Twitch-Eventsub-Subscription-Type (which
    # the signature does not cover) says the same, and is read only if the body does not.
    subscription = body.get("subscription")
    subscription_type = subscription.get("type") if isinstance(subscription, dict) else None
    if not isinstance(subscription_type, str) or not subscription_type.strip():
        subscription_type = request.header(
            "twitch-eventsub-subscription-type"  # pragma: no mutate (name case)
        )
    if not isinstance(subscription_type, str) or not subscription_type.strip():
        subscription_type = UNKNOWN_TYPE
    if message_type == "notification":
        event_type = subscription_type
    else:
        # revocation (Twitch revoked the subscription: body subscription.status says why)
        # is recorded under its own type so that a subscriber can be told: revocation/<type>.
        event_type = f"{message_type}/{subscription_type}"
    # Twitch-Eventsub-Message-Id is part of the signed message: a signed id.
    return VerifiedWebhook(
        event_type=clean_type(event_type),
        provider_event_id=clean_id(
            request.header("twitch-eventsub-message-id")  # pragma: no mutate (name case)
        ),
    )


# --- Paddle Billing -----------------------------------------------------------------------

#: https://developer.paddle.com/webhooks/signature-verification: Paddle-Signature is
#: "ts=...;h1=..." (it may carry several h1), h1 the hex HMAC-SHA256 of "{ts}:{body}" with
#: the destination's secret key. Tolerance: Paddle's SDKs allow 5 seconds by default and
#: its page tells manual implementations to do the same (paddle_billing's Verifier:
#: maximum_variance=5, refusing a ts more than 5 s before or after now). That SDK refuses
#: a header with a key other than ts and h1; here other keys are ignored (Paddle sends none).
_PADDLE = HmacScheme(
    header="paddle-signature",
    message=joined("", ":"),
    params=Params("ts", "h1", ";"),
    tolerance=5,
)


def _paddle(
    request: InboundRequest, body: dict[str, Any] | None, timestamp: str
) -> VerifiedWebhook:
    if body is None or not isinstance(body.get("event_type"), str):
        raise MalformedPayload("a Paddle notification is a JSON object with an event_type")
    event_id = clean_id(body.get("event_id"))
    if event_id is None:
        raise MalformedPayload("a Paddle notification carries an event_id")
    return VerifiedWebhook(event_type=clean_type(body["event_type"]), provider_event_id=event_id)


# --- Calendly -----------------------------------------------------------------------------

#: https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures:
#: Calendly-Webhook-Signature "t=...,v1=...", v1 the hex HMAC-SHA256 of "{t}.{body}" with
#: the webhook signing key; the page sets "the application's tolerance zone to 3 minutes".
#: Its example refuses only a t older than that; a t as far in the future is refused too.
_CALENDLY = HmacScheme(
    header="calendly-webhook-signature",
    message=joined("", "."),
    params=Params("t", "v1"),
    tolerance=180,
)


def _calendly(
    request: InboundRequest, body: dict[str, Any] | None, timestamp: str
) -> VerifiedWebhook:
    if body is None:
        raise MalformedPayload("a Calendly webhook is a JSON object")
    # Calendly's payload carries no event id (its URIs name the invitee or event, not the
    # delivery): duplicates are found by the body's digest.
    return VerifiedWebhook(event_type=clean_type(body.get("event")), provider_event_id=None)


# --- Linear -------------------------------------------------------------------------------

#: https://linear.app/developers/webhooks#securing-webhooks: Linear-Signature is the hex
#: HMAC-SHA256 of the body; the body's webhookTimestamp (UNIX milliseconds, inside the
#: signed body) must be within a minute of now, as Linear's SDK checks it
#: (LinearWebhookClient.verify: |now - webhookTimestamp| > 60 000 ms is refused).
_LINEAR = HmacScheme(header="linear-signature")
LINEAR_TOLERANCE = 60


def _linear(
    source: Source, request: InboundRequest, secrets: list[str], now: float
) -> VerifiedWebhook:
    # Equivalent mutant (make mutate): None for now. The signature covers the body only;
    # its webhookTimestamp is checked against now below.
    _LINEAR.check(request, secrets, now)  # pragma: no mutate
    body = _json_object(request.body)
    stamp = body.get("webhookTimestamp") if body is not None else None
    # Linear always sends it (an integer of milliseconds). Its SDK skips the check when the
    # caller passes none; here a body without it is refused, as nothing then says when it
    # was sent.
    if body is None or not isinstance(stamp, int) or isinstance(stamp, bool):
        raise InvalidSignature("no webhookTimestamp in the signed body")
    if abs(now - stamp / 1000) > LINEAR_TOLERANCE:
        raise InvalidSignature("webhookTimestamp outside the tolerance")
    # Issue.create, Comment.update, ...: the body's type and action (Linear-Event repeats
    # the type, unsigned).
    kind, action = body.get("type"), body.get("action")
    event_type = f"{kind}.{action}" if isinstance(kind, str) and isinstance(action, str) else kind
    # Linear-Delivery names the delivery but is not signed, and no signed body field is
    # unique per delivery (webhookId names the webhook): duplicates go by the body's digest.
    return VerifiedWebhook(
        event_type=clean_type(event_type),
        provider_event_id=clean_id(
            request.header("linear-delivery")  # pragma: no mutate (name case)
        ),
        id_signed=False,
    )


# --- Zendesk ------------------------------------------------------------------------------

#: https://developer.zendesk.com/documentation/webhooks/verifying/: X-Zendesk-Webhook-
#: Signature is base64(HMAC-SHA256(signing secret, TIMESTAMP + BODY)), the timestamp as sent
#: in X-Zendesk-Webhook-Signature-Timestamp (ISO 8601, "2021-07-25T10:00:00Z"). Zendesk
#: documents no tolerance: none is imposed.
_ZENDESK = HmacScheme(
    header="x-zendesk-webhook-signature",
    message=joined(""),
    encoding="base64",
    timestamp_header="x-zendesk-webhook-signature-timestamp",
    timestamp_format="iso",
)
ZENDESK_EVENT_PREFIX = "zen:event-type:"


def _zendesk(
    request: InboundRequest, body: dict[str, Any] | None, timestamp: str
) -> VerifiedWebhook:
    body_type = body.get("type") if body is not None else None
    if (
        body is not None
        and isinstance(body_type, str)
        and body_type.startswith(ZENDESK_EVENT_PREFIX)
    ):
        # An event webhook (zen:event-type:ticket.created ...): Zendesk's own envelope, its
        # id unique per event and inside the signed body.
        event_id = clean_id(body.get("id"))
        if event_id is not None:
            return VerifiedWebhook(event_type=clean_type(body_type), provider_event_id=event_id)
    # A trigger or automation webhook: the body is whatever the admin wrote (its "id" may
    # well be a ticket's, the same for every update), so it is typed by its "type" if it has
    # one, and named by X-Zendesk-Webhook-Invocation-Id, which the signature does not cover:
    # duplicates go by the body's digest.
    return VerifiedWebhook(
        event_type=clean_type(body_type),
        provider_event_id=clean_id(
            request.header("x-zendesk-webhook-invocation-id")  # pragma: no mutate (name case)
        ),
        id_signed=False,
    )


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        kind=SourceKind.ZOOM,
        name="Zoom",
        verifies="HMAC-SHA256 of v0:timestamp:body, hex after v0= in x-zm-signature",
        docs="https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events",
        verifier=_zoom,
        credential="the app's webhook secret token",
        signed_timestamp=True,
        # Three attempts after the first: 5 min, then 20 min, then 60 min later
        # ("Notification delivery").
        retry_seconds=(5 + 20 + 60) * 60,
        handshake="endpoint.url_validation: answers plainToken and its HMAC (encryptedToken)",
    ),
    Provider(
        kind=SourceKind.TWITCH,
        name="Twitch EventSub",
        verifies="HMAC-SHA256 of message id + timestamp + body, hex after sha256= in "
        "Twitch-Eventsub-Message-Signature",
        docs="https://dev.twitch.tv/docs/eventsub/handling-webhook-events/",
        verifier=hmac_verifier(_TWITCH, _twitch),
        credential="the secret set in the subscription's transport",
        tolerance=600,
        signed_timestamp=True,
        signed_id=True,
        handshake="webhook_callback_verification: answers the challenge",
    ),
    Provider(
        kind=SourceKind.PADDLE,
        name="Paddle Billing",
        verifies="HMAC-SHA256 of ts:body, hex h1 values in Paddle-Signature (ts=...;h1=...)",
        docs="https://developer.paddle.com/webhooks/signature-verification",
        verifier=hmac_verifier(_PADDLE, _paddle),
        credential="the notification destination's endpoint secret key",
        tolerance=5,
        signed_timestamp=True,
        signed_id=True,
        # Live accounts: up to 60 retries over 3 days ("Handle webhook delivery").
        retry_seconds=3 * 86_400,
    ),
    Provider(
        kind=SourceKind.CALENDLY,
        name="Calendly",
        verifies="HMAC-SHA256 of t.body, hex v1 in Calendly-Webhook-Signature (t=...,v1=...)",
        docs="https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures",
        verifier=hmac_verifier(_CALENDLY, _calendly),
        credential="the webhook signing key",
        tolerance=180,
        signed_timestamp=True,
        # "it will continue to try to deliver for 24 hours" ("Webhook Errors").
        retry_seconds=86_400,
    ),
    Provider(
        kind=SourceKind.LINEAR,
        name="Linear",
        verifies="HMAC-SHA256 of the body, hex in Linear-Signature; the body's "
        "webhookTimestamp within a minute",
        docs="https://linear.app/developers/webhooks#securing-webhooks",
        verifier=_linear,
        credential="the webhook's signing secret",
        tolerance=LINEAR_TOLERANCE,
        signed_timestamp=True,
    ),
    Provider(
        kind=SourceKind.ZENDESK,
        name="Zendesk",
        verifies="HMAC-SHA256 of timestamp + body, base64 in X-Zendesk-Webhook-Signature",
        docs="https://developer.zendesk.com/documentation/webhooks/verifying/",
        verifier=hmac_verifier(_ZENDESK, _zendesk),
        credential="the webhook's signing secret",
        signed_timestamp=True,
    ),
)
