"""The local stack's AWS emulator: moto's server, patched for speed and for atomic requests.

moto answers the same API as AWS, but several of its paths cost time in proportion
to everything it holds, which made a surge slower with every event already kept, and
its server spent more on each request than the request itself:

- DynamoDB ``TransactWriteItems`` backed up every table it touches (``copy.deepcopy``)
  to roll back on failure. Here it keeps copies of just the items it touches, and a
  failed transaction puts back exactly those (``dynamodb``).
- SQS scanned the whole queue several times per message sent and received (to count
  messages for attributes nobody asked for), scanned it again per receipt handle to
  delete a message or change its visibility, and read the clock through two datetime
  conversions per message and scan. Here the counts are made only when a caller reads
  them (GetQueueAttributes), receipt handles are looked up in an index (``sqs``), and
  the clock is ``time.time()``, what moto computes, the long way (``core``).
- werkzeug's development server closed the connection after every response, so each
  call paid for a new connection and a new thread; here connections stay open
  (``server``).
- Every DynamoDB Query page listed and sorted the whole table to pick out a few items;
  here a query on the table's key reads its partition, one on an index skips the sort
  (``dynamodb``).
- Every request listed moto's package directory, tried hundreds of URL patterns to
  find its service, and listed its handler's methods; the answers never change, so
  they are kept (``core``). Item results (plain DynamoDB JSON) are written as JSON
  directly rather than through moto's shape-walking serializer (``dynamodb``). Nothing
  is logged per request (``server``).
- EventBridge's PutEvents refused nothing for its size; here a request over
  EventBridge's limit is refused as EventBridge refuses it (``events``), and rules on a
  bus deliver to their SQS targets as moto's do (the local stack's operational events).

moto's threaded server has no locking of its own: two requests could interleave a
conditional write's check and its write, two receives could take the same message,
and a transaction's rollback could undo a concurrent write. AWS makes each request
atomic, and so does this server: one request at a time runs in moto (a long-polling
ReceiveMessage gives way while it waits, and ends, as SQS's does, when a message
becomes visible again). The emulator is bound by one core anyway: this costs about 5%
of its throughput (``server``).

The patches replace private names of moto, werkzeug and ``http.server``, and copy some
of moto's code, so they hold for the exact moto and werkzeug they were written against
(``compat.PINNED``, also pinned by the development lock, constraints.txt). With other
versions, or if a name they replace is missing, the emulator patches nothing and serves
stock moto, still one request at a time, after one warning line on stderr (``compat``).

tests/e2e/test_emulator.py checks that it answers as stock moto does;
tests/unit/test_emulator_compat.py checks the pins and the fallback.

Run as ``python -m hookhaven.local.emulator -H 127.0.0.1 -p 4566``. It needs moto's
server (the ``local`` extra: ``pip install 'hookhaven[local]'``); ``compat.require_moto()``
says so in one line when it is missing.
"""

from __future__ import annotations

from hookhaven.local.emulator.dynamodb import VERIFY_ENVIRONMENT
from hookhaven.local.emulator.server import PROFILE_ENVIRONMENT, application, main

__all__ = ["PROFILE_ENVIRONMENT", "VERIFY_ENVIRONMENT", "application", "main"]
