"""The same checks over every named provider's case (``tests/provider_cases``)."""

from __future__ import annotations

import contextlib

import pytest

from hookhaven import catalog, verification
from hookhaven.models import Source, SourceKind
from hookhaven.verification import (
    InboundRequest,
    InvalidSignature,
    MalformedPayload,
    signs_url,
    verify,
)
from tests.provider_cases import CASES, NOW, ProviderCase, source_of

ids = [case.id for case in CASES]


def source(case: ProviderCase, *secrets: str) -> Source:
    return source_of(case.kind, *(secrets or (case.source_secret,)))


def request(
    case: ProviderCase,
    *,
    body: bytes | None = None,
    at: float = NOW,
    key: str | None = None,
    url: str | None = None,
    drop: str | None = None,
    change: dict[str, str] | None = None,
) -> InboundRequest:
    """The case's request, signed at ``at`` with ``key`` for ``url``; then ``body`` replaces
    the signed one, ``drop`` removes a header and ``change`` overrides some."""
    signed_body = case.body if case.body_at is None else case.body_at(at)
    headers = {k.lower(): v for k, v in case.headers.items()}
    signature = case.sign(signed_body, at, key or case.signing_key, case.url)
    headers.update({k.lower(): v for k, v in signature.items()})
    if drop is not None:
        headers.pop(drop.lower())
    headers.update({k.lower(): v for k, v in (change or {}).items()})
    return InboundRequest(
        headers=headers,
        body=signed_body if body is None else body,
        url=url or case.url,
    )


def refused(case: ProviderCase, req: InboundRequest, *secrets: str) -> None:
    with pytest.raises((InvalidSignature, MalformedPayload)):
        verify(source(case, *secrets), req, NOW)


def test_every_named_kind_has_a_case():
    builtin = {"standard", "stripe", "github", "shopify", "slack", "hmac"}
    aliases = {p.kind.value for p in catalog.PROVIDERS if p.alias_of is not None}
    named = {p.kind.value for p in catalog.PROVIDERS} - builtin - aliases
    assert named <= {case.kind for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_a_genuine_request_is_accepted_as_documented(case: ProviderCase):
    verified = verify(source(case), request(case), NOW)
    assert (verified.event_type, verified.provider_event_id) == case.expected
    provider = catalog.provider(SourceKind(case.kind))
    assert verified.id_signed == provider.signed_id or verified.provider_event_id is None
    assert provider.tolerance == case.tolerance


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_a_tampered_body_is_refused(case: ProviderCase):
    middle = len(case.body) // 2
    tampered = case.body[:middle] + bytes([case.body[middle] ^ 0x01]) + case.body[middle + 1 :]
    if not case.signs_body:
        # Nothing covers the body (GitLab's token): a changed one passes, so the catalog
        # must not claim a signed id, and duplicates are found by the body's digest.
        assert not catalog.provider(SourceKind(case.kind)).signed_id
        verified = verify(source(case), request(case, body=tampered), NOW)
        assert not verified.id_signed
        return
    with pytest.raises(InvalidSignature):
        verify(source(case), request(case, body=tampered), NOW)
    with pytest.raises(InvalidSignature):
        verify(source(case), request(case, body=case.body + b" "), NOW)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_another_key_is_refused_and_a_rotation_accepts_either(case: ProviderCase):
    with pytest.raises(InvalidSignature):
        verify(source(case), request(case, key=case.other_signing_key), NOW)
    other = case.other_source_secret or case.other_signing_key
    for rotated in (
        source(case, other, case.source_secret),
        source(case, case.source_secret, other),
    ):
        assert verify(rotated, request(case), NOW).event_type == case.expected[0]
        verified = verify(rotated, request(case, key=case.other_signing_key), NOW)
        assert verified.event_type == case.expected[0]


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_each_signature_header_is_required(case: ProviderCase):
    for name in case.signature_headers:
        with pytest.raises(InvalidSignature):
            verify(source(case), request(case, drop=name), NOW)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_an_empty_or_truncated_signature_is_refused(case: ProviderCase):
    name = case.signature_headers[0].lower()
    genuine = request(case).headers[name]
    for bad in ("", genuine[:-2], genuine[: len(genuine) // 2], genuine + "00"):
        with pytest.raises(InvalidSignature):
            verify(source(case), request(case, change={name: bad}), NOW)


@pytest.mark.parametrize("case", [c for c in CASES if c.tolerance is not None], ids=lambda c: c.id)
def test_a_request_older_than_the_documented_tolerance_is_refused(case: ProviderCase):
    assert case.tolerance is not None
    late = NOW - case.tolerance - 2
    with pytest.raises(InvalidSignature):
        verify(source(case), request(case, at=late), NOW)
    early = NOW + case.tolerance + 2
    with pytest.raises(InvalidSignature):
        verify(source(case), request(case, at=early), NOW)
    inside = NOW - case.tolerance + 2
    assert verify(source(case), request(case, at=inside), NOW).event_type == case.expected[0]


@pytest.mark.parametrize("case", [c for c in CASES if c.signs_url], ids=lambda c: c.id)
def test_a_request_for_another_url_is_refused(case: ProviderCase):
    elsewhere = case.url.replace("/webhooks/", "/webhooks/x")
    with pytest.raises(InvalidSignature):
        verify(source(case), request(case, url=elsewhere), NOW)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_the_receiver_rebuilds_the_url_only_for_the_kinds_that_sign_it(
    case: ProviderCase, monkeypatch: pytest.MonkeyPatch
):
    """The receiver builds ``InboundRequest.url`` only for a kind the catalog says signs it
    (``signs_url``): every other kind must verify without it."""
    kind = SourceKind(case.kind)
    assert catalog.provider(kind).signs_url is case.signs_url
    # What the receiver asks, the first time (from the catalog) and then (from its cache).
    monkeypatch.setattr(verification, "_SIGNS_URL", {})
    assert signs_url(kind) is case.signs_url
    assert signs_url(kind) is case.signs_url
    if not case.signs_url:
        verified = verify(source(case), request(case)._replace(url=""), NOW)
        assert (verified.event_type, verified.provider_event_id) == case.expected


#: Cases whose provider cannot sign a body that is not UTF-8: Twilio's form fields and
#: HubSpot's SDK are text, and Linear's replay protection is a field of its JSON body.
#: (Twilio's JSON case names its body's digest in its URL: the case tests the bytes.)
TEXT_ONLY = {"twilio-form", "twilio-sharedkey", "twilio-json", "hubspot", "linear"}


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.signs_body and c.id not in TEXT_ONLY], ids=lambda c: c.id
)
def test_a_body_that_is_not_utf8_is_verified_over_its_raw_bytes(case: ProviderCase):
    """The signature covers bytes, not text: a body that does not decode is still authentic
    (it may then be refused as malformed, 400, never as forged, 401), and one byte of it
    changed is a forgery."""
    raw = case.body[:-1] + b"\xff\xfe\x80" + case.body[-1:]
    signed = request(case, body=raw)
    signed_headers = case.sign(raw, NOW, case.signing_key, case.url)
    signed = signed._replace(
        headers={**signed.headers, **{k.lower(): v for k, v in signed_headers.items()}}
    )
    with contextlib.suppress(MalformedPayload):  # authentic, but not what it sends: 400
        verify(source(case), signed, NOW)
    tampered = signed._replace(body=raw.replace(b"\xfe", b"\xfd"))
    with pytest.raises(InvalidSignature):
        verify(source(case), tampered, NOW)
