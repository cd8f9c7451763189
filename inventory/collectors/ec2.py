"""EC2 and VPC networking: the external connections layer, and instances."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Record, tag_dict


def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _arn(region: str, owner: str | None, kind: str, ident: str) -> str:
    return f"arn:aws:ec2:{region}:{owner or ''}:{kind}/{ident}"


def collect_vpcs(session: Any, region: str) -> Iterator[Record]:
    ec2 = session.client("ec2", region_name=region)
    for vpc in _paginate(ec2, "describe_vpcs", "Vpcs"):
        tags = tag_dict(vpc.get("Tags"))
        yield Record(
            type="AWS::EC2::VPC",
            id=vpc["VpcId"],
            region=region,
            arn=_arn(region, vpc.get("OwnerId"), "vpc", vpc["VpcId"]),
            name=tags.get("Name", ""),
            tags=tags,
            config=vpc,
        )


def collect_subnets(session: Any, region: str) -> Iterator[Record]:
    ec2 = session.client("ec2", region_name=region)
    for subnet in _paginate(ec2, "describe_subnets", "Subnets"):
        tags = tag_dict(subnet.get("Tags"))
        record = Record(
            type="AWS::EC2::Subnet",
            id=subnet["SubnetId"],
            region=region,
            arn=subnet.get("SubnetArn", ""),
            name=tags.get("Name", ""),
            tags=tags,
            config=subnet,
        )
        record.relate("in-vpc", "AWS::EC2::VPC", subnet.get("VpcId"))
        yield record


def normalize_permissions(permissions: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    """Security-group permissions as one row per source: what findings and IPs read.

    protocol "-1" means all traffic; ports are None then (AWS reports -1 or omits).
    """
    rules = []
    for perm in permissions:
        protocol = str(perm.get("IpProtocol", "-1"))
        if protocol == "-1":
            from_port = to_port = None
        else:
            from_port = perm.get("FromPort")
            to_port = perm.get("ToPort")
            if from_port == -1:
                from_port = None
            if to_port == -1:
                to_port = None
        base = {
            "direction": direction,
            "protocol": protocol,
            "from_port": from_port,
            "to_port": to_port,
        }
        for r in perm.get("IpRanges", []):
            rules.append({**base, "cidr": r.get("CidrIp"), "description": r.get("Description", "")})
        for r in perm.get("Ipv6Ranges", []):
            rules.append(
                {**base, "cidr": r.get("CidrIpv6"), "description": r.get("Description", "")}
            )
        for r in perm.get("PrefixListIds", []):
            rules.append(
                {
                    **base,
                    "prefix_list": r.get("PrefixListId"),
                    "description": r.get("Description", ""),
                }
            )
        for r in perm.get("UserIdGroupPairs", []):
            rules.append(
                {
                    **base,
                    "group": r.get("GroupId"),
                    "group_owner": r.get("UserId", ""),
                    "peering_status": r.get("PeeringStatus", ""),
                    "description": r.get("Description", ""),
                }
            )
    return rules


def collect_security_groups(session: Any, region: str) -> Iterator[Record]:
    ec2 = session.client("ec2", region_name=region)
    for sg in _paginate(ec2, "describe_security_groups", "SecurityGroups"):
        tags = tag_dict(sg.get("Tags"))
        rules = normalize_permissions(sg.get("IpPermissions", []), "ingress")
        rules += normalize_permissions(sg.get("IpPermissionsEgress", []), "egress")
        record = Record(
            type="AWS::EC2::SecurityGroup",
            id=sg["GroupId"],
            region=region,
            arn=sg.get("SecurityGroupArn") or _arn(region, sg.get("OwnerId"), "security-group", sg["GroupId"]),
            name=tags.get("Name") or sg.get("GroupName", ""),
            tags=tags,
            config={**sg, "Rules": rules},
        )
        record.relate("in-vpc", "AWS::EC2::VPC", sg.get("VpcId"))
        for rule in rules:
            if rule.get("group") and rule["group"] != sg["GroupId"]:
                record.relate(f"allows-{rule['direction']}-from", "AWS::EC2::SecurityGroup", rule["group"])
        yield record


def collect_instances(session: Any, region: str) -> Iterator[Record]:
    ec2 = session.client("ec2", region_name=region)
    for reservation in _paginate(ec2, "describe_instances", "Reservations"):
        for instance in reservation.get("Instances", []):
            if instance.get("State", {}).get("Name") == "terminated":
                continue  # gone for good; AWS lists them for about an hour
            tags = tag_dict(instance.get("Tags"))
            iid = instance["InstanceId"]
            record = Record(
                type="AWS::EC2::Instance",
                id=iid,
                region=region,
                arn=_arn(region, reservation.get("OwnerId"), "instance", iid),
                name=tags.get("Name", ""),
                tags=tags,
                config=instance,
            )
            record.relate("in-subnet", "AWS::EC2::Subnet", instance.get("SubnetId"))
            record.relate("in-vpc", "AWS::EC2::VPC", instance.get("VpcId"))
            for group in instance.get("SecurityGroups", []):
                record.relate("uses-security-group", "AWS::EC2::SecurityGroup", group.get("GroupId"))
            for mapping in instance.get("BlockDeviceMappings", []):
                volume = mapping.get("Ebs", {}).get("VolumeId")
                record.relate("attaches-volume", "AWS::EC2::Volume", volume)
            profile = instance.get("IamInstanceProfile", {}).get("Arn")
            record.relate("uses-instance-profile", "AWS::IAM::InstanceProfile", profile)
            yield record
