"""Providers that sign with a private key: the case signs with it and the source holds the
public key. Neither provider publishes a Python signer (SendGrid's SDK only verifies;
Discord's Python library, discord-interactions, verifies with PyNaCl, which is not
installed), so each signer follows the provider's documentation (the page beside it),
with ``ecdsa``'s own signing keys, never hookhaven's code. tests/unit/test_providers_keys.py
checks these signatures against SendGrid's SDK and Ed25519 against RFC 8032's vectors.
"""

from __future__ import annotations

import base64
import hashlib
import json

from ecdsa import NIST256p, SigningKey  # type: ignore[import-untyped]
from ecdsa.curves import Ed25519  # type: ignore[import-untyped]
from ecdsa.util import sigencode_der  # type: ignore[import-untyped]

from tests.provider_cases import ProviderCase


def private_key(label: str) -> str:
    """A fixed private key (hex, 32 bytes) for ``label``: the same in every run."""
    return hashlib.sha256(label.encode()).hexdigest()


def ed25519_public(private: str) -> str:
    """Discord shows an application's public key as 64 hex characters."""
    key = SigningKey.from_string(bytes.fromhex(private), curve=Ed25519)
    return str(key.get_verifying_key().to_string().hex())


def p256_public(private: str) -> str:
    """SendGrid shows its verification key as base64 of a DER SubjectPublicKeyInfo."""
    key = SigningKey.from_string(bytes.fromhex(private), curve=NIST256p)
    return base64.b64encode(key.get_verifying_key().to_der()).decode()


def discord_sign(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers:
    # Ed25519 of timestamp + body, the signature hex in X-Signature-Ed25519.
    timestamp = str(int(now))
    signing = SigningKey.from_string(bytes.fromhex(key), curve=Ed25519)
    signature = signing.sign(timestamp.encode() + body)
    return {"X-Signature-Ed25519": signature.hex(), "X-Signature-Timestamp": timestamp}


def sendgrid_sign(body: bytes, now: float, key: str, url: str) -> dict[str, str]:
    # https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features:
    # ECDSA (P-256, SHA-256) of timestamp + payload, base64 of the DER signature.
    timestamp = str(int(now))
    signing = SigningKey.from_string(bytes.fromhex(key), curve=NIST256p)
    signature = signing.sign_deterministic(
        timestamp.encode() + body, hashfunc=hashlib.sha256, sigencode=sigencode_der
    )
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


DISCORD_KEY = private_key("discord-application-1")
DISCORD_OTHER_KEY = private_key("discord-application-2")
SENDGRID_KEY = private_key("sendgrid-event-webhook-1")
SENDGRID_OTHER_KEY = private_key("sendgrid-event-webhook-2")

#: An APPLICATION_COMMAND interaction shaped as Discord documents it
#: (https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object).
DISCORD_COMMAND = {
    "type": 2,
    "id": "786008729715212338",
    "application_id": "775799577604522054",
    "token": "A_UNIQUE_TOKEN",
    "version": 1,
    "guild_id": "290926798626357999",
    "channel_id": "645027906669510667",
    "data": {
        "type": 1,
        "name": "blep",
        "id": "771825006014889984",
        "options": [{"type": 3, "name": "animal", "value": "animal_dog"}],
    },
    "member": {"user": {"id": "53908232506183680", "username": "Mason"}, "permissions": "0"},
    "locale": "en-US",
}

#: Delivered events as SendGrid posts them: a JSON array (Event Webhook reference,
#: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event).
SENDGRID_DELIVERED = [
    {
        "email": "reader@example.com",
        "timestamp": 1795881590,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "delivered",
        "category": ["newsletter"],
        "sg_event_id": "ZGVsaXZlcmVkLTAtMTAwMDAtMTc5NTg4MTU5MA",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "response": "250 OK",
    },
    {
        "email": "writer@example.com",
        "timestamp": 1795881591,
        "smtp-id": "<14c5d75ce93.dfd.64b470@ismtpd-555>",
        "event": "delivered",
        "category": ["newsletter"],
        "sg_event_id": "ZGVsaXZlcmVkLTEtMTAwMDAtMTc5NTg4MTU5MQ",
        "sg_message_id": "14c5d75ce93.dfd.64b470.filter0001.16648.5515E0B89.0",
        "response": "250 OK",
    },
]

PROVIDER_CASES = [
    ProviderCase(
        kind="discord",
        signing_key=DISCORD_KEY,
        source_secret=ed25519_public(DISCORD_KEY),
        other_signing_key=DISCORD_OTHER_KEY,
        other_source_secret=ed25519_public(DISCORD_OTHER_KEY),
        sign=discord_sign,
        body=json.dumps(DISCORD_COMMAND).encode(),
        headers={"Content-Type": "application/json"},
        signature_headers=("X-Signature-Ed25519", "X-Signature-Timestamp"),
        expected=("interaction.application_command/blep", "786008729715212338"),
    ),
    ProviderCase(
        kind="sendgrid",
        signing_key=SENDGRID_KEY,
        source_secret=p256_public(SENDGRID_KEY),
        other_signing_key=SENDGRID_OTHER_KEY,
        other_source_secret=p256_public(SENDGRID_OTHER_KEY),
        sign=sendgrid_sign,
        body=json.dumps(SENDGRID_DELIVERED).encode() + b"\r\n",
        headers={"Content-Type": "application/json"},
        signature_headers=(
            "X-Twilio-Email-Event-Webhook-Signature",
            "X-Twilio-Email-Event-Webhook-Timestamp",
        ),
        # The events' common type; a batch has no single id (each event has sg_event_id).
        expected=("delivered", None),
    ),
]
