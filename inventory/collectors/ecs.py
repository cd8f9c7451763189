"""ECS clusters and services: containers on the system and ops paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Record, tag_dict

# DescribeClusters takes up to 100 clusters, DescribeServices up to 10 services.
CLUSTER_BATCH = 100
SERVICE_BATCH = 10


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _cluster_arns(client: Any) -> list[str]:
    arns: list[str] = []
    for page in client.get_paginator("list_clusters").paginate():
        arns += page.get("clusterArns", [])
    return arns


def collect_clusters(session: Any, region: str) -> Iterator[Record]:
    client = session.client("ecs", region_name=region)
    for batch in _batches(_cluster_arns(client), CLUSTER_BATCH):
        response = client.describe_clusters(clusters=batch, include=["TAGS", "SETTINGS"])
        for cluster in response.get("clusters", []):
            tags = tag_dict(cluster.get("tags"))
            yield Record(
                type="AWS::ECS::Cluster",
                id=cluster["clusterArn"],
                region=region,
                arn=cluster["clusterArn"],
                name=cluster.get("clusterName", ""),
                tags=tags,
                config=cluster,
            )


def collect_services(session: Any, region: str) -> Iterator[Record]:
    client = session.client("ecs", region_name=region)
    for cluster_arn in _cluster_arns(client):
        service_arns: list[str] = []
        for page in client.get_paginator("list_services").paginate(cluster=cluster_arn):
            service_arns += page.get("serviceArns", [])
        for batch in _batches(service_arns, SERVICE_BATCH):
            response = client.describe_services(
                cluster=cluster_arn, services=batch, include=["TAGS"]
            )
            for service in response.get("services", []):
                yield _service_record(service, cluster_arn, region)


def _service_record(service: dict[str, Any], cluster_arn: str, region: str) -> Record:
    # `events` is a rolling log of the scheduler's messages with timestamps:
    # keeping it would make every sync record a change of every service.
    config = {k: v for k, v in service.items() if k != "events"}
    record = Record(
        type="AWS::ECS::Service",
        id=service["serviceArn"],
        region=region,
        arn=service["serviceArn"],
        name=service.get("serviceName", ""),
        tags=tag_dict(service.get("tags")),
        config=config,
    )
    record.relate("in-cluster", "AWS::ECS::Cluster", service.get("clusterArn") or cluster_arn)
    for lb in service.get("loadBalancers", []):
        record.relate(
            "registers-in", "AWS::ElasticLoadBalancingV2::TargetGroup", lb.get("targetGroupArn")
        )
        record.relate(
            "registers-in", "AWS::ElasticLoadBalancing::LoadBalancer", lb.get("loadBalancerName")
        )
    network = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    for subnet in network.get("subnets", []):
        record.relate("in-subnet", "AWS::EC2::Subnet", subnet)
    for group in network.get("securityGroups", []):
        record.relate("uses-security-group", "AWS::EC2::SecurityGroup", group)
    record.relate("uses-role", "AWS::IAM::Role", service.get("roleArn"))
    return record
