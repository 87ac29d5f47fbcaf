import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookhaven.retry import (
    FailureClass,
    clamp_retry_after,
    classify_status,
    parse_retry_after,
    scheduled_delay,
)
from hookhaven.tunables import DEFAULT_RETRY_SCHEDULE, MAX_DELAY_SECONDS


def http_date(timestamp: float) -> str:
    """RFC 9110 IMF-fixdate, as a subscriber writes Retry-After."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


NOW = 1_795_881_600.0


def test_delay_after_attempt_n_is_the_schedules_next_entry():
    rng = random.Random(1)
    assert scheduled_delay(1, (0, 5, 300), 0, rng) == 5
    assert scheduled_delay(2, (0, 5, 300), 0, rng) == 300


def test_the_last_attempt_has_no_next_delay():
    assert scheduled_delay(12, DEFAULT_RETRY_SCHEDULE, 0.2) is None
    assert scheduled_delay(13, DEFAULT_RETRY_SCHEDULE, 0.2) is None


@given(attempt=st.integers(min_value=1, max_value=11), seed=st.integers())
def test_jitter_stays_within_twenty_percent_and_twelve_hours(attempt, seed):
    base = DEFAULT_RETRY_SCHEDULE[attempt]
    delay = scheduled_delay(attempt, DEFAULT_RETRY_SCHEDULE, 0.2, random.Random(seed))
    assert delay is not None
    assert round(base * 0.8) - 1 <= delay <= min(MAX_DELAY_SECONDS, round(base * 1.2) + 1)
    assert delay <= MAX_DELAY_SECONDS


def test_jitter_actually_spreads_the_delays():
    rng = random.Random(7)
    delays = {scheduled_delay(3, DEFAULT_RETRY_SCHEDULE, 0.2, rng) or 0 for _ in range(200)}
    assert len(delays) > 100
    assert min(delays) < 1800 * 0.9
    assert max(delays) > 1800 * 1.1


def test_whole_default_schedule_is_about_three_days():
    total = sum(scheduled_delay(n, DEFAULT_RETRY_SCHEDULE, 0) or 0 for n in range(1, 12))
    assert 3 * 86400 < total < 3.5 * 86400


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120),
        (" 5 ", 5),
        ("0", 0),
        (http_date(NOW + 90), 90),
        (format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True), 30),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0),  # in the past: now
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("¹²", None),  # digits to str.isdigit(), not to int()
        ("9" * 5000, MAX_DELAY_SECONDS),  # int() refuses over 4,300 digits
        ("1234567890", MAX_DELAY_SECONDS),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value, seconds):
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("retry_after", "scheduled", "expected"),
    [(10, 5, 10), (60, 5, 10), (1, 5, 5), (0, 300, 300), (99999, 30000, 43200)],
)
def test_retry_after_is_clamped_between_scheduled_and_twice_scheduled(
    retry_after, scheduled, expected
):
    assert clamp_retry_after(retry_after, scheduled) == expected


@pytest.mark.parametrize(
    ("status", "delivered", "gone", "honour", "failure"),
    [
        (200, True, False, False, None),
        (201, True, False, False, None),
        (204, True, False, False, None),
        (299, True, False, False, None),
        (301, False, False, False, FailureClass.STATUS_3XX),
        (302, False, False, False, FailureClass.STATUS_3XX),
        (400, False, False, False, FailureClass.STATUS_4XX),
        (401, False, False, False, FailureClass.STATUS_4XX),
        (404, False, False, False, FailureClass.STATUS_4XX),
        (410, False, True, False, FailureClass.STATUS_4XX),
        (429, False, False, True, FailureClass.STATUS_4XX),
        (500, False, False, False, FailureClass.STATUS_5XX),
        (502, False, False, True, FailureClass.STATUS_5XX),
        (503, False, False, True, FailureClass.STATUS_5XX),
        (504, False, False, True, FailureClass.STATUS_5XX),
        (100, False, False, False, FailureClass.STATUS_5XX),
    ],
)
def test_outcome_classification_table(status, delivered, gone, honour, failure):
    verdict = classify_status(status)
    assert (verdict.delivered, verdict.gone, verdict.honour_retry_after, verdict.failure) == (
        delivered,
        gone,
        honour,
        failure,
    )
