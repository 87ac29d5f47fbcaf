"""Providers that sign the body only, and GitLab, which signs nothing.

Each signer follows the provider's documentation (the page beside it), never hookhaven's
code. Razorpay publishes a Python validator but no signer: tests/unit/test_providers_
bodyhmac.py checks that its validator accepts these requests and refuses what hookhaven
refuses. The others publish no Python validator."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from tests.provider_cases import NOW, ProviderCase


def _typeform(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://www.typeform.com/developers/webhooks/secure-your-webhooks/: "sha256=" +
    # base64(HMAC-SHA256(secret, raw payload)).
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return {"Typeform-Signature": "sha256=" + base64.b64encode(digest).decode()}


def intercom_signature(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://developers.intercom.com/intercom-api-reference/v1.0/reference/signed-notifications:
    # "the hexadecimal (40-byte) representation of a SHA-1 signature computed using the
    # HMAC algorithm", after "sha1=", keyed with the app's client secret.
    return {"X-Hub-Signature": "sha1=" + hmac.new(key.encode(), body, hashlib.sha1).hexdigest()}


def bitbucket_signature(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/ (secure webhooks):
    # X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body, the webhook's secret as key>.
    return {"X-Hub-Signature": "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()}


def gitlab_token(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://docs.gitlab.com/user/project/integrations/webhooks/ ("Secret token"): the
    # token is sent as is in X-Gitlab-Token; nothing is signed.
    return {"X-Gitlab-Token": key}


def sentry_signature(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://docs.sentry.io/organization/integrations/integration-platform/webhooks/:
    # hex HMAC-SHA256 with the client secret. The page's snippet re-serialises the parsed
    # body; Sentry signs the very string it sends (AppPlatformEvent.body), so the raw body.
    return {"Sentry-Hook-Signature": hmac.new(key.encode(), body, hashlib.sha256).hexdigest()}


def vercel_signature(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks: hex HMAC-SHA1 of
    # the raw body with the webhook's secret, in x-vercel-signature.
    return {"x-vercel-signature": hmac.new(key.encode(), body, hashlib.sha1).hexdigest()}


def woocommerce_signature(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks: "a base64 encoded
    # HMAC-SHA256 hash of the payload" (WC_Webhook::generate_signature).
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return {"X-WC-Webhook-Signature": base64.b64encode(digest).decode()}


def razorpay_signature(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://razorpay.com/docs/webhooks/validate-test/: "HMAC with SHA256 algorithm; with
    # your webhook secret set as the key and the webhook request body as the message", hex.
    return {"X-Razorpay-Signature": hmac.new(key.encode(), body, hashlib.sha256).hexdigest()}


INTERCOM_BODY = json.dumps(
    {
        "type": "notification_event",
        "app_id": "a86dr8yl",
        "data": {
            "type": "notification_event_data",
            "item": {"type": "conversation", "id": "147", "state": "open"},
        },
        "links": {},
        "id": "notif_78c122d0-23ba-11e4-9464-79b01267cc2e",
        "topic": "conversation.user.created",
        "delivery_status": "pending",
        "delivery_attempts": 1,
        "delivered_at": 0,
        "first_sent_at": int(NOW),
        "created_at": int(NOW) - 1,
        "self": None,
    }
).encode()

BITBUCKET_BODY = json.dumps(
    {
        "push": {
            "changes": [
                {
                    "new": {"type": "branch", "name": "main", "target": {"hash": "a1b2c3d4e5"}},
                    "old": {"type": "branch", "name": "main", "target": {"hash": "f6e5d4c3b2"}},
                    "created": False,
                    "closed": False,
                    "forced": False,
                }
            ]
        },
        "repository": {"type": "repository", "full_name": "bookhaven/shop", "uuid": "{r-1}"},
        "actor": {"type": "user", "display_name": "Ada", "uuid": "{u-1}"},
    }
).encode()

GITLAB_BODY = json.dumps(
    {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": 1, "name": "Administrator", "username": "root"},
        "project": {"id": 1, "path_with_namespace": "gitlabhq/gitlab-test"},
        "object_attributes": {
            "id": 99,
            "iid": 1,
            "target_branch": "master",
            "source_branch": "ms-viewport",
            "title": "MS-Viewport",
            "state": "opened",
            "action": "open",
        },
    }
).encode()

SENTRY_BODY = json.dumps(
    {
        "action": "created",
        "installation": {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"},
        "data": {"issue": {"id": "1170820242", "shortId": "BOOKHAVEN-1", "level": "error"}},
        "actor": {"type": "application", "id": "sentry", "name": "Sentry"},
    }
).encode()

VERCEL_BODY = json.dumps(
    {
        "id": "uQ7HqTMDUnVkdnpf3M9r1Rpa",
        "type": "deployment.created",
        "createdAt": int(NOW) * 1000,
        "region": "sfo1",
        "payload": {
            "deployment": {"id": "dpl_2euZBFqxYdDMDG1jTrHFnNZ2eUVa", "name": "shop"},
            "project": {"id": "prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB"},
            "target": "production",
        },
    }
).encode()

# wp_json_encode escapes slashes.
WOOCOMMERCE_BODY = (
    json.dumps(
        {
            "id": 727,
            "status": "processing",
            "currency": "EUR",
            "total": "29.35",
            "billing": {"first_name": "John", "email": "john.doe@example.com"},
            "line_items": [{"id": 315, "name": "Woo Single #1", "quantity": 2}],
            "_links": {"self": [{"href": "https://example.com/wp-json/wc/v3/orders/727"}]},
        }
    )
    .replace("/", "\\/")
    .encode()
)

# Razorpay sends UTF-8 JSON; the non-ASCII description checks both sides read bytes alike.
RAZORPAY_BODY = json.dumps(
    {
        "entity": "event",
        "account_id": "acc_BFQ7uQEaa7j2z7",
        "event": "payment.captured",
        "contains": ["payment"],
        "payload": {
            "payment": {
                "entity": {
                    "id": "pay_DESlfW9H8K9uqM",
                    "entity": "payment",
                    "amount": 100,
                    "currency": "INR",
                    "status": "captured",
                    "description": "Chai ₹1",
                }
            }
        },
        "created_at": int(NOW) - 5,
    },
    ensure_ascii=False,
).encode()


PROVIDER_CASES = [
    ProviderCase(
        kind="typeform",
        signing_key="typeform-webhook-secret-abc123",
        source_secret="typeform-webhook-secret-abc123",
        other_signing_key="another-typeform-secret",
        sign=_typeform,
        body=json.dumps(
            {
                "event_id": "01HV7ZJ3TQXG8K5R2B9D0C4M6N",
                "event_type": "form_response",
                "form_response": {"form_id": "lT4Z3j", "token": "a3a12ec67a1365927098a606107fac15"},
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
        signature_headers=("Typeform-Signature",),
        expected=("form_response", "01HV7ZJ3TQXG8K5R2B9D0C4M6N"),
    ),
    ProviderCase(
        kind="intercom",
        signing_key="a1b2c3d4-intercom-client-secret",
        source_secret="a1b2c3d4-intercom-client-secret",
        other_signing_key="another-intercom-client-secret",
        sign=intercom_signature,
        body=INTERCOM_BODY,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "intercom-parrot-service-client/1.0",
        },
        signature_headers=("X-Hub-Signature",),
        expected=("conversation.user.created", "notif_78c122d0-23ba-11e4-9464-79b01267cc2e"),
    ),
    ProviderCase(
        kind="bitbucket",
        signing_key="bb-webhook-secret-5f4dcc3b5aa765d61d8327deb882cf99",
        source_secret="bb-webhook-secret-5f4dcc3b5aa765d61d8327deb882cf99",
        other_signing_key="another-bitbucket-secret",
        sign=bitbucket_signature,
        body=BITBUCKET_BODY,
        headers={
            "Content-Type": "application/json",
            "X-Event-Key": "repo:push",
            "X-Hook-UUID": "0ad5b0c6-6d8f-4b2e-8f5a-2d1b0c9e8f7a",
            "X-Request-UUID": "5f0c1f6e-3b7a-4c2d-9e8f-1a2b3c4d5e6f",
            "X-Attempt-Number": "1",
        },
        signature_headers=("X-Hub-Signature",),
        expected=("repo:push", "5f0c1f6e-3b7a-4c2d-9e8f-1a2b3c4d5e6f"),
    ),
    ProviderCase(
        kind="gitlab",
        signing_key="glwt-secret-token-4b2d9f",
        source_secret="glwt-secret-token-4b2d9f",
        other_signing_key="another-gitlab-token",
        sign=gitlab_token,
        body=GITLAB_BODY,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "GitLab/17.6.0",
            "X-Gitlab-Event": "Merge Request Hook",
            "X-Gitlab-Instance": "https://gitlab.com",
            "Idempotency-Key": "908a6d9e-45fd-46c8-97e6-c4f350f219dd",
            "X-Gitlab-Webhook-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e",
            "X-Gitlab-Event-UUID": "f51c4b1a-7d93-4a5c-9a0e-4c6ad37e4d0b",
        },
        signature_headers=("X-Gitlab-Token",),
        expected=("merge_request.open", "908a6d9e-45fd-46c8-97e6-c4f350f219dd"),
        signs_body=False,
    ),
    ProviderCase(
        kind="sentry",
        signing_key="2c0a8c2f7e4d4a0b9c1e3f5a7b9d1e3f5a7b9d1e3f5a7b9d1e3f5a7b9d1e3f5a",
        source_secret="2c0a8c2f7e4d4a0b9c1e3f5a7b9d1e3f5a7b9d1e3f5a7b9d1e3f5a7b9d1e3f5a",
        other_signing_key="another-sentry-client-secret",
        sign=sentry_signature,
        body=SENTRY_BODY,
        headers={
            "Content-Type": "application/json",
            "Request-ID": "8c4e2a1f0b3d4e5f8a9b0c1d2e3f4a5b",
            "Sentry-Hook-Resource": "issue",
            "Sentry-Hook-Timestamp": str(int(NOW)),
        },
        signature_headers=("Sentry-Hook-Signature",),
        expected=("issue.created", "8c4e2a1f0b3d4e5f8a9b0c1d2e3f4a5b"),
    ),
    ProviderCase(
        kind="vercel",
        signing_key="vercel-webhook-secret-kX8nS2pQ",
        source_secret="vercel-webhook-secret-kX8nS2pQ",
        other_signing_key="another-vercel-secret",
        sign=vercel_signature,
        body=VERCEL_BODY,
        headers={"Content-Type": "application/json"},
        signature_headers=("x-vercel-signature",),
        expected=("deployment.created", "uQ7HqTMDUnVkdnpf3M9r1Rpa"),
    ),
    # WooCommerce signs with wp_specialchars_decode(secret): the secret as typed, even where
    # WordPress stored its & and quotes as entities.
    ProviderCase(
        kind="woocommerce",
        signing_key='wc-webhook-secret-&-quotes-"ok"',
        source_secret='wc-webhook-secret-&-quotes-"ok"',
        other_signing_key="another-woocommerce-secret",
        sign=woocommerce_signature,
        body=WOOCOMMERCE_BODY,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)",
            "X-WC-Webhook-Source": "https://shop.example.com/",
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": "created",
            "X-WC-Webhook-ID": "142",
            "X-WC-Webhook-Delivery-ID": "b9c4a7e2f1d04e8a9b7c6d5e4f3a2b1c",
        },
        signature_headers=("X-WC-Webhook-Signature",),
        expected=("order.created", "b9c4a7e2f1d04e8a9b7c6d5e4f3a2b1c"),
    ),
    ProviderCase(
        kind="razorpay",
        signing_key="rzp-webhook-secret-9aF3kL",
        source_secret="rzp-webhook-secret-9aF3kL",
        other_signing_key="another-razorpay-secret",
        sign=razorpay_signature,
        body=RAZORPAY_BODY,
        headers={"Content-Type": "application/json", "x-razorpay-event-id": "KTc9Q4a1b2C3d4"},
        signature_headers=("X-Razorpay-Signature",),
        expected=("payment.captured", "KTc9Q4a1b2C3d4"),
    ),
]
