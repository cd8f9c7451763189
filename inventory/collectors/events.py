"""EventBridge rules: schedule expressions are the estate's cron."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Record, tag_dict

DEFAULT_BUS = "default"


def _event_buses(client: Any) -> Iterator[str]:
    # ListEventBuses has no botocore paginator; follow NextToken by hand.
    kwargs: dict[str, Any] = {}
    while True:
        response = client.list_event_buses(**kwargs)
        for bus in response.get("EventBuses", []):
            yield bus["Name"]
        if not response.get("NextToken"):
            return
        kwargs["NextToken"] = response["NextToken"]


def _arn_tail(arn: str, marker: str) -> str | None:
    """`NAME` from `arn:aws:lambda:…:function:NAME[:alias]` for marker "function"."""
    parts = arn.split(":")
    if marker in parts:
        index = parts.index(marker)
        if index + 1 < len(parts):
            return parts[index + 1]
    return None


def _relate_target(record: Record, target: dict[str, Any]) -> None:
    arn = str(target.get("Arn", ""))
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    if service == "lambda":
        record.relate("triggers", "AWS::Lambda::Function", _arn_tail(arn, "function"))
    elif service == "ecs":
        record.relate("triggers", "AWS::ECS::Cluster", arn)
    elif service == "states":
        record.relate("triggers", "AWS::StepFunctions::StateMachine", arn)
    elif service == "sns":
        record.relate("triggers", "AWS::SNS::Topic", arn)
    elif service == "sqs":
        record.relate("triggers", "AWS::SQS::Queue", arn)
    record.relate("uses-role", "AWS::IAM::Role", target.get("RoleArn"))


def collect_rules(session: Any, region: str) -> Iterator[Record]:
    client = session.client("events", region_name=region)
    for bus in _event_buses(client):
        for page in client.get_paginator("list_rules").paginate(EventBusName=bus):
            for rule in page.get("Rules", []):
                targets: list[dict[str, Any]] = []
                for target_page in client.get_paginator("list_targets_by_rule").paginate(
                    Rule=rule["Name"], EventBusName=bus
                ):
                    targets += target_page.get("Targets", [])
                tags = client.list_tags_for_resource(ResourceARN=rule["Arn"]).get("Tags")
                # CloudFormation's id of a rule on a custom bus is "bus|name".
                rule_id = rule["Name"] if bus == DEFAULT_BUS else f"{bus}|{rule['Name']}"
                record = Record(
                    type="AWS::Events::Rule",
                    id=rule_id,
                    region=region,
                    arn=rule["Arn"],
                    name=rule["Name"],
                    tags=tag_dict(tags),
                    config={**rule, "Targets": targets},
                )
                record.relate("uses-role", "AWS::IAM::Role", rule.get("RoleArn"))
                for target in targets:
                    _relate_target(record, target)
                yield record
