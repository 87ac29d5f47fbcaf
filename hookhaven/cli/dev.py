"""``hookhaven dev``: the whole relay on this machine (AWS emulator, ingest API, dispatcher)."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hookhaven.aws.dynamodb import DynamoConfigStore
from hookhaven.cli.target import CliError
from hookhaven.durations import format_duration
from hookhaven.models import SourceKind
from hookhaven.operations import config

if TYPE_CHECKING:
    from hookhaven.local.demo import DemoSubscriber
    from hookhaven.local.stack import LocalStack


def dev(
    api_port: Annotated[int, typer.Option("--api-port", help="The ingest API's port.")] = 3000,
    aws_port: Annotated[int, typer.Option("--aws-port", help="The AWS emulator's port.")] = 4566,
    fast_retries: Annotated[
        bool, typer.Option("--fast-retries", help="Retry within seconds, to watch the DLQ fill.")
    ] = False,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="The Book Haven shop and its subscribers.")
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", help="The functions' logs too.")] = False,
    chaos_aws_failure_rate: Annotated[
        float,
        typer.Option(
            "--chaos-aws-failure-rate",
            min=0.0,
            max=0.5,
            help="Fail this share of the receiver's AWS calls with throttling errors.",
        ),
    ] = 0.0,
) -> None:
    """Run the whole relay locally: AWS emulator, ingest API and dispatcher. Ctrl-C stops it."""
    from hookhaven.local.demo import DEMO_SOURCE, demo_subscribers
    from hookhaven.local.stack import LocalStack, PortInUse, project_tunables

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and `kill` both stop cleanly, also when started without a terminal.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    tunables = project_tunables(fast_retries=fast_retries)
    stack = LocalStack(
        api_port=api_port,
        aws_port=aws_port,
        tunables=tunables,
        verbose=verbose,
        aws_failure_rate=chaos_aws_failure_rate,
        watch_operational_events=True,
        say=lambda line: print(line, flush=True),
    )
    try:
        stack.start()
    except PortInUse as error:
        stack.stop()
        raise CliError(str(error)) from None
    subscribers: list[DemoSubscriber] = []
    try:
        schedule = " ".join(format_duration(d) for d in tunables.retry_schedule)
        lines = [
            "hookhaven local stack",
            f"  ingest API     {stack.api_url}/webhooks/<source>",
            f"  AWS emulator   {stack.aws_url} (moto: tables, queues with their DLQ, bucket)",
            f"  retry schedule {schedule}"
            + (
                " (--fast-retries)" if fast_retries else " (as deployed; --fast-retries to shorten)"
            ),
        ]
        bus = tunables.operational_events_bus_name
        lines.append(
            f"  operational events on bus {bus}, printed here as they arrive"
            if bus
            else "  operational events off (operational_events_bus)"
        )
        if demo:
            subscribers = demo_subscribers(say=lambda line: print(line, flush=True))
            secret = demo_setup(stack, DEMO_SOURCE, subscribers)
            lines += [
                f"  demo source    {DEMO_SOURCE} (standard), secret {secret}",
                "  subscribers    "
                + ", ".join(f"{s.name} {s.url}" for s in subscribers)
                + " (flaky fails half its requests)",
            ]
        cli = "hookhaven" if api_port == 3000 and aws_port == 4566 else None
        prefix = f"{cli} --local" if cli else f"hookhaven --endpoint-url {stack.aws_url}"
        send_url = "" if cli else f" --url {stack.api_url}"
        lines += [
            "",
            "Try (in another terminal, after `source .venv/bin/activate`):",
            f"  {prefix} send {DEMO_SOURCE} --type order.created "
            f"--data-file events/bookhaven/order_created.json{send_url}",
            f"  {prefix} events list",
            f"  {prefix} status",
            "",
            "Ctrl-C stops everything.",
        ]
        print("\n".join(lines), flush=True)
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        # The pollers finish their batches first (stack.stop joins them), so the demo
        # subscribers must still be answering: stopping them first would fail in-flight
        # deliveries.
        stack.stop()
        for subscriber in subscribers:
            subscriber.stop()
    print("stopped", flush=True)


def demo_setup(stack: LocalStack, source_name: str, subscribers: list[DemoSubscriber]) -> str:
    """The demo shop's source and one subscription per demo subscriber, each signing with
    the secret that subscriber verifies; returns the source's generated secret."""
    from hookhaven.local.stack import local_session

    assert stack.resources is not None, "started"
    store = DynamoConfigStore(
        local_session().client("dynamodb", endpoint_url=stack.aws_url),
        stack.resources.config_table,
    )
    now = time.time()
    added = config.add_source(
        store, name=source_name, kind=SourceKind.STANDARD, secret=None, now=now
    )
    for subscriber in subscribers:
        config.add_subscription(
            store,
            url=subscriber.url,
            allow_loopback=True,
            source=source_name,
            event_types=("order.*",),
            description=f"Book Haven {subscriber.name} service",
            secret=subscriber.secret,
            now=now,
        )
    assert added.generated_secret is not None, "a standard source without a secret gets one"
    return added.generated_secret
