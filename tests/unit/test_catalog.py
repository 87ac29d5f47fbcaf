"""The provider catalog against the verifiers: what it claims of each kind holds."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hookhaven import catalog
from hookhaven.cli.app import app
from hookhaven.models import SourceKind


def test_every_kind_has_exactly_one_entry():
    kinds = [provider.kind for provider in catalog.PROVIDERS]
    assert len(kinds) == len(set(kinds))
    assert set(kinds) == set(SourceKind)


@pytest.mark.parametrize("provider", catalog.PROVIDERS, ids=lambda p: p.kind.value)
def test_each_entry_is_complete(provider: catalog.Provider):
    assert provider.name
    assert provider.verifies
    assert provider.credential
    assert provider.docs.startswith(("https://", "README"))
    assert callable(catalog.verifier_for(provider.kind))
    if provider.tolerance is not None:
        assert provider.signed_timestamp
    if provider.alias_of is not None:
        assert catalog.verifier_for(provider.kind) is catalog.verifier_for(provider.alias_of)


def test_standard_webhooks_senders_are_aliases_of_standard():
    for kind in ("clerk", "resend", "replicate", "openai"):
        assert catalog.provider(SourceKind(kind)).alias_of == SourceKind.STANDARD
        assert catalog.is_standard(SourceKind(kind))
    assert not catalog.is_standard(SourceKind.STRIPE)


def test_replay_protection_in_words():
    standard = catalog.provider(SourceKind.STANDARD)
    assert standard.replay == "signed timestamp within 5 min; signed event id, deduplicated"
    github = catalog.provider(SourceKind.GITHUB)
    assert github.replay == "body digest, deduplicated"


def test_sources_kinds_lists_the_catalog_without_a_stack():
    runner = CliRunner()
    result = runner.invoke(app, ["--json", "sources", "kinds"])
    assert result.exit_code == 0, result.output
    views = json.loads(result.output)
    assert [v["kind"] for v in views] == [p.kind.value for p in catalog.PROVIDERS]
    clerk = next(v for v in views if v["kind"] == "clerk")
    assert clerk["alias_of"] == "standard"
    assert clerk["replay_protection"].startswith("signed timestamp within 5 min")
    table = runner.invoke(app, ["sources", "kinds"], env={"COLUMNS": "200"})
    assert table.exit_code == 0
    assert "Standard Webhooks" in table.output
    assert "stripe" in table.output
