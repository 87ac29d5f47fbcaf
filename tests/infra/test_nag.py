"""cdk-nag's AWS Solutions pack: no finding left unacknowledged, every acknowledgment reasoned."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks

from infra.app import build_app


def nag_report(
    tmp_path: Path,
    asset_dir: Path,
    *,
    acknowledge: bool = True,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    app = cdk.App(
        outdir=str(tmp_path / "cdk.out"), context={"hookhaven": context} if context else None
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    if not acknowledge:
        from infra.stack import HookHavenStack

        # Same stack, without the acknowledgments, to prove the pack really runs.
        original = HookHavenStack._acknowledge_nag_findings
        HookHavenStack._acknowledge_nag_findings = lambda self: None  # type: ignore[method-assign]
        try:
            build_app(app, asset_dir=asset_dir)
        finally:
            HookHavenStack._acknowledge_nag_findings = original  # type: ignore[method-assign]
    else:
        build_app(app, asset_dir=asset_dir)
    with contextlib.suppress(RuntimeError):
        app.synth()  # validation failures stop the synth; the report says why
    report: dict[str, Any] = json.loads(
        (tmp_path / "cdk.out" / "validation-report.json").read_text()
    )
    (plugin,) = report["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions"
    return dict(plugin)


@pytest.mark.parametrize(
    "context", [None, {"echo_subscriber": True}], ids=["default", "echo_subscriber"]
)
def test_aws_solutions_pack_has_no_unacknowledged_finding(tmp_path, asset_dir, context):
    report = nag_report(tmp_path, asset_dir, context=context)
    assert report["violations"] == []
    assert report["conclusion"] == "success"
    acknowledged = report["suppressedViolations"]
    assert acknowledged, "expected the reasoned acknowledgments to be reported"
    for finding in acknowledged:
        reason = finding["reason"]
        assert len(reason) >= 60, f"{finding['ruleName']}: reason too thin: {reason!r}"


@pytest.mark.parametrize(
    "rule", ["AwsSolutions-IAM4", "AwsSolutions-IAM5", "AwsSolutions-S1", "AwsSolutions-APIG4"]
)
def test_acknowledgments_are_what_keeps_the_pack_green(tmp_path, asset_dir, rule):
    report = nag_report(tmp_path, asset_dir, acknowledge=False)
    assert report["conclusion"] == "failure"
    assert any(v["ruleName"].startswith(rule) for v in report["violations"])
