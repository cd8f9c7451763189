"""RDS and Aurora: instances, clusters, parameter groups and subnet groups.

Instances and clusters keep backup retention, the backup and maintenance
windows, Multi-AZ and their parameter groups in the raw items. Parameter groups
add `config["ModifiedParameters"]`: the parameters someone set by hand
(Source "user"), where production drifts from the design.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Record, paginate, tag_dict


def _tags(client: Any, arn: str) -> dict[str, str]:
    """Tags of a resource whose description carries none (parameter and subnet groups)."""
    if not arn:
        return {}
    return tag_dict(client.list_tags_for_resource(ResourceName=arn).get("TagList"))


def _user_parameters(parameters: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    # The request already asks for Source "user"; filtering again keeps the
    # promise with endpoints that ignore the filter (moto does).
    return [p for p in parameters if p.get("Source", "user") == "user"]


def collect_db_instances(session: Any, region: str) -> Iterator[Record]:
    client = session.client("rds", region_name=region)
    for db in paginate(client, "describe_db_instances", "DBInstances"):
        db_id = db["DBInstanceIdentifier"]
        tags = tag_dict(db.get("TagList"))
        record = Record(
            type="AWS::RDS::DBInstance",
            id=db_id,
            region=region,
            arn=db.get("DBInstanceArn", ""),
            name=db_id,
            tags=tags,
            config=db,
        )
        subnet_group = db.get("DBSubnetGroup") or {}
        record.relate(
            "in-subnet-group", "AWS::RDS::DBSubnetGroup", subnet_group.get("DBSubnetGroupName")
        )
        record.relate("in-vpc", "AWS::EC2::VPC", subnet_group.get("VpcId"))
        for group in db.get("VpcSecurityGroups", []):
            record.relate(
                "uses-security-group", "AWS::EC2::SecurityGroup", group.get("VpcSecurityGroupId")
            )
        for group in db.get("DBParameterGroups", []):
            record.relate(
                "uses-parameter-group",
                "AWS::RDS::DBParameterGroup",
                group.get("DBParameterGroupName"),
            )
        record.relate("member-of-cluster", "AWS::RDS::DBCluster", db.get("DBClusterIdentifier"))
        record.relate(
            "replica-of", "AWS::RDS::DBInstance", db.get("ReadReplicaSourceDBInstanceIdentifier")
        )
        yield record


def collect_db_clusters(session: Any, region: str) -> Iterator[Record]:
    client = session.client("rds", region_name=region)
    for cluster in paginate(client, "describe_db_clusters", "DBClusters"):
        cluster_id = cluster["DBClusterIdentifier"]
        record = Record(
            type="AWS::RDS::DBCluster",
            id=cluster_id,
            region=region,
            arn=cluster.get("DBClusterArn", ""),
            name=cluster_id,
            tags=tag_dict(cluster.get("TagList")),
            config=cluster,
        )
        for member in cluster.get("DBClusterMembers", []):
            record.relate("has-member", "AWS::RDS::DBInstance", member.get("DBInstanceIdentifier"))
        for group in cluster.get("VpcSecurityGroups", []):
            record.relate(
                "uses-security-group", "AWS::EC2::SecurityGroup", group.get("VpcSecurityGroupId")
            )
        # In a cluster's description the subnet group is a plain name.
        record.relate("in-subnet-group", "AWS::RDS::DBSubnetGroup", cluster.get("DBSubnetGroup"))
        record.relate(
            "uses-parameter-group",
            "AWS::RDS::DBClusterParameterGroup",
            cluster.get("DBClusterParameterGroup"),
        )
        yield record


def collect_db_parameter_groups(session: Any, region: str) -> Iterator[Record]:
    client = session.client("rds", region_name=region)
    for group in paginate(client, "describe_db_parameter_groups", "DBParameterGroups"):
        name = group["DBParameterGroupName"]
        arn = group.get("DBParameterGroupArn", "")
        # AWS's default groups cannot be modified: no user parameters to ask for.
        modified = (
            []
            if name.startswith("default.")
            else _user_parameters(
                paginate(
                    client,
                    "describe_db_parameters",
                    "Parameters",
                    DBParameterGroupName=name,
                    Source="user",
                )
            )
        )
        yield Record(
            type="AWS::RDS::DBParameterGroup",
            id=name,
            region=region,
            arn=arn,
            name=name,
            tags=_tags(client, arn),
            config={**group, "ModifiedParameters": modified},
        )


def collect_db_cluster_parameter_groups(session: Any, region: str) -> Iterator[Record]:
    client = session.client("rds", region_name=region)
    for group in paginate(
        client, "describe_db_cluster_parameter_groups", "DBClusterParameterGroups"
    ):
        name = group["DBClusterParameterGroupName"]
        arn = group.get("DBClusterParameterGroupArn", "")
        modified = (
            []
            if name.startswith("default.")
            else _user_parameters(
                paginate(
                    client,
                    "describe_db_cluster_parameters",
                    "Parameters",
                    DBClusterParameterGroupName=name,
                    Source="user",
                )
            )
        )
        yield Record(
            type="AWS::RDS::DBClusterParameterGroup",
            id=name,
            region=region,
            arn=arn,
            name=name,
            tags=_tags(client, arn),
            config={**group, "ModifiedParameters": modified},
        )


def collect_db_subnet_groups(session: Any, region: str) -> Iterator[Record]:
    client = session.client("rds", region_name=region)
    for group in paginate(client, "describe_db_subnet_groups", "DBSubnetGroups"):
        name = group["DBSubnetGroupName"]
        arn = group.get("DBSubnetGroupArn", "")
        record = Record(
            type="AWS::RDS::DBSubnetGroup",
            id=name,
            region=region,
            arn=arn,
            name=name,
            tags=_tags(client, arn),
            config=group,
        )
        for subnet in group.get("Subnets", []):
            record.relate("includes-subnet", "AWS::EC2::Subnet", subnet.get("SubnetIdentifier"))
        record.relate("in-vpc", "AWS::EC2::VPC", group.get("VpcId"))
        yield record
