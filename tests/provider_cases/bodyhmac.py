"""Providers that sign the body only. None of them publishes a Python validator, so each
signer follows the provider's documentation (the page beside it), and each documented
example vector is checked in tests/unit/test_providers_bodyhmac.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from tests.provider_cases import ProviderCase


def _typeform(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://www.typeform.com/developers/webhooks/secure-your-webhooks/: "sha256=" +
    # base64(HMAC-SHA256(secret, raw payload)).
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return {"Typeform-Signature": "sha256=" + base64.b64encode(digest).decode()}


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
]
