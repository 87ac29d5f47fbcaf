"""Providers that sign the URL they call. Twilio's cases are signed by twilio-python's
RequestValidator and HubSpot's by hubspot-api-client's Signature; Square's SDK and Trello
publish no signer, so those follow the documentation (the page beside each signer). Each
documented example vector, and the SDKs' agreement both ways, is checked in
tests/unit/test_providers_urlsigned.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qsl, urlencode

from hubspot.utils.signature import Signature  # type: ignore[import-untyped]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from werkzeug.datastructures import MultiDict

from tests.provider_cases import ProviderCase, Sign

#: What Twilio's status callback for a delivered message posts (form-encoded).
TWILIO_FORM = urlencode(
    [
        ("AccountSid", "AC3f6c1d0b2a5e4f7c8d9e0a1b2c3d4e5f"),
        ("ApiVersion", "2010-04-01"),
        ("From", "+14155550100"),
        ("MessageSid", "SM1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c"),
        ("MessageStatus", "delivered"),
        ("SmsSid", "SM1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c"),
        ("SmsStatus", "delivered"),
        ("To", "+14155550111"),
    ]
).encode()
TWILIO_IDEMPOTENCY_TOKEN = "AC3f6c1d0b2a5e4f7c8d9e0a1b2c3d4e5f-4f7e8d6c5b4a39281706f5e4d3c2b1a0"
#: A JSON webhook: Twilio adds bodySHA256 (the body's hex SHA-256) to the URL and signs it.
TWILIO_JSON = json.dumps(
    {"type": "com.twilio.messaging.message.delivered", "data": {"messageSid": "SM0a1b"}}
).encode()
#: What Twilio adds when a Webhook Rule signs with a SharedKey (HMAC-SHA256).
TWILIO_SHARED_KEY_SETTINGS = (
    "key=webhooks_sharedkey_01JX5Q3N4T8V2W6Y0Z1A2B3C4D,algorithm=HMAC_SHA256"
)


def form_fields(body: bytes) -> MultiDict[str, str]:
    """A form's fields as Flask hands them to the validator (repeated names kept)."""
    return MultiDict(parse_qsl(body.decode(), keep_blank_values=True))


