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
        elif isinstance(value, bool):
            expected = str(value).lower()  # as cdk.json and -c spell it
        else:
            expected = f"{value:g}" if isinstance(value, float) else str(value)
        assert documented == expected, name


def test_the_kinds_table_says_what_stops_a_replay_for_every_kind():
    """Every kind is a row; its last column names the signed timestamp where the kind has
    one, and the body's SHA-256 exactly for the kinds whose id the signature does not
    cover (tests/unit/test_verification.py::test_whether_the_signature_covers_the_event_id
    pins which those are)."""
    from hookhaven.models import SourceKind

    section = README.split("## Receiving webhooks", 1)[1].split("\n## ", 1)[0]
    header = "| kind | signature | event id | event type | what stops a replay |"
    assert header in section
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(\w+)` \|.*\| ([^|]+) \|$", section, re.M)
    }
    assert set(rows) == {kind.value for kind in SourceKind}
    signed_id = {"standard", "stripe", "slack"}
    timestamp = {"standard", "stripe", "slack"}
    for kind, text in rows.items():
        assert ("signed timestamp" in text) == (kind in timestamp), kind
        if kind in signed_id:
            assert "SHA-256" not in text, kind
        else:
            assert "body's SHA-256" in text, kind
