"""Sources and subscriptions through the operations layer, on in-memory configuration."""

from __future__ import annotations

import pytest

from hookhaven.dispatch import SubscriptionCache, delivery_headers
from hookhaven.ingest import SourceDirectory
from hookhaven.memory import MemoryConfig
from hookhaven.models import DeliveryMessage, FieldRef, SourceKind
from hookhaven.operations import OperationError
from hookhaven.operations import config as ops
from hookhaven.signatures import is_standard_secret, standard_signature

NOW = 1_800_000_000.0


def test_a_standard_source_gets_a_generated_secret_and_a_provider_source_keeps_its_own():
    store = MemoryConfig()
    added = ops.add_source(store, name="shop", kind=SourceKind.STANDARD, secret=None, now=NOW)
    assert added.generated_secret is not None
    assert is_standard_secret(added.generated_secret)
    assert store.sources["shop"].active_secrets(NOW) == [added.generated_secret]

    given = ops.add_source(store, name="stripe", kind=SourceKind.STRIPE, secret="sk", now=NOW)
    assert given.generated_secret is None
    assert store.sources["stripe"].active_secrets(NOW) == ["sk"]
    with pytest.raises(OperationError, match="needs the provider's secret"):
        ops.add_source(store, name="gh", kind=SourceKind.GITHUB, secret=None, now=NOW)
    with pytest.raises(OperationError, match="already exists"):
        ops.add_source(store, name="shop", kind=SourceKind.STANDARD, secret=None, now=NOW)
    assert [s.name for s in ops.list_sources(store)] == ["shop", "stripe"]


def test_the_models_validation_is_one_line_naming_what_was_wrong():
    store = MemoryConfig()
    with pytest.raises(OperationError) as bad_name:
        ops.add_source(store, name="Bad Name", kind=SourceKind.GITHUB, secret="s", now=NOW)
    assert str(bad_name.value).startswith("bad source name 'Bad Name': a source name is 1-64")
    with pytest.raises(OperationError) as bad_algorithm:
        ops.add_source(
            store,
            name="courier",
            kind=SourceKind.HMAC,
            secret="s",
            hmac={"algorithm": "md5"},
            now=NOW,
        )
    assert str(bad_algorithm.value) == (
        "bad hmac algorithm 'md5': Input should be 'sha1', 'sha256' or 'sha512'"
    )
    with pytest.raises(OperationError, match="whsec_"):
        ops.add_source(store, name="std", kind=SourceKind.STANDARD, secret="plain", now=NOW)
    assert store.sources == {}


def test_hmac_options_are_kept_as_given():
    store = MemoryConfig()
    settings = {
        "header": "X-Courier-Signature",
        "algorithm": "sha512",
        "encoding": "base64",
        "id_from": FieldRef.parse("field:id"),
    }
    ops.add_source(store, name="courier", kind=SourceKind.HMAC, secret="s", hmac=settings, now=NOW)
    options = store.sources["courier"].hmac
    assert options is not None
    assert (options.header, options.algorithm, options.encoding) == (
        "x-courier-signature",
        "sha512",
        "base64",
    )
    assert str(options.id_from) == "field:id"


def test_rotating_a_source_secret_keeps_the_old_one_for_the_overlap():
    store = MemoryConfig()
    old = ops.add_source(store, name="shop", kind=SourceKind.STANDARD, secret=None, now=NOW)
    rotated = ops.rotate_source_secret(store, "shop", secret=None, keep_old=3600, now=NOW + 10)
    assert rotated.old_secret_expires_at == NOW + 10 + 3600
    assert rotated.new_secret is not None
    source = store.sources["shop"]
    assert source.active_secrets(NOW + 20) == [old.generated_secret, rotated.new_secret]
    assert source.active_secrets(NOW + 3611) == [rotated.new_secret]
    ops.add_source(store, name="stripe", kind=SourceKind.STRIPE, secret="sk", now=NOW)
    with pytest.raises(OperationError, match="comes from the provider"):
        ops.rotate_source_secret(store, "stripe", secret=None, keep_old=0, now=NOW)
    with pytest.raises(OperationError, match="no source named ghost"):
        ops.rotate_source_secret(store, "ghost", secret=None, keep_old=0, now=NOW)


def test_removing_a_source_that_is_not_there_says_so():
    store = MemoryConfig()
    ops.add_source(store, name="shop", kind=SourceKind.STANDARD, secret=None, now=NOW)
    ops.remove_source(store, "shop")
    with pytest.raises(OperationError, match="no source named shop"):
        ops.remove_source(store, "shop")


