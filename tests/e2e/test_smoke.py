"""``hookhaven smoke`` against the local stack: it proves the relay end to end, names the
step that failed when it cannot, and leaves no source, subscription or secret behind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from hookhaven.aws.dynamodb import DynamoConfigStore
from hookhaven.aws.echo import DynamoEchoSecrets
from hookhaven.cli.app import app
from hookhaven.local.echo import LocalEchoSubscriber
from hookhaven.local.stack import LocalStack, local_session
from hookhaven.permissions import ECHO_SECRET_PK
from hookhaven.resources import Resources
from hookhaven.signatures import new_standard_secret
from tests.e2e.chaos_run import last_json_document

pytestmark = pytest.mark.xdist_group("e2e")
runner = CliRunner()


def smoke(stack: LocalStack, *args: str, root: tuple[str, ...] = ()) -> Any:
    """``hookhaven --endpoint-url <emulator> smoke --url <API>``: --local's fixed ports are
    not the fixture's."""
    command = ["--endpoint-url", stack.aws_url, *root, "smoke", "--url", stack.api_url, *args]
    return runner.invoke(app, command)


def dynamodb(stack: LocalStack) -> Any:
    return local_session().client("dynamodb", endpoint_url=stack.aws_url)


def resources(stack: LocalStack) -> Resources:
    assert stack.resources is not None
    return stack.resources


def left_behind(stack: LocalStack) -> dict[str, list[str]]:
    """Whatever a smoke run may have added and not removed."""
    client, table = dynamodb(stack), resources(stack).config_table
    config = DynamoConfigStore(client, table)
    secrets = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": ECHO_SECRET_PK}},
        ConsistentRead=True,
    )["Items"]
    return {
        "sources": [s.name for s in config.list_sources() if s.name.startswith("smoke-")],
        "subscriptions": [s.id for s in config.list_subscriptions()],
        "secrets": [item["sk"]["S"] for item in secrets],
    }


NOTHING: dict[str, list[str]] = {"sources": [], "subscriptions": [], "secrets": []}


def test_smoke_proves_the_local_stack_and_prints_the_timings(stack):
    result = smoke(stack)
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    for line in ("accepted ", "delivered ", "end to end "):
        assert line in out, out
    assert "delivered: attempt 1, 204" in out
    assert "removed the source, the subscription and the secret" in out
    assert left_behind(stack) == NOTHING


def test_smoke_json_gives_the_timings_and_the_event_shows_the_delivery(stack):
    result = smoke(stack, root=("--json",))
    assert result.exit_code == 0, result.stdout + result.stderr
    run = last_json_document(result.stdout)
    assert run["ok"] is True
    assert run["status_code"] == 204
    assert run["source"].startswith("smoke-")
    assert run["subscription_url"].endswith("/" + run["source"])
    timings = run["timings"]
    # The delivery may be answered before the 202 reaches the sender: the message is queued
    # before the receiver records the event and answers.
    assert 0 < timings["accepted_seconds"] <= timings["end_to_end_seconds"] < 30
    assert 0 < timings["delivered_seconds"] <= timings["end_to_end_seconds"]
    assert timings["clock_offset_seconds"] == 0  # one machine, one clock
    assert left_behind(stack) == NOTHING
    # The event and its attempts stay, like any event's: events show tells the story.
    shown = runner.invoke(app, ["--endpoint-url", stack.aws_url, "--json", "events", "show",
                                  run["event_id"]])  # fmt: skip
    assert shown.exit_code == 0, shown.stderr
    story = last_json_document(shown.stdout)
    (delivery,) = story["subscriptions"]
    assert delivery["subscription_id"] == run["subscription_id"]
    assert delivery["state"] == "delivered"


@pytest.fixture
def wrong_secret_made_known(monkeypatch) -> None:
    """A test hook: the echo subscriber is told a secret that is not the subscription's."""
    put = DynamoEchoSecrets.put

    def put_another(self: DynamoEchoSecrets, key: str, secrets: Any, *, expires_at: float) -> None:
        put(self, key, [new_standard_secret()], expires_at=expires_at)

    monkeypatch.setattr(DynamoEchoSecrets, "put", put_another)


@pytest.mark.usefixtures("wrong_secret_made_known")
def test_a_rejected_delivery_fails_at_waiting_for_delivery_and_still_cleans_up(stack):
    result = smoke(stack, "--timeout", "20s")
    assert result.exit_code == 1
    assert result.stderr.startswith('error: smoke failed at "waiting for delivery": ')
    assert "401 invalid_signature" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert left_behind(stack) == NOTHING


@pytest.mark.usefixtures("wrong_secret_made_known")
def test_a_failure_in_json_names_the_step_on_stdout_too(stack):
    result = smoke(stack, "--timeout", "20s", root=("--json",))
    assert result.exit_code == 1
    failed = last_json_document(result.stdout)
    assert failed["ok"] is False
    assert failed["step"] == "waiting for delivery"
    assert left_behind(stack) == NOTHING


def deploy_outputs(stack: LocalStack, name: str, **extra: str) -> None:
    """A CloudFormation stack in the emulator whose outputs name the local stack's resources,
    as a deployed stack's outputs name its own."""
    names = resources(stack)
    outputs = {
        **{output: getattr(names, field) for field, output in Resources.OUTPUTS.items()},
        "ApiUrl": stack.api_url,
        **extra,
    }
    template = {
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }
    cloudformation = local_session().client("cloudformation", endpoint_url=stack.aws_url)
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))


def test_a_stack_is_proved_through_its_echo_subscriber_output(stack, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    secrets = DynamoEchoSecrets(dynamodb(stack), resources(stack).config_table)
    with LocalEchoSubscriber(secrets.get) as echo:
        echo_url = echo.url
        deploy_outputs(stack, "WithEcho", EchoSubscriberUrl=echo_url + "/")
        result = runner.invoke(
            app, ["--endpoint-url", stack.aws_url, "--stack", "WithEcho", "--json", "smoke"]
        )
    assert result.exit_code == 0, result.stdout + result.stderr
    run = last_json_document(result.stdout)
    assert run["api_url"] == stack.api_url
    assert run["subscription_url"] == f"{echo_url}/{run['source']}"
    assert left_behind(stack) == NOTHING


def test_a_stack_without_the_echo_subscriber_fails_at_finding_it(stack, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    deploy_outputs(stack, "WithoutEcho")
    result = runner.invoke(app, ["--endpoint-url", stack.aws_url, "--stack", "WithoutEcho",
                                   "smoke"])  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.startswith('error: smoke failed at "finding the echo subscriber": ')
    assert "hookhaven.echo_subscriber=true" in result.stderr
    assert left_behind(stack) == NOTHING
