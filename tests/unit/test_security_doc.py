"""docs/SECURITY.md names a test for every mitigation: each one must exist."""

import ast
import re

from tests.conftest import ROOT

DOC = (ROOT / "docs" / "SECURITY.md").read_text()


def named_tests() -> list[tuple[str, str]]:
    """(file, test) pairs; ``::test_x`` alone refers to the file named before it."""
    found, current = [], None
    for file, name in re.findall(r"`(tests/[\w/]+\.py)?::(test_\w+)`", DOC):
        current = file or current
        assert current is not None, name
        found.append((current, name))
    return found


def test_every_test_the_threat_model_names_exists():
    named = named_tests()
    assert len(named) >= 30
    for file, name in named:
        tree = ast.parse((ROOT / file).read_text())
        functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in functions, f"{file}::{name}"


def test_every_threat_the_issue_lists_has_a_section():
    for title in (
        "Forged webhooks",
        "Replayed and re-typed webhooks",
        "SSRF from subscriber URLs",
        "Secret leakage",
        "Secrets at rest",
        "Payload and surge abuse",
        "Floods of unauthenticated requests",
        "Over-broad IAM",
    ):
        section = DOC.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
        assert "*Mitigation:*" in section
        assert "*Proof:*" in section
