"""The functions' code asset: built without Docker, importable with only what Lambda provides."""

from __future__ import annotations

import importlib.metadata
import json
import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from standardwebhooks.webhooks import Webhook

from hookhaven.aws.dynamodb import DynamoConfigStore
from hookhaven.aws.echo import DynamoEchoSecrets
from hookhaven.local.provision import provision
from hookhaven.models import Secret, Source, SourceKind, Subscription
from hookhaven.resources import Resources
from hookhaven.signatures import new_standard_secret
from hookhaven.tunables import Tunables
from infra.asset import HOST, LAMBDA_ARM64, build_asset, pinned_requirements
from tests.conftest import EVENTS, FUNCTION_ENVIRONMENT, ROOT
from tests.providers import SECRETS, signed
from tests.subscribers import Subscriber

#: Dependencies of the operator CLI, which the asset does not carry.
CLI_ONLY_DEPENDENCIES = {"typer", "rich"}
#: What the Lambda Python runtime ships besides the standard library.
RUNTIME_PROVIDED = {
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "urllib3",
    "python-dateutil",
    "six",
}

HANDLE_BOTH = """
import json, sys
sys.path.insert(0, sys.argv[1])  # Lambda puts /var/task first
import functions.receiver, functions.dispatcher
class Context:
    function_name = "asset-test"; memory_limit_in_mb = 512; aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:asset-test"
    def get_remaining_time_in_millis(self): return 60000  # the dispatcher's timeout
http = json.loads(sys.argv[2])
received = functions.receiver.handler(http, Context())
# Take the queued delivery the way the SQS event source mapping would, and dispatch it.
import boto3, os
sqs_client = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
messages = sqs_client.receive_message(
    QueueUrl=os.environ["HOOKHAVEN_DELIVERIES_QUEUE_URL"], AttributeNames=["All"]
)["Messages"]
records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m["Attributes"], "messageAttributes": {}, "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:deliveries",
            "awsRegion": "eu-west-1"} for m in messages]
dispatched = functions.dispatcher.handler({"Records": records}, Context())
import pydantic, aws_lambda_powertools
print(json.dumps({
    "receiver_status": received["statusCode"],
    "dispatched": len(records),
    "dispatcher_failures": len(dispatched["batchItemFailures"]),
    "pydantic_from": pydantic.__file__,
    "powertools_from": aws_lambda_powertools.__file__,
}))
"""


