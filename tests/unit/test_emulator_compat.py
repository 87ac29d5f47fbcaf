"""The emulator patches moto only at the versions its patches were written for.

With the pinned moto and werkzeug (which the development lock, constraints.txt, installs)
every name the patches replace is there. With any other version, or a replaced name
missing, it patches nothing, says so in one line, and still serves stock moto. An
upgrade in the lock fails here until someone updates ``compat.PINNED``, which asks them
to run tests/e2e/test_emulator.py against the new version first.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from werkzeug.test import Client

from hookhaven.local.emulator import compat, server
from tests.emulator import free_port, wait_until_listening

ROOT = Path(__file__).resolve().parent.parent.parent
LOCK = ROOT / "constraints.txt"
LAMBDA_REQUIREMENTS = ROOT / "infra" / "lambda-requirements.txt"


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, by normalized name."""
    found = {}
    for line in path.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, separator, version = requirement.partition("==")
            assert separator, f"{path.name}: not an exact pin: {line!r}"
            found[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return found


def other_moto(monkeypatch: pytest.MonkeyPatch, version: str = "5.3.0") -> None:
    real = compat.installed_version
    monkeypatch.setattr(
        compat, "installed_version", lambda name: version if name == "moto" else real(name)
    )


def test_the_installed_moto_and_werkzeug_are_the_pinned_ones():
    # Fails after an upgrade in the lock: run tests/e2e/test_emulator.py against the new
    # versions (fixing the patches as needed), then update compat.PINNED.
    assert {name: compat.installed_version(name) for name in compat.PINNED} == compat.PINNED
    assert {name: pins(LOCK)[name] for name in compat.PINNED} == compat.PINNED


def test_at_the_pinned_versions_every_patch_target_is_there():
    compatibility = compat.check()
    assert compatibility.ok, compatibility.message
    assert compatibility.missing == ()
    assert compat.check(targets=False).ok


def test_another_moto_falls_back_with_one_line_naming_both_versions(monkeypatch):
    other_moto(monkeypatch)
    compatibility = compat.check()
    assert not compatibility.ok
    message = compatibility.message
    assert "\n" not in message
    assert message.startswith("hookhaven emulator: WARNING:")
    assert "moto 5.3.0" in message  # installed
    assert "moto 5.2.5" in message  # pinned
    assert "slower" in message
    assert "make dev" in message
    assert "constraints.txt" in message


def test_a_missing_patch_target_falls_back(monkeypatch):
    from moto.sqs.models import Queue

    monkeypatch.delattr(Queue, "wait_for_messages")
    compatibility = compat.check()
    assert not compatibility.ok
    assert compatibility.missing == ("moto.sqs.models:Queue.wait_for_messages",)
    assert "moto.sqs.models:Queue.wait_for_messages" in compatibility.message
    assert "stock moto" in compatibility.message


def _moto_state() -> dict[str, dict[str, Any]]:
    """Every attribute of every moto module and of the classes the patches touch."""
    import moto.dynamodb.models
    import moto.dynamodb.responses
    import moto.s3.models
    import moto.sqs.models
    from moto.moto_server import werkzeug_app

    owners: dict[str, Any] = {
        name: module
        for name, module in list(sys.modules.items())
        if name == "moto" or name.startswith("moto.")
    }
    for cls in (
        moto.sqs.models.Message,
        moto.sqs.models.Queue,
        moto.sqs.models.SQSBackend,
        moto.dynamodb.models.DynamoDBBackend,
        moto.dynamodb.models.table.Table,
        moto.dynamodb.responses.DynamoHandler,
        werkzeug_app.DomainDispatcherApplication,
    ):
        owners[cls.__qualname__] = cls
    return {name: dict(vars(owner)) for name, owner in owners.items()}


def _same(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    return [
        f"{owner}.{name}"
        for owner, attributes in before.items()
        for name in attributes.keys() | after[owner].keys()
        if attributes.get(name) is not after[owner].get(name)
    ]


def test_the_fallback_application_serves_stock_moto_and_patches_nothing(monkeypatch, capsys):
    other_moto(monkeypatch)
    before = _moto_state()
    app = server.application()
    assert _same(before, _moto_state()) == []
    (warning,) = capsys.readouterr().err.splitlines()
    assert warning == compat.check().message

    response = Client(app).post(
        "/",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/dynamodb/"
            "aws4_request, SignedHeaders=host;x-amz-target, Signature=0",
        },
        data="{}",
    )
    assert response.status_code == 200
    assert "TableNames" in json.loads(response.get_data())


def test_a_patch_that_does_not_fit_is_undone_before_any_request(monkeypatch, capsys):
    from moto.dynamodb.models.table import Table

    # Table.query is there, but takes other arguments: found only while patching, after
    # the core and SQS patches are in.
    monkeypatch.setattr(Table, "query", lambda self, hash_key, index_name=None: None)
    before = _moto_state()
    compatibility = server.install()
    assert not compatibility.ok
    assert _same(before, _moto_state()) == []
    (warning,) = capsys.readouterr().err.splitlines()
    assert warning == compatibility.message
    assert "moto.dynamodb.models.table:Table.query" in warning
    assert "stock moto" in warning


def test_patches_are_undone_latest_first():
    class Owner:
        inherited = "base"

    class Child(Owner):
        own = "child"

    patches = compat.Patches()
    patches.set(Child, "own", "one")
    patches.set(Child, "own", "two")
    patches.set(Child, "inherited", "patched")
    assert (Child.own, Child.inherited, len(patches)) == ("two", "patched", 3)
    patches.undo()
    assert (Child.own, Child.inherited, len(patches)) == ("child", "base", 0)
    assert "inherited" not in vars(Child)


def test_without_moto_the_emulator_says_what_to_install_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(compat, "SERVER_MODULES", ("moto", "hookhaven_no_such_module"))
    with pytest.raises(compat.MotoMissing) as missing:
        compat.require_moto()
    assert "hookhaven_no_such_module is not installed" in str(missing.value)
    assert "pip install 'hookhaven[local]'" in str(missing.value)
    monkeypatch.setenv("MOTO_PORT", "4566")  # main() sets it if unset: undone after the test
    with pytest.raises(SystemExit) as exited:
        server.main(["-H", "127.0.0.1", "-p", "0"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"error: {missing.value}\n"


FALLBACK_EMULATOR = """
import sys
from hookhaven.local.emulator import compat, server
compat.installed_version = lambda name: "0.0.1" if name == "moto" else compat.PINNED[name]
server.main(sys.argv[1:])
"""


def test_the_fallback_emulator_serves_botocore_and_warns_first(tmp_path):
    port = free_port()
    stderr = tmp_path / "stderr"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", FALLBACK_EMULATOR, "-H", "127.0.0.1", "-p", str(port)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_until_listening(process, port, stderr.read_text)
        session = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
        )
        url = f"http://127.0.0.1:{port}"
        sqs: Any = session.client("sqs", endpoint_url=url)
        queue = sqs.create_queue(QueueName="fallback")["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody="hello")
        (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
        assert message["Body"] == "hello"
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        dynamodb: Any = session.client("dynamodb", endpoint_url=url)
        assert dynamodb.list_tables()["TableNames"] == []
    finally:
        process.terminate()
        process.wait(timeout=10)
    first = stderr.read_text().splitlines()[0]
    assert first.startswith("hookhaven emulator: WARNING: moto 0.0.1 and Werkzeug")
    assert "moto 5.2.5" in first


def test_the_lock_agrees_with_the_lambda_pins():
    lock, lambda_pins = pins(LOCK), pins(LAMBDA_REQUIREMENTS)
    assert {name: lock.get(name) for name in lambda_pins} == lambda_pins


def test_the_environment_is_the_lock():
    """What the tests run against is what the lock pins (make test installs it)."""
    from importlib.metadata import version

    lock = pins(LOCK)
    assert "hookhaven" not in lock
    del lock["pip"]  # the installer, not something the tests run against
    assert {name: version(name) for name in lock} == lock
