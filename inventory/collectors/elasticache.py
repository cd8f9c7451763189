"""ElastiCache (redis/memcached): clusters and replication groups.

Engine, node type, subnet group, security groups, snapshot retention and the
maintenance/snapshot windows are all in the raw items AWS returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from .base import Record, paginate, tag_dict

# The cluster or group changed state or went away between the listing and the
# tag lookup: its tags are unknown this time, the resource is still listed.
TAGS_GONE_CODES = {
    "CacheClusterNotFound",
    "CacheClusterNotFoundFault",
    "ReplicationGroupNotFoundFault",
    "InvalidCacheClusterState",
    "InvalidReplicationGroupState",
}


def _tags(client: Any, arn: str) -> dict[str, str]:
    if not arn:
        return {}
    try:
        return tag_dict(client.list_tags_for_resource(ResourceName=arn).get("TagList"))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in TAGS_GONE_CODES:
            return {}
        raise


def collect_cache_clusters(session: Any, region: str) -> Iterator[Record]:
    client = session.client("elasticache", region_name=region)
    for cluster in paginate(
        client, "describe_cache_clusters", "CacheClusters", ShowCacheNodeInfo=True
    ):
        cluster_id = cluster["CacheClusterId"]
        arn = cluster.get("ARN", "")
        record = Record(
            type="AWS::ElastiCache::CacheCluster",
            id=cluster_id,
            region=region,
            arn=arn,
            name=cluster_id,
            tags=_tags(client, arn),
            config=cluster,
        )
        record.relate(
            "in-subnet-group", "AWS::ElastiCache::SubnetGroup", cluster.get("CacheSubnetGroupName")
        )
        for group in cluster.get("SecurityGroups", []):
            record.relate(
                "uses-security-group", "AWS::EC2::SecurityGroup", group.get("SecurityGroupId")
            )
        record.relate(
            "member-of",
            "AWS::ElastiCache::ReplicationGroup",
            cluster.get("ReplicationGroupId"),
        )
        record.relate(
            "uses-parameter-group",
            "AWS::ElastiCache::ParameterGroup",
            cluster.get("CacheParameterGroup", {}).get("CacheParameterGroupName"),
        )
        yield record


def collect_replication_groups(session: Any, region: str) -> Iterator[Record]:
    client = session.client("elasticache", region_name=region)
    for group in paginate(client, "describe_replication_groups", "ReplicationGroups"):
        group_id = group["ReplicationGroupId"]
        arn = group.get("ARN", "")
        record = Record(
            type="AWS::ElastiCache::ReplicationGroup",
            id=group_id,
            region=region,
            arn=arn,
            name=group_id,
            tags=_tags(client, arn),
            config=group,
        )
        for member in group.get("MemberClusters", []):
            record.relate("has-member", "AWS::ElastiCache::CacheCluster", member)
        yield record
