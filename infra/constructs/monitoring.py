"""Monitoring: the alarm topic and the dashboard.

The dashboard here is the first cut (backlog and function health, which AWS
emits on its own); the full dashboard and the alarms come with the
observability issue (#7).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from hookhaven.tunables import Tunables


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tunables: Tunables,
        deliveries_queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        functions: dict[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarm_topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="hookhaven alarms",
            enforce_ssl=True,
        )
        if tunables.alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(tunables.alarm_email))

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{tunables.stack_name}-relay",
            default_interval=Duration.hours(3),
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    "# hookhaven relay\n"
                    "Backlog and function health. Ingest and delivery metrics join this "
                    "dashboard with the observability work; the runbook is in README.md."
                ),
                width=24,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Deliveries queue",
                left=[
                    deliveries_queue.metric_approximate_number_of_messages_visible(),
                    deliveries_queue.metric_approximate_number_of_messages_not_visible(),
                ],
                right=[deliveries_queue.metric_approximate_age_of_oldest_message()],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queue depth",
                left=[dead_letter_queue.metric_approximate_number_of_messages_visible()],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=f"{name}: errors, throttles, duration p99",
                    left=[function.metric_errors(), function.metric_throttles()],
                    right=[function.metric_duration(statistic="p99")],
                    width=12,
                )
                for name, function in functions.items()
            )
        )
