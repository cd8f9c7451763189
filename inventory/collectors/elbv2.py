"""Application, network and gateway load balancers (ELBv2) and their target groups.

Load balancers keep their attributes as a flat dict (`config["Attributes"]`,
e.g. {"access_logs.s3.enabled": "true"}, values are strings as AWS returns them)
and their listeners (`config["Listeners"]`). Target groups keep the health of
each target (`config["Targets"]`, DescribeTargetHealth's descriptions).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Record, paginate, tag_dict

# DescribeTags accepts at most 20 ARNs per call.
TAG_BATCH = 20

LOAD_BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"


def _tags(client: Any, arns: list[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), TAG_BATCH):
        response = client.describe_tags(ResourceArns=arns[start : start + TAG_BATCH])
        for description in response.get("TagDescriptions", []):
            tags[description["ResourceArn"]] = tag_dict(description.get("Tags"))
    return tags


def collect_load_balancers(session: Any, region: str) -> Iterator[Record]:
    client = session.client("elbv2", region_name=region)
    balancers = list(paginate(client, "describe_load_balancers", "LoadBalancers"))
    if not balancers:
        return
    tags = _tags(client, [lb["LoadBalancerArn"] for lb in balancers])
    # One listing of the region's target groups says which belong to which
    # load balancer, instead of one call per load balancer.
    groups_of: dict[str, list[str]] = {}
    for group in paginate(client, "describe_target_groups", "TargetGroups"):
        for lb_arn in group.get("LoadBalancerArns", []):
            groups_of.setdefault(lb_arn, []).append(group["TargetGroupArn"])
    for lb in balancers:
        arn = lb["LoadBalancerArn"]
        attributes = {
            a["Key"]: a.get("Value")
            for a in client.describe_load_balancer_attributes(LoadBalancerArn=arn).get(
                "Attributes", []
            )
        }
        listeners = list(paginate(client, "describe_listeners", "Listeners", LoadBalancerArn=arn))
        record = Record(
            type=LOAD_BALANCER,
            id=arn,
            region=region,
            arn=arn,
            name=lb.get("LoadBalancerName", ""),
            tags=tags.get(arn, {}),
            config={**lb, "Attributes": attributes, "Listeners": listeners},
        )
        for group_arn in groups_of.get(arn, []):
            record.relate("has-target-group", TARGET_GROUP, group_arn)
        for zone in lb.get("AvailabilityZones", []):
            record.relate("in-subnet", "AWS::EC2::Subnet", zone.get("SubnetId"))
        for group in lb.get("SecurityGroups", []):
            record.relate("uses-security-group", "AWS::EC2::SecurityGroup", group)
        record.relate("in-vpc", "AWS::EC2::VPC", lb.get("VpcId"))
        yield record


def _lambda_name(arn: str) -> str:
    """arn:aws:lambda:region:account:function:name[:alias] -> name (Lambda's id)."""
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 else arn


def collect_target_groups(session: Any, region: str) -> Iterator[Record]:
    client = session.client("elbv2", region_name=region)
    groups = list(paginate(client, "describe_target_groups", "TargetGroups"))
    if not groups:
        return
    tags = _tags(client, [g["TargetGroupArn"] for g in groups])
    for group in groups:
        arn = group["TargetGroupArn"]
        targets = client.describe_target_health(TargetGroupArn=arn).get(
            "TargetHealthDescriptions", []
        )
        record = Record(
            type=TARGET_GROUP,
            id=arn,
            region=region,
            arn=arn,
            name=group.get("TargetGroupName", ""),
            tags=tags.get(arn, {}),
            config={**group, "Targets": targets},
        )
        target_type = group.get("TargetType", "instance")
        for target in targets:
            target_id = target.get("Target", {}).get("Id")
            if not target_id:
                continue
            if target_type == "instance":
                record.relate("targets", "AWS::EC2::Instance", target_id)
            elif target_type == "lambda":
                record.relate("targets", "AWS::Lambda::Function", _lambda_name(target_id))
            elif target_type == "alb":
                record.relate("targets", LOAD_BALANCER, target_id)
            else:
                # An IP address is no AWS resource of its own: the edge names the
                # address so topology and the unknown-IP pages can show it.
                record.relate("targets", "IPAddress", target_id)
        record.relate("in-vpc", "AWS::EC2::VPC", group.get("VpcId"))
        yield record
