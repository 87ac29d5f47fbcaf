"""``hookhaven send``: a correctly signed test event, as the provider would send it."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from hookhaven.cli.render import emit, say
from hookhaven.cli.state import state
from hookhaven.cli.target import CliError
from hookhaven.operations.send import send_test_event


def _data(data: str | None, data_file: Path | None) -> Any:
    if (data is None) == (data_file is None):
        raise CliError("give exactly one of --data or --data-file")
    try:
        text = data if data is not None else Path(str(data_file)).read_text()
    except OSError as error:
        raise CliError(f"--data-file: {error.strerror}: {data_file}") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise CliError(f"the data is not JSON: {error}") from None


def send(
    ctx: typer.Context,
    source_name: Annotated[str, typer.Argument(metavar="SOURCE")],
    event_type: Annotated[str, typer.Option("--type", help="The event type, e.g. order.created")],
    data: Annotated[str | None, typer.Option("--data", help="The event's data as JSON.")] = None,
    data_file: Annotated[
        Path | None, typer.Option("--data-file", help="A file holding the data as JSON.")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="The ingest API's base URL.")] = None,
) -> None:
    """POST a correctly signed test event to a standard or hmac source."""
    st = state(ctx)
    parsed = _data(data, data_file)
    result = send_test_event(
        st.config,
        source_name=source_name,
        event_type=event_type,
        data=parsed,
        base_url=url or st.target.api_url,
        now=time.time(),
    )
    answer = result.response
    output = {"status": result.status, "id": result.event_id, "response": answer}
    if not result.accepted:
        if st.json:
            sys.stdout.write(json.dumps(output) + "\n")
        problem = f"{answer.get('error', '')}: {answer.get('message', answer)}"
        raise CliError(f"{result.status} {problem}".strip())
    duplicate = " (duplicate)" if answer.get("duplicate") else ""
    emit(st, output, lambda: say(st, f"{result.status} {result.event_id}{duplicate}"))
