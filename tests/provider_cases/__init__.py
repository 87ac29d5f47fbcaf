"""One ``ProviderCase`` per named provider kind: a genuine request signed the way the
provider signs it, by the provider's own SDK where it publishes one, else by hand from its
documentation (the page named beside the signer), never by hookhaven's code.

Each family's cases live in a module of this package (``PROVIDER_CASES`` in it); they are
collected here, and ``tests/unit/test_provider_cases.py`` runs the same checks over every
one: accepted with the documented type and id, refused when tampered, re-signed with
another key, stripped of a signature header, emptied or truncated, replayed past the
documented tolerance, or sent to another URL where the URL is signed; and the catalog's
claims (tolerance, signed id) hold.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

from hookhaven.models import Secret, Source, SourceKind

#: When every case is signed (the verifier's clock is set to it).
NOW = 1_795_881_600.0
#: Where the cases are "called": the URL the receiver rebuilds for URL-signed providers.
BASE_URL = "https://hooks.example.com"

#: ``sign(body, now, key, url) -> headers``: the signature headers (and any others the
#: signer must set consistently, e.g. a timestamp) for ``body`` sent to ``url`` at ``now``.
Sign = Callable[[bytes, float, str, str], dict[str, str]]


@dataclass(frozen=True)
class ProviderCase:
    kind: str
    #: What the provider signs with, and what the source is configured with (the same for
    #: a shared secret; a private key and its public key for Discord and SendGrid).
    signing_key: str
    source_secret: str
    #: Another signer's key (for a shared secret, another secret): its signature is refused,
    #: unless the source also has ``other_source_secret`` (a rotation).
    other_signing_key: str
    sign: Sign
    body: bytes
    #: The headers that are not part of the signature (event type headers, content type).
    headers: dict[str, str]
    #: The headers carrying the signature, each of which is required.
    signature_headers: tuple[str, ...]
    #: (event type, provider event id) as the catalog's verifier must read them.
    expected: tuple[str, str | None]
    #: The provider's documented tolerance (None: it checks no timestamp).
    tolerance: int | None = None
    #: The signature covers the URL the provider called.
    signs_url: bool = False
    #: The signature covers the body. False only where the provider signs nothing (GitLab
    #: sends its secret token as is): a changed body then passes, which the tests assert.
    signs_body: bool = True
    #: Extra query string on the URL the case is sent to (Twilio's bodySHA256).
    path: str = ""
    #: A short label when a kind has several cases (JSON and form, say).
    label: str = ""
    #: What a source is configured with for ``other_signing_key`` ("": the same string).
    other_source_secret: str = ""
    #: For a provider whose signed timestamp travels inside the body (Linear's
    #: webhookTimestamp): the body as signed at a given time; ``body`` is it at ``NOW``.
    body_at: Callable[[float], bytes] | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.label}" if self.label else self.kind

    @property
    def url(self) -> str:
        return f"{BASE_URL}/webhooks/{self.kind}{self.path}"


def source_of(kind: str, *secrets: str) -> Source:
    """A source of ``kind`` with ``secrets`` (public keys for Discord and SendGrid), made
    before NOW and never expiring."""
    return Source(
        name=kind,
        kind=SourceKind(kind),
        secrets=tuple(Secret(value=value, created_at=NOW - 100) for value in secrets),
        created_at=NOW - 100,
        updated_at=NOW - 100,
    )


def _collect() -> list[ProviderCase]:
    cases: list[ProviderCase] = []
    for module in pkgutil.iter_modules(__path__):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        cases.extend(getattr(loaded, "PROVIDER_CASES", ()))
    return cases


CASES: list[ProviderCase] = _collect()
