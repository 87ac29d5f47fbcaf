"""The CLI's rendering decisions and its cache of a stack's outputs, without AWS."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from hookhaven.cli.render import progress_bars, shows_progress
from hookhaven.cli.state import State
from hookhaven.cli.target import Target, read_cached_outputs, write_cached_outputs
from hookhaven.resources import Resources
from tests.conftest import RESOURCES


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def console(file: io.StringIO) -> Console:
    return Console(file=file, _environ={})  # the real environment may force a terminal


def test_progress_bars_are_drawn_on_a_terminal_only_and_never_into_json():
    assert shows_progress(console(Terminal()), as_json=False)
    assert not shows_progress(console(Terminal()), as_json=True)
    assert not shows_progress(console(io.StringIO()), as_json=False)


def test_without_a_terminal_a_long_operation_gets_no_progress_and_prints_nothing():
    target = Target(stack=None, endpoint_url="http://127.0.0.1:9", local=False)
    piped = io.StringIO()
    with progress_bars(State(target, as_json=False, console=console(piped))) as stages:
        assert stages is None
    assert piped.getvalue() == ""
    drawn = Terminal()
    with progress_bars(State(target, as_json=False, console=console(drawn))) as stages:
        assert stages is not None
        stages("reading events")(3, 30)
    assert "reading events" in drawn.getvalue()
    assert "3/30" in drawn.getvalue()
    with progress_bars(
        State(target, as_json=False, console=console(Terminal())), wanted=False
    ) as stages:
        assert stages is None


def test_cached_outputs_are_reread_when_the_cache_is_of_an_older_format(tmp_path):
    path = tmp_path / "stacks" / "eu-west-1-HookHaven.json"
    assert read_cached_outputs(path) is None
    outputs = {output: f"value-{name}" for name, output in Resources.OUTPUTS.items()}
    write_cached_outputs(path, {**outputs, "ApiUrl": "https://api", "DashboardName": "d"})
    cached = read_cached_outputs(path)
    assert cached == {**outputs, "ApiUrl": "https://api"}
    assert Resources.from_outputs(cached).config_table == "value-config_table"
    # What earlier versions wrote: the resources' own field names, and api_url.
    path.write_text(json.dumps({**vars(RESOURCES), "api_url": None}))
    assert read_cached_outputs(path) is None
    path.write_text("{not json")
    assert read_cached_outputs(path) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/XXXX", "https://hooks.slack.com/…"),
        ("https://discord.com/api/webhooks/1/abc", "https://discord.com/…"),
        ("https://example.com/?token=abc", "https://example.com/…"),
        ("https://example.com#frag", "https://example.com/…"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com:8443/hooks", "https://example.com:8443/…"),
        ("https://[2606:4700::1111]/in", "https://[2606:4700::1111]/…"),
        ("https://user:pass@example.com/", "https://example.com/"),
    ],
)
def test_a_subscription_url_is_shown_as_its_origin(url, shown):
    from hookhaven.cli.subscriptions import shown_url

    assert shown_url(url, reveal=False) == shown
    assert shown_url(url, reveal=True) == url
