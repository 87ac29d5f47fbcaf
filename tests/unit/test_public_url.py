"""The URL a provider called, rebuilt from the HTTP API event (Twilio, Square, HubSpot and
Trello sign it)."""

from __future__ import annotations

from functions.receiver import public_url


def event(
    path: str = "/webhooks/twilio",
    query: str = "",
    domain: str = "abc.execute-api.eu-west-1.amazonaws.com",
):
    return {"rawPath": path, "rawQueryString": query, "requestContext": {"domainName": domain}}


def test_the_http_apis_own_domain_path_and_query():
    headers = {"x-forwarded-proto": "https"}
    assert (
        public_url(event(query="a=1&b=%20x"), headers, "")
        == "https://abc.execute-api.eu-west-1.amazonaws.com/webhooks/twilio?a=1&b=%20x"
    )
    assert public_url(event(), {}, "") == (
        "https://abc.execute-api.eu-west-1.amazonaws.com/webhooks/twilio"
    )


def test_the_local_stack_says_http():
    headers = {"x-forwarded-proto": "http", "host": "127.0.0.1:3000"}
    assert (
        public_url(event(domain="127.0.0.1:3000"), headers, "")
        == "http://127.0.0.1:3000/webhooks/twilio"
    )


def test_a_public_base_url_replaces_what_comes_before_webhooks():
    """A custom domain mapping the API under /relay, or a proxy in front."""
    mapped = event(path="/relay/webhooks/square", query="x=1", domain="hooks.example.com")
    assert (
        public_url(mapped, {}, "https://hooks.example.com/relay/")
        == "https://hooks.example.com/relay/webhooks/square?x=1"
    )
    assert (
        public_url(event(path="/webhooks/square"), {}, "https://hooks.example.com/relay")
        == "https://hooks.example.com/relay/webhooks/square"
    )


def test_a_clients_forwarded_headers_cannot_change_the_url_the_receiver_rebuilds():
    """HTTP APIs turn a client's X-Forwarded-* into a Forwarded header and set their own
    (quotas.HTTP_API_FORWARDED_HEADERS); the local stack does the same."""
    from hookhaven.local.api import http_api_event

    event = http_api_event(
        "POST",
        "/webhooks/twilio?a=1",
        {"Host": "127.0.0.1:3000", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil"},
        b"",
        "10.0.0.7",
    )
    headers = event["headers"]
    assert headers["x-forwarded-proto"] == "http"
    assert "x-forwarded-host" not in headers
    assert "proto=https" in headers["forwarded"]
    assert public_url(event, headers, "") == "http://127.0.0.1:3000/webhooks/twilio?a=1"
