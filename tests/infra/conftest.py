"""Synthesize the stack once per test process, with the real Lambda asset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.app import build_app
from infra.asset import build_asset
from infra.stack import HookHavenStack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Infra tests share one worker so the stack is synthesized as few times as possible.
    for item in items:
        if "tests/infra/" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group("infra"))


@pytest.fixture(scope="session")
def asset_dir() -> Path:
    return build_asset()


@pytest.fixture(scope="session")
def synth(asset_dir: Path) -> Callable[..., tuple[HookHavenStack, Template]]:
    """``synth(**context)``: the stack and its template for the given ``hookhaven`` context."""
    cache: dict[str, tuple[HookHavenStack, Template]] = {}

    def make(**context: Any) -> tuple[HookHavenStack, Template]:
        key = repr(sorted(context.items()))
        if key not in cache:
            app = cdk.App(context={"hookhaven": context} if context else None)
            stack = build_app(app, asset_dir=asset_dir)
            cache[key] = (stack, Template.from_stack(stack))
        return cache[key]

    return make


@pytest.fixture(scope="session")
def template(synth: Callable[..., tuple[HookHavenStack, Template]]) -> Template:
    """The template with the defaults of cdk.json."""
    import json

    defaults = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())
    return synth(**defaults["context"]["hookhaven"])[1]
