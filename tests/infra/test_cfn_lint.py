"""cfn-lint on the synthesized template: zero errors."""

from __future__ import annotations

import json

from cfnlint.api import lint_all


def test_template_has_no_cfn_lint_errors(template, tmp_path):
    path = tmp_path / "HookHaven.template.json"
    path.write_text(json.dumps(template.to_json()))
    matches = lint_all(path.read_text())
    errors = [m for m in matches if m.rule.id.startswith("E")]
    assert errors == [], "\n".join(str(m) for m in errors)


def test_cfn_lint_really_reports_errors(template):
    broken = template.to_json()
    broken["Resources"]["Broken"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"VisibilityTimeout": "soon"},
    }
    assert any(m.rule.id.startswith("E") for m in lint_all(json.dumps(broken)))


def test_the_template_with_the_echo_subscriber_has_no_cfn_lint_errors(synth):
    _, template = synth(echo_subscriber=True)
    matches = lint_all(json.dumps(template.to_json()))
    errors = [m for m in matches if m.rule.id.startswith("E")]
    # Lambda function URLs do not exist in every region (the README says so): there, the
    # echo subscriber cannot be deployed, and only it.
    unavailable = [
        m for m in errors if m.rule.id == "E3006" and "'AWS::Lambda::Url' does not exist" in str(m)
    ]
    assert "us-east-1" not in " ".join(str(m) for m in unavailable)
    rest = [m for m in errors if m not in unavailable]
    assert rest == [], "\n".join(str(m) for m in rest)
