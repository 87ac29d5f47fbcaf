"""The long chaos run: 10,000 Book Haven orders through the local stack (make bench).

Same as tests/e2e/test_chaos.py (misbehaving subscribers, the receiver's AWS calls
throttled at random, providers retrying), five times the events. Prints throughput,
the audit's totals, duplicates at subscribers and whether anything leaked.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.chaos_run import chaos_stack, leaks, needles, run  # noqa: E402
from tests.emulator import free_port  # noqa: E402

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000


def main() -> None:
    started = time.time()
    with chaos_stack(free_port(), free_port()) as stack:
        result = run(stack, EVENTS)
    totals = result.audit["totals"]
    secrets = needles(result)
    sinks = {
        "logs": result.logs,
        "metrics": result.metrics,
        "attempt records": result.records,
        "CLI output": result.cli_output,
    }
    leaked = {where: len(leaks(secrets, text)) for where, text in sinks.items()}
    print(f"chaos run: {EVENTS} events, 3 misbehaving subscribers, 5% of AWS calls throttled")
    print(
        f"  posted in {result.post_seconds:.0f} s ({EVENTS / result.post_seconds:.0f} events/s "
        f"accepted, with the client's retries), drained {result.drain_seconds:.0f} s later; "
        f"{time.time() - started:.0f} s in all"
    )
    print(f"  audit: {totals}")
    print(f"  dead-letter queue: {result.dead_letter_messages} message(s)")
    print(f"  client retries by status: {dict(result.client_retries)}")
    print(f"  AWS calls failed on purpose: {result.injected_aws_failures}")
    print(f"  receipts beyond the first at subscribers (same webhook-id): {result.duplicates()}")
    print(f"  requests cut before their body was whole: {result.incomplete}")
    print(f"  secrets or signatures found in: {leaked}")
    ok = (
        totals["unaccounted"] == 0
        and totals["pending"] == 0
        and len(result.accepted) == EVENTS
        and not any(leaked.values())
    )
    print(f"  nothing lost, nothing leaked: {'yes' if ok else 'NO'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
