import json
from dataclasses import asdict
from pathlib import Path

import pytest

from hookhaven.resources import (
    Resources,
    deliveries_queue,
    max_receive_count,
)
from hookhaven.tunables import DEFAULT_RETRY_SCHEDULE, ConfigurationError, Tunables
from hookhaven.wiring import FunctionSettings

ROOT = Path(__file__).resolve().parents[2]


def test_default_schedule_is_twelve_attempts_over_about_three_days():
    tunables = Tunables()
    assert tunables.max_attempts == 12
    total = sum(DEFAULT_RETRY_SCHEDULE)
    assert 3 * 86400 < total < 3.5 * 86400
    assert max(DEFAULT_RETRY_SCHEDULE) == 12 * 3600


def test_cdk_json_spells_out_exactly_the_code_defaults():
    context = json.loads((ROOT / "cdk.json").read_text())["context"]["hookhaven"]
    assert set(context) == set(Tunables.model_fields)
    assert Tunables.from_context(context) == Tunables()


def test_schedule_accepts_durations_commas_and_json():
    slow = {"retry_schedule": ["0s", "1m", "1h"], "oldest_message_alarm_seconds": "2h"}
    assert Tunables.from_context(slow).retry_schedule == (0, 60, 3600)
    assert Tunables.from_context({}, retry_schedule="0,30s,2m").retry_schedule == (0, 30, 120)
    assert Tunables.from_context({}, retry_schedule='["0s", "5s"]').retry_schedule == (0, 5)


