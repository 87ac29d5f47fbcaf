"""Providers that sign with a private key of their own: the source is configured with the
provider's public key, and verifying needs a curve (``ecdsa``).

These entries name their verifiers as strings: hookhaven/providers/curves.py, which
imports ``ecdsa``, is loaded by the first request of such a source (``catalog.verifier_for``)
or by ``sources add`` checking a key, never by the catalog itself, so the receiver's cold
start does not pay for a library that HMAC sources never use.

Both providers sign a timestamp but document no tolerance for it, so none is checked.
"""

from __future__ import annotations

from hookhaven.models import SourceKind
from hookhaven.providers.base import Provider


def _discord_key(text: str) -> None:
    from hookhaven.providers import curves  # ecdsa: only when such a key is checked

    curves.discord_public_key(text)


def _sendgrid_key(text: str) -> None:
    from hookhaven.providers import curves

    curves.sendgrid_public_key(text)


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        kind=SourceKind.DISCORD,
        name="Discord (interactions and webhook events)",
        verifies="Ed25519 of X-Signature-Timestamp + body, hex in X-Signature-Ed25519",
        docs="https://discord.com/developers/docs/interactions/overview"
        "#setting-up-an-endpoint-validating-security-request-headers",
        verifier="hookhaven.providers.curves:discord",
        credential="the application's public key (64 hex characters, General Information)",
        # The docs (interactions and webhook events alike) give none, and Discord's own
        # libraries check none.
        tolerance=None,
        signed_timestamp=True,
        # An interaction's body id; webhook events have none (deduplicated on the body).
        signed_id=True,
        # Webhook events: "retry ... using exponential backoff for up to 10 minutes"
        # (https://discord.com/developers/docs/events/webhook-events#responding-to-events).
        # An interaction is not retried: its answer is due within 3 seconds.
        retry_seconds=10 * 60,
        handshake='PING: answers {"type": 1} (interactions) or 204 (webhook events)',
        check_credential=_discord_key,
    ),
    Provider(
        kind=SourceKind.SENDGRID,
        name="SendGrid (Event Webhook)",
        verifies="ECDSA P-256 SHA-256 of X-Twilio-Email-Event-Webhook-Timestamp + body, "
        "base64 DER in X-Twilio-Email-Event-Webhook-Signature",
        docs="https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/"
        "getting-started-event-webhook-security-features",
        verifier="hookhaven.providers.curves:sendgrid",
        credential="the Signed Event Webhook's verification key (base64, as SendGrid shows it)",
        # Neither the security page nor the SDK's verify_signature has one.
        tolerance=None,
        signed_timestamp=True,
        # "All events are retried at increasing intervals for up to 24 hours after the
        # event occurs" (https://docs.sendgrid.com/for-developers/tracking-events/troubleshooting).
        retry_seconds=24 * 3_600,
        check_credential=_sendgrid_key,
    ),
)
