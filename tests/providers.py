"""Sign requests the way each provider does, with the provider's own library where one exists.

Standard Webhooks: ``standardwebhooks``; Svix: ``svix``; Stripe: ``stripe``; Slack:
``slack_sdk``. GitHub and Shopify ship no Python signer: their documented algorithm is
used, and tests check it against the examples in their documentation.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import stripe
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook as StandardWebhook
from svix.webhooks import Webhook as SvixWebhook

SECRETS = {
    "standard": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "stripe": "whsec_test_5e1b4f2c7d0a4c3b9e8f7a6d5c4b3a29",
    "github": "It's a Secret to Everybody",
    "shopify": "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",
    "slack": "8f742231b10e8888abcd99yyyzzz85a5",
    "hmac": "courier-shared-secret-0123456789",
}


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def shopify_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_headers(
    kind: str, secret: str, body: bytes, now: float, **extra: str
) -> dict[str, str]:
    """The headers a provider of ``kind`` sends for ``body`` at time ``now``."""
    timestamp = int(now)
    text = body.decode("utf-8", errors="surrogateescape")
    if kind == "standard":
        msg_id = extra.get("msg_id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
        signature = StandardWebhook(secret).sign(
            msg_id, datetime.fromtimestamp(timestamp, UTC), text
        )
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
    if kind == "svix":
        msg_id = extra.get("msg_id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
        signature = SvixWebhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), text)
        return {"svix-id": msg_id, "svix-timestamp": str(timestamp), "svix-signature": signature}
    if kind == "stripe":
        header = stripe.WebhookSignature.generate_signature_header(
            text, secret, timestamp=timestamp
        )
        return {"stripe-signature": header}
    if kind == "github":
        sha1 = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        return {"x-hub-signature-256": github_signature(secret, body), "x-hub-signature": sha1}
    if kind == "shopify":
        return {"x-shopify-hmac-sha256": shopify_signature(secret, body)}
    if kind == "slack":
        slack = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
        assert slack is not None
        return {"x-slack-request-timestamp": str(timestamp), "x-slack-signature": slack}
    if kind == "hmac":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"x-courier-signature": "sha256=" + digest}
    raise ValueError(kind)


def raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


def signed(
    event: dict[str, Any], kind: str, now: float, secret: str | None = None
) -> dict[str, Any]:
    """A copy of the sample HTTP API event, signed now with ``secret`` (default: the kind's)."""
    event = copy.deepcopy(event)
    headers = signature_headers(kind, secret or SECRETS[kind], raw_body(event), now)
    event["headers"].update(headers)
    return event
