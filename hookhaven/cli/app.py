"""``hookhaven``: the operator CLI for sources, subscriptions, events, replay and the DLQ.

A thin layer over ``hookhaven.operations``: each command parses its options, calls one
operation and renders what it returns (``hookhaven.cli.render``). Errors are turned into
one line on stderr in one place, the root command (``HookhavenGroup.invoke``).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from hookhaven.cli import (
    audit,
    dev,
    dlq,
    events,
    send,
    smoke,
    sources,
    status,
    subscriptions,
)
from hookhaven.cli.render import error_line
from hookhaven.cli.state import State
from hookhaven.cli.target import CliError, Target, explain
from hookhaven.operations import OperationError
from hookhaven.ports import StorageUnavailable

#: How typer (and its click) stop a command: an exit, an abort, a usage error (exit 2).
_CONTROL_FLOW = (typer.Exit, typer.Abort, typer.TyperException)


def one_line(error: Exception, where: str) -> str:
    """What went wrong, for the operator: the operation's own words, or AWS's explained."""
    if isinstance(error, (CliError, OperationError)):
        return str(error)
    if isinstance(error, StorageUnavailable):
        cause = error.__cause__
        return str(explain(cause, where=where)) if isinstance(cause, Exception) else str(error)
    return str(explain(error, where=where))  # AWS client failures, mostly


class HookhavenGroup(TyperGroup):
    """The root command. Every subcommand runs inside its ``invoke``, so this is the one
    place an error becomes ``error: <one line>`` on stderr and exit status 1, whether the
    CLI runs from ``main()`` or under typer's ``CliRunner``."""

    # typer runs every command with its own Context, a subclass of its click's.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except _CONTROL_FLOW:
            raise
        except Exception as error:
            where = ctx.obj.target.where if isinstance(ctx.obj, State) else "AWS"
            error_line(one_line(error, where))
            raise typer.Exit(1) from None


app = typer.Typer(
    name="hookhaven",
    cls=HookhavenGroup,
    help="Operate hookhaven: sources, subscriptions, events, replay and the dead-letter queue.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(sources.app, name="sources")
app.add_typer(subscriptions.app, name="subscriptions")
app.add_typer(events.app, name="events")
app.add_typer(dlq.app, name="dlq")
app.command("send")(send.send)
app.command("replay")(events.replay)
app.command("audit")(audit.audit)
app.command("status")(status.status)
app.command("smoke")(smoke.smoke)
app.command("dev")(dev.dev)


@app.callback()
def main_options(
    ctx: typer.Context,
    stack: Annotated[
        str | None,
        typer.Option("--stack", envvar="HOOKHAVEN_STACK", help="CloudFormation stack name."),
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option("--endpoint-url", envvar="HOOKHAVEN_ENDPOINT_URL", help="An AWS emulator."),
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="The local stack (make dev) on 127.0.0.1.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    refresh: Annotated[
        bool, typer.Option("--refresh-outputs", help="Read the stack's outputs again.")
    ] = False,
) -> None:
    target = Target(stack=stack, endpoint_url=endpoint_url, local=local, refresh=refresh)
    ctx.obj = State(target, as_json=as_json)


def main() -> None:
    """Entry point: usage mistakes, like every other error, are one line on stderr."""
    try:
        result = app(standalone_mode=False)
    except typer.TyperException as error:  # a usage error: exit status 2
        error_line(error.format_message())
        sys.exit(error.exit_code)
    except typer.Abort:
        error_line("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        error_line("interrupted")
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)


__all__ = ["app", "main"]
