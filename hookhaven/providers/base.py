"""A catalog entry: one provider kind, how it is verified, what stops a replay."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hookhaven.models import SourceKind
from hookhaven.verification import Verifier


@dataclass(frozen=True)
class Provider:
    kind: SourceKind
    #: The provider's own name.
    name: str
    #: What is signed, how, and where the signature travels.
    verifies: str
    #: The documentation the verifier follows.
    docs: str
    #: The verifier, or ``module:name`` for one imported on first use (a library of its
    #: own, which sources of other kinds should not pay for at cold start).
    verifier: Verifier | str
    #: What the operator gives as ``--secret``.
    credential: str = "the webhook signing secret"
    #: The signed timestamp's documented tolerance in seconds; None if none is checked.
    tolerance: int | None = None
    #: A timestamp is signed (checked against ``tolerance`` when there is one).
    signed_timestamp: bool = False
    #: The event id is covered by the signature, so duplicates are found by it.
    signed_id: bool = False
    #: How long the provider keeps retrying an unanswered delivery, as documented; None if
    #: it does not say (or hookhaven cannot know: a generic hmac source).
    retry_seconds: int | None = None
    #: A provider that signs with another kind's scheme (Standard Webhooks senders).
    alias_of: SourceKind | None = None
    #: The signature covers the URL the provider called (``InboundRequest.url``): only
    #: then does the receiver rebuild it (``functions.receiver.public_url``).
    signs_url: bool = False
    #: A handshake it answers (a challenge), if the provider has one.
    handshake: str | None = None
    #: Checks what the operator gives as ``--secret`` when a source is added or its secret
    #: rotated: raises ``ValueError`` saying in one line what is wrong (a public key that
    #: does not parse), so that it is refused then, not at the first request.
    check_credential: Callable[[str], None] | None = None

    @property
    def replay(self) -> str:
        """What stops a replay, in words (``sources kinds`` and the README)."""
        parts = []
        if self.signed_timestamp and self.tolerance is not None:
            parts.append(f"signed timestamp within {_duration(self.tolerance)}")
        elif self.signed_timestamp:
            parts.append("signed timestamp (no tolerance documented)")
        if self.signed_id:
            parts.append("signed event id, deduplicated")
        else:
            parts.append("body digest, deduplicated")
        return "; ".join(parts)

    @property
    def scheme(self) -> SourceKind:
        """The kind whose verifier this one uses."""
        return self.alias_of or self.kind


def _duration(seconds: int) -> str:
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
