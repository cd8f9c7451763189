"""Classic load balancers (ELB): listeners, instances and access-log attributes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Record, paginate, tag_dict

# DescribeTags accepts at most 20 load balancer names per call.
TAG_BATCH = 20


def _tags(client: Any, names: list[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(names), TAG_BATCH):
        response = client.describe_tags(LoadBalancerNames=names[start : start + TAG_BATCH])
        for description in response.get("TagDescriptions", []):
            tags[description["LoadBalancerName"]] = tag_dict(description.get("Tags"))
    return tags


def collect_load_balancers(session: Any, region: str) -> Iterator[Record]:
    client = session.client("elb", region_name=region)
    balancers = list(paginate(client, "describe_load_balancers", "LoadBalancerDescriptions"))
    tags = _tags(client, [lb["LoadBalancerName"] for lb in balancers])
    for lb in balancers:
        name = lb["LoadBalancerName"]
        attributes = client.describe_load_balancer_attributes(LoadBalancerName=name).get(
            "LoadBalancerAttributes", {}
        )
        # The description has no account id; the source security group's owner is it.
        owner = lb.get("SourceSecurityGroup", {}).get("OwnerAlias", "")
        lb_tags = tags.get(name, {})
        record = Record(
            type="AWS::ElasticLoadBalancing::LoadBalancer",
            id=name,
            region=region,
            arn=f"arn:aws:elasticloadbalancing:{region}:{owner}:loadbalancer/{name}",
            name=name,
            tags=lb_tags,
            config={**lb, "Attributes": attributes},
        )
        for instance in lb.get("Instances", []):
            record.relate("has-instance", "AWS::EC2::Instance", instance.get("InstanceId"))
        for subnet in lb.get("Subnets", []):
            record.relate("in-subnet", "AWS::EC2::Subnet", subnet)
        for group in lb.get("SecurityGroups", []):
            record.relate("uses-security-group", "AWS::EC2::SecurityGroup", group)
        record.relate("in-vpc", "AWS::EC2::VPC", lb.get("VPCId"))
        yield record
