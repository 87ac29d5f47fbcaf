"""The operator CLI against a moto server on 127.0.0.1, as an operator would drive it."""

from __future__ import annotations

import collections
import contextlib
import io
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from functions.dispatcher import DispatcherFunction
from functions.receiver import ReceiverFunction
from hookhaven import wiring
from hookhaven.aws.dynamodb import DynamoConfigStore, DynamoEventStore
from hookhaven.cli import target as target_module
from hookhaven.cli.app import app
from hookhaven.local.api import LocalApi
from hookhaven.local.poller import QueuePoller
from hookhaven.local.provision import provision
from hookhaven.models import DeliveryMessage
from hookhaven.resources import TIME_SHARDS, Resources
from hookhaven.tunables import Tunables
from hookhaven.verification import InboundRequest, InvalidSignature, verify
from tests.conftest import AWS_ENVIRONMENT, function_logs
from tests.emulator import emulator, free_port
from tests.integration.helpers import queue_depth
from tests.subscribers import Reply, Subscriber
from tests.unit.test_audit import event
from tests.unit.test_ssrf import BLOCKED_URLS, PUBLIC_URLS

REGION = "us-east-1"
TUNABLES = Tunables.from_context(
    {"retry_schedule": ["0s", "1s", "1s"], "retry_jitter": 0, "source_cache_seconds": 0}
)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    # The local stack's emulator: moto held to AWS's quotas, and without stock moto's
    # whole-queue scans on every SQS call (a 500-message redrive is quadratic there).
    with emulator() as url:
        yield url


