"""The verifier gaps the provider-catalog issue names, each made by hand as a mutant that
mutmut does not generate, and each shown caught: with the mutant in place, the tests that
target the gap (tests/unit/test_verifier_edges.py, test_provider_cases.py,
test_hmac_schemes.py, test_verification_mutants.py) fail.

1. The signature checked over the body decoded as UTF-8 instead of its raw bytes.
2. Only the last of several signatures kept (Stripe's v1= values, Standard Webhooks' v1,
   a scheme's list).
3. An HMAC signature accepted without its configured prefix.
4. A comparison that accepts an empty, truncated or lengthened signature. (For base64
   signatures, Shopify's and Typeform's, the truncations in test_verifier_edges.py and
   test_provider_cases.py are not valid base64 and never reach the comparison: the cuts to
   lengths that decode in test_verification_mutants.py are what catch it there.)

A mutant is the real function's source with one snippet replaced, compiled beside the
original (same globals), and put where verify() finds it; the snippet must still be in the
source, so a refactor that moves it fails here and asks for the mutant to be updated. Not
run by make mutate (mutmut replaces these functions with trampolines of its own).
"""

from __future__ import annotations
import __future__

import hmac
import importlib
import inspect
import pkgutil
import textwrap
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import pytest

from hookhaven import verification
from hookhaven.models import SourceKind
from hookhaven.providers import schemes
from hookhaven.providers.schemes import HmacScheme
from tests.provider_cases import CASES, ProviderCase
from tests.unit import test_hmac_schemes as scheme_tests
from tests.unit import test_provider_cases as case_tests
from tests.unit import test_verification_mutants as mutant_tests
from tests.unit import test_verifier_edges as edge_tests

KINDS = {
    "standard": verification._standard,
    "stripe": verification._stripe,
    "github": verification._github,
    "shopify": verification._shopify,
    "slack": verification._slack,
    "hmac": verification._hmac,
}


def mutant(function: Callable[..., Any], old: str, new: str) -> Callable[..., Any]:
    """``function`` with ``old`` (found exactly once in its source) replaced by ``new``."""
    source = inspect.getsource(function)
    assert source.count(old) == 1, f"{old!r} is not once in {function.__qualname__}: update it"
    namespace = dict(function.__globals__)
    code = compile(
        textwrap.dedent(source.replace(old, new)),
        inspect.getsourcefile(function) or "<mutant>",
        "exec",
        flags=__future__.annotations.compiler_flag,
        dont_inherit=True,
    )
    exec(code, namespace)  # noqa: S102 (the project's own source, one snippet replaced)
    mutated: Callable[..., Any] = namespace[function.__name__]
    return mutated


def fails(test: Callable[..., object], *args: object) -> bool:
    """Whether the test fails: an assertion, pytest.raises seeing nothing raised, or an
    exception it did not expect."""
    try:
        test(*args)
    except (Exception, pytest.fail.Exception):
        return True
    return False


def use(monkeypatch: pytest.MonkeyPatch, kind: str, verifier: Callable[..., Any]) -> None:
    monkeypatch.setitem(verification._VERIFIERS, SourceKind(kind), verifier)


# --- 1. the raw bytes ----------------------------------------------------------------------

DECODED = 'request.body.decode("utf-8", "replace").encode()'
SIGNED_BODY = {
    "standard": 'signed = f"{message_id}.{timestamp}.".encode() + request.body',
    "stripe": 'signed = f"{timestamp}.".encode() + request.body',
    "github": "hmac_digest(secret.encode(), request.body)",
    "shopify": "hmac_digest(secret.encode(), request.body)",
    "slack": 'signed = f"v0:{timestamp}:".encode() + request.body',
    "hmac": "hmac_digest(s.encode(), request.body, options.algorithm)",
}


@pytest.mark.parametrize("kind", list(SIGNED_BODY))
def test_a_signature_over_the_decoded_body_is_caught(kind, monkeypatch):
    test = edge_tests.test_a_body_that_is_not_utf8_is_signed_over_its_raw_bytes
    assert not fails(test, kind)
    snippet = SIGNED_BODY[kind]
    use(monkeypatch, kind, mutant(KINDS[kind], snippet, snippet.replace("request.body", DECODED)))
    assert fails(test, kind)


def test_a_scheme_that_signs_the_decoded_body_is_caught(monkeypatch):
    test = scheme_tests.test_a_body_that_is_not_utf8_is_signed_over_its_raw_bytes
    for scheme, sign in scheme_tests.RAW_SIGNERS:
        assert not fails(test, scheme, sign)
    old = "messages = self.message(request, timestamp)"
    new = (
        "messages = self.message(InboundRequest(request.headers, "
        + DECODED
        + ", request.method, request.url), timestamp)"
    )
    monkeypatch.setattr(HmacScheme, "check", mutant(HmacScheme.check, old, new))
    for scheme, sign in scheme_tests.RAW_SIGNERS:
        assert fails(test, scheme, sign)


# --- 2. every signature in the header counts ---------------------------------------------


