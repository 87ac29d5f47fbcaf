"""Hypothesis over every named provider's case: no input makes a verifier raise anything but
its own rejection, and nothing not signed with the source's key is accepted."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookhaven.verification import InboundRequest, InvalidSignature, MalformedPayload, verify
from tests.provider_cases import CASES, NOW, ProviderCase
from tests.unit.test_provider_cases import request, source

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
cases = st.sampled_from(CASES)
header_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)


def refused(case: ProviderCase, req: InboundRequest) -> None:
    with pytest.raises((InvalidSignature, MalformedPayload)):
        verify(source(case), req, NOW)


@FUZZ
@given(case=st.sampled_from([c for c in CASES if c.signs_body]), body=st.binary(max_size=512))
def test_a_genuine_signature_over_another_body_is_refused(case: ProviderCase, body: bytes):
    if body == case.body:
        return
    refused(case, request(case, body=body))


@FUZZ
@given(case=cases, data=st.data())
def test_a_signature_header_rewritten_is_refused(case: ProviderCase, data: st.DataObject):
    genuine = request(case)
    name = data.draw(st.sampled_from(case.signature_headers)).lower()
    value = data.draw(
        st.one_of(
            header_text,
            # Almost right: a cut, an insertion or a replacement inside the genuine value.
            st.integers(0, max(len(genuine.headers[name]) - 1, 0)).flatmap(
                lambda i: st.sampled_from(
                    [
                        genuine.headers[name][:i],
                        genuine.headers[name][:i] + "0" + genuine.headers[name][i:],
                        genuine.headers[name][:i] + "A" + genuine.headers[name][i + 1 :],
                        genuine.headers[name][:i] + "=" + genuine.headers[name][i + 1 :],
                    ]
                )
            ),
        )
    )
    if value == genuine.headers[name] or value.lower() == genuine.headers[name].lower():
        return  # unchanged, or a hex digit's case (hex reads 'a' and 'A' alike)
    refused(case, request(case, change={name: value}))


@FUZZ
@given(
    case=cases,
    headers=st.dictionaries(st.sampled_from(["x"]) | st.text(min_size=1, max_size=20), header_text),
    body=st.binary(max_size=256),
    signed_elsewhere=st.booleans(),
)
def test_anything_signed_with_another_key_or_not_at_all_is_refused(
    case: ProviderCase, headers: dict[str, str], body: bytes, signed_elsewhere: bool
):
    """Random headers over the case's own (signed by another key, or not at all), and a
    random body or the case's: refused, and only ever with the verifier's own errors."""
    base = request(case, key=case.other_signing_key)
    merged = {**base.headers} if signed_elsewhere else {}
    merged.update({k.lower(): v for k, v in headers.items()})
    forged = type(base)(
        headers=merged, body=body if not signed_elsewhere else base.body, url=base.url
    )
    refused(case, forged)