@pytest.fixture
def env(moto_url, monkeypatch, tmp_path) -> Resources:
    reset = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(reset).read()  # noqa: S310
    for name, value in AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("HOOKHAVEN_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)  # every plain boto3 client in this test
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    resources = provision(
        dynamodb=boto3.client("dynamodb", endpoint_url=moto_url),
        sqs=boto3.client("sqs", endpoint_url=moto_url),
        s3=boto3.client("s3", endpoint_url=moto_url),
        tunables=TUNABLES,
    )
    return resources


runner = CliRunner()


def cli(*args: str, input: str | None = None, ok: bool = True) -> Any:
    result = runner.invoke(app, list(args), input=input)
    if ok:
        assert result.exit_code == 0, f"{args}: {result.stdout}{result.stderr}"
    return result


def cli_json(*args: str, input: str | None = None) -> Any:
    return json.loads(cli("--json", *args, input=input).stdout)


def fails(*args: str, message: str) -> None:
    result = cli(*args, ok=False)
    assert result.exit_code == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def usage_error(*args: str) -> str:
    """The one line ``hookhaven`` (run as a program, through ``main()``) prints for a usage
    mistake, with exit status 2."""
    usage = subprocess.run(
        [sys.executable, "-m", "hookhaven.cli", *args], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2
    (line,) = usage.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


def sqs(moto_url: str) -> Any:
    return boto3.client("sqs", endpoint_url=moto_url)


# --- sources ---------------------------------------------------------------------------


def test_sources_lifecycle_and_secrets_shown_once(env):
    added = cli_json("sources", "add", "bookhaven", "--kind", "standard")
    assert added["name"] == "bookhaven"
    assert added["secret"].startswith("whsec_")
    listing = cli("sources", "list").stdout
    assert "bookhaven" in listing
    assert added["secret"] not in listing
    shown = cli_json("sources", "show", "bookhaven")
    assert shown["kind"] == "standard"
    assert added["secret"] not in json.dumps(shown)
    assert added["secret"] not in json.dumps(cli_json("sources", "list"))
    fails("sources", "add", "bookhaven", "--kind", "standard", message="already exists")
    assert cli_json("sources", "remove", "bookhaven") == {"name": "bookhaven", "removed": True}
    fails("sources", "show", "bookhaven", message="no source named bookhaven")
    fails("sources", "remove", "bookhaven", message="no source named bookhaven")


def test_provider_sources_take_their_secret_from_the_flag_or_stdin(env):
    fails("sources", "add", "stripe", "--kind", "stripe", message="needs the provider's secret")
    added = cli_json(
        "sources", "add", "stripe", "--kind", "stripe", "--secret-stdin", input="whsec_stripe\n"
    )
    assert "secret" not in added  # given, not generated: never echoed
    cli("sources", "add", "github", "--kind", "github", "--secret", "It's a Secret to Everybody")
    fails(
        "sources", "add", "Bad Name", "--kind", "github", "--secret", "x", message="bad source name"
    )
    fails("sources", "add", "std", "--kind", "standard", "--secret", "plain", message="whsec_")
    assert "--kind" in usage_error("sources", "add", "x", "--kind", "nope")


def test_every_kind_in_the_catalog_can_be_added_by_name(env):
    """`sources add NAME --kind <provider>` for every kind `sources kinds` lists, with the
    credential its provider gives (a whsec_ secret for Standard Webhooks senders, a public
    key for Discord and SendGrid)."""
    from tests.provider_cases import CASES

    kinds = cli_json("sources", "kinds")
    credentials = {case.kind: case.source_secret for case in CASES}
    for view in kinds:
        kind = view["kind"]
        secret = credentials.get(kind, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        cli("sources", "add", f"src-{kind}", "--kind", kind, "--secret", secret)
        assert cli_json("sources", "show", f"src-{kind}")["kind"] == kind
    assert len(cli_json("sources", "list")) >= len(kinds) >= 25
    # A Standard Webhooks sender's secret is a whsec_ one, and Discord's a public key.
    fails("sources", "add", "c2", "--kind", "clerk", "--secret", "plain", message="whsec_")
    fails("sources", "add", "d2", "--kind", "discord", "--secret", "not-a-key", message="discord")


def test_hmac_source_options(env):
    cli(
        "sources", "add", "courier", "--kind", "hmac", "--secret", "s3cret",
        "--header", "X-Courier-Signature", "--algorithm", "sha512", "--encoding", "base64",
        "--prefix", "sha512=", "--id-from", "field:id", "--type-from", "header:x-courier-event",
    )  # fmt: skip
    shown = cli_json("sources", "show", "courier")
    assert shown["hmac"] == {
        "header": "x-courier-signature",
        "algorithm": "sha512",
        "encoding": "base64",
        "prefix": "sha512=",
        "id_from": "field:id",
        "type_from": "header:x-courier-event",
    }
    fails("sources", "add", "c2", "--kind", "hmac", "--secret", "s", "--id-from", "body:id",
          message="--id-from")  # fmt: skip


def _verifies(env, name: str, secret: str, when: float | None = None) -> bool:
    source = DynamoConfigStore(boto3.client("dynamodb"), env.config_table).get_source(name)
    assert source is not None
    now = when or time.time()
    body = b'{"type":"order.created"}'
    from hookhaven.signatures import standard_signature_header

    headers = {
        "webhook-id": "m1",
        "webhook-timestamp": str(int(now)),
        "webhook-signature": standard_signature_header([secret], "m1", int(now), body),
    }
    try:
        verify(source, InboundRequest(headers, body), now)
    except InvalidSignature:
        return False
    return True


def test_source_rotation_keeps_the_old_secret_for_the_overlap(env):
    old = cli_json("sources", "add", "bookhaven", "--kind", "standard")["secret"]
    rotated = cli_json("sources", "rotate-secret", "bookhaven")
    new = rotated["secret"]
    assert new != old
    assert 23.9 * 3600 < rotated["old_secret_expires_at"] - time.time() <= 24 * 3600
    assert _verifies(env, "bookhaven", old)
    assert _verifies(env, "bookhaven", new)
    assert not _verifies(env, "bookhaven", old, when=time.time() + 24 * 3600 + 5)
    cli("sources", "rotate-secret", "bookhaven", "--keep-old", "0s")
    assert not _verifies(env, "bookhaven", new)
    fails("sources", "rotate-secret", "bookhaven", "--keep-old", "soon", message="--keep-old")


# --- subscriptions -----------------------------------------------------------------------


def test_subscription_lifecycle(env):
    cli("sources", "add", "bookhaven", "--kind", "standard")
    added = cli_json(
        "subscriptions", "add", "--url", "https://93.184.215.14/hooks", "--source", "bookhaven",
        "--events", "order.*", "--events", "refund.created", "--description", "inventory",
        "--header", "Authorization=Bearer t0ken",
    )  # fmt: skip
    sub_id, secret = added["id"], added["secret"]
    assert sub_id.startswith("sub_")
    assert secret.startswith("whsec_")
    listed = cli("--json", "subscriptions", "list", "--source", "bookhaven").stdout
    assert sub_id in listed
    assert secret not in listed
    assert "t0ken" not in listed
    shown = cli_json("subscriptions", "show", sub_id)
    assert shown["events"] == ["order.*", "refund.created"]
    assert secret not in json.dumps(shown)
    revealed = cli_json("subscriptions", "show", sub_id, "--reveal-secret")
    assert revealed["secrets"][0]["secret"] == secret
    assert revealed["headers"] == {"Authorization": "Bearer t0ken"}

    updated = cli_json("subscriptions", "update", sub_id, "--events", "order.created")
    assert updated["events"] == ["order.created"]
    assert cli_json("subscriptions", "disable", sub_id)["enabled"] is False
    enabled = cli_json("subscriptions", "enable", sub_id)
    assert enabled["enabled"] is True
    assert enabled["status_reason"] is None
    fails("subscriptions", "update", sub_id, message="nothing to update")
    assert cli_json("subscriptions", "remove", sub_id)["removed"] is True
    fails("subscriptions", "show", sub_id, message=f"no subscription with id {sub_id}")
    fails("subscriptions", "disable", "sub_nope", message="no subscription with id sub_nope")


#: A Slack-style webhook URL: the path and the query are the credential.
CREDENTIAL_URL = "https://93.184.215.14/services/T0001/B0001/XXsecretXX?token=t0k3n"


def test_subscription_urls_are_shown_as_their_origin_unless_revealed(env):
    added = cli_json("subscriptions", "add", "--url", CREDENTIAL_URL)
    assert added["url"] == "https://93.184.215.14/…"
    sub_id = added["id"]
    for command in (
        ("subscriptions", "list"),
        ("subscriptions", "show", sub_id),
        ("subscriptions", "update", sub_id, "--description", "slack"),
        ("subscriptions", "disable", sub_id),
        ("subscriptions", "enable", sub_id),
    ):
        shown = cli("--json", *command).stdout
        data = json.loads(shown)
        assert (data[0] if isinstance(data, list) else data)["url"] == "https://93.184.215.14/…"
        for output in (shown, cli(*command).stdout):
            assert "XXsecretXX" not in output, command
            assert "t0k3n" not in output, command
    assert cli_json("subscriptions", "show", sub_id, "--reveal-secret")["url"] == CREDENTIAL_URL
    (listed,) = cli_json("subscriptions", "list", "--reveal-secret")
    assert listed["url"] == CREDENTIAL_URL


def test_the_stack_outputs_cache_is_kept_per_account(env, moto_url, monkeypatch, tmp_path):
    deployed_stack(env, moto_url, "BookHaven")
    monkeypatch.delenv("HOOKHAVEN_ENDPOINT_URL")  # a deployed stack: its outputs are cached
    assert cli_json("--stack", "BookHaven", "sources", "list") == []
    (cached,) = (tmp_path / "cache" / "hookhaven" / "stacks").iterdir()
    assert cached.name == f"123456789012-{REGION}-BookHaven.json"
    # Credentials of another account (moto gives an assumed role's keys its account), where
    # no stack of that name exists: the cache of the first account must not answer.
    other = boto3.client("sts", endpoint_url=moto_url).assume_role(
        RoleArn="arn:aws:iam::111122223333:role/operator", RoleSessionName="cache-test"
    )["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", other["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", other["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", other["SessionToken"])
    fails("--stack", "BookHaven", "sources", "list", message="stack BookHaven not found")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://10.0.0.1/hooks", "non-public"),
        ("https://169.254.169.254/latest", "non-public"),
        ("https://user:pw@93.184.215.14/", "credentials"),
        ("ftp://93.184.215.14/", "only https"),
        ("https://[::ffff:10.0.0.1]/", "non-public"),
    ],
)
def test_subscription_urls_are_checked_like_the_dispatcher_does(env, url, message):
    fails("subscriptions", "add", "--url", url, message=message)


def test_bad_patterns_headers_and_sources_are_refused(env):
    url = "https://93.184.215.14/h"
    fails(
        "subscriptions",
        "add",
        "--url",
        url,
        "--events",
        "order created",
        message="bad event pattern",
    )
    fails("subscriptions", "add", "--url", url, "--header", "nocolon", message="bad --header")
    fails(
        "subscriptions", "add", "--url", url, "--header", "webhook-id=x", message="sets that header"
    )
    fails(
        "subscriptions", "add", "--url", url, "--source", "ghost", message="no source named ghost"
    )


def test_subscription_filter_rate_and_max_in_flight_are_set_shown_changed_and_cleared(
    env, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")  # the table's cells unwrapped
    url = "https://93.184.215.14/h"
    added = cli_json(
        "subscriptions", "add", "--url", url, "--filter", "data.total > `100`",
        "--rate", "5/s", "--max-in-flight", "10",
    )  # fmt: skip
    sub_id = added["id"]
    assert (added["filter"], added["rate"], added["max_in_flight"]) == (
        "data.total > `100`",
        "5/s",
        10,
    )
    plain = cli_json("subscriptions", "add", "--url", url)
    assert (plain["filter"], plain["rate"], plain["max_in_flight"]) == (None, None, None)
    shown = cli_json("subscriptions", "show", sub_id)
    assert (shown["filter"], shown["rate"], shown["max_in_flight"]) == (
        "data.total > `100`",
        "5/s",
        10,
    )
    listed = {v["id"]: v for v in cli_json("subscriptions", "list")}
    assert listed[sub_id]["filter"] == "data.total > `100`"
    assert (listed[plain["id"]]["filter"], listed[plain["id"]]["rate"]) == (None, None)
    text = cli("subscriptions", "show", sub_id).stdout
    assert "filter: data.total > `100`" in text
    assert "rate: 5/s" in text
    assert "max_in_flight: 10" in text
    table = cli("subscriptions", "list").stdout
    (row,) = [line for line in table.splitlines() if sub_id in line]
    assert "data.total > `100`" in row
    assert "5/s, 10 in flight" in row

    updated = cli_json(
        "subscriptions", "update", sub_id, "--filter", "contains(data.tags, 'signed')",
        "--rate", "300/m",
    )  # fmt: skip
    assert (updated["filter"], updated["rate"], updated["max_in_flight"]) == (
        "contains(data.tags, 'signed')", "300/m", 10,
    )  # fmt: skip
    cleared = cli_json("subscriptions", "update", sub_id, "--no-filter", "--no-max-in-flight")
    assert (cleared["filter"], cleared["rate"], cleared["max_in_flight"]) == (None, "300/m", None)
    cleared = cli_json("subscriptions", "update", sub_id, "--no-rate")
    assert cleared["rate"] is None
    stored = DynamoConfigStore(boto3.client("dynamodb"), env.config_table).get_subscription(sub_id)
    assert stored is not None
    assert (stored.filter, stored.rate, stored.max_in_flight) == (None, None, None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--filter", "data.total >"), "bad filter: Invalid jmespath expression: Incomplete "
         'expression: "data.total >" ^'),
        (("--filter", "data.total > 100"), "bad filter: invalid token: Parse error at column 13"),
        (("--filter", "lenght(data.items)"), "bad filter: Unknown function: lenght()"),
        (("--filter", "a" * 1025), "a filter is at most 1024 characters; this one is 1025"),
        (("--rate", "5/h"), "bad rate '5/h': give N/s or N/m with N from 1 to 10000, e.g. 5/s"),
        (("--rate", "0/s"), "bad rate '0/s'"),
        (("--max-in-flight", "0"), "max in-flight is 1 to 1000 deliveries at once, not 0"),
        (("--max-in-flight", "1001"), "max in-flight is 1 to 1000 deliveries at once, not 1001"),
    ],
)  # fmt: skip
def test_bad_filters_rates_and_limits_are_one_line_refusals(env, args, message):
    url = "https://93.184.215.14/h"
    fails("subscriptions", "add", "--url", url, *args, message=message)
    assert cli_json("subscriptions", "list") == []
    sub_id = cli_json("subscriptions", "add", "--url", url)["id"]
    fails("subscriptions", "update", sub_id, *args, message=message)


@pytest.mark.parametrize(
    "args",
    [
        ("--filter", "data", "--no-filter"),
        ("--rate", "5/s", "--no-rate"),
        ("--max-in-flight", "3", "--no-max-in-flight"),
    ],
)
def test_an_option_and_its_no_form_together_are_a_usage_error(env, args):
    result = cli("subscriptions", "update", "sub_x", *args, ok=False)
    assert result.exit_code == 2
    said = " ".join(result.stderr.replace("│", " ").split())  # rich draws it in a box
    assert f"give {args[0]} or --no-{args[0][2:]}, not both" in said


def test_the_no_form_usage_error_is_one_line_from_the_program():
    line = usage_error("subscriptions", "update", "sub_x", "--rate", "5/s", "--no-rate")
    assert "give --rate or --no-rate, not both" in line


def test_loopback_http_is_allowed_only_against_an_emulator(env, monkeypatch):
    cli("subscriptions", "add", "--url", "http://127.0.0.1:9/hooks")
    monkeypatch.delenv("HOOKHAVEN_ENDPOINT_URL")
    # Against AWS (no emulator) the same URL is refused before any AWS call is made.
    fails("--stack", "HookHaven", "subscriptions", "add", "--url", "http://127.0.0.1:9/hooks",
          message="only https")  # fmt: skip


def test_subscription_rotation_signs_with_both_secrets_during_the_overlap(env):
    from hookhaven.dispatch import delivery_headers

    added = cli_json("subscriptions", "add", "--url", "https://93.184.215.14/h")
    rotated = cli_json("subscriptions", "rotate-secret", added["id"], "--keep-old", "1h")
    subscription = DynamoConfigStore(boto3.client("dynamodb"), env.config_table).get_subscription(
        added["id"]
    )
    assert subscription is not None
    message = DeliveryMessage(
        event_id="evt_1",
        subscription_id=added["id"],
        source="bookhaven",
        event_type="order.created",
        received_at=time.time(),
        content_type="application/json",
        body_b64="e30=",
        body_size=2,
    )
    headers = delivery_headers(message, subscription, 1, time.time(), b"{}")
    Webhook(added["secret"]).verify(b"{}", headers)
    Webhook(rotated["secret"]).verify(b"{}", headers)
    later = delivery_headers(message, subscription, 1, time.time() + 3601, b"{}")
    assert len(later["webhook-signature"].split(" ")) == 1


# --- send, events, replay ----------------------------------------------------------------


def settings(env: Resources) -> wiring.FunctionSettings:
    return wiring.FunctionSettings.of(TUNABLES, env, allow_loopback=True)


@pytest.fixture
def local_api(env, moto_url) -> Iterator[str]:
    clients = wiring.AwsClients.create(wiring.RECEIVER_CLIENT_CONFIG, endpoint_url=moto_url)
    function = ReceiverFunction(wiring.build_receiver(settings(env), clients))

    def quiet(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # The receiver logs and prints its metrics to stdout; in this process that is the
        # CLI's stdout under test.
        with contextlib.redirect_stdout(io.StringIO()), function_logs():
            return function.handler(event, context)

    api = LocalApi(quiet, port=0).start()
    yield api.url
    api.stop()


@pytest.fixture
def dispatch(env, moto_url) -> Any:
    config = wiring.dispatcher_client_config(TUNABLES)
    clients = wiring.AwsClients.create(config, endpoint_url=moto_url)
    function = DispatcherFunction(wiring.build_dispatcher(settings(env), clients), settings(env))
    return QueuePoller(
        boto3.client("sqs"), env.deliveries_queue_url, function.handler, wait_seconds=0
    ).poll_once


def test_send_events_show_and_replay(env, local_api, dispatch):
    cli("sources", "add", "bookhaven", "--kind", "standard")
    with Subscriber() as inventory:
        sub = cli_json("subscriptions", "add", "--url", inventory.url, "--events", "order.*")
        sent = cli_json(
            "send", "bookhaven", "--type", "order.created", "--data", '{"order": "BH-1001"}',
            "--url", local_api,
        )  # fmt: skip
        assert sent["status"] == 202
        event_id = sent["id"]
        assert dispatch().failed == set()
        (first,) = inventory.received
        assert first.headers["webhook-id"] == event_id
        Webhook(sub["secret"]).verify(first.body, first.headers)
        assert json.loads(first.body)["data"] == {"order": "BH-1001"}

        listed = cli_json("events", "list", "--source", "bookhaven", "--since", "1h")
        assert [e["id"] for e in listed] == [event_id]
        assert cli_json("events", "list")[0]["id"] == event_id  # every source
        story = cli_json("events", "show", event_id)
        (entry,) = story["subscriptions"]
        assert entry["subscription_id"] == sub["id"]
        assert entry["state"] == "delivered"
        assert entry["attempts"][0]["status_code"] == 200
        assert event_id in cli("events", "show", event_id).stdout

        replayed = cli_json("replay", event_id)
        assert replayed["subscriptions"] == [sub["id"]]
        assert dispatch().failed == set()
        assert [r.headers["webhook-id"] for r in inventory.received] == [event_id, event_id]
        assert inventory.received[1].body == first.body
    fails("replay", event_id, "--subscription", "sub_other", message="was not for subscription")
    fails("events", "show", "evt_missing", message="no event with id evt_missing")


def test_events_show_says_which_subscriptions_the_event_matched(
    env, local_api, dispatch, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")  # lines unwrapped
    cli("sources", "add", "bookhaven", "--kind", "standard")
    with Subscriber() as big_orders, Subscriber() as signed_books:
        big = cli_json(
            "subscriptions", "add", "--url", big_orders.url, "--filter", "data.total > `100`"
        )
        signed = cli_json(
            "subscriptions", "add", "--url", signed_books.url,
            "--filter", "contains(data.tags, 'signed')",
        )  # fmt: skip
        sent = cli_json(
            "send", "bookhaven", "--type", "order.created", "--url", local_api,
            "--data", '{"order": "BH-7", "total": 240, "tags": ["gift"]}',
        )  # fmt: skip
        nobody = cli_json(
            "send", "bookhaven", "--type", "order.created", "--url", local_api,
            "--data", '{"order": "BH-8", "total": 12, "tags": []}',
        )  # fmt: skip
        assert dispatch().failed == set()
        assert [r.headers["webhook-id"] for r in big_orders.received] == [sent["id"]]
        assert signed_books.received == []

    story = cli_json("events", "show", sent["id"])
    assert story["matched"] == [big["id"]]
    assert [entry["subscription_id"] for entry in story["subscriptions"]] == [big["id"]]
    text = cli("events", "show", sent["id"]).stdout
    assert f"matched 1 subscription: {big['id']}" in text
    assert signed["id"] not in text
    assert cli_json("events", "show", nobody["id"])["matched"] == []
    text = cli("events", "show", nobody["id"]).stdout
    assert "matched no subscription (by source, event type and filter): nothing queued" in text


def test_replay_several_events_or_what_a_window_did_not_deliver(env, local_api, dispatch):
    cli("sources", "add", "bookhaven", "--kind", "standard")
    healthy = {"now": False}
    with (
        Subscriber(lambda n: Reply() if healthy["now"] else Reply(500)) as down,
        Subscriber() as fine,
    ):
        a = cli_json("subscriptions", "add", "--url", down.url)["id"]
        b = cli_json("subscriptions", "add", "--url", fine.url)["id"]
        sent = [
            cli_json("send", "bookhaven", "--type", "order.created", "--data", "{}",
                     "--url", local_api)["id"]
            for _ in range(2)
        ]  # fmt: skip
        dispatch()  # fine has both; down failed both and waits for a retry
        cli("subscriptions", "disable", a)
        time.sleep(1.1)
        dispatch()  # the retries are dropped: the subscription is disabled
        states = {
            entry["subscription_id"]: entry["state"]
            for e in sent
            for entry in cli_json("events", "show", e)["subscriptions"]
        }
        assert states[b] == "delivered"
        assert states[a].startswith("dropped: ")
        cli("subscriptions", "enable", a)
        healthy["now"] = True

        # The subscriber is back: what it missed of the last hour, oldest first.
        missed = cli_json("replay", "--since", "1h", "--subscription", a)
        assert missed == {"replayed": [{"id": e, "subscriptions": [a]} for e in sent]}
        dispatch()
        assert {r.headers["webhook-id"] for r in down.received[-2:]} == set(sent)  # concurrently
        assert cli_json("replay", "--since", "1h", "--subscription", a) == {"replayed": []}
        assert cli("replay", "--since", "1h", "--subscription", a).stdout == ("nothing to replay\n")
        everything = cli_json("replay", "--since", "1h", "--subscription", a, "--all")
        assert [r["id"] for r in everything["replayed"]] == sent

        several = cli_json("replay", *sent)
        assert several == {"replayed": [{"id": e, "subscriptions": [a, b]} for e in sent]}
        text = cli("replay", *sent, "--subscription", b).stdout
        assert text == "replaying 2 event(s): 2 deliveries queued\n"  # and no progress bar
        assert cli_json("replay", sent[0]) == {"id": sent[0], "subscriptions": [a, b]}
    fails("replay", sent[0], "evt_missing", message="no event with id evt_missing")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "EVENT_ID"),
        (("--since", "1h"), "--subscription"),
        (("evt_1", "--since", "1h", "--subscription", "sub_a"), "not both"),
        (("evt_1", "--all"), "--all"),
    ],
)
def test_replay_forms_that_do_not_go_together_are_usage_errors(env, args, message):
    result = cli("replay", *args, ok=False)
    assert result.exit_code == 2
    assert message in result.stderr
    assert message in usage_error("replay", *args)


def test_events_list_stops_reading_once_it_has_its_limit(env, monkeypatch):
    store = DynamoEventStore(boto3.client("dynamodb"), env.events_table)
    now = time.time()
    for index in range(3):  # all on the newest day of a 30-day window
        store.accept(event(f"evt_{index}", at=now - index / 1000), None, expires_at=int(now) + 60)
    queries: list[str] = []
    dynamodb = target_module.Target.dynamodb

    def spied(self: target_module.Target) -> Any:
        client = dynamodb(self)
        client.meta.events.register(
            "before-call.dynamodb.Query", lambda **_: queries.append("query"), unique_id="spy"
        )
        return client

    monkeypatch.setattr(target_module.Target, "dynamodb", spied)
    listed = cli_json("events", "list", "--since", "30d", "--limit", "2")
    assert [e["id"] for e in listed] == ["evt_0", "evt_1"]
    assert len(queries) == TIME_SHARDS  # the newest day's partitions, and no more
    queries.clear()
    assert len(cli_json("events", "list", "--since", "30d", "--limit", "1000")) == 3
    assert len(queries) == 31 * TIME_SHARDS


def test_long_reads_show_progress_on_a_terminal_only(env, monkeypatch):
    for args in (("audit",), ("events", "list", "--since", "3d")):
        assert "reading events" not in cli(*args).stdout  # CliRunner's stdout: no terminal
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # as on a terminal
    audit = cli("audit").stdout
    assert "reading events" in audit
    assert "reading attempts" in audit
    assert "reading events" in cli("events", "list", "--since", "3d").stdout
    assert "reading events" not in cli("events", "list", "--since", "1h").stdout  # one day
    json.loads(cli("--json", "audit").stdout)  # nothing but the JSON


def test_audit_accounts_for_every_delivery_and_fails_on_a_lost_one(env, local_api, dispatch):
    cli("sources", "add", "bookhaven", "--kind", "standard")
    with (
        Subscriber() as inventory,
        Subscriber(lambda n: Reply(500)) as warehouse,
        Subscriber(lambda n: Reply(410)) as email,
    ):
        ok = cli_json("subscriptions", "add", "--url", inventory.url)["id"]
        failing = cli_json("subscriptions", "add", "--url", warehouse.url)["id"]
        gone = cli_json("subscriptions", "add", "--url", email.url)["id"]
        paused = cli_json("subscriptions", "add", "--url", inventory.url)["id"]
        cli("subscriptions", "disable", paused)

        def send(order: str) -> str:
            sent = cli_json(
                "send", "bookhaven", "--type", "order.created", "--data",
                json.dumps({"order": order}), "--url", local_api,
            )  # fmt: skip
            assert sent["status"] == 202
            return str(sent["id"])

        # A disabled subscription is not matched at all; the other three get each event.
        events = [send("BH-1"), send("BH-2")]
        dispatch()
        report = cli_json("audit", "--since", "1h")
        assert report["events"] == 2
        assert report["deliveries"] == 6
        assert report["totals"] == {
            "delivered": 2, "pending": 2, "dead_lettered": 0, "dropped": 2, "unaccounted": 0,
        }  # fmt: skip
        assert {p["subscription_id"] for p in report["pending"]} == {failing}
        assert all(p["next_attempt_at"] > time.time() - 5 for p in report["pending"])
        assert {d["subscription_id"] for d in report["dropped"]} == {gone}
        assert any("410" in d["reason"] for d in report["dropped"])
        assert report["subscriptions"][ok]["delivered"] == 2

        for _ in range(3):  # the second and third attempts, then SQS dead-letters them
            time.sleep(1.1)
            dispatch()
        report = cli_json("audit")
        assert report["totals"] == {
            "delivered": 2, "pending": 0, "dead_lettered": 2, "dropped": 2, "unaccounted": 0,
        }  # fmt: skip
        assert {d["event_id"] for d in report["dead_lettered"]} == set(events)
        assert all("status_5xx" in d["reason"] for d in report["dead_lettered"])
        table = cli("audit", "--since", "1h").stdout
        assert "total" in table
        assert "unaccounted" in table

        # A delivery that vanishes from the queue before any attempt is unaccounted.
        lost = send("BH-3")
        boto3.client("sqs").purge_queue(QueueUrl=env.deliveries_queue_url)
        expected = len(cli_json("events", "show", lost)["subscriptions"])
        result = cli("audit", ok=False)
        assert result.exit_code == 1
        assert result.stderr.strip() == f"error: {expected} deliveries are unaccounted for"
        assert f"UNACCOUNTED {lost}" in result.stdout
        assert cli_json("audit", "--source", "elsewhere")["events"] == 0
    fails("audit", "--since", "soon", message="--since")


def test_send_reports_a_rejection_as_an_error(env, local_api):
    cli("sources", "add", "bookhaven", "--kind", "standard")
    cli("sources", "add", "gh", "--kind", "github", "--secret", "s")
    fails(
        "send",
        "gh",
        "--type",
        "push",
        "--data",
        "{}",
        "--url",
        local_api,
        message="standard and hmac",
    )
    fails("send", "bookhaven", "--type", "order.created", "--data", "{oops", "--url", local_api,
          message="not JSON")  # fmt: skip
    fails("send", "bookhaven", "--type", "x", "--data-file", "/nonexistent.json",
          "--url", local_api, message="--data-file")  # fmt: skip
    cli("sources", "rotate-secret", "bookhaven", "--keep-old", "0s")
    # The CLI signs with the newest secret, so this still works after a rotation.
    assert (
        cli_json("send", "bookhaven", "--type", "t", "--data", "{}", "--url", local_api)["status"]
        == 202
    )
    fails("send", "bookhaven", "--type", "t", "--data", "{}", "--url", "http://127.0.0.1:9",
          message="cannot reach")  # fmt: skip


def test_send_for_an_hmac_source_sets_id_and_type_where_configured(env, local_api, dispatch):
    cli(
        "sources", "add", "courier", "--kind", "hmac", "--secret", "s3cret", "--header",
        "x-courier-signature", "--prefix", "sha256=", "--id-from", "field:id", "--type-from",
        "header:x-courier-event",
    )  # fmt: skip
    with Subscriber() as tracker:
        cli("subscriptions", "add", "--url", tracker.url, "--events", "shipment.*")
        sent = cli_json("send", "courier", "--type", "shipment.dispatched", "--data",
                        '{"parcel": "P1"}', "--url", local_api)  # fmt: skip
        assert sent["status"] == 202
        dispatch()
    (received,) = tracker.received
    assert received.headers["hookhaven-event-type"] == "shipment.dispatched"
    assert json.loads(received.body)["id"].startswith("msg_")


# --- dlq -------------------------------------------------------------------------------


def _dead(env, count: int, subscription: str = "sub_a") -> list[str]:
    client = boto3.client("sqs")
    ids = []
    for index in range(count):
        body = DeliveryMessage(
            event_id=f"evt_{index:05d}",
            subscription_id=subscription,
            source="bookhaven",
            event_type="order.created",
            received_at=time.time(),
            content_type="application/json",
            body_b64="e30=",
            body_size=2,
        ).model_dump_json()
        ids.append(
            client.send_message(QueueUrl=env.dead_letter_queue_url, MessageBody=body)["MessageId"]
        )
    return ids


def test_dlq_list_show_and_filtered_redrive(env):
    a = _dead(env, 3, "sub_a")
    _dead(env, 2, "sub_b")
    listed = cli_json("dlq", "list")
    assert len(listed) == 5
    only_a = cli_json("dlq", "list", "--subscription", "sub_a")
    assert sorted(item["message_id"] for item in only_a) == sorted(a)
    assert len(cli_json("dlq", "list", "--limit", "2")) == 2
    shown = cli_json("dlq", "show", a[0])
    assert shown["subscription_id"] == "sub_a"
    assert shown["reason"] == "retries exhausted"
    fails("dlq", "show", "nope", message="no message nope")
    # Browsing released everything: all five are still there and visible.
    assert len(cli_json("dlq", "list")) == 5

    assert cli_json("dlq", "redrive", "--subscription", "sub_a", "--dry-run") == {
        "matched": 3,
        "moved": 0,
        "dry_run": True,
    }
    assert queue_depth(env.dead_letter_queue_url) == 5
    moved = cli_json("dlq", "redrive", "--subscription", "sub_a", "--max", "2")
    assert moved["moved"] == 2
    assert queue_depth(env.deliveries_queue_url) == 2
    assert queue_depth(env.dead_letter_queue_url) == 3
    remaining = {item["subscription_id"] for item in cli_json("dlq", "list")}
    assert remaining == {"sub_a", "sub_b"}


def test_redrive_sends_before_it_deletes(env, monkeypatch):
    _dead(env, 13)  # two receives: ten, then three
    calls: list[tuple[str, int]] = []
    original_client = boto3.client

    class Spy:
        def __init__(self, client: Any) -> None:
            self._client = client

        def __getattr__(self, name: str) -> Any:
            return getattr(self._client, name)

        def send_message_batch(self, **kwargs: Any) -> Any:
            calls.append(("send", len(kwargs["Entries"])))
            return self._client.send_message_batch(**kwargs)

        def delete_message_batch(self, **kwargs: Any) -> Any:
            calls.append(("delete", len(kwargs["Entries"])))
            if len(calls) == 4:
                raise KeyboardInterrupt  # the operator's Ctrl-C between send and delete
            return self._client.delete_message_batch(**kwargs)

    original = target_module.Target.sqs
    monkeypatch.setattr(target_module.Target, "sqs", lambda self: Spy(original(self)))
    result = runner.invoke(app, ["dlq", "redrive"])
    assert result.exit_code != 0
    assert calls == [("send", 10), ("delete", 10), ("send", 3), ("delete", 3)]
    # Interrupted after the second batch was sent: those three exist twice, none is lost,
    # and the DLQ copies are visible again at once for the next redrive.
    monkeypatch.setattr(target_module.Target, "sqs", original)
    assert queue_depth(env.deliveries_queue_url) == 13
    assert len(cli_json("dlq", "list")) == 3  # sent but not deleted: visible again at once
    assert cli_json("dlq", "redrive")["moved"] == 3
    event_ids = [
        json.loads(m["Body"])["event_id"]
        for _ in range(3)
        for m in boto3.client("sqs")
        .receive_message(
            QueueUrl=env.deliveries_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
        )
        .get("Messages", [])
    ]
    # Every dead letter is on the deliveries queue; the interrupted ones twice, none never.
    counts = collections.Counter(event_ids)
    assert len(counts) == 13
    assert sorted(counts.values()) == [1] * 10 + [2] * 3
    del original_client


def test_redrive_of_500_messages_shows_progress(env, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # as on a terminal: rich draws progress bars
    _dead(env, 500)
    result = cli("dlq", "redrive")
    assert "500/500" in result.stdout
    assert "moved 500 message(s)" in result.stdout
    assert queue_depth(env.deliveries_queue_url) == 500
    assert queue_depth(env.dead_letter_queue_url) == 0


def test_redrive_draws_no_progress_bar_into_a_pipe_or_json(env):
    _dead(env, 30)
    piped = cli("dlq", "redrive").stdout  # CliRunner's stdout is no terminal
    assert piped == "moved 30 message(s) back to the deliveries queue\n"
    _dead(env, 30)
    assert json.loads(cli("--json", "dlq", "redrive").stdout)["moved"] == 30


# --- status and targeting ------------------------------------------------------------------


def test_status_reports_queues_and_the_last_hour(env, local_api, dispatch):
    cli("sources", "add", "bookhaven", "--kind", "standard")
    with Subscriber(lambda n: Reply(500)) as broken, Subscriber() as fine:
        bad = cli_json("subscriptions", "add", "--url", broken.url)["id"]
        cli("subscriptions", "add", "--url", fine.url)
        cli("send", "bookhaven", "--type", "order.created", "--data", "{}", "--url", local_api)
        dispatch()
    _dead(env, 2)
    report = cli_json("status")
    assert report["dead_letter_queue"]["visible"] == 2
    assert report["last_hour"]["attempts"] == 2
    assert report["last_hour"]["delivered"] == 1
    assert report["last_hour"]["success_rate"] == 0.5
    assert report["last_hour"]["failing_subscriptions"] == [
        {"subscription_id": bad, "failed_attempts": 1}
    ]
    queue = report["deliveries_queue"]
    assert queue["visible"] + queue["in_flight_or_waiting_to_retry"] == 1  # the 500's retry
    assert "dead-letter queue: 2 message(s)" in cli("status").stdout


def deployed_stack(env: Resources, moto_url: str, name: str) -> None:
    """A CloudFormation stack whose outputs name the emulator's resources, as cdk deploy's."""
    outputs = {
        "ConfigTableName": env.config_table,
        "EventsTableName": env.events_table,
        "DeliveriesQueueUrl": env.deliveries_queue_url,
        "DeadLetterQueueUrl": env.dead_letter_queue_url,
        "BodiesBucketName": env.bodies_bucket,
        "ApiUrl": "https://abc.execute-api.us-east-1.amazonaws.com",
    }
    template = {
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }
    boto3.client("cloudformation", endpoint_url=moto_url).create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )


def test_stack_outputs_name_the_resources(env, moto_url, monkeypatch):
    deployed_stack(env, moto_url, "BookHaven")
    cli("sources", "add", "bookhaven", "--kind", "standard")
    listed = cli_json("--stack", "BookHaven", "sources", "list")
    assert [s["name"] for s in listed] == ["bookhaven"]
    added = cli_json("--stack", "BookHaven", "sources", "add", "shop", "--kind", "standard")
    assert added["url"] == "https://abc.execute-api.us-east-1.amazonaws.com/webhooks/shop"
    fails("--stack", "Nope", "sources", "list", message="stack Nope not found")


def test_every_internal_target_in_the_corpus_is_refused_at_subscriptions_add(
    env, moto_url, monkeypatch
):
    # A deployed stack (outputs from CloudFormation, no emulator): loopback is refused too.
    deployed_stack(env, moto_url, "BookHaven")
    monkeypatch.delenv("HOOKHAVEN_ENDPOINT_URL")
    for url in BLOCKED_URLS:
        fails("--stack", "BookHaven", "subscriptions", "add", "--url", url, message="non-public")
    assert cli_json("--stack", "BookHaven", "subscriptions", "list") == []
    added = cli_json(
        "--stack", "BookHaven", "subscriptions", "add", "--url", PUBLIC_URLS[0], "--reveal-secret"
    )
    assert added["url"] == PUBLIC_URLS[0]


def test_an_emulator_that_is_not_running_is_one_clear_line(env, monkeypatch):
    monkeypatch.setenv("HOOKHAVEN_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    fails("sources", "list", message="is the local stack running")
    fails("--local", "status", message="")


def test_missing_credentials_is_one_clear_line(env, monkeypatch, tmp_path):
    monkeypatch.delenv("HOOKHAVEN_ENDPOINT_URL")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    fails("sources", "list", message="no AWS credentials found")


def test_subscriptions_show_and_status_tell_where_each_subscription_stands(env, moto_url):
    from hookhaven.aws.control import DynamoControlStore

    healthy = cli_json("subscriptions", "add", "--url", "https://93.184.215.14/inventory")["id"]
    down = cli_json("subscriptions", "add", "--url", "https://93.184.215.14/warehouse")["id"]
    gone = cli_json("subscriptions", "add", "--url", "https://93.184.215.14/email")["id"]
    control = DynamoControlStore(boto3.client("dynamodb", endpoint_url=moto_url), env.events_table)
    now = time.time()
    for _ in range(20):
        control.record_failure(down, now=now - 60, failure="status_5xx")
    control.open_circuit(down, now=now - 60, probe_at=now + 30, interval=60)
    cli("subscriptions", "disable", gone)

    assert cli_json("subscriptions", "show", healthy)["delivery"]["state"] == "closed"
    shown = cli_json("subscriptions", "show", down)["delivery"]
    assert shown["state"] == "open"
    assert shown["consecutive_failures"] == 20
    assert shown["last_failure"] == "status_5xx"
    assert shown["open_since"] == pytest.approx(now - 60)
    assert shown["next_probe_at"] == pytest.approx(now + 30)
    assert "open since" in cli("subscriptions", "show", down).stdout
    control.take_probe(down, now=now + 31, lease_until=now + 3600)  # a probe in flight
    assert cli_json("subscriptions", "show", down)["delivery"]["state"] == "probing"
    disabled = cli_json("subscriptions", "show", gone)["delivery"]
    assert disabled["state"] == "disabled"
    assert disabled["reason"] == "disabled by an operator"

    report = cli_json("status")["subscriptions_not_flowing"]
    assert {(s["subscription_id"], s["state"]) for s in report} == {
        (down, "probing"),
        (gone, "disabled"),
    }
    text = cli("status").stdout
    assert f"{down}: open since" in text
    assert f"{gone}: disabled: disabled by an operator" in text
    listing = {row["id"]: row["delivery"]["state"] for row in cli_json("subscriptions", "list")}
    assert listing == {healthy: "closed", down: "probing", gone: "disabled"}

    # Enabled again by an operator: the circuit is forgotten, deliveries flow.
    cli("subscriptions", "enable", down)
    assert cli_json("subscriptions", "show", down)["delivery"]["state"] == "closed"
    assert control.circuit(down).failures == 0