def _twilio(*, form: bool = True, algorithm: str | None = None) -> Sign:
    def sign(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
        # https://www.twilio.com/docs/usage/security#validating-requests: the URL, then each
        # form field's name and value in sorted order; a JSON body is covered by the URL's
        # bodySHA256, and only the URL is signed.
        params = form_fields(body) if form else {}
        signature: str = RequestValidator(key).compute_signature(url, params, algorithm)
        return {"X-Twilio-Signature": signature}

    return sign


def _square(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://developer.squareup.com/docs/webhooks/step3validate: base64 HMAC-SHA256 of the
    # notification URL followed by the raw body, under the subscription's signature key.
    digest = hmac.new(key.encode(), url.encode() + body, hashlib.sha256).digest()
    return {"x-square-hmacsha256-signature": base64.b64encode(digest).decode()}


def _hubspot(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # hubspot-api-client's v3 signer: method + URI + body + timestamp (milliseconds).
    timestamp = str(int(now * 1000))
    signature = Signature.get_signature(key, body.decode(), "v3", url, "POST", timestamp)
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}


def _trello(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures:
    # base64 HMAC-SHA1 of the body followed by the callback URL, under the app's secret.
    digest = hmac.new(key.encode(), body + url.encode(), hashlib.sha1).digest()
    return {"X-Trello-Webhook": base64.b64encode(digest).decode()}


TWILIO_AUTH_TOKEN = "9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c"
OTHER_TWILIO_AUTH_TOKEN = "0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b"

PROVIDER_CASES = [
    ProviderCase(
        kind="twilio",
        label="form",
        signing_key=TWILIO_AUTH_TOKEN,
        source_secret=TWILIO_AUTH_TOKEN,
        other_signing_key=OTHER_TWILIO_AUTH_TOKEN,
        sign=_twilio(),
        body=TWILIO_FORM,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "I-Twilio-Idempotency-Token": TWILIO_IDEMPOTENCY_TOKEN,
        },
        signature_headers=("X-Twilio-Signature",),
        expected=("message.delivered", TWILIO_IDEMPOTENCY_TOKEN),
        signs_url=True,
    ),
    ProviderCase(
        kind="twilio",
        label="json",
        signing_key=TWILIO_AUTH_TOKEN,
        source_secret=TWILIO_AUTH_TOKEN,
        other_signing_key=OTHER_TWILIO_AUTH_TOKEN,
        sign=_twilio(form=False),
        body=TWILIO_JSON,
        headers={"Content-Type": "application/json"},
        signature_headers=("X-Twilio-Signature",),
        expected=("com.twilio.messaging.message.delivered", None),
        signs_url=True,
        path="?bodySHA256=" + hashlib.sha256(TWILIO_JSON).hexdigest(),
    ),
    ProviderCase(
        kind="twilio",
        label="sharedkey",
        signing_key="whsk_8d1f0c2e4a6b8d0f2a4c6e8b0d2f4a6c",
        source_secret="whsk_8d1f0c2e4a6b8d0f2a4c6e8b0d2f4a6c",
        other_signing_key="whsk_1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b",
        sign=_twilio(algorithm="HMAC_SHA256"),
        body=TWILIO_FORM,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Webhooks-Signature-Settings": TWILIO_SHARED_KEY_SETTINGS,
            "I-Twilio-Idempotency-Token": TWILIO_IDEMPOTENCY_TOKEN,
        },
        signature_headers=("X-Twilio-Signature",),
        expected=("message.delivered", TWILIO_IDEMPOTENCY_TOKEN),
        signs_url=True,
    ),
    ProviderCase(
        kind="square",
        signing_key="Ibxx_5AKakO-3qeNVR61Dw",
        source_secret="Ibxx_5AKakO-3qeNVR61Dw",
        other_signing_key="q0Bx_7ZtLmN-4pfRSW82Ek",
        sign=_square,
        body=json.dumps(
            {
                "merchant_id": "6SSW7HV8K2ST5",
                "type": "payment.updated",
                "event_id": "13b867cf-db3d-4b1c-90b6-2f32a9d78124",
                "created_at": "2026-11-29T12:00:00.000Z",
                "data": {"type": "payment", "id": "KkAkhdMsgzn59SM8A89WgKwekxLZY"},
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
        signature_headers=("x-square-hmacsha256-signature",),
        expected=("payment.updated", "13b867cf-db3d-4b1c-90b6-2f32a9d78124"),
        signs_url=True,
    ),
    ProviderCase(
        kind="hubspot",
        signing_key="3b6a1c2d-4e5f-4a7b-8c9d-0e1f2a3b4c5d",
        source_secret="3b6a1c2d-4e5f-4a7b-8c9d-0e1f2a3b4c5d",
        other_signing_key="9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b",
        sign=_hubspot,
        body=json.dumps(
            [
                {
                    "eventId": 1735280461,
                    "subscriptionId": 2948421,
                    "portalId": 62515,
                    "appId": 1160452,
                    "occurredAt": 1795881590000,
                    "subscriptionType": "contact.propertyChange",
                    "attemptNumber": 0,
                    "objectId": 123,
                    "changeSource": "CRM",
                    "propertyName": "email",
                    "propertyValue": "reader@bookhaven.example",
                }
            ]
        ).encode(),
        headers={"Content-Type": "application/json"},
        signature_headers=("X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"),
        expected=("contact.propertyChange", "1735280461"),
        tolerance=300,
        signs_url=True,
    ),
    ProviderCase(
        kind="trello",
        signing_key="5d7f9b1c3e5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e",
        source_secret="5d7f9b1c3e5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e",
        other_signing_key="a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3",
        sign=_trello,
        body=json.dumps(
            {
                "model": {"id": "4d5ea62fd76aa1136000000c", "name": "Book Haven orders"},
                "action": {
                    "id": "5f2b8c9d0e1f2a3b4c5d6e7f",
                    "idMemberCreator": "4ee7deffe582acdec80000ac",
                    "type": "updateCard",
                    "date": "2026-11-29T12:00:00.000Z",
                    "data": {"card": {"id": "5f2b8c9d0e1f2a3b4c5d6e70", "name": "BH-1001"}},
                },
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
        signature_headers=("X-Trello-Webhook",),
        expected=("updateCard", "5f2b8c9d0e1f2a3b4c5d6e7f"),
        signs_url=True,
    ),
]
