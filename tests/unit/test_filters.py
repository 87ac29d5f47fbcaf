"""Content filters: JMESPath over the event's JSON body, evaluated at fan-out."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from hookhaven import filters
from hookhaven.filters import MAX_FILTER_LENGTH, NOT_JSON, check_filter, is_truthy, parse_body
from hookhaven.matching import FilterError, filter_by_content
from hookhaven.models import SubscriptionRoute

ORDER = {
    "type": "order.created",
    "data": {
        "order": "BH-1001",
        "total": 124.5,
        "currency": "GBP",
        "customer": {"country": "GB", "vip": False},
        "tags": ["signed", "gift"],
        "items": [{"isbn": "9780000000001", "qty": 2}, {"isbn": "9780000000002", "qty": 1}],
        "discount": 0,
        "notes": "",
        "coupons": [],
    },
}
BODY = json.dumps(ORDER).encode()


def route(expression: str | None, sub_id: str = "sub_a") -> SubscriptionRoute:
    return SubscriptionRoute(id=sub_id, filter=expression)


def matched(expression: str, body: bytes = BODY) -> bool:
    result = filter_by_content([route(expression)], body)
    assert result.errors == []
    return bool(result.matched)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # exact values
        ("data.currency == 'GBP'", True),
        ("data.currency == 'EUR'", False),
        ('data.order == `"BH-1001"`', True),
        ("type == 'order.created'", True),
        # comparisons
        ("data.total > `100`", True),
        ("data.total > `200`", False),
        ("data.total >= `124.5` && data.total <= `124.5`", True),
        ("data.currency != 'GBP'", False),
        ("length(data.items) > `1`", True),
        ("contains(data.tags, 'signed')", True),
        ("contains(data.tags, 'unsigned')", False),
        ("data.items[?qty > `1`]", True),
        ("data.items[?qty > `5`]", False),
        # nested fields
        ("data.customer.country == 'GB'", True),
        ("data.customer.country", True),
        ("data.items[0].isbn == '9780000000001'", True),
        # missing fields: null, which is false, and never an error
        ("data.shipping.country == 'GB'", False),
        ("data.shipping", False),
        ("nothing.here.at.all", False),
        ("!(data.shipping)", True),
        ("data.shipping.total > `100`", False),  # null > 100 is null
    ],
)
def test_filters_over_a_json_body(expression, expected):
    check_filter(expression)  # each is one an operator may set
    assert matched(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("data.discount", True),  # 0 is truthy in JMESPath
        ("`0`", True),
        ("`0.0`", True),
        ("data.customer.vip", False),  # false
        ("data.notes", False),  # ""
        ("data.coupons", False),  # []
        ("data.nothing", False),  # null
        ("`{}`", False),
        ("data.customer", True),  # a non-empty object
        ("data.tags", True),  # a non-empty list
        ("data.order", True),  # a non-empty string
        ("`true`", True),
    ],
)
def test_truthiness_is_jmespaths_where_zero_is_true(expression, expected):
    assert matched(expression) is expected


@pytest.mark.parametrize(
    "value", [None, False, "", [], {}], ids=["null", "false", "empty", "list", "object"]
)
def test_only_null_false_and_empty_things_are_false(value):
    assert is_truthy(value) is False


@pytest.mark.parametrize("value", [0, 0.0, True, "0", [0], {"a": None}, -1])
def test_everything_else_is_true(value):
    assert is_truthy(value) is True


@pytest.mark.parametrize(
    "body",
    [
        b"order=BH-1001&total=124.5",  # form-encoded
        b"<order><total>124.5</total></order>",
        b"",
        b'{"data": {"total": 124.5}',  # truncated
        b"\xff\xfe{\x00}\x00",  # UTF-16: JSON, but not UTF-8
        '{"data": {"currency": "GBP", "note": "caf\u00e9"}}'.encode("latin-1"),
        b'{"data": {"total": NaN}}',
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the parser may go
    ],
    ids=["form", "xml", "empty", "truncated", "utf16", "latin1", "nan", "deep"],
)
def test_a_body_that_is_not_utf8_json_never_matches_a_filter(body):
    assert parse_body(body) is NOT_JSON
    for expression in ("data.currency == 'GBP'", "!data", "`true`", "@ == @"):
        assert not matched(expression, body), expression


def test_a_non_json_body_still_reaches_subscriptions_without_a_filter():
    routes = [route(None, "sub_all"), route("`true`", "sub_filtered")]
    result = filter_by_content(routes, b"\x00\x01binary")
    assert [r.id for r in result.matched] == ["sub_all"]


def test_utf8_text_in_the_body_is_compared_as_text():
    body = json.dumps({"data": {"city": "Zürich"}}, ensure_ascii=False).encode()
    assert matched("data.city == 'Zürich'", body)


@pytest.mark.parametrize(
    "expression",
    [
        "length(data.total) > `1`",  # length() of a number
        "abs(data.currency)",  # abs() of a string
        "sum(data.tags) > `0`",  # sum() of strings
    ],
)
def test_a_runtime_error_does_not_match_and_is_reported(expression):
    routes = [route(expression, "sub_broken"), route("data.total > `100`", "sub_fine")]
    result = filter_by_content(routes, BODY)
    assert [r.id for r in result.matched] == ["sub_fine"]
    (error,) = result.errors
    assert error == FilterError("sub_broken", "JMESPathTypeError")


def test_a_function_of_a_missing_field_fails_unless_given_a_default():
    """As the README warns: a comparison with a missing field is false, a function of one
    is an error; ``|| `[]``` gives it a default."""
    body = json.dumps({"data": {"total": 5}}).encode()
    result = filter_by_content([route("contains(data.tags, 'signed')")], body)
    assert (result.matched, len(result.errors)) == ([], 1)
    assert not matched("contains(data.tags || `[]`, 'signed')", body)
    assert matched("contains(data.tags || `[]`, 'signed')")


def test_the_error_names_its_kind_never_the_values_from_the_body():
    body = json.dumps({"card": 4242424242424242}).encode()
    result = filter_by_content([route("starts_with(card, '4')")], body)
    (error,) = result.errors
    assert "4242" not in error.error


def test_a_stored_filter_that_no_longer_parses_is_an_error_not_a_crash():
    result = filter_by_content([route("data.[")], BODY)
    assert result.matched == []
    assert [e.subscription_id for e in result.errors] == ["sub_a"]


def test_the_body_is_parsed_once_and_only_when_some_subscription_filters(monkeypatch):
    calls: list[bytes] = []
    real = filters.parse_body

    def counting(body: bytes) -> Any:
        calls.append(body)
        return real(body)

    monkeypatch.setattr("hookhaven.matching.parse_body", counting)
    unfiltered = [route(None, f"sub_{n}") for n in range(3)]
    assert len(filter_by_content(unfiltered, BODY).matched) == 3
    assert calls == []
    filtered = [*unfiltered, *(route("data.total > `1`", f"sub_f{n}") for n in range(3))]
    assert len(filter_by_content(filtered, BODY).matched) == 6
    assert calls == [BODY]


def test_compiled_expressions_are_cached():
    filters.compiled.cache_clear()
    routes = [route("data.total > `100`")]
    for _ in range(5):
        filter_by_content(routes, BODY)
    info = filters.compiled.cache_info()
    assert (info.misses, info.hits) == (1, 4)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("data.total >", "Invalid jmespath expression: Incomplete expression"),
        ("data.[", 'Incomplete expression:\n"data.["'),
        ("data.total > 100", 'invalid token: Parse error at column 13, token "100"'),  # `100`
        ("lenght(data.items)", "Unknown function: lenght()"),
        ("length(data.items, data.tags)", "Expected 1 argument for function length(), received 2"),
        ("not_null()", "Expected at least 1 argument for function not_null(), received 0"),
        ("data[?length(tags, tags)]", "Expected 1 argument for function length()"),
        ("", "may not be empty"),
        ("   ", "may not be empty"),
        ("a" * (MAX_FILTER_LENGTH + 1), f"at most {MAX_FILTER_LENGTH} characters"),
    ],
)
def test_invalid_filters_are_refused_with_the_parsers_message(expression, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_filter(expression)


def test_a_filter_of_the_longest_length_is_accepted():
    check_filter("a" * MAX_FILTER_LENGTH)
    check_filter("not_null(a, b, c) && merge(`{}`, `{}`)")  # variadic functions


def test_a_stored_filter_and_delivery_control_round_trip_through_dynamodb_and_memory(aws):
    import boto3

    from hookhaven.aws.dynamodb import DynamoConfigStore
    from hookhaven.memory import MemoryConfig
    from hookhaven.models import RateLimit, Secret, Subscription

    subscription = Subscription(
        id="sub_filtered",
        source="bookhaven",
        event_types=("order.*",),
        url="https://inventory.bookhaven.example/hooks",
        secrets=(Secret(value="whsec_x", created_at=1.0),),
        filter="data.total > `100` && contains(data.tags, 'signed')",
        rate=RateLimit.parse("300/m"),
        max_in_flight=4,
        created_at=1.0,
        updated_at=1.0,
    )
    plain = subscription.model_copy(
        update={"id": "sub_plain", "filter": None, "rate": None, "max_in_flight": None}
    )
    for store in (DynamoConfigStore(boto3.client("dynamodb"), aws.config_table), MemoryConfig()):
        store.put_subscription(subscription)
        store.put_subscription(plain)
        routes = {r.id: r for r in store.list_routes()}
        # The receiver's view: the filter, and nothing of the URL, secrets or control.
        assert routes["sub_filtered"] == SubscriptionRoute(
            id="sub_filtered",
            source="bookhaven",
            event_types=("order.*",),
            filter=subscription.filter,
        )
        assert routes["sub_plain"].filter is None
        assert store.get_subscription("sub_filtered") == subscription
        assert store.get_subscription("sub_plain") == plain
        matched = filter_by_content(list(routes.values()), BODY).matched
        assert sorted(r.id for r in matched) == ["sub_filtered", "sub_plain"]
