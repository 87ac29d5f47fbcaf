"""``hookhaven smoke``: prove a deployment end to end, and leave nothing behind."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from hookhaven.aws.echo import DynamoEchoSecrets
from hookhaven.cli.render import emit, say
from hookhaven.cli.state import State, seconds, state
from hookhaven.cli.target import ECHO_URL_OUTPUT, CliError
from hookhaven.local.echo import LocalEchoSubscriber
from hookhaven.local.iam import Policy
from hookhaven.operations import OperationError
from hookhaven.operations.smoke import DEFAULT_TIMEOUT_SECONDS, SmokeFailed, SmokeRun, run_smoke
from hookhaven.permissions import Role

#: Beyond this, a difference between your clock and AWS's is worth a line.
CLOCK_NOTE_SECONDS = 0.5


def smoke(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option("--url", help="The ingest API's base URL (default: the stack's ApiUrl)."),
    ] = None,
    echo_url: Annotated[
        str | None,
        typer.Option(
            "--echo-url",
            help="The echo subscriber's base URL (default: the stack's EchoSubscriberUrl "
            "output; against an emulator, one this command runs on 127.0.0.1).",
        ),
    ] = None,
    timeout: Annotated[
        str,
        typer.Option("--timeout", help="How long to wait for the delivery after the send."),
    ] = f"{DEFAULT_TIMEOUT_SECONDS}s",
) -> None:
    """Send a signed event through the whole relay to an echo subscriber, print the timings,
    and remove the temporary source, subscription and secret again."""
    from hookhaven.cli.app import one_line  # the root command's wording of any error

    st = state(ctx)
    wait = seconds(timeout, "--timeout")
    if wait < 1:
        raise CliError("--timeout: at least 1s")
    target = st.target
    if target.stack:
        target.refresh()  # prove what is deployed now, not what the outputs cache remembers
    local_echo: LocalEchoSubscriber | None = None

    def find_echo() -> str:
        nonlocal local_echo
        if echo_url:
            return echo_url
        if target.stack:
            found = target.stack_output(ECHO_URL_OUTPUT)
            if not found:
                raise OperationError(
                    f"stack {target.stack} has no {ECHO_URL_OUTPUT} output: deploy it with the "
                    'echo subscriber on (make deploy CDK_ARGS="-c hookhaven.echo_subscriber=true")'
                )
            return found
        # The local stack (or another emulator): the same handler, on loopback, with a
        # client of its own allowed what the deployed echo subscriber's role allows.
        policy = Policy(Role.ECHO, target.resources, customer_managed_key=True)
        client = policy.attach(target.new_client("dynamodb"))
        secrets = DynamoEchoSecrets(client, target.resources.config_table)
        local_echo = LocalEchoSubscriber(secrets.get).start()
        return local_echo.url

    try:
        run = run_smoke(
            st.config,
            st.events,
            st.echo_secrets,
            find_api=lambda: url or target.api_url,
            find_echo=find_echo,
            allow_loopback=target.allow_loopback,
            timeout=wait,
            describe=lambda error: one_line(error, target.where),
            report=(lambda line: None) if st.json else (lambda line: say(st, line)),
        )
    except SmokeFailed as failure:
        if st.json:
            failed = {"ok": False, "step": failure.step, "error": str(failure)}
            sys.stdout.write(json.dumps(failed) + "\n")
        raise CliError(str(failure)) from None
    finally:
        if local_echo is not None:
            local_echo.stop()
    emit(st, view(run), lambda: _draw(st, run))


def view(run: SmokeRun) -> dict[str, Any]:
    timings = run.timings
    return {
        "ok": True,
        "source": run.key,
        "subscription_id": run.subscription_id,
        "subscription_url": run.subscription_url,
        "api_url": run.api_url,
        "event_id": run.event_id,
        "sends": run.sends,
        "attempts": run.attempts,
        "status_code": run.status_code,
        "timings": {
            "accepted_seconds": round(timings.accepted, 3),
            "delivered_seconds": round(timings.delivered, 3),
            "end_to_end_seconds": round(timings.end_to_end, 3),
            "clock_offset_seconds": round(timings.clock_offset, 3),
        },
    }


def _draw(st: State, run: SmokeRun) -> None:
    timings = run.timings
    say(st, f"accepted    {timings.accepted:7.3f} s  send to 202")
    say(st, f"delivered   {timings.delivered:7.3f} s  send to the echo subscriber's answer")
    say(st, f"end to end  {timings.end_to_end:7.3f} s  send to the delivery read back")
    if abs(timings.clock_offset) > CLOCK_NOTE_SECONDS:
        say(
            st,
            f"note: AWS's clock seemed {timings.clock_offset:+.1f} s from yours; "
            "the delivered time is corrected for it",
        )
