import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookhaven.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0s", 0), ("5s", 5), ("5m", 300), ("2h", 7200), ("3d", 259200), ("1h30m", 5400), ("45", 45)],
)
def test_parse_duration_reads_units(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "x", "5 minutes", "-5s", "5y", "1.5h", "h", "¹²"])
def test_parse_duration_rejects_garbage_with_a_hint(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_duration_rejects_negative_and_bool():
    with pytest.raises(ValueError, match="negative"):
        parse_duration(-1)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(True)


@given(st.integers(min_value=0, max_value=10**8))
def test_format_then_parse_round_trips(seconds):
    assert parse_duration(format_duration(seconds)) == seconds
