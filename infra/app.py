"""CDK app: ``cdk synth`` / ``cdk deploy`` run ``python -m infra.app`` (see cdk.json)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks

from hookhaven.tunables import ConfigurationError, Tunables
from infra.asset import build_asset
from infra.stack import HookHavenStack

CONTEXT_KEY = "hookhaven"


def tunables_from_app(app: cdk.App) -> Tunables:
    """The ``hookhaven`` context object, with ``-c hookhaven.<name>=value`` overrides on top."""
    context: dict[str, Any] = dict(app.node.try_get_context(CONTEXT_KEY) or {})
    overrides = {}
    for name in Tunables.model_fields:
        value = app.node.try_get_context(f"{CONTEXT_KEY}.{name}")
        if value is not None:
            overrides[name] = value
    return Tunables.from_context(context, **overrides)


def build_app(app: cdk.App, *, asset_dir: Path | None = None) -> HookHavenStack:
    tunables = tunables_from_app(app)
    code = lambda_.Code.from_asset(str(asset_dir or build_asset()))
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    return HookHavenStack(app, tunables.stack_name, tunables=tunables, code=code, env=env)


def main() -> None:
    app = cdk.App()
    # cdk-nag's AWS Solutions pack: an unacknowledged finding stops the synth.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    try:
        build_app(app)
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    app.synth()


if __name__ == "__main__":
    main()
