"""EC2 and VPC networking: the external connections layer, and instances."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Record, paginate, tag_dict


def _ec2(session: Any, region: str) -> Any:
    # The registry's session contract is `client(service, region_name=…)` only: the
    # AwsSession behind a sync adds the adaptive-retry config itself.
    return session.client("ec2", region_name=region)


def _arn(region: str, owner: str | None, kind: str, ident: str) -> str:
    return f"arn:aws:ec2:{region}:{owner or ''}:{kind}/{ident}"


def collect_vpcs(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for vpc in paginate(ec2, "describe_vpcs", "Vpcs"):
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
    ec2 = _ec2(session, region)
    for subnet in paginate(ec2, "describe_subnets", "Subnets"):
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


def normalize_permissions(
    permissions: list[dict[str, Any]], direction: str
) -> list[dict[str, Any]]:
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
    ec2 = _ec2(session, region)
    for sg in paginate(ec2, "describe_security_groups", "SecurityGroups"):
        tags = tag_dict(sg.get("Tags"))
        rules = normalize_permissions(sg.get("IpPermissions", []), "ingress")
        rules += normalize_permissions(sg.get("IpPermissionsEgress", []), "egress")
        record = Record(
            type="AWS::EC2::SecurityGroup",
            id=sg["GroupId"],
            region=region,
            arn=sg.get("SecurityGroupArn")
            or _arn(region, sg.get("OwnerId"), "security-group", sg["GroupId"]),
            name=tags.get("Name") or sg.get("GroupName", ""),
            tags=tags,
            config={**sg, "Rules": rules},
        )
        record.relate("in-vpc", "AWS::EC2::VPC", sg.get("VpcId"))
        for rule in rules:
            if rule.get("group") and rule["group"] != sg["GroupId"]:
                record.relate(
                    f"allows-{rule['direction']}-from", "AWS::EC2::SecurityGroup", rule["group"]
                )
        yield record


def collect_instances(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for reservation in paginate(ec2, "describe_instances", "Reservations"):
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
                record.relate(
                    "uses-security-group", "AWS::EC2::SecurityGroup", group.get("GroupId")
                )
            for mapping in instance.get("BlockDeviceMappings", []):
                volume = mapping.get("Ebs", {}).get("VolumeId")
                record.relate("attaches-volume", "AWS::EC2::Volume", volume)
            profile = instance.get("IamInstanceProfile", {}).get("Arn")
            record.relate("uses-instance-profile", "AWS::IAM::InstanceProfile", profile)
            yield record


# --- Layer 1: routing, gateways and external links ------------------------------------------

# Route and attachment targets by id prefix: one table so that route tables, flow logs and
# transit gateway attachments name the same CloudFormation types.
_TYPE_BY_PREFIX = {
    "igw-": "AWS::EC2::InternetGateway",
    "eigw-": "AWS::EC2::EgressOnlyInternetGateway",
    "nat-": "AWS::EC2::NatGateway",
    "vgw-": "AWS::EC2::VPNGateway",
    "tgw-attach-": "AWS::EC2::TransitGatewayAttachment",
    "tgw-": "AWS::EC2::TransitGateway",
    "pcx-": "AWS::EC2::VPCPeeringConnection",
    "eni-": "AWS::EC2::NetworkInterface",
    "i-": "AWS::EC2::Instance",
    "vpce-": "AWS::EC2::VPCEndpoint",
    "cagw-": "AWS::EC2::CarrierGateway",
    "lgw-": "AWS::EC2::LocalGateway",
    "vpc-": "AWS::EC2::VPC",
    "subnet-": "AWS::EC2::Subnet",
}

# Route fields that name a next hop, in the order AWS documents them.
_ROUTE_TARGET_KEYS = (
    "GatewayId",
    "EgressOnlyInternetGatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "VpcPeeringConnectionId",
    "NetworkInterfaceId",
    "InstanceId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "CoreNetworkArn",
)


def _type_of(ident: str | None) -> str:
    """The CloudFormation type an EC2 id names, from its prefix; "" when unknown."""
    for prefix, type_ in _TYPE_BY_PREFIX.items():
        if ident and ident.startswith(prefix):
            return type_
    return ""


def _owned_arn(region: str, owner: str | None, kind: str, ident: str) -> str:
    """An ARN only when the owner is known: a wrong ARN is worse than none."""
    return _arn(region, owner, kind, ident) if owner else ""


def _named(tags: dict[str, str], fallback: Any = "") -> str:
    return tags.get("Name") or str(fallback or "")


def normalize_routes(routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per route: destination, next hop and state (what a topology view reads)."""
    rows = []
    for route in routes:
        destination = (
            route.get("DestinationCidrBlock")
            or route.get("DestinationIpv6CidrBlock")
            or route.get("DestinationPrefixListId")
            or ""
        )
        target = next((route[k] for k in _ROUTE_TARGET_KEYS if route.get(k)), "")
        rows.append(
            {
                "destination": destination,
                "target": target,
                "target_type": _type_of(target),
                "state": route.get("State", ""),
                "origin": route.get("Origin", ""),
            }
        )
    return rows


