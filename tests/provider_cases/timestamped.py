"""Providers with a signed timestamp or a handshake. Paddle's requests are signed with its
SDK's own HMAC (paddle_billing's PaddleSignature); the others publish no Python signer,
so each is signed by hand as its documentation says (the page beside each signer).
The handshakes (Zoom's endpoint.url_validation, Twitch's webhook_callback_verification)
and the documented example vectors are tested in tests/unit/test_providers_timestamped.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

from paddle_billing.Notifications import PaddleSignature  # type: ignore[import-untyped]

from tests.provider_cases import NOW, ProviderCase, Sign


def rfc3339_nanoseconds(now: float) -> str:
    """Twitch's timestamp form: RFC 3339, UTC, nine fractional digits."""
    whole = int(now // 1)
    nanoseconds = round((now - whole) * 1e9)
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{nanoseconds:09d}Z"
    )


def zoom(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events: "v0=" + hex
    # HMAC-SHA256(secret token, "v0:{x-zm-request-timestamp}:{body}").
    timestamp = str(int(now))
    message = f"v0:{timestamp}:".encode() + body
    signature = "v0=" + hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
    return {"x-zm-signature": signature, "x-zm-request-timestamp": timestamp}


def twitch(message_id: str) -> Sign:
    def sign(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
        # https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message:
        # "sha256=" + hex HMAC-SHA256(secret, message id + timestamp + raw body).
        timestamp = rfc3339_nanoseconds(now)
        message = message_id.encode() + timestamp.encode() + body
        return {
            "Twitch-Eventsub-Message-Signature": "sha256="
            + hmac.new(key.encode(), message, hashlib.sha256).hexdigest(),
            "Twitch-Eventsub-Message-Id": message_id,
            "Twitch-Eventsub-Message-Timestamp": timestamp,
        }

    return sign


def paddle(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://developer.paddle.com/webhooks/signature-verification: "ts={ts};h1={hex}", the
    # HMAC computed by Paddle's own SDK over "{ts}:{body}".
    timestamp = int(now)
    digest = PaddleSignature.calculate_hmac(key, f"{timestamp}:".encode() + body).hexdigest()
    return {"Paddle-Signature": f"ts={timestamp};h1={digest}"}


def calendly(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures:
    # "t={t},v1={hex HMAC-SHA256(signing key, '{t}.{body}')}".
    timestamp = int(now)
    digest = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {"Calendly-Webhook-Signature": f"t={timestamp},v1={digest.hexdigest()}"}


def linear(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://linear.app/developers/webhooks#securing-webhooks: hex HMAC-SHA256 of the raw
    # body (its webhookTimestamp is inside it: see linear_body).
    return {"Linear-Signature": hmac.new(key.encode(), body, hashlib.sha256).hexdigest()}


def linear_body(now: float) -> bytes:
    """A Linear Issue.create payload sent at ``now`` (webhookTimestamp in milliseconds)."""
    return json.dumps(
        {
            "action": "create",
            "actor": {"id": "2e3f1a4b-0c5d-4e6f-8a7b-9c0d1e2f3a4b", "name": "Ada"},
            "createdAt": "2026-11-28T15:59:59.100Z",
            "data": {
                "id": "9f1e2d3c-4b5a-4968-8776-655443322110",
                "identifier": "ENG-1194",
                "title": "Restock the poetry shelf",
            },
            "url": "https://linear.app/bookhaven/issue/ENG-1194",
            "type": "Issue",
            "organizationId": "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5",
            "webhookTimestamp": round(now * 1000),
            "webhookId": "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e",
        }
    ).encode()


def zendesk(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://developer.zendesk.com/documentation/webhooks/verifying/:
    # base64(HMACSHA256(TIMESTAMP + BODY)), the timestamp ISO 8601 in its own header.
    timestamp = datetime.fromtimestamp(int(now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(key.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
    }


#: The secret Zendesk documents for the test requests its admin UI sends before a webhook
#: exists (https://developer.zendesk.com/documentation/webhooks/verifying/).
ZENDESK_TEST_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
TWITCH_MESSAGE_ID = "e76c6bd4-55c9-4987-8304-da1588d8988b"

PROVIDER_CASES = [
    ProviderCase(
        kind="zoom",
        signing_key="zoom-secret-token-WJ7wz3Qk",
        source_secret="zoom-secret-token-WJ7wz3Qk",
        other_signing_key="another-zoom-secret-token",
        sign=zoom,
        body=json.dumps(
            {
                "event": "meeting.started",
                "event_ts": 1795881599302,
                "payload": {
                    "account_id": "AAAAAABBBB",
                    "object": {
                        "id": "1234567890",
                        "uuid": "4444AAAiAAAAAiAiAiiAii==",
                        "host_id": "x1yCzABCDEfg23HiJKl4mN",
                        "topic": "Book club",
                        "type": 2,
                        "start_time": "2026-11-28T15:59:59Z",
                        "timezone": "Europe/London",
                    },
                },
            }
        ).encode(),
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "x-zm-request-id": "6009d653_d487_445d_8406_42b654974899",
        },
        signature_headers=("x-zm-signature", "x-zm-request-timestamp"),
        # Zoom signs no event id: the unsigned x-zm-request-id is kept as a label.
        expected=("meeting.started", "6009d653_d487_445d_8406_42b654974899"),
    ),
    ProviderCase(
        kind="twitch",
        signing_key="twitch-eventsub-secret-5f1c",
        source_secret="twitch-eventsub-secret-5f1c",
        other_signing_key="another-eventsub-secret",
        sign=twitch(TWITCH_MESSAGE_ID),
        body=json.dumps(
            {
                "subscription": {
                    "id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4",
                    "status": "enabled",
                    "type": "channel.follow",
                    "version": "2",
                    "condition": {"broadcaster_user_id": "1337", "moderator_user_id": "1337"},
                    "transport": {"method": "webhook", "callback": "https://example.com/cb"},
                    "created_at": "2026-11-28T15:00:00.634234626Z",
                    "cost": 0,
                },
                "event": {
                    "user_id": "1234",
                    "user_login": "cool_user",
                    "user_name": "Cool_User",
                    "broadcaster_user_id": "1337",
                    "broadcaster_user_login": "cooler_user",
                    "broadcaster_user_name": "Cooler_User",
                    "followed_at": "2026-11-28T15:59:59.634234626Z",
                },
            }
        ).encode(),
        headers={
            "Content-Type": "application/json",
            "Twitch-Eventsub-Message-Type": "notification",
            "Twitch-Eventsub-Message-Retry": "0",
            "Twitch-Eventsub-Subscription-Type": "channel.follow",
            "Twitch-Eventsub-Subscription-Version": "2",
        },
        signature_headers=(
            "Twitch-Eventsub-Message-Signature",
            "Twitch-Eventsub-Message-Id",
            "Twitch-Eventsub-Message-Timestamp",
        ),
        expected=("channel.follow", TWITCH_MESSAGE_ID),
        tolerance=600,
    ),
    ProviderCase(
        kind="paddle",
        signing_key="pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI",
        source_secret="pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI",
        other_signing_key="pdl_ntfset_01hbpjmytsa32fhr36nqgc3kgb_vB/yIOnTOCWIvpBadM5jzBZPHc7OmdSo",
        sign=paddle,
        body=json.dumps(
            {
                "event_id": "evt_01jd7z2m7rk8v5q5n3e0t9a1bx",
                "event_type": "transaction.completed",
                "occurred_at": "2026-11-28T15:59:59.123456Z",
                "notification_id": "ntf_01jd7z2m9w3b6c4d5e6f7g8h9j",
                "data": {"id": "txn_01jd7z1q3a4b5c6d7e8f9g0h1j", "status": "completed"},
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
        signature_headers=("Paddle-Signature",),
        expected=("transaction.completed", "evt_01jd7z2m7rk8v5q5n3e0t9a1bx"),
        tolerance=5,
    ),
    ProviderCase(
        kind="calendly",
        signing_key="calendly-signing-key-Zq3v9Xw2",
        source_secret="calendly-signing-key-Zq3v9Xw2",
        other_signing_key="another-calendly-signing-key",
        sign=calendly,
        body=json.dumps(
            {
                "created_at": "2026-11-28T15:59:58.000000Z",
                "created_by": "https://api.calendly.com/users/AAAAAAAAAAAAAAAA",
                "event": "invitee.created",
                "payload": {
                    "email": "reader@example.com",
                    "name": "A Reader",
                    "uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAA",
                    "scheduled_event": {
                        "uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2",
                        "start_time": "2026-12-01T10:00:00.000000Z",
                    },
                },
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
        signature_headers=("Calendly-Webhook-Signature",),
        expected=("invitee.created", None),
        tolerance=180,
    ),
    ProviderCase(
        kind="linear",
        signing_key="lin_wh_3f8a1c2b9d7e6f5a4b3c2d1e0f9a8b7c",
        source_secret="lin_wh_3f8a1c2b9d7e6f5a4b3c2d1e0f9a8b7c",
        other_signing_key="lin_wh_another_signing_secret",
        sign=linear,
        body=linear_body(NOW),
        body_at=linear_body,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Linear-Delivery": "234d1a4e-b617-4388-90fe-adc3633d6b72",
            "Linear-Event": "Issue",
            "User-Agent": "Linear-Webhook",
        },
        signature_headers=("Linear-Signature",),
        # Linear-Delivery is not signed: kept as a label, duplicates go by the body.
        expected=("Issue.create", "234d1a4e-b617-4388-90fe-adc3633d6b72"),
        tolerance=60,
    ),
    ProviderCase(
        kind="zendesk",
        label="trigger",
        # A trigger's test request, signed with the secret Zendesk documents for it.
        signing_key=ZENDESK_TEST_SECRET,
        source_secret=ZENDESK_TEST_SECRET,
        other_signing_key="zendesk-webhook-signing-secret-of-another-webhook",
        sign=zendesk,
        # A trigger webhook's body is whatever the admin wrote.
        body=json.dumps(
            {"ticket": {"id": 35436, "status": "open", "subject": "Where is my order?"}}
        ).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Zendesk-Account-Id": "22129848",
            "X-Zendesk-Webhook-Id": "01GKGYH1G6DQ1BDBYM6SNF4PNR",
            "X-Zendesk-Webhook-Invocation-Id": "8345983702983459834",
        },
        signature_headers=("X-Zendesk-Webhook-Signature", "X-Zendesk-Webhook-Signature-Timestamp"),
        expected=("unknown", "8345983702983459834"),
    ),
]
