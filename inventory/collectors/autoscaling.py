"""Auto Scaling groups: which instances a group owns and where it registers them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Record, paginate, tag_dict


def collect_auto_scaling_groups(session: Any, region: str) -> Iterator[Record]:
    client = session.client("autoscaling", region_name=region)
    for group in paginate(client, "describe_auto_scaling_groups", "AutoScalingGroups"):
        name = group["AutoScalingGroupName"]
        # Group tags carry PropagateAtLaunch etc.; the dict keeps key and value only.
        tags = tag_dict(group.get("Tags"))
        record = Record(
            type="AWS::AutoScaling::AutoScalingGroup",
            id=name,
            region=region,
            arn=group.get("AutoScalingGroupARN", ""),
            name=name,
            tags=tags,
            config=group,
        )
        for instance in group.get("Instances", []):
            record.relate("has-instance", "AWS::EC2::Instance", instance.get("InstanceId"))
        # A comma-separated string in the API, empty for EC2-Classic groups.
        for subnet in (group.get("VPCZoneIdentifier") or "").split(","):
            record.relate("in-subnet", "AWS::EC2::Subnet", subnet.strip())
        for arn in group.get("TargetGroupARNs", []):
            record.relate(
                "registers-in-target-group", "AWS::ElasticLoadBalancingV2::TargetGroup", arn
            )
        for lb_name in group.get("LoadBalancerNames", []):
            record.relate(
                "registers-in-load-balancer", "AWS::ElasticLoadBalancing::LoadBalancer", lb_name
            )
        template = group.get("LaunchTemplate") or group.get("MixedInstancesPolicy", {}).get(
            "LaunchTemplate", {}
        ).get("LaunchTemplateSpecification", {})
        record.relate(
            "uses-launch-template",
            "AWS::EC2::LaunchTemplate",
            (template or {}).get("LaunchTemplateId"),
        )
        record.relate(
            "uses-launch-configuration",
            "AWS::AutoScaling::LaunchConfiguration",
            group.get("LaunchConfigurationName"),
        )
        yield record