def test_subscription_input_is_checked_before_anything_is_saved():
    store = MemoryConfig()
    url = "https://93.184.215.14/hooks"
    refused = {
        "bad event pattern": {"event_types": ("order created",)},
        "sets that header itself": {"headers": {"webhook-id": "x"}},
        "bad header name": {"headers": {"a b": "x"}},
        "line breaks": {"headers": {"X-A": "1\r\nX-B: 2"}},
        "no source named ghost": {"source": "ghost"},
    }
    for message, given in refused.items():
        with pytest.raises(OperationError, match=message):
            ops.add_subscription(store, url=url, now=NOW, **given)  # type: ignore[arg-type]
    with pytest.raises(OperationError, match=r"--url refused: .*non-public"):
        ops.add_subscription(store, url="https://10.0.0.1/hooks", now=NOW)
    with pytest.raises(OperationError, match="--url refused: only https"):
        ops.add_subscription(store, url="http://127.0.0.1:9/hooks", now=NOW)
    assert store.subscriptions == {}
    local = ops.add_subscription(
        store, url="http://127.0.0.1:9/hooks", allow_loopback=True, now=NOW
    )
    assert local.subscription.source == "*"
    assert local.subscription.secrets[0].value == local.secret


def test_a_subscription_can_be_given_the_secret_its_subscriber_verifies():
    store = MemoryConfig()
    ops.add_source(store, name="shop", kind=SourceKind.STANDARD, secret=None, now=NOW)
    added = ops.add_subscription(
        store, url="https://93.184.215.14/h", source="shop", secret="whsec_given", now=NOW
    )
    assert added.secret == "whsec_given"
    assert ops.list_subscriptions(store, source="shop") == [added.subscription]
    assert ops.list_subscriptions(store, source="other") == []


def test_a_subscription_may_come_before_its_source_when_the_source_is_added_next():
    """smoke adds the subscription first, so no receiver caches the source without it."""
    store = MemoryConfig()
    url = "https://93.184.215.14/h"
    added = ops.add_subscription(store, url=url, source="smoke-1", source_added_next=True, now=NOW)
    assert added.subscription.source == "smoke-1"
    with pytest.raises(OperationError, match="not a source name"):
        ops.add_subscription(store, url=url, source="Not A Name", source_added_next=True, now=NOW)


def test_updating_enabling_disabling_and_rotating_a_subscription():
    store = MemoryConfig()
    sub = ops.add_subscription(store, url="https://93.184.215.14/h", now=NOW).subscription
    with pytest.raises(OperationError, match="nothing to update"):
        ops.update_subscription(store, sub.id, now=NOW)
    updated = ops.update_subscription(store, sub.id, event_types=("order.*",), now=NOW + 1)
    assert updated.event_types == ("order.*",)
    assert updated.updated_at == NOW + 1
    disabled = ops.set_enabled(store, sub.id, enabled=False, now=NOW + 2)
    assert (disabled.enabled, disabled.status_reason) == (False, "disabled by an operator")
    enabled = ops.set_enabled(store, sub.id, enabled=True, now=NOW + 3)
    assert (enabled.enabled, enabled.status_reason) == (True, None)
    rotated = ops.rotate_subscription_secret(store, sub.id, keep_old=60, now=NOW + 4)
    secrets = store.subscriptions[sub.id].secrets
    assert [s.value for s in secrets][-1] == rotated.new_secret
    assert secrets[0].expires_at == NOW + 64
    ops.remove_subscription(store, sub.id)
    with pytest.raises(OperationError, match=f"no subscription with id {sub.id}"):
        ops.set_enabled(store, sub.id, enabled=True, now=NOW)


URL = "https://93.184.215.14/hooks"


def test_a_subscription_is_added_with_a_filter_a_rate_and_a_max_in_flight():
    store = MemoryConfig()
    added = ops.add_subscription(
        store,
        url=URL,
        filter="data.total > `100`",
        rate="300/m",
        max_in_flight=4,
        now=NOW,
    ).subscription
    assert added.filter == "data.total > `100`"
    assert added.rate is not None
    assert (added.rate.count, added.rate.per_seconds, str(added.rate)) == (300, 60, "300/m")
    assert added.max_in_flight == 4
    assert store.subscriptions[added.id] == added
    plain = ops.add_subscription(store, url=URL, now=NOW).subscription
    assert (plain.filter, plain.rate, plain.max_in_flight) == (None, None, None)


