"""Signature primitives: Standard Webhooks v1 signing and constant-time comparison.

Pure functions: no I/O. The receiver verifies with them, the dispatcher and the
CLI's ``send`` sign with them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Iterable

STANDARD_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


# Equivalent mutant (make mutate): another default size. The specification allows 24 to 64
# bytes, which tests check; within that range the default is a choice (32: SHA-256's size).
def new_standard_secret(size: int = 32) -> str:  # pragma: no mutate
    """A fresh ``whsec_`` secret: ``size`` random bytes (24-64), base64-encoded."""
    if not 24 <= size <= 64:
        # Equivalent mutants (make mutate): the message. No caller passes a size.
        raise ValueError(
            "a Standard Webhooks secret has 24 to 64 random bytes"  # pragma: no mutate
        )
    return STANDARD_SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(size)).decode()


def standard_secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_`` + base64)."""
    encoded = secret.removeprefix(STANDARD_SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        # Equivalent mutants (make mutate): the message. Every caller catches the error and
        # reads only that it was raised.
        raise ValueError(
            "not a whsec_ secret: its body is not base64"  # pragma: no mutate
        ) from error


def is_standard_secret(secret: str) -> bool:
    try:
        key = standard_secret_key(secret)
    except ValueError:
        return False
    return secret.startswith(STANDARD_SECRET_PREFIX) and 24 <= len(key) <= 64


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature over ``id.timestamp.body``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_signature_header(
    secrets: Iterable[str], message_id: str, timestamp: int, body: bytes
) -> str:
    """``webhook-signature``: one signature per secret, space-separated (rotation)."""
    return " ".join(standard_signature(s, message_id, timestamp, body) for s in secrets)


def hmac_digest(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def any_equal(expected: Iterable[bytes], provided: Iterable[bytes]) -> bool:
    """True if any provided signature equals any expected one, each compared in constant time."""
    provided = list(provided)
    matched = False
    for candidate in expected:
        for signature in provided:
            # No early exit: the time taken does not tell which pair matched.
            matched |= hmac.compare_digest(candidate, signature)
    return matched
