"""The AWS quotas and behaviours hookhaven depends on, each with the page AWS documents it on.

One catalog, used by the settings' validation (``hookhaven.tunables``), by the code
that must stay inside a limit (fan-out batches, retry delays, body sizes), by the
local stack's emulator and API (which refuse what AWS refuses, as AWS refuses it)
and by the tests. When AWS changes a figure, change it here and nowhere else.

Pure data: no boto3, nothing imported at run time beyond the standard library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    """One limit: its value, what AWS says of it, and where AWS says it."""

    value: int
    unit: str
    what: str
    source: str


# --- Lambda ------------------------------------------------------------------------------

#: Over it, Lambda refuses the invocation (Invoke: RequestEntityTooLargeException, HTTP 413)
#: and the handler never runs. What API Gateway then answers the client is not documented;
#: the local API assumes (an assumption, not AWS's word) that it passes the 413 on in its own
#: error shape, ``413 {"message":"Request Entity Too Large"}``, as for a body over its own
#: limit (``HTTP_API_PAYLOAD``).
LAMBDA_SYNC_PAYLOAD = Quota(
    6_291_456,
    "bytes",
    "A synchronous invocation's request (and response) payload is at most 6 MB, the whole "
    "event JSON included; API Gateway invokes the receiver synchronously.",
    "AWS Lambda Developer Guide, 'Lambda quotas' (gettingstarted-limits); Lambda API "
    "Reference, Invoke",
)
LAMBDA_TIMEOUT_MAX = Quota(
    900,
    "seconds",
    "A function runs for at most 15 minutes.",
    "AWS Lambda Developer Guide, 'Lambda quotas'",
)

# --- API Gateway HTTP API ----------------------------------------------------------------

HTTP_API_PAYLOAD = Quota(
    10 * 1024 * 1024,
    "bytes",
    "An HTTP API takes request bodies up to 10 MB (the Lambda invocation limit binds first).",
    "Amazon API Gateway Developer Guide, 'Quotas for configuring and running an HTTP API'",
)
#: What HTTP API answers over this quota is not documented either. The local API answers
#: ``431 {"message":"Request Header Fields Too Large"}``: 431 is the status HTTP defines for
#: exactly this (RFC 6585, section 5), and it is what users report getting from API Gateway
#: for oversized cookie headers; 413 would say the body is too large, which it is not.
#: Either way the request is refused with a 4xx before it reaches the receiver.
HTTP_API_REQUEST_LINE_AND_HEADERS = Quota(
    10_240,
    "bytes",
    "The request line and the header values together are at most 10,240 bytes.",
    "Amazon API Gateway Developer Guide, 'Quotas for configuring and running an HTTP API'",
)
HTTP_API_INTEGRATION_TIMEOUT = Quota(
    30,
    "seconds",
    "An HTTP API waits at most 30 seconds for its integration.",
    "Amazon API Gateway Developer Guide, 'Quotas for configuring and running an HTTP API'",
)
#: Payload format 2.0 hands the body over as text for these media types and base64-encodes
#: every other one (``isBase64Encoded``): form-encoded bodies (Slack slash commands, GitHub
#: with content type form) arrive base64-encoded. API Gateway Developer Guide, 'Create AWS
#: Lambda proxy integrations for HTTP APIs'; AWS Compute Blog, 'Handling binary data using
#: Amazon API Gateway HTTP APIs'.
HTTP_API_TEXT_MEDIA_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
)
HTTP_API_TEXT_SUFFIXES = ("+json", "+xml")


def http_api_sends_as_text(content_type: str) -> bool:
    """Whether HTTP API passes a body of this content type as text (else base64)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind.startswith(HTTP_API_TEXT_MEDIA_TYPES) or kind.endswith(HTTP_API_TEXT_SUFFIXES)


#: How much a body can grow inside the event JSON. Base64 takes 4 bytes for every 3; text
#: is JSON-escaped, and a control character becomes ``\\u00XX``: 6 bytes for 1.
BASE64_GROWTH = 4 / 3
JSON_ESCAPE_GROWTH = 6
#: The rest of an HTTP API v2 event around the body: the request line and headers appear
#: up to twice (``headers``, and ``rawPath``/``rawQueryString``/``requestContext``), each
#: JSON-escaped, with the request context's fixed fields.
HTTP_API_EVENT_ENVELOPE_BYTES = 4 * HTTP_API_REQUEST_LINE_AND_HEADERS.value + 8 * 1024


