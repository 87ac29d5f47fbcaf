"""The CDK app as `make synth` and `make deploy` run it: the pinned CLI, cdk.json, context."""

from __future__ import annotations

import json
import os
import subprocess

import aws_cdk as cdk
import pytest

from infra.app import tunables_from_app
from tests.conftest import ROOT

CDK = ROOT / "node_modules" / ".bin" / "cdk"


def test_command_line_context_overrides_cdk_json():
    app = cdk.App(
        context={
            "hookhaven": {"batch_size": 5, "retention_days": 30},
            "hookhaven.batch_size": "7",
            "hookhaven.retry_schedule": "0s,1m,20m",
        }
    )
    tunables = tunables_from_app(app)
    assert tunables.batch_size == 7
    assert tunables.retry_schedule == (0, 60, 1200)
    assert tunables.retention_days == 30


def run_cdk(*args: str) -> subprocess.CompletedProcess[str]:
    if not CDK.exists():
        pytest.fail("the pinned CDK CLI is missing: run `make test`, which runs `npm ci` first")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "CDK_DEFAULT_"))
    }
    env |= {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_VERSION_CHECK": "1"}
    return subprocess.run(
        [str(CDK), *args, "--no-notices"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )


def test_pinned_cli_synthesizes_the_app_without_credentials(tmp_path):
    out = tmp_path / "cdk.out"
    result = run_cdk("synth", "--quiet", "-o", str(out), "-c", "hookhaven.retry_schedule=0s,1m")
    assert result.returncode == 0, result.stderr
    template = json.loads((out / "HookHaven.template.json").read_text())
    queues = [r for r in template["Resources"].values() if r["Type"] == "AWS::SQS::Queue"]
    redrives = [
        q["Properties"]["RedrivePolicy"] for q in queues if "RedrivePolicy" in q["Properties"]
    ]
    # A backstop at SQS's maximum, whatever the schedule (holds are receives too).
    assert [r["maxReceiveCount"] for r in redrives] == [1000]
    report = json.loads((out / "validation-report.json").read_text())
    assert report["pluginReports"][0]["conclusion"] == "success"


def test_bad_context_stops_the_synth_with_the_setting_named(tmp_path):
    result = run_cdk(
        "synth", "--quiet", "-o", str(tmp_path / "out"), "-c", "hookhaven.batch_size=0"
    )
    assert result.returncode != 0
    assert "invalid hookhaven settings" in result.stderr
    assert "batch_size" in result.stderr