def test_override_from_command_line_context_beats_cdk_json():
    tunables = Tunables.from_context({"batch_size": 5}, batch_size="7")
    assert tunables.batch_size == 7


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"retry_schedule": []}, "at least one attempt"),
        ({"retry_schedule": ["13h"]}, "at most 12h"),
        ({"retry_schedule": ["5 minutes"]}, "not a duration"),
        ({"batch_size": 20}, "batching_window_seconds"),
        ({"dispatcher_timeout_seconds": 20}, "dispatcher_timeout_seconds must be at least 25"),
        (
            {"batch_size": 100, "batching_window_seconds": 1, "delivery_concurrency": 10},
            "at least 160",
        ),
        ({"queue_retention_days": 3}, "must outlast the whole retry schedule"),
        ({"log_retention_days": 31}, "CloudWatch Logs accepts only"),
        ({"max_concurrency": 1}, "max_concurrency"),
        ({"alarm_email": "not-an-address"}, "alarm_email"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_settings_fail_early_with_the_setting_named(values, fragment):
    with pytest.raises(ConfigurationError, match="invalid hookhaven settings") as raised:
        Tunables.from_context(values)
    assert fragment in str(raised.value)


def test_the_redrive_policy_is_a_backstop_at_sqss_maximum():
    """Receives are not attempts: a throttled or timed-out invocation, and every delivery
    held back by delivery control, receives a message without attempting it (an open
    circuit holds one about once per probe interval, for days). The dispatcher moves a
    delivery to the DLQ after its last real attempt; SQS's redrive only catches one that
    keeps coming back unhandled."""
    tunables = Tunables.from_context({"retry_schedule": ["0s", "1m", "5m"]})
    assert max_receive_count(tunables) == 1000  # SQS's own maximum
    assert deliveries_queue(tunables).max_receive_count == 1000
    defaults = Tunables()
    holds = defaults.disable_after_failing // defaults.circuit_probe_max_seconds
    assert defaults.max_attempts + holds + 10 < max_receive_count(defaults)


def test_visibility_timeout_is_six_times_the_dispatcher_timeout():
    tunables = Tunables.from_context({"dispatcher_timeout_seconds": 90})
    assert deliveries_queue(tunables).visibility_timeout_seconds == 540


def test_function_environment_round_trips_into_function_settings(monkeypatch):
    tunables = Tunables.from_context(
        {
            "retry_schedule": ["0s", "10s", "1h"],
            "dedupe_window": "24h",
            "retry_jitter": 0.1,
            "oldest_message_alarm_seconds": "2h",
        }
    )
    environment = tunables.function_environment()
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for name in ("CONFIG_TABLE", "EVENTS_TABLE", "BODIES_BUCKET"):
        monkeypatch.setenv(f"HOOKHAVEN_{name}", name.lower())
    monkeypatch.setenv("HOOKHAVEN_DELIVERIES_QUEUE_URL", "http://q/deliveries")
    monkeypatch.setenv("HOOKHAVEN_DEAD_LETTER_QUEUE_URL", "http://q/dlq")
    settings = FunctionSettings.from_environ()
    assert settings.retry_schedule == (0, 10, 3600)
    assert settings.dedupe_window == 86400
    assert settings.retry_jitter == 0.1
    assert settings.resources.config_table == "config_table"
    assert settings.public_base_url == ""  # an empty value is left out of the environment
    assert "HOOKHAVEN_PUBLIC_BASE_URL" not in environment


def test_public_base_url_reaches_the_functions_and_must_be_a_url(monkeypatch):
    base = "https://hooks.example.com/relay"
    environment = Tunables.from_context({"public_base_url": base}).function_environment()
    assert environment["HOOKHAVEN_PUBLIC_BASE_URL"] == base
    for bad in ("hooks.example.com", "https://hooks.example.com/a b", "ftp://x", "https://h/?q=1"):
        with pytest.raises(ConfigurationError, match="public_base_url"):
            Tunables.from_context({"public_base_url": bad})


def test_function_settings_name_a_missing_variable(monkeypatch):
    monkeypatch.delenv("HOOKHAVEN_CONFIG_TABLE", raising=False)
    with pytest.raises(ConfigurationError, match="HOOKHAVEN_CONFIG_TABLE"):
        FunctionSettings.from_environ()


def test_oldest_message_alarm_must_not_fire_on_healthy_early_retries():
    # 0 + 1m + 1h, jittered up 20%: a message can wait that long for its third attempt.
    with pytest.raises(ConfigurationError, match="oldest_message_alarm_seconds must exceed"):
        Tunables.from_context({"retry_schedule": ["0s", "1m", "1h"]})
    Tunables.from_context(
        {"retry_schedule": ["0s", "1m", "1h"], "oldest_message_alarm_seconds": "2h"}
    )


def test_resource_names_round_trip_through_the_environment_and_the_stack_outputs():
    resources = Resources(
        config_table="config",
        events_table="events",
        deliveries_queue_url="http://q/deliveries",
        dead_letter_queue_url="http://q/dlq",
        bodies_bucket="bodies",
    )
    assert resources.to_env()["HOOKHAVEN_DEAD_LETTER_QUEUE_URL"] == "http://q/dlq"
    assert Resources.from_env(resources.to_env()) == resources
    outputs = {Resources.OUTPUTS[name]: value for name, value in asdict(resources).items()}
    assert Resources.from_outputs(outputs) == resources
    settings = FunctionSettings.of(Tunables(retry_schedule=(0, 5)), resources)
    assert (
        FunctionSettings.from_environ(
            {**Tunables(retry_schedule=(0, 5)).function_environment(), **resources.to_env()}
        )
        == settings
    )


def test_the_largest_accepted_body_always_fits_a_lambda_invocation():
    """A 5 MB body, as accepted before, did not: base64 makes it 6.7 MB, and text of
    control characters grows sixfold when JSON-escaped into the event."""
    from hookhaven import quotas
    from hookhaven.tunables import MAX_BODY_LIMIT_BYTES

    worst = MAX_BODY_LIMIT_BYTES * quotas.JSON_ESCAPE_GROWTH
    assert worst + quotas.HTTP_API_EVENT_ENVELOPE_BYTES <= quotas.LAMBDA_SYNC_PAYLOAD.value
    assert Tunables().max_body_bytes <= MAX_BODY_LIMIT_BYTES
    with pytest.raises(ConfigurationError, match="max_body_bytes"):
        Tunables.from_context({"max_body_bytes": 5 * 1024 * 1024})
    with pytest.raises(ConfigurationError, match="inline_body_limit_bytes"):
        Tunables.from_context({"inline_body_limit_bytes": 200 * 1024})


def test_the_dedupe_window_outlasts_every_providers_own_retries():
    """A provider's late retry of an event hookhaven accepted (the 2xx lost on the way back)
    is still a duplicate: the default window covers the longest documented retry window."""
    from hookhaven.catalog import PROVIDERS

    longest = max(p.retry_seconds for p in PROVIDERS if p.retry_seconds)
    assert longest >= 3 * 86_400  # Stripe
    assert Tunables().dedupe_window >= longest