def largest_body_that_always_fits() -> int:
    """The largest body whose HTTP API event fits Lambda's synchronous payload limit,
    however HTTP API encodes it (worst case: text of control characters, escaped 6x)."""
    room = LAMBDA_SYNC_PAYLOAD.value - HTTP_API_EVENT_ENVELOPE_BYTES
    return int(room // max(JSON_ESCAPE_GROWTH, BASE64_GROWTH))


# --- SQS ---------------------------------------------------------------------------------

SQS_VISIBILITY_MAX = Quota(
    43_200,
    "seconds",
    "A received message stays invisible for at most 12 hours in all, counted from when it "
    "was received; a ChangeMessageVisibility asking for more than the time left is refused "
    "with InvalidParameterValue (SQS does not shorten it for you).",
    "Amazon SQS API Reference, ChangeMessageVisibility; SQS Developer Guide, 'Visibility timeout'",
)
SQS_MESSAGE_SIZE_MAX = Quota(
    1_048_576,
    "bytes",
    "A queue's MaximumMessageSize may be set up to 1 MiB (raised from 256 KiB in 2026); "
    "a message larger than its queue's setting is refused (InvalidParameterValue).",
    "Amazon SQS Developer Guide, 'Amazon SQS message quotas'; AWS Compute Blog, 'More room "
    "to build: serverless services now support payloads up to 1 MB'",
)
#: What hookhaven sets MaximumMessageSize of its queues to: the size every region and
#: every account has had since 2013, well above any message hookhaven sends (inline
#: bodies are bounded below so that one always fits).
DELIVERY_MESSAGE_SIZE_MAX = 262_144
SQS_BATCH_ENTRIES = Quota(
    10,
    "entries",
    "A SendMessageBatch (or DeleteMessageBatch, ChangeMessageVisibilityBatch) holds at most "
    "10 entries (TooManyEntriesInBatchRequest).",
    "Amazon SQS Developer Guide, 'Amazon SQS message quotas'",
)
#: SendMessageBatch: the sum of the entries' sizes may not exceed the message size limit
#: (BatchRequestTooLong). hookhaven packs its batches to its own queues' limit, which is
#: below every value AWS has allowed. Amazon SQS API Reference, SendMessageBatch.
SQS_BATCH_PAYLOAD_MAX = DELIVERY_MESSAGE_SIZE_MAX
SQS_DELAY_MAX = Quota(
    900,
    "seconds",
    "A message can be delayed at most 15 minutes.",
    "Amazon SQS Developer Guide, 'Amazon SQS message quotas'",
)
SQS_RETENTION_MAX = Quota(
    1_209_600,
    "seconds",
    "A queue keeps a message at most 14 days; a dead-letter queue's expiry counts from the "
    "original enqueue.",
    "Amazon SQS Developer Guide, 'Amazon SQS message quotas'; 'Using dead-letter queues'",
)
SQS_MAX_RECEIVE_COUNT_MAX = Quota(
    1000,
    "receives",
    "A redrive policy's maxReceiveCount is 1 to 1,000; every receive counts, including those "
    "whose Lambda invocation was throttled or failed.",
    "Amazon SQS Developer Guide, 'Using dead-letter queues'; AWS Lambda Developer Guide, "
    "'Using Lambda with Amazon SQS'",
)

# --- Lambda's SQS event source mapping ---------------------------------------------------

ESM_BATCH_SIZE_MAX = Quota(
    10_000,
    "messages",
    "A standard queue's event source mapping takes batches of 1 to 10,000 messages; above 10 "
    "it needs a batching window of at least 1 second.",
    "AWS Lambda Developer Guide, 'Lambda parameters for Amazon SQS event source mappings'",
)
ESM_BATCHING_WINDOW_MAX = Quota(
    300,
    "seconds",
    "MaximumBatchingWindowInSeconds is 0 to 300.",
    "AWS Lambda Developer Guide, 'Lambda parameters for Amazon SQS event source mappings'",
)
ESM_BATCH_PAYLOAD = Quota(
    6_291_456,
    "bytes",
    "A batch also ends when its payload reaches 6 MB.",
    "AWS Lambda Developer Guide, 'How Lambda processes records from stream and queue-based "
    "event sources'",
)
ESM_MAX_CONCURRENCY = Quota(
    1000,
    "invocations",
    "An SQS event source mapping's maximum concurrency is 2 to 1,000; above it, batches wait "
    "in the queue instead of being throttled back into it.",
    "AWS Lambda Developer Guide, 'Configuring maximum concurrency for Amazon SQS event sources'",
)

# --- DynamoDB ----------------------------------------------------------------------------

DYNAMODB_ITEM_SIZE_MAX = Quota(
    409_600,
    "bytes",
    "An item, attribute names and values together, is at most 400 KB (ValidationException).",
    "Amazon DynamoDB Developer Guide, 'Service, account, and table quotas'",
)
DYNAMODB_TRANSACTION_ITEMS_MAX = Quota(
    100,
    "items",
    "A TransactWriteItems holds at most 100 actions and 4 MB; each costs twice the units.",
    "Amazon DynamoDB Developer Guide, 'Service, account, and table quotas'; 'Transactions'",
)
DYNAMODB_PARTITION_WRITE_UNITS = Quota(
    1000,
    "write units per second",
    "One partition takes at most 1,000 write units (1 KB each) per second; a global secondary "
    "index that throttles throttles writes to its base table.",
    "Amazon DynamoDB Developer Guide, 'Partitions and data distribution'; 'Global secondary "
    "indexes: write throttling'",
)

# --- CloudWatch --------------------------------------------------------------------------

CLOUDWATCH_METRIC_MATH_METRICS_MAX = Quota(
    10,
    "metrics",
    "An alarm on a metric math expression may use at most 10 metrics.",
    "Amazon CloudWatch User Guide, 'Alarms on metric math expressions'",
)


# --- EventBridge (operational events) ----------------------------------------------------

EVENTBRIDGE_PUT_EVENTS_SIZE_MAX = Quota(
    1_048_576,
    "bytes",
    "The entries of one PutEvents request, measured as EventBridge measures them "
    "(``put_events_entry_size``), total at most 1 MB (raised from 256 KB in January 2026); "
    "over it the whole request is refused with a ValidationException.",
    "Amazon EventBridge User Guide, 'Calculating Amazon EventBridge PutEvents event entry "
    "size' (eb-putevent-size) and PutEvents in the API Reference (both still say 256 KB); "
    "AWS Compute Blog, 'More room to build: serverless services now support payloads up to "
    "1 MB'",
)
#: What hookhaven holds one operational event to: the size every region has accepted
#: since EventBridge began (as ``DELIVERY_MESSAGE_SIZE_MAX`` for queues). An event is a
#: few hundred bytes of ids; one larger than this is a bug, logged and not sent.
OPERATIONAL_EVENT_SIZE_MAX = 262_144
#: Time counts 14 bytes, whatever its value (eb-putevent-size).
EVENTBRIDGE_ENTRY_TIME_BYTES = 14
EVENTBRIDGE_PUT_EVENTS_ENTRIES = Quota(
    10,
    "entries",
    "A PutEvents request holds 1 to 10 entries (a ValidationException over it).",
    "Amazon EventBridge API Reference, PutEvents (Entries: array members 1 to 10); Amazon "
    "EventBridge User Guide, 'Amazon EventBridge quotas'",
)
EVENTBRIDGE_EVENT_PRICE = Quota(
    1,
    "US dollars per million events",
    "Custom events put on a bus cost $1.00 per million, each 64 KB chunk of an event "
    "counting as one event; events from AWS services on the default bus are free. Not "
    "verified against AWS's own page here: the figure is the one AWS's pricing page gave "
    "as of 2026, as quoted by third-party cost guides.",
    "Amazon EventBridge pricing (aws.amazon.com/eventbridge/pricing)",
)


def put_events_entry_size(
    *,
    source: str,
    detail_type: str,
    detail: str | None,
    resources: Sequence[str] = (),
    time: bool = True,
) -> int:
    """A PutEvents entry's size as EventBridge computes it (eb-putevent-size): 14 bytes for
    a Time, and the UTF-8 bytes of Source, DetailType, Detail and each resource."""
    size = EVENTBRIDGE_ENTRY_TIME_BYTES if time else 0
    size += len(source.encode()) + len(detail_type.encode())
    size += len(detail.encode()) if detail is not None else 0
    return size + sum(len(resource.encode()) for resource in resources)


# --- IAM and KMS: how AWS decides what a function may do --------------------------------


@dataclass(frozen=True)
class Behaviour:
    """An AWS rule with no number: what the relay's grants and the local stack rely on."""

    what: str
    source: str


DYNAMODB_LEADING_KEYS = Behaviour(
    "dynamodb:LeadingKeys is the partition key value of every item a request touches; it "
    "must be used with ForAllValues. Scan cannot be limited by it, so a function that must "
    "stay inside some partitions is never granted Scan.",
    "Amazon DynamoDB Developer Guide, 'Using IAM policy conditions for fine-grained access "
    "control' (specifying-conditions)",
)
DYNAMODB_ATTRIBUTES = Behaviour(
    "dynamodb:Attributes lists the attribute names a request reads, writes or tests in a "
    "condition; with it the policy must name the table's key attributes, and "
    "StringEqualsIfExists dynamodb:Select = SPECIFIC_ATTRIBUTES stops a Query asking for "
    "every attribute. ReturnValues ALL_OLD/ALL_NEW would return the rest: allow only NONE, "
    "UPDATED_OLD, UPDATED_NEW.",
    "Amazon DynamoDB Developer Guide, 'Using IAM policy conditions for fine-grained access "
    "control', examples 1 and 2; IAM User Guide, 'Amazon DynamoDB: Allows access to "
    "specific attributes'",
)
DYNAMODB_TRANSACTION_ACTIONS = Behaviour(
    "TransactWriteItems is authorized item by item: each Put, Update, Delete needs "
    "PutItem, UpdateItem, DeleteItem on that item, a ConditionCheck needs ConditionCheckItem.",
    "Amazon DynamoDB Developer Guide, 'Using IAM with DynamoDB transactions'",
)
SQS_BATCH_ACTIONS = Behaviour(
    "SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch need the "
    "permission of the single action (sqs:SendMessage, ...); there is no batch permission.",
    "Amazon SQS Developer Guide, 'Amazon SQS API permissions: Actions and resource reference'",
)
KMS_AWS_MANAGED_DYNAMODB_KEY = Behaviour(
    "The AWS-managed aws/dynamodb key's policy lets every principal of the account use it "
    "through DynamoDB: whoever may read a table encrypted with it reads its items in "
    "plaintext. A customer-managed key is used through DynamoDB only by principals its key "
    "policy or their IAM policy allows (kms:Decrypt for reads; CDK also grants Encrypt, "
    "ReEncrypt* and GenerateDataKey* for writes, which hookhaven spells out).",
    "AWS KMS Developer Guide, 'How Amazon DynamoDB uses AWS KMS' (key policy of the AWS "
    "managed key); Amazon DynamoDB Developer Guide, 'DynamoDB encryption at rest'",
)
HTTP_API_NO_WAF = Behaviour(
    "AWS WAF protects REST APIs, not HTTP APIs: a web ACL cannot be associated with the "
    "relay's endpoint. It can be associated with a CloudFront distribution in front of it.",
    "Amazon API Gateway Developer Guide, 'Use AWS WAF to protect your REST APIs in API "
    "Gateway'; AWS WAF Developer Guide, 'What is AWS WAF' (resources you can protect)",
)
HTTP_API_RAW_PATH = Behaviour(
    "In an HTTP API's payload 2.0 event, rawPath is the path after any API mapping of a "
    "custom domain: with the mapping 'relay' on hooks.example.com, a request for "
    "/relay/webhooks/twilio has rawPath /webhooks/twilio and domainName hooks.example.com. "
    "The URL a provider signed is then rebuilt only with public_base_url.",
    "Amazon API Gateway Developer Guide, 'Create AWS Lambda proxy integrations for HTTP APIs "
    "in API Gateway' (payload format differences: rawPath)",
)
HTTP_API_FORWARDED_HEADERS = Behaviour(
    "HTTP APIs translate a client's X-Forwarded-* headers into a standard Forwarded header "
    "and append the source IP, host and protocol: the x-forwarded-proto a function sees is "
    "API Gateway's own (https; HTTP APIs serve HTTPS only), never the client's.",
    "Amazon API Gateway Developer Guide, 'Amazon API Gateway important notes' (HTTP APIs)",
)
HTTP_API_STAGE_THROTTLE = Behaviour(
    "An HTTP API stage's default route throttle is one token bucket for every caller and "
    "every route: requests over it get 429 before any integration runs, genuine or not. "
    "API Gateway also throttles all APIs of the account and region together (10,000 "
    "requests per second, burst 5,000).",
    "Amazon API Gateway Developer Guide, 'Throttle requests to your HTTP APIs for better "
    "throughput'; 'Quotas for configuring and running an HTTP API'",
)
EVENTBRIDGE_PARTIAL_FAILURE = Behaviour(
    "PutEvents processes every entry and answers HTTP 200 even when some fail: the "
    "response's FailedEntryCount counts them, and each failed entry of Entries (in the "
    "request's order) has an ErrorCode and ErrorMessage instead of an EventId. A caller "
    "that only catches errors misses them.",
    "Amazon EventBridge User Guide, 'Sending events with PutEvents' (Handling failures "
    "with PutEvents); Amazon EventBridge API Reference, PutEvents (FailedEntryCount)",
)
EVENTBRIDGE_BUS_NAMES = Behaviour(
    "An entry's EventBusName is the name or the ARN of a bus; without it the entry goes "
    "to the account's default bus, named \"default\". A custom bus's name is 1 to 256 of "
    "A-Z a-z 0-9 . - _ (no '/', which only partner buses have) and cannot be \"default\".",
    "Amazon EventBridge API Reference, PutEventsRequestEntry (EventBusName) and "
    "CreateEventBus (Name: length 1-256, pattern [/\\.\\-_A-Za-z0-9]+)",
)
EVENTBRIDGE_BUS_ARN = Behaviour(
    "events:PutEvents is authorized on the event-bus resource "
    "arn:${Partition}:events:${Region}:${Account}:event-bus/${EventBusName}, the default "
    "bus included (event-bus/default): a role may be allowed to put on one bus only.",
    "Service Authorization Reference, 'Actions, resources, and condition keys for Amazon "
    "EventBridge' (resource type event-bus); AWS SAM Developer Guide, policy template "
    "EventBridgePutEventsPolicy",
)
DYNAMODB_CONDITIONAL_WRITES = Behaviour(
    "A conditional PutItem, UpdateItem or DeleteItem checks its condition and writes the "
    "item as one atomic step, so concurrent writers of one item never both succeed against "
    "the same state (delivery control's slots, leases, probes and circuit transitions rely "
    "on it; moto in process does not lock, the local emulator does). A write whose "
    "condition fails still consumes write capacity (counted in the README's costs).",
    "Amazon DynamoDB Developer Guide, 'Condition expressions' (conditional writes) and "
    "'DynamoDB read and write operations' (capacity unit consumption for writes)",
)
DYNAMODB_DOCUMENT_PATHS = Behaviour(
    "SET on a nested map element (leases.#id) requires the map to exist, else the request "
    "is refused as an invalid document path; size(path) in a condition is a map's number of "
    "elements. Delivery control creates the lease map with one conditional SET, then adds "
    "to it under size(leases) < maximum.",
    "Amazon DynamoDB Developer Guide, 'Using update expressions in DynamoDB' (SET, nested "
    "attributes) and 'Condition and filter expressions, operators, and functions' (size)",
)
SQS_VISIBILITY_SECONDS = Behaviour(
    "ChangeMessageVisibility takes whole seconds (0 to 43,200): a delivery held until a "
    "rate slot is hidden for the whole seconds before it and waits out the fraction inside "
    "its invocation.",
    "Amazon SQS API Reference, 'ChangeMessageVisibility' (VisibilityTimeout, Integer)",
)
KMS_KEY_PRICE = Quota(
    1,
    "US dollars a month",
    "A customer-managed KMS key costs $1 a month (each automatic yearly rotation adds $1 "
    "a month for the first two rotations), plus $0.03 per 10,000 requests; DynamoDB asks "
    "KMS at most once every 5 minutes per client connection.",
    "AWS KMS pricing; Amazon DynamoDB Developer Guide, 'Encryption at rest: How it works'",
)

#: Every quota above, by name, for the README table and the tests.
CATALOG: dict[str, Quota] = {
    name: value for name, value in globals().items() if isinstance(value, Quota)
}
#: Every behaviour above, by name.
BEHAVIOURS: dict[str, Behaviour] = {
    name: value for name, value in globals().items() if isinstance(value, Behaviour)
}