@pytest.mark.parametrize("kind", ["stripe", "standard"])
def test_keeping_only_the_last_signature_is_caught(kind, monkeypatch):
    test = edge_tests.test_the_genuine_signature_counts_wherever_it_stands_among_several
    assert not fails(test, kind, "first")
    last_only = mutant(KINDS[kind], "provided.append(decoded)", "provided = [decoded]")
    use(monkeypatch, kind, last_only)
    assert fails(test, kind, "first")
    assert not fails(test, kind, "last")  # what the gap let through: only the last counted


def test_a_scheme_that_keeps_only_the_last_signature_is_caught(monkeypatch):
    listed = scheme_tests.test_the_genuine_signature_counts_wherever_it_stands_in_a_list
    params = scheme_tests.test_a_params_header_may_carry_several_signatures
    assert not fails(listed, "first")
    assert not fails(params)
    check = mutant(HmacScheme.check, "provided.append(decoded)", "provided = [decoded]")
    monkeypatch.setattr(HmacScheme, "check", check)
    assert fails(listed, "first")
    assert fails(params)


# --- 3. the configured prefix --------------------------------------------------------------


def test_an_hmac_source_that_accepts_a_signature_without_its_prefix_is_caught(monkeypatch):
    test = edge_tests.test_a_missing_or_wrong_prefix_is_refused
    assert not fails(test, "hmac")
    old = """    if options.prefix:
        if not header.startswith(options.prefix):
            raise InvalidSignature("signature prefix missing")
        header = header[len(options.prefix) :]
"""
    new = "    header = header.removeprefix(options.prefix)\n"
    use(monkeypatch, "hmac", mutant(verification._hmac, old, new))
    assert fails(test, "hmac")


def test_a_scheme_that_accepts_a_signature_without_its_prefix_is_caught(monkeypatch):
    test = scheme_tests.test_a_hex_digest_after_its_prefix_is_accepted_and_nothing_else
    assert not fails(test)
    old = """            if not text.startswith(self.prefix):
                continue
            text = text[len(self.prefix) :]
"""
    new = "            text = text.removeprefix(self.prefix)\n"
    monkeypatch.setattr(HmacScheme, "check", mutant(HmacScheme.check, old, new))
    assert fails(test)


# --- 4. the comparison ---------------------------------------------------------------------


def _prefix_equal(expected: Iterable[bytes], provided: Iterable[bytes]) -> bool:
    """Accepts any start of an expected digest: the empty one, a truncated one."""
    provided = list(provided)
    return any(candidate.startswith(given) for candidate in expected for given in provided)


def _shorter_equal(expected: Iterable[bytes], provided: Iterable[bytes]) -> bool:
    """Compares as many bytes as the shorter has: also accepts one with bytes added."""
    provided = list(provided)
    return any(
        hmac.compare_digest(candidate[: len(given)], given[: len(candidate)])
        for candidate in expected
        for given in provided
    )


def _edge_tests_fail(kind: str) -> bool:
    return (
        fails(edge_tests.test_an_empty_signature_is_refused, kind)
        or any(
            fails(edge_tests.test_a_truncated_signature_is_refused, kind, keep)
            for keep in (0.5, -1, -2, 1)
        )
        or fails(
            mutant_tests.test_a_signature_cut_or_lengthened_to_a_length_that_still_decodes_is_refused,
            kind,
        )
    )


def _provider_modules() -> list[ModuleType]:
    import hookhaven.providers

    return [
        importlib.import_module(f"hookhaven.providers.{info.name}")
        for info in pkgutil.iter_modules(hookhaven.providers.__path__)
    ]


def _case_tests_fail(case: ProviderCase) -> bool:
    return fails(case_tests.test_an_empty_or_truncated_signature_is_refused, case) or fails(
        mutant_tests.test_a_named_provider_s_signature_cut_short_is_refused_at_every_length, case
    )


@pytest.mark.parametrize("compare", [_prefix_equal, _shorter_equal])
def test_a_comparison_that_accepts_a_short_or_long_signature_is_caught(compare, monkeypatch):
    # GitLab's token is compared as a SHA-256 digest of the whole token: a shortened token
    # has a wholly different digest, so no comparison of digests, however lax about length,
    # can be reached by shortening it (and its case tests check a shortened token anyway).
    # Discord and SendGrid verify a public-key signature (hookhaven/providers/curves.py):
    # nothing of theirs compares bytes.
    cases = [
        case
        for case in CASES
        if case.signature_headers and case.signs_body and case.kind not in ("discord", "sendgrid")
    ]
    assert not any(_edge_tests_fail(kind) for kind in edge_tests.KINDS)
    # Wherever a verifier compares with it: the built-in kinds, the scheme engine, and any
    # provider module with a comparison of its own (GitLab's token).
    for module in (verification, schemes, *_provider_modules()):
        if hasattr(module, "any_equal"):
            monkeypatch.setattr(module, "any_equal", compare)
    # Every built-in kind, every named provider's case and the scheme engine notice.
    for kind in edge_tests.KINDS:
        assert _edge_tests_fail(kind), kind
    for case in cases:
        assert _case_tests_fail(case), case.id
    for scheme in (scheme_tests.GITHUB_LIKE, scheme_tests.SHOPIFY_LIKE):
        assert fails(
            scheme_tests.test_an_empty_truncated_or_lengthened_signature_is_refused, scheme
        )
