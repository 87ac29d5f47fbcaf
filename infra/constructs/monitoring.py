"""Monitoring: the alarm topic, the alarms and the dashboard.

The dashboard reads top to bottom: what the relay is and the alarms' state, then
ingest, delivery, backlog and the two functions. Every hookhaven metric on it is
drawn from the catalog in ``hookhaven.telemetry``, and a test holds the
synthesized dashboard to that catalog both ways.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from hookhaven import telemetry
from hookhaven.durations import format_duration
from hookhaven.tunables import Tunables

FIVE_MINUTES = Duration.minutes(5)
FIFTEEN_MINUTES = Duration.minutes(15)
PERCENTILES = ("p50", "p90", "p99")


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tunables: Tunables,
        api: apigwv2.IHttpApi,
        deliveries_queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        functions: dict[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        self._tunables = tunables
        self._functions = functions
        self.alarm_topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="hookhaven alarms",
            enforce_ssl=True,
        )
        # enforce_ssl gives the topic a policy of its own, which replaces SNS's default one:
        # without this statement nothing allows CloudWatch to publish, and alarms notify no one.
        stack = Stack.of(self)
        self.alarm_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisStacksAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.alarm_topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name=f"{tunables.stack_name}-*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        if tunables.alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(tunables.alarm_email))

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarms(api, deliveries_queue, dead_letter_queue)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{tunables.stack_name}-relay",
            default_interval=Duration.hours(3),
        )
        self._header(deliveries_queue, dead_letter_queue)
        self._ingest(api)
        self._delivery()
        self._control()
        self._backlog(deliveries_queue, dead_letter_queue)
        self._function_health()

    # --- metrics ----------------------------------------------------------------

    def metric(
        self,
        name: str,
        *,
        statistic: str = "Sum",
        period: Duration = FIVE_MINUTES,
        label: str | None = None,
        dimensions: dict[str, str] | None = None,
    ) -> cloudwatch.Metric:
        """One of hookhaven's own metrics, as the functions publish it."""
        definition = telemetry.BY_NAME[name]  # a KeyError here: not a metric the code emits
        dimensions = dimensions or {}
        extra = set(dimensions) - {definition.dimension}
        if extra:
            raise ValueError(f"{name} is not published with dimension(s) {sorted(extra)}")
        return cloudwatch.Metric(
            namespace=telemetry.NAMESPACE,
            metric_name=name,
            dimensions_map={telemetry.SERVICE_DIMENSION: self._tunables.service_name, **dimensions},
            statistic=statistic,
            period=period,
            label=label,
        )

    def _by_dimension(self, name: str) -> list[cloudwatch.IMetric]:
        definition = telemetry.BY_NAME[name]
        assert definition.dimension is not None
        return [
            self.metric(name, label=value, dimensions={definition.dimension: value})
            for value in definition.values
        ]

    def _success_rate(self, period: Duration, min_attempts: int = 0) -> cloudwatch.MathExpression:
        s, f = "FILL(s, 0)", "FILL(f, 0)"
        rate = f"100 * {s} / ({s} + {f})"
        expression = f"IF({s} + {f} >= {min_attempts}, {rate}, 100)" if min_attempts else rate
        return cloudwatch.MathExpression(
            expression=expression,
            using_metrics={
                "s": self.metric(telemetry.DELIVERIES_SUCCEEDED, period=period),
                "f": self.metric(telemetry.DELIVERIES_FAILED, period=period),
            },
            label="delivery success rate (%)",
            period=period,
        )

    # --- alarms -----------------------------------------------------------------

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        ),
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self._tunables.stack_name}-{construct_id}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.alarm_topic))
        alarm.add_ok_action(actions.SnsAction(self.alarm_topic))
        self.alarms[construct_id] = alarm

    def _alarms(
        self, api: apigwv2.IHttpApi, deliveries: sqs.IQueue, dead_letters: sqs.IQueue
    ) -> None:
        t = self._tunables
        self._alarm(
            "DeadLetters",
            dead_letters.metric_approximate_number_of_messages_visible(
                statistic="Maximum", period=Duration.minutes(1)
            ),
            threshold=1,
            description=(
                "Deliveries gave up: messages sit in the dead-letter queue (a subscriber failed "
                "its whole retry schedule, or a message was malformed). First: `hookhaven dlq "
                "list` shows which subscriptions and why; fix or disable the subscriber, then "
                f"`hookhaven dlq redrive`. The DLQ keeps messages {t.dlq_retention_days} days."
            ),
        )
        self._alarm(
            "OldestDelivery",
            deliveries.metric_approximate_age_of_oldest_message(
                statistic="Maximum", period=FIVE_MINUTES
            ),
            threshold=t.oldest_message_alarm_seconds,
            description=(
                f"A delivery has waited over {format_duration(t.oldest_message_alarm_seconds)} "
                "for its first attempts: the dispatcher is not keeping up or not running. "
                "First: the dashboard's Functions row (dispatcher errors, throttles, duration) "
                "and `hookhaven status`; if the dispatcher is busy, raise max_concurrency."
            ),
        )
        self._alarm(
            "DeliverySuccessRate",
            self._success_rate(FIFTEEN_MINUTES, t.success_rate_alarm_min_attempts),
            threshold=t.success_rate_alarm_percent,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            description=(
                f"Under {t.success_rate_alarm_percent:g}% of delivery attempts succeeded in 15 "
                f"minutes (counted from {t.success_rate_alarm_min_attempts} attempts). Failed "
                "attempts are retried, nothing is lost yet. First: `hookhaven status` names the "
                "failing subscriptions, `hookhaven events show ID` shows what they answered; "
                "`hookhaven subscriptions disable ID` stops a broken one."
            ),
        )
        self._alarm(
            "Receiver5xx",
            api.metric_server_error(statistic="Sum", period=FIVE_MINUTES),
            threshold=t.receiver_5xx_alarm_count,
            description=(
                f"The webhook endpoint answered 5xx {t.receiver_5xx_alarm_count}+ times in 5 "
                "minutes. Providers retry, so nothing is lost, but events are late. First: the "
                "receiver's logs (level ERROR or WARNING): 503 means DynamoDB, SQS or S3 "
                "failed (check AWS Health), 500 is a hookhaven bug."
            ),
        )
        for name, function in self._functions.items():
            self._alarm(
                f"{name}Errors",
                function.metric_errors(statistic="Sum", period=FIVE_MINUTES),
                threshold=1,
                description=(
                    f"The {name.lower()} Lambda failed invocations (a crash or a timeout). "
                    f"First: its log group, level ERROR. {_ERROR_HINTS[name]}"
                ),
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(statistic="Sum", period=FIVE_MINUTES),
                threshold=1,
                description=(
                    f"Lambda refused {name.lower()} invocations for lack of concurrency. "
                    f"{_THROTTLE_HINTS[name]} First: the account's concurrent executions; "
                    "request a higher limit or move other functions off this account."
                ),
            )

    # --- dashboard --------------------------------------------------------------

    def _section(self, title: str, text: str) -> None:
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(markdown=f"## {title}\n{text}", width=24, height=1)
        )

    def _header(self, deliveries: sqs.IQueue, dead_letters: sqs.IQueue) -> None:
        t = self._tunables
        console = f"https://{Aws.REGION}.console.aws.amazon.com"
        runbook = (
            f"[Runbook]({t.runbook_url})"
            if t.runbook_url
            else "Runbook: README.md, *Operations runbook* (set `runbook_url` to link it here)"
        )
        links = " · ".join(
            [
                runbook,
                f"[SQS console]({console}/sqs/v3/home?region={Aws.REGION}#/queues) "
                f"(`{deliveries.queue_name}`, `{dead_letters.queue_name}`)",
                f"[Logs Insights]({console}/cloudwatch/home?region={Aws.REGION}#logsV2:"
                "logs-insights)",
            ]
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    f"# hookhaven relay: {t.stack_name}\n"
                    "Providers POST webhooks to the HTTP API; the receiver verifies and keeps "
                    "each event and queues one delivery per subscription; the dispatcher "
                    f"delivers them in up to {t.max_attempts} attempts over about "
                    f"{format_duration(sum(t.retry_schedule) // 3600 * 3600)} before the "
                    "dead-letter queue. Read top to bottom: ingest, delivery, backlog, "
                    "functions.\n\n" + links
                ),
                width=12,
                height=5,
            ),
            cloudwatch.AlarmStatusWidget(
                title="Alarms",
                alarms=list(self.alarms.values()),
                width=12,
                height=5,
            ),
        )

    def _ingest(self, api: apigwv2.IHttpApi) -> None:
        self._section("Ingest", "requests from providers, and what became of them")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Requests",
                left=[
                    api.metric_count(statistic="Sum", period=FIVE_MINUTES, label="API requests"),
                    self.metric(telemetry.EVENTS_RECEIVED, label="received"),
                    self.metric(telemetry.EVENTS_ACCEPTED, label="accepted"),
                    self.metric(telemetry.EVENTS_DUPLICATE, label="duplicates"),
                ],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Not accepted, by reason",
                left=self._by_dimension(telemetry.EVENTS_REJECTED),
                stacked=True,
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="API errors and latency",
                left=[
                    api.metric_client_error(statistic="Sum", period=FIVE_MINUTES, label="4xx"),
                    api.metric_server_error(statistic="Sum", period=FIVE_MINUTES, label="5xx"),
                ],
                right=[
                    api.metric_latency(statistic=p, period=FIVE_MINUTES, label=f"latency {p}")
                    for p in ("p50", "p99")
                ],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Deliveries queued per event; filters that failed",
                left=[
                    self.metric(telemetry.FAN_OUT_SIZE, statistic=s, label=s.lower())
                    for s in ("Average", "Maximum")
                ],
                right=[self.metric(telemetry.FILTER_ERRORS, label="filters that failed")],
                width=6,
            ),
        )

    def _delivery(self) -> None:
        self._section("Delivery", "attempts to subscribers, their outcome and timing")
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Success rate (% of attempts)",
                left=[self._success_rate(FIVE_MINUTES)],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(
                        value=self._tunables.success_rate_alarm_percent, label="alarm"
                    )
                ],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Succeeded, and failed attempts by outcome",
                left=[
                    self.metric(telemetry.DELIVERIES_SUCCEEDED, label="succeeded"),
                    self.metric(telemetry.DELIVERIES_FAILED, label="failed (all)"),
                ],
                right=self._by_dimension(telemetry.DELIVERIES_FAILED),
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Delivery latency per attempt (ms)",
                left=[
                    self.metric(telemetry.DELIVERY_LATENCY, statistic=p, label=p)
                    for p in PERCENTILES
                ],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="End-to-end latency, receipt to delivery (ms)",
                left=[
                    self.metric(telemetry.END_TO_END_LATENCY, statistic=p, label=p)
                    for p in PERCENTILES
                ],
                width=6,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Attempts per successful delivery",
                left=[
                    self.metric(telemetry.ATTEMPTS_PER_DELIVERY, statistic=s, label=s.lower())
                    for s in ("Average", "Maximum")
                ],
                width=8,
                height=5,
            ),
            cloudwatch.GraphWidget(
                title="Given up: exhausted, dropped, dead-lettered, subscriptions disabled",
                left=[
                    self.metric(telemetry.DELIVERIES_EXHAUSTED, label="exhausted (to DLQ)"),
                    self.metric(telemetry.DELIVERIES_DROPPED, label="dropped (no subscription)"),
                    self.metric(telemetry.DELIVERIES_DEAD_LETTERED, label="malformed (to DLQ)"),
                    self.metric(telemetry.SUBSCRIPTIONS_DISABLED, label="subscriptions disabled"),
                ],
                width=16,
                height=5,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Operational events: put on the bus by detail type, and failed",
                left=self._by_dimension(telemetry.OPERATIONAL_EVENTS_PUBLISHED),
                right=[self.metric(telemetry.OPERATIONAL_EVENTS_FAILED, label="failed")],
                width=24,
                height=5,
            ),
        )

    def _control(self) -> None:
        self._section(
            "Delivery control",
            "deliveries held back (no request, no attempt spent) and subscriptions' circuits",
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Held back, by why",
                left=self._by_dimension(telemetry.DELIVERIES_HELD),
                right=[self.metric(telemetry.DELIVERIES_HELD, label="held (all)")],
                stacked=True,
                width=12,
                height=5,
            ),
            cloudwatch.GraphWidget(
                title="Circuits opened and closed; subscriptions disabled",
                left=[
                    self.metric(telemetry.CIRCUITS_OPENED, label="circuits opened"),
                    self.metric(telemetry.CIRCUITS_CLOSED, label="circuits closed"),
                    self.metric(telemetry.SUBSCRIPTIONS_DISABLED, label="subscriptions disabled"),
                ],
                # Circuits open now, as far as the period shown tells: those opened in it
                # and not closed since (one opened earlier and still open is not counted).
                right=[
                    cloudwatch.MathExpression(
                        expression="RUNNING_SUM(FILL(o, 0) - FILL(c, 0))",
                        using_metrics={
                            "o": self.metric(telemetry.CIRCUITS_OPENED),
                            "c": self.metric(telemetry.CIRCUITS_CLOSED),
                        },
                        label="open circuits (opened - closed, over the period shown)",
                        period=FIVE_MINUTES,
                    )
                ],
                width=12,
                height=5,
            ),
        )

    def _backlog(self, deliveries: sqs.IQueue, dead_letters: sqs.IQueue) -> None:
        self._section("Backlog", "what waits to be delivered")
        oldest = self._tunables.oldest_message_alarm_seconds
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Deliveries queue: waiting and in flight",
                left=[
                    deliveries.metric_approximate_number_of_messages_visible(
                        statistic="Maximum", period=FIVE_MINUTES, label="waiting"
                    ),
                    deliveries.metric_approximate_number_of_messages_not_visible(
                        statistic="Maximum", period=FIVE_MINUTES, label="in flight or retrying"
                    ),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Age of the oldest delivery (s)",
                left=[
                    deliveries.metric_approximate_age_of_oldest_message(
                        statistic="Maximum", period=FIVE_MINUTES, label="oldest"
                    )
                ],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=oldest, label="alarm")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queue depth",
                left=[
                    dead_letters.metric_approximate_number_of_messages_visible(
                        statistic="Maximum", period=FIVE_MINUTES, label="dead letters"
                    )
                ],
                width=8,
            ),
        )

    def _function_health(self) -> None:
        self._section("Functions", "the receiver and the dispatcher Lambdas")
        for name, function in self._functions.items():
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{name}: errors and throttles",
                    left=[
                        function.metric_errors(statistic="Sum", label="errors"),
                        function.metric_throttles(statistic="Sum", label="throttles"),
                    ],
                    width=6,
                ),
                cloudwatch.GraphWidget(
                    title=f"{name}: duration (ms)",
                    left=[function.metric_duration(statistic=p, label=p) for p in ("p50", "p99")],
                    width=6,
                ),
                cloudwatch.GraphWidget(
                    title=f"{name}: concurrent executions",
                    left=[
                        function.metric(
                            "ConcurrentExecutions", statistic="Maximum", label="concurrent"
                        )
                    ],
                    width=6,
                ),
                cloudwatch.GraphWidget(
                    title=f"{name}: cold starts",
                    left=[
                        self.metric(
                            telemetry.COLD_START,
                            label="cold starts",
                            dimensions={telemetry.FUNCTION_DIMENSION: function.function_name},
                        )
                    ],
                    width=6,
                ),
            )


_ERROR_HINTS = {
    "Receiver": "A timeout means AWS calls were slow; providers retry what failed.",
    "Dispatcher": (
        "The batch's messages return after the visibility timeout and are retried; a "
        "timeout means slow subscribers: lower batch_size or raise dispatcher_timeout_seconds."
    ),
}
_THROTTLE_HINTS = {
    "Receiver": "Providers got errors and will retry.",
    "Dispatcher": "Deliveries wait in the queue until it runs.",
}