def test_filter_rate_and_max_in_flight_are_changed_and_cleared_one_by_one():
    store = MemoryConfig()
    sub = ops.add_subscription(store, url=URL, now=NOW).subscription
    changed = ops.update_subscription(
        store, sub.id, filter="contains(data.tags, 'signed')", rate="5/s", now=NOW + 1
    )
    assert (changed.filter, str(changed.rate), changed.max_in_flight) == (
        "contains(data.tags, 'signed')",
        "5/s",
        None,
    )
    changed = ops.update_subscription(store, sub.id, max_in_flight=1000, now=NOW + 2)
    assert (str(changed.rate), changed.max_in_flight) == ("5/s", 1000)  # the rest stays
    cleared = ops.update_subscription(store, sub.id, clear=("filter",), now=NOW + 3)
    assert (cleared.filter, str(cleared.rate), cleared.max_in_flight) == (None, "5/s", 1000)
    cleared = ops.update_subscription(store, sub.id, clear=("rate", "max_in_flight"), now=NOW + 4)
    assert (cleared.filter, cleared.rate, cleared.max_in_flight) == (None, None, None)
    assert store.subscriptions[sub.id] == cleared
    with pytest.raises(OperationError, match="not both"):
        ops.update_subscription(store, sub.id, filter="a", clear=("filter",), now=NOW)
    with pytest.raises(OperationError, match="cannot clear url"):
        ops.update_subscription(store, sub.id, clear=("url",), now=NOW)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"filter": "data.total >"}, "bad filter: Invalid jmespath expression: Incomplete"),
        ({"filter": "lenght(data.items)"}, r"bad filter: Unknown function: lenght\(\)"),
        ({"filter": "x" * 1025}, "bad filter: a filter is at most 1024 characters"),
        ({"filter": ""}, "may not be empty"),
        ({"rate": "5/h"}, r"bad rate '5/h': give N/s or N/m .* e.g. 5/s or 300/m"),
        ({"rate": "0/s"}, r"bad rate '0/s': give N/s or N/m with N from 1 to 10000"),
        ({"rate": "fast"}, "bad rate 'fast'"),
        ({"max_in_flight": 0}, "max in-flight is 1 to 1000 deliveries at once, not 0"),
        ({"max_in_flight": 1001}, "max in-flight is 1 to 1000 deliveries at once, not 1001"),
    ],
)
def test_bad_filters_rates_and_limits_are_refused_before_anything_is_saved(given, message):
    store = MemoryConfig()
    with pytest.raises(OperationError, match=message):
        ops.add_subscription(store, url=URL, now=NOW, **given)
    assert store.subscriptions == {}
    sub = ops.add_subscription(store, url=URL, now=NOW).subscription
    with pytest.raises(OperationError, match=message):
        ops.update_subscription(store, sub.id, now=NOW + 1, **given)
    assert store.subscriptions[sub.id] == sub


def _signatures(subscription, now: float) -> list[str]:
    message = DeliveryMessage(
        event_id="evt_1",
        subscription_id=subscription.id,
        source="shop",
        event_type="order.created",
        received_at=now,
        content_type="application/json",
        body_b64="e30=",
        body_size=2,
    )
    return delivery_headers(message, subscription, 1, now, b"{}")["webhook-signature"].split()


def test_past_its_overlap_a_rotated_secret_signs_nothing_and_is_dropped_at_the_next_change():
    store = MemoryConfig()
    sub = ops.add_subscription(store, url="https://93.184.215.14/h", now=NOW).subscription
    old = sub.secrets[0].value
    rotated = ops.rotate_subscription_secret(store, sub.id, keep_old=60, now=NOW)
    stored = store.subscriptions[sub.id]
    assert len(_signatures(stored, NOW + 59)) == 2
    (only,) = _signatures(stored, NOW + 60)
    assert rotated.new_secret is not None
    assert only == standard_signature(rotated.new_secret, "evt_1", int(NOW + 60), b"{}")
    # The next change leaves the expired secret out of the table (and its backups).
    ops.set_enabled(store, sub.id, enabled=False, now=NOW + 61)
    assert [s.value for s in store.subscriptions[sub.id].secrets] == [rotated.new_secret]
    assert old not in repr(store.subscriptions[sub.id].model_dump())


def test_a_removed_subscription_signs_nothing_once_the_dispatchers_cache_has_turned():
    store = MemoryConfig()
    sub = ops.add_subscription(store, url="https://93.184.215.14/h", now=NOW).subscription
    clock = [0.0]
    cache = SubscriptionCache(store, ttl=30, clock=lambda: clock[0])
    assert cache.get(sub.id) is not None
    ops.remove_subscription(store, sub.id)
    clock[0] = 30.0  # source_cache_seconds later: every execution environment has re-read
    assert cache.get(sub.id) is None


def test_a_rotated_source_secret_is_dropped_at_the_next_rotation():
    store = MemoryConfig()
    ops.add_source(store, name="shop", kind=SourceKind.STANDARD, secret=None, now=NOW)
    first = ops.rotate_source_secret(store, "shop", secret=None, keep_old=60, now=NOW)
    second = ops.rotate_source_secret(store, "shop", secret=None, keep_old=60, now=NOW + 61)
    values = [s.value for s in store.sources["shop"].secrets]
    assert values == [first.new_secret, second.new_secret]
    assert store.sources["shop"].active_secrets(NOW + 121) == [second.new_secret]


def test_a_removed_source_verifies_nothing_once_the_receivers_cache_has_turned():
    store = MemoryConfig()
    ops.add_source(store, name="shop", kind=SourceKind.STANDARD, secret=None, now=NOW)
    clock = [0.0]
    directory = SourceDirectory(store, ttl=30, clock=lambda: clock[0])
    assert directory.source("shop") is not None
    ops.remove_source(store, "shop")
    clock[0] = 30.0
    assert directory.source("shop") is None
