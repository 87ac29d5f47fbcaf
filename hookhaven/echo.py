"""The echo subscriber: the subscriber ``hookhaven smoke`` delivers to, to prove a deployment.

It answers 204 to a delivery whose Standard Webhooks signature (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``; 5 min tolerance; any one of several ``v1,``
signatures) was made with the smoke subscription's secret, and 401 to anything else. The
stack deploys it as a Lambda function URL when ``echo_subscriber`` is on
(``functions/echo.py``); the local stack's smoke runs the same handler behind a loopback
HTTP server (``hookhaven.local.echo``).

How it learns the secret
------------------------
``hookhaven smoke`` creates the subscription, and so its ``whsec_`` secret, at run time,
and the function must learn it without a redeploy. The command writes the secret to the
config table as one item of a partition kept for it, ``pk=ECHO_SECRET``,
``sk=<the run's key>`` (``smoke-<hex>``, also the name of the run's source), with an
expiry, before it adds the subscription, and deletes it when the run ends. The
subscription's URL ends in the key (``<EchoSubscriberUrl>/<key>``), so each request names
the one item to read: one strongly consistent GetItem (a secret written a moment ago is
seen).

The function's role may do nothing else: ``dynamodb:GetItem`` on the config table, under
the condition ``dynamodb:LeadingKeys = ECHO_SECRET``. It cannot read a source's or a
subscription's secrets, list anything, or write. Anyone may call the URL (the signature is
its authentication, as for any subscriber); a caller who names a key learns nothing but
401, and an item left behind by a run that was killed stops being honoured at its expiry.

Why the config table rather than SSM Parameter Store: the table is already where hookhaven
keeps secrets (encrypted with KMS), the CLI already may write it, and the local stack's
emulator already holds it; a SecureString parameter would need a KMS grant, SSM
permissions for the operator, and one more emulated service.

Pure functions, and no pydantic: the function's cold start imports only this module,
``hookhaven.signatures`` and boto3.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping

from hookhaven.signatures import any_equal, hmac_digest, standard_secret_key

#: The function's environment variable naming the config table (``Resources.to_env``'s).
CONFIG_TABLE_VARIABLE = "HOOKHAVEN_CONFIG_TABLE"
#: As the receiver's (``hookhaven.verification.TOLERANCE_SECONDS``).
TOLERANCE_SECONDS = 300
#: A run's key: a source name (``smoke-<hex>``), which is also the last part of the URL.
KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: A delivery's Standard Webhooks headers (names lower-case).
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
#: What a 401 says: never which part failed.
REJECTION = "the signature does not match this subscriber's secret, or it is stale"


def key_of_path(path: object) -> str | None:
    """The run's key a request's path names (``/smoke-1a2b3c4d``), or None."""
    if not isinstance(path, str):
        return None
    key = path.strip("/")
    return key if KEY.match(key) else None


def signature_matches(
    headers: Mapping[str, str], body: bytes, secrets: Iterable[str], now: float
) -> bool:
    """True when ``headers`` (names lower-case) carry a Standard Webhooks v1 signature of
    ``body`` made with any of ``secrets`` and a timestamp within 5 minutes of ``now``."""
    message_id = (headers.get("webhook-id") or "").strip()
    timestamp_text = (headers.get("webhook-timestamp") or "").strip()
    signature = headers.get("webhook-signature") or ""
    if not message_id or not (timestamp_text.isascii() and timestamp_text.isdigit()):
        return False
    if len(timestamp_text) > 12 or abs(now - int(timestamp_text)) > TOLERANCE_SECONDS:
        return False
    provided = []
    for part in signature.split():
        version, _, encoded = part.partition(",")
        if version == "v1" and (decoded := _unbase64(encoded)) is not None:
            provided.append(decoded)
    signed = f"{message_id}.{int(timestamp_text)}.".encode() + body
    expected = []
    for secret in secrets:
        try:
            expected.append(hmac_digest(standard_secret_key(secret), signed))
        except ValueError:
            continue  # not a whsec_ secret: it can match nothing
    return bool(provided) and any_equal(expected, provided)


def _unbase64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