def collect_route_tables(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for table in paginate(ec2, "describe_route_tables", "RouteTables"):
        tags = tag_dict(table.get("Tags"))
        rtb = table["RouteTableId"]
        routes = normalize_routes(table.get("Routes") or [])
        associations = table.get("Associations") or []
        record = Record(
            type="AWS::EC2::RouteTable",
            id=rtb,
            region=region,
            arn=_owned_arn(region, table.get("OwnerId"), "route-table", rtb),
            name=_named(tags),
            tags=tags,
            config={
                **table,
                "RouteTargets": routes,
                "IsMain": any(a.get("Main") for a in associations),
            },
        )
        record.relate("in-vpc", "AWS::EC2::VPC", table.get("VpcId"))
        for association in associations:
            record.relate("associated-subnet", "AWS::EC2::Subnet", association.get("SubnetId"))
            gateway = association.get("GatewayId")  # edge association (ingress routing)
            if _type_of(gateway):
                record.relate("associated-gateway", _type_of(gateway), gateway)
        for route in routes:
            # "local" is the VPC itself; the ARN of a Cloud WAN core network has no prefix.
            if route["target"] and route["target"] != "local":
                target_type = route["target_type"] or "AWS::NetworkManager::CoreNetwork"
                record.relate("routes-to", target_type, route["target"])
        yield record


def collect_internet_gateways(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for igw in paginate(ec2, "describe_internet_gateways", "InternetGateways"):
        tags = tag_dict(igw.get("Tags"))
        ident = igw["InternetGatewayId"]
        record = Record(
            type="AWS::EC2::InternetGateway",
            id=ident,
            region=region,
            arn=_owned_arn(region, igw.get("OwnerId"), "internet-gateway", ident),
            name=_named(tags),
            tags=tags,
            config=igw,
        )
        for attachment in igw.get("Attachments") or []:
            record.relate("attached-to-vpc", "AWS::EC2::VPC", attachment.get("VpcId"))
        yield record


def collect_nat_gateways(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for nat in paginate(ec2, "describe_nat_gateways", "NatGateways"):
        if nat.get("State") == "deleted":
            continue  # gone; AWS lists deleted NAT gateways for about an hour
        tags = tag_dict(nat.get("Tags"))
        addresses = nat.get("NatGatewayAddresses") or []
        record = Record(
            type="AWS::EC2::NatGateway",
            id=nat["NatGatewayId"],
            region=region,
            name=_named(tags),
            tags=tags,
            config={
                **nat,
                # The addresses the outside world sees this estate's traffic come from.
                "PublicIps": [a["PublicIp"] for a in addresses if a.get("PublicIp")],
                "PrivateIps": [a["PrivateIp"] for a in addresses if a.get("PrivateIp")],
            },
        )
        record.relate("in-subnet", "AWS::EC2::Subnet", nat.get("SubnetId"))
        record.relate("in-vpc", "AWS::EC2::VPC", nat.get("VpcId"))
        for address in addresses:
            record.relate("uses-eip", "AWS::EC2::EIP", address.get("AllocationId"))
        yield record


def collect_addresses(session: Any, region: str) -> Iterator[Record]:
    """Elastic IPs. EC2-Classic addresses have no AllocationId: their public IP is the id."""
    ec2 = _ec2(session, region)
    for address in ec2.describe_addresses().get("Addresses", []):  # no paginator: one page
        ident = address.get("AllocationId") or address.get("PublicIp")
        if not ident:
            continue  # nothing to identify it by (a malformed item)
        tags = tag_dict(address.get("Tags"))
        record = Record(
            type="AWS::EC2::EIP",
            id=ident,
            region=region,
            name=_named(tags, address.get("PublicIp")),
            tags=tags,
            config=address,
        )
        record.relate("associated-with", "AWS::EC2::Instance", address.get("InstanceId"))
        record.relate(
            "associated-with", "AWS::EC2::NetworkInterface", address.get("NetworkInterfaceId")
        )
        yield record


def collect_vpc_endpoints(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for endpoint in paginate(ec2, "describe_vpc_endpoints", "VpcEndpoints"):
        if str(endpoint.get("State", "")).lower() in ("deleted", "deleting"):
            continue
        tags = tag_dict(endpoint.get("Tags"))
        ident = endpoint["VpcEndpointId"]
        record = Record(
            type="AWS::EC2::VPCEndpoint",
            id=ident,
            region=region,
            arn=_owned_arn(region, endpoint.get("OwnerId"), "vpc-endpoint", ident),
            name=_named(tags, endpoint.get("ServiceName")),
            tags=tags,
            config=endpoint,
        )
        record.relate("in-vpc", "AWS::EC2::VPC", endpoint.get("VpcId"))
        for subnet in endpoint.get("SubnetIds") or []:
            record.relate("in-subnet", "AWS::EC2::Subnet", subnet)
        for table in endpoint.get("RouteTableIds") or []:
            record.relate("in-route-table", "AWS::EC2::RouteTable", table)
        for group in endpoint.get("Groups") or []:
            record.relate("uses-security-group", "AWS::EC2::SecurityGroup", group.get("GroupId"))
        for eni in endpoint.get("NetworkInterfaceIds") or []:
            record.relate("uses-network-interface", "AWS::EC2::NetworkInterface", eni)
        yield record


def collect_flow_logs(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for flow_log in paginate(ec2, "describe_flow_logs", "FlowLogs"):
        tags = tag_dict(flow_log.get("Tags"))
        covered = flow_log.get("ResourceId")
        record = Record(
            type="AWS::EC2::FlowLog",
            id=flow_log["FlowLogId"],
            region=region,
            name=_named(tags),
            tags=tags,
            config=flow_log,
        )
        # What it covers: a VPC, subnet, ENI or transit gateway (attachment).
        if _type_of(covered):
            record.relate("logs", _type_of(covered), covered)
        yield record


# Peering connections in these states are no longer a link; AWS keeps listing them for days.
_PEERING_GONE = {"deleted", "rejected", "expired", "failed"}


def _peer_side(info: dict[str, Any] | None) -> dict[str, Any]:
    info = info or {}
    cidrs = [c.get("CidrBlock") for c in info.get("CidrBlockSet") or [] if c.get("CidrBlock")]
    if info.get("CidrBlock") and info["CidrBlock"] not in cidrs:
        cidrs.insert(0, info["CidrBlock"])
    cidrs += [
        c.get("Ipv6CidrBlock") for c in info.get("Ipv6CidrBlockSet") or [] if c.get("Ipv6CidrBlock")
    ]
    return {
        "vpc_id": info.get("VpcId", ""),
        "owner_id": info.get("OwnerId", ""),
        "region": info.get("Region", ""),
        "cidrs": cidrs,
    }


def collect_vpc_peering(session: Any, region: str) -> Iterator[Record]:
    """Peering connections, with both sides' VPC, owner account and CIDRs in config.

    A collector does not know its own account id, so "local" means "in this region": both
    sides are related when both are here; a side in another account then points at a VPC
    that is not in the inventory, which is what it is.
    """
    ec2 = _ec2(session, region)
    for pcx in paginate(ec2, "describe_vpc_peering_connections", "VpcPeeringConnections"):
        status = (pcx.get("Status") or {}).get("Code", "")
        if status in _PEERING_GONE:
            continue
        tags = tag_dict(pcx.get("Tags"))
        ident = pcx["VpcPeeringConnectionId"]
        requester = _peer_side(pcx.get("RequesterVpcInfo"))
        accepter = _peer_side(pcx.get("AccepterVpcInfo"))
        record = Record(
            type="AWS::EC2::VPCPeeringConnection",
            id=ident,
            region=region,
            arn=_owned_arn(region, requester["owner_id"], "vpc-peering-connection", ident),
            name=_named(tags),
            tags=tags,
            config={
                **pcx,
                "Requester": requester,
                "Accepter": accepter,
                "CrossAccount": bool(
                    requester["owner_id"]
                    and accepter["owner_id"]
                    and requester["owner_id"] != accepter["owner_id"]
                ),
                "CrossRegion": bool(
                    requester["region"]
                    and accepter["region"]
                    and requester["region"] != accepter["region"]
                ),
            },
        )
        for side in (requester, accepter):
            if side["region"] in ("", region):
                record.relate("peers-vpc", "AWS::EC2::VPC", side["vpc_id"])
        yield record


def collect_customer_gateways(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for cgw in ec2.describe_customer_gateways().get("CustomerGateways", []):  # one page
        if cgw.get("State") == "deleted":
            continue
        tags = tag_dict(cgw.get("Tags"))
        yield Record(
            type="AWS::EC2::CustomerGateway",
            id=cgw["CustomerGatewayId"],
            region=region,
            name=_named(tags, cgw.get("DeviceName")),
            tags=tags,
            config=cgw,
        )


def collect_vpn_gateways(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for vgw in ec2.describe_vpn_gateways().get("VpnGateways", []):  # one page
        if vgw.get("State") == "deleted":
            continue
        tags = tag_dict(vgw.get("Tags"))
        record = Record(
            type="AWS::EC2::VPNGateway",
            id=vgw["VpnGatewayId"],
            region=region,
            name=_named(tags),
            tags=tags,
            config=vgw,
        )
        for attachment in vgw.get("VpcAttachments") or []:
            if attachment.get("State") in ("attaching", "attached", None):
                record.relate("attached-to-vpc", "AWS::EC2::VPC", attachment.get("VpcId"))
        yield record


def _without_secrets(vpn: dict[str, Any]) -> dict[str, Any]:
    """A VPN connection without its tunnel pre-shared keys.

    DescribeVpnConnections returns the keys (in CustomerGatewayConfiguration and in each
    tunnel's options); Catchup is read-only and must not become a copy of the estate's secrets.
    """
    clean = {k: v for k, v in vpn.items() if k != "CustomerGatewayConfiguration"}
    options = clean.get("Options")
    if isinstance(options, dict) and options.get("TunnelOptions"):
        clean["Options"] = {
            **options,
            "TunnelOptions": [
                {k: v for k, v in tunnel.items() if k != "PreSharedKey"}
                for tunnel in options["TunnelOptions"]
                if isinstance(tunnel, dict)
            ],
        }
    return clean


def collect_vpn_connections(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for vpn in ec2.describe_vpn_connections().get("VpnConnections", []):  # one page
        if vpn.get("State") == "deleted":
            continue
        tags = tag_dict(vpn.get("Tags"))
        config = _without_secrets(vpn)
        config["Tunnels"] = [
            {
                "outside_ip": t.get("OutsideIpAddress", ""),
                "status": t.get("Status", ""),
                "status_message": t.get("StatusMessage", ""),
            }
            for t in vpn.get("VgwTelemetry") or []
        ]
        record = Record(
            type="AWS::EC2::VPNConnection",
            id=vpn["VpnConnectionId"],
            region=region,
            name=_named(tags),
            tags=tags,
            config=config,
        )
        record.relate(
            "uses-customer-gateway", "AWS::EC2::CustomerGateway", vpn.get("CustomerGatewayId")
        )
        record.relate("terminates-at", "AWS::EC2::VPNGateway", vpn.get("VpnGatewayId"))
        record.relate("terminates-at", "AWS::EC2::TransitGateway", vpn.get("TransitGatewayId"))
        yield record


def collect_transit_gateways(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for tgw in paginate(ec2, "describe_transit_gateways", "TransitGateways"):
        if tgw.get("State") in ("deleted", "deleting"):
            continue
        tags = tag_dict(tgw.get("Tags"))
        ident = tgw["TransitGatewayId"]
        yield Record(
            type="AWS::EC2::TransitGateway",
            id=ident,
            region=region,
            arn=tgw.get("TransitGatewayArn")
            or _owned_arn(region, tgw.get("OwnerId"), "transit-gateway", ident),
            name=_named(tags),
            tags=tags,
            config=tgw,
        )


# What a transit gateway attachment's ResourceType attaches, as CloudFormation types.
_ATTACHMENT_TYPES = {
    "vpc": "AWS::EC2::VPC",
    "vpn": "AWS::EC2::VPNConnection",
    "direct-connect-gateway": "AWS::DirectConnect::DirectConnectGateway",
    "peering": "AWS::EC2::TransitGateway",
    "tgw-peering": "AWS::EC2::TransitGateway",
    "connect": "AWS::EC2::TransitGatewayAttachment",
}


def collect_transit_gateway_attachments(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    pages = paginate(ec2, "describe_transit_gateway_attachments", "TransitGatewayAttachments")
    for attachment in pages:
        if attachment.get("State") in ("deleted", "deleting", "rejected", "failed"):
            continue
        tags = tag_dict(attachment.get("Tags"))
        ident = attachment["TransitGatewayAttachmentId"]
        resource_type = attachment.get("ResourceType", "")
        record = Record(
            type="AWS::EC2::TransitGatewayAttachment",
            id=ident,
            region=region,
            arn=_owned_arn(
                region, attachment.get("ResourceOwnerId"), "transit-gateway-attachment", ident
            ),
            name=_named(tags),
            tags=tags,
            config={
                **attachment,
                # Another account's VPC on our transit gateway is an external link.
                "CrossAccount": bool(
                    attachment.get("ResourceOwnerId")
                    and attachment.get("TransitGatewayOwnerId")
                    and attachment["ResourceOwnerId"] != attachment["TransitGatewayOwnerId"]
                ),
            },
        )
        record.relate(
            "attached-to-transit-gateway",
            "AWS::EC2::TransitGateway",
            attachment.get("TransitGatewayId"),
        )
        target_type = _ATTACHMENT_TYPES.get(resource_type) or _type_of(attachment.get("ResourceId"))
        if target_type:
            record.relate("attaches", target_type, attachment.get("ResourceId"))
        yield record


# IANA protocol numbers as the names security-group rules use, so NACL and SG rules compare.
_PROTOCOL_NAMES = {"-1": "-1", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


def normalize_acl_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Network ACL entries as rows in evaluation order (per direction, lowest number first).

    protocol "-1" means all traffic; ports are None then, as in security-group rules.
    """
    rules = []
    for entry in entries:
        protocol = str(entry.get("Protocol", "-1"))
        protocol = _PROTOCOL_NAMES.get(protocol, protocol)
        port_range = entry.get("PortRange") or {}
        all_ports = protocol in ("-1", "icmp", "icmpv6") or not port_range
        egress = bool(entry.get("Egress"))
        icmp = entry.get("IcmpTypeCode") or {}
        rules.append(
            {
                "rule_number": entry.get("RuleNumber"),
                "direction": "egress" if egress else "ingress",
                "egress": egress,
                "protocol": protocol,
                "from_port": None if all_ports else port_range.get("From"),
                "to_port": None if all_ports else port_range.get("To"),
                "cidr": entry.get("CidrBlock") or entry.get("Ipv6CidrBlock") or "",
                "action": str(entry.get("RuleAction", "")).lower(),
                "icmp_type": icmp.get("Type"),
                "icmp_code": icmp.get("Code"),
            }
        )
    rules.sort(key=lambda r: (r["egress"], r["rule_number"] if r["rule_number"] is not None else 0))
    return rules


def collect_network_acls(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for acl in paginate(ec2, "describe_network_acls", "NetworkAcls"):
        tags = tag_dict(acl.get("Tags"))
        ident = acl["NetworkAclId"]
        record = Record(
            type="AWS::EC2::NetworkAcl",
            id=ident,
            region=region,
            arn=_owned_arn(region, acl.get("OwnerId"), "network-acl", ident),
            name=_named(tags),
            tags=tags,
            config={**acl, "Rules": normalize_acl_entries(acl.get("Entries") or [])},
        )
        record.relate("in-vpc", "AWS::EC2::VPC", acl.get("VpcId"))
        for association in acl.get("Associations") or []:
            record.relate("associated-subnet", "AWS::EC2::Subnet", association.get("SubnetId"))
        yield record


def collect_prefix_lists(session: Any, region: str) -> Iterator[Record]:
    """Customer-managed prefix lists with their entries (config["Entries"]).

    The unknown-IP view expands prefix lists that security-group rules reference, so the
    entries are fetched here. AWS-managed lists (owner "AWS": S3, DynamoDB, CloudFront…) are
    skipped: they describe AWS, not the estate, and their entries are AWS's own ranges.
    """
    ec2 = _ec2(session, region)
    for prefix_list in paginate(ec2, "describe_managed_prefix_lists", "PrefixLists"):
        if prefix_list.get("OwnerId") == "AWS":
            continue
        if str(prefix_list.get("State", "")).startswith("delete"):
            continue
        ident = prefix_list["PrefixListId"]
        entries = [
            {"Cidr": e.get("Cidr", ""), "Description": e.get("Description", "")}
            for e in paginate(ec2, "get_managed_prefix_list_entries", "Entries", PrefixListId=ident)
        ]
        tags = tag_dict(prefix_list.get("Tags"))
        yield Record(
            type="AWS::EC2::PrefixList",
            id=ident,
            region=region,
            arn=prefix_list.get("PrefixListArn")
            or _owned_arn(region, prefix_list.get("OwnerId"), "prefix-list", ident),
            name=_named(tags, prefix_list.get("PrefixListName")),
            tags=tags,
            config={**prefix_list, "Entries": entries},
        )


# --- Layer 2: storage attached to instances ---------------------------------------------------


def collect_volumes(session: Any, region: str) -> Iterator[Record]:
    ec2 = _ec2(session, region)
    for volume in paginate(ec2, "describe_volumes", "Volumes"):
        if volume.get("State") == "deleted":
            continue
        tags = tag_dict(volume.get("Tags"))
        record = Record(
            type="AWS::EC2::Volume",
            id=volume["VolumeId"],
            region=region,
            name=_named(tags),
            tags=tags,
            config=volume,
        )
        for attachment in volume.get("Attachments") or []:
            record.relate("attached-to", "AWS::EC2::Instance", attachment.get("InstanceId"))
        yield record
