"""The README's promises that code can check."""

import re
from pathlib import Path

from hookhaven.durations import parse_duration
from hookhaven.tunables import Tunables

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_quick_start_is_exactly_two_commands():
    section = README.split("## Quick start", 1)[1].split("##", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == ["make dev", "make test"]


def test_configuration_table_documents_every_setting_with_its_default():
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", section, re.M)
    }
    defaults = Tunables()
    assert set(rows) == set(Tunables.model_fields)
    for name in Tunables.model_fields:
        value = getattr(defaults, name)
        documented = rows[name].strip().strip("`")
        if name == "retry_schedule":
            assert tuple(parse_duration(d) for d in documented.split()) == value
            continue
        if name in (
            "dedupe_window",
            "oldest_message_alarm_seconds",
            "circuit_probe_seconds",
            "circuit_probe_max_seconds",
            "disable_after_failing",
        ):
            assert parse_duration(documented) == value, name
            continue
        if value is None:
            expected = "none"
        elif value == "":
            expected = "(empty)"
        elif isinstance(value, bool):
            expected = str(value).lower()  # as cdk.json and -c spell it
        else:
            expected = f"{value:g}" if isinstance(value, float) else str(value)
        assert documented == expected, name


def test_the_kinds_tables_list_every_kind_and_what_stops_its_replay():
    """Every kind in the catalog is a row of the README's kinds tables, and its last column
    says what the catalog says stops a replay: the signed timestamp where the kind has one,
    and the body's SHA-256 exactly for the kinds whose id the signature does not cover
    (tests/unit/test_catalog.py pins the catalog's claims to the verifiers' behaviour)."""
    from hookhaven.catalog import PROVIDERS

    section = README.split("## Receiving webhooks", 1)[1].split("\n## ", 1)[0]
    assert "| kind | signature | event id | event type | what stops a replay |" in section
    assert "| kind | provider | signature | event id and type | what stops a replay |" in section
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(\w+)` \|.*\| ([^|]+) \|$", section, re.M)
    }
    assert set(rows) == {provider.kind.value for provider in PROVIDERS}
    for provider in PROVIDERS:
        text = rows[provider.kind.value]
        assert ("signed timestamp" in text) == provider.signed_timestamp, provider.kind
        if provider.tolerance is not None:
            assert provider.replay.split(";")[0].split("within ")[1] in text, provider.kind
        assert ("body's SHA-256" in text) == (not provider.signed_id), provider.kind