@pytest.fixture(scope="module")
def lambda_like_python(tmp_path_factory) -> Path:
    """A fresh virtual environment holding only boto3 (and its dependencies), like Lambda."""
    venv = tmp_path_factory.mktemp("lambda-runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    boto3_version = importlib.metadata.version("boto3")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"boto3=={boto3_version}"],
        check=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    return python


def test_lambda_like_environment_has_only_what_the_runtime_provides(lambda_like_python):
    listed = subprocess.run(
        [str(lambda_like_python), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {p["name"].lower() for p in json.loads(listed.stdout)} - {"pip", "setuptools"}
    assert names <= RUNTIME_PROVIDED
    probe = subprocess.run(
        [str(lambda_like_python), "-I", "-c", "import pydantic"], capture_output=True, check=False
    )
    assert probe.returncode != 0, "pydantic must come from the asset, not the environment"


@pytest.fixture
def moto_server():
    """A moto server on a free loopback port, so the asset's handlers talk to "AWS" locally."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _provisioned(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Resources]:
    """A function's environment, and the stack's resources in the emulator at ``moto_server``."""
    for name, value in FUNCTION_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_server)
    resources = provision(
        dynamodb=dynamodb,
        sqs=boto3.client("sqs", endpoint_url=moto_server),
        s3=boto3.client("s3", endpoint_url=moto_server),
        tunables=Tunables(),
    )
    return dynamodb, resources


def test_both_handlers_import_and_handle_an_event_from_the_asset_alone(
    lambda_like_python, tmp_path, moto_server, monkeypatch
):
    dynamodb, resources = _provisioned(moto_server, monkeypatch)
    subscriber = Subscriber()
    subscriber.__enter__()
    config = DynamoConfigStore(dynamodb, resources.config_table)
    subscription = Subscription(
        id="sub_asset",
        url=subscriber.url,
        secrets=(Secret(value=new_standard_secret(), created_at=time.time()),),
        created_at=time.time(),
        updated_at=time.time(),
    )
    config.put_subscription(subscription)
    config.put_source(
        Source(
            name="bookhaven",
            kind=SourceKind.STANDARD,
            secrets=(Secret(value=SECRETS["standard"], created_at=time.time()),),
            created_at=time.time(),
            updated_at=time.time(),
        )
    )
    webhook = signed(
        json.loads((EVENTS / "http" / "standard_order_created.json").read_text()),
        "standard",
        time.time(),
    )
    asset = build_asset(tmp_path / "build", platform=HOST)
    environment = {
        "PATH": os.environ["PATH"],
        **FUNCTION_ENVIRONMENT,
        **resources.to_env(),
        "AWS_ENDPOINT_URL": moto_server,  # every client of the handlers, as boto3 reads it
        "HOOKHAVEN_ALLOW_LOOPBACK": "true",  # the subscriber listens on 127.0.0.1
    }
    result = subprocess.run(
        [
            str(lambda_like_python),
            "-I",  # no user site, no PYTHONPATH, no current directory
            "-c",
            HANDLE_BOTH,
            str(asset),
            json.dumps(webhook),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        check=False,
    )
    subscriber.__exit__()
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["receiver_status"] == 202
    assert outcome["dispatched"] == 1
    assert outcome["dispatcher_failures"] == 0
    (delivered,) = subscriber.received
    assert delivered.body == webhook["body"].encode()
    Webhook(subscription.secrets[0].value).verify(delivered.body, delivered.headers)
    assert outcome["pydantic_from"].startswith(str(asset))
    assert outcome["powertools_from"].startswith(str(asset))


ECHO_FROM_THE_ASSET = """
import json, sys
sys.path.insert(0, sys.argv[1])
import functions.echo  # AWS_LAMBDA_FUNCTION_NAME is set: builds its client, as in Lambda
answer = functions.echo.handler(json.loads(sys.argv[2]), None)
print(json.dumps({
    "status": answer["statusCode"],
    "loaded": sorted(m for m in ("pydantic", "aws_lambda_powertools") if m in sys.modules),
}))
"""


@pytest.fixture
def empty_moto_server(moto_server):
    """moto keeps its state per process, across servers: an empty one, left empty."""

    def reset() -> None:
        request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(request).read()  # noqa: S310 (loopback)

    reset()
    yield moto_server
    reset()


def test_the_echo_handler_answers_from_the_asset_alone_without_pydantic(
    lambda_like_python, tmp_path, empty_moto_server, monkeypatch
):
    moto_server = empty_moto_server
    dynamodb, resources = _provisioned(moto_server, monkeypatch)
    secret = new_standard_secret()
    DynamoEchoSecrets(dynamodb, resources.config_table).put(
        "smoke-asset", [secret], expires_at=time.time() + 60
    )
    body, now = '{"type": "hookhaven.smoke"}', int(time.time())
    signature = Webhook(secret).sign("msg_asset", datetime.fromtimestamp(now, UTC), body)
    event = {
        "rawPath": "/smoke-asset",
        "headers": {
            "webhook-id": "msg_asset",
            "webhook-timestamp": str(now),
            "webhook-signature": signature,
        },
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {"http": {"method": "POST"}},
    }
    asset = build_asset(tmp_path / "build", platform=HOST)
    environment = {
        "PATH": os.environ["PATH"],
        **FUNCTION_ENVIRONMENT,
        **resources.to_env(),
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_LAMBDA_FUNCTION_NAME": "echo-asset-test",
    }
    result = subprocess.run(
        [str(lambda_like_python), "-I", "-c", ECHO_FROM_THE_ASSET, str(asset), json.dumps(event)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"status": 204, "loaded": []}


def test_lambda_asset_holds_arm64_python314_binaries_only(asset_dir):
    assert asset_dir.name.startswith(LAMBDA_ARM64.name + "-")
    shared_objects = list(asset_dir.rglob("*.so"))
    assert shared_objects, "pydantic-core ships a compiled extension"
    for path in shared_objects:
        assert path.name.endswith(".cpython-314-aarch64-linux-gnu.so"), path.name


def test_asset_holds_functions_and_library_without_cli_only_parts(asset_dir):
    assert (asset_dir / "functions" / "receiver.py").is_file()
    assert (asset_dir / "functions" / "dispatcher.py").is_file()
    assert (asset_dir / "functions" / "echo.py").is_file()
    assert (asset_dir / "hookhaven" / "echo.py").is_file()
    assert (asset_dir / "hookhaven" / "tunables.py").is_file()
    assert not (asset_dir / "hookhaven" / "cli").exists()
    assert not (asset_dir / "hookhaven" / "operations").exists()
    assert not (asset_dir / "hookhaven" / "local").exists()
    assert not list(asset_dir.rglob("__pycache__"))
    for provided in ("boto3", "botocore", "s3transfer"):
        assert not (asset_dir / provided).exists()


def test_asset_pins_are_the_versions_the_tests_run_against():
    pins = pinned_requirements()
    for name, version in pins.items():
        assert importlib.metadata.version(name) == version, name


def test_every_runtime_dependency_is_pinned_for_the_asset():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = pinned_requirements()
    for requirement in project["dependencies"]:
        name = requirement.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip()
        if name.lower() in RUNTIME_PROVIDED or name.lower() in CLI_ONLY_DEPENDENCIES:
            continue
        assert name.lower() in pins, f"{name} is a runtime dependency but not in the asset"
