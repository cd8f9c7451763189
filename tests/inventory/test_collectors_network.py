"""Layer-1 collectors (external connections and networking), and EBS volumes.

Each test builds the resource with boto3 in moto and reads back the Record a user would see
through the inventory: its type, id, name, relations and normalized fields. Where moto 5.2.5
lacks an API or answers unlike AWS, botocore's Stubber answers with items shaped like AWS's
documentation instead (said so at each test).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from inventory.collectors import COLLECTORS, Relation, directconnect, ec2
from inventory.collectors.base import Record
from inventory.models import Relationship, Resource, Sync

REGION = "ap-northeast-1"
HOSTILE = "<script>alert('honban')</script> & \"prod\""


def tag_spec(resource_type: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": "Name", "Value": name}]}]


def by_id(records: list[Record], ident: str) -> Record:
    matches = [r for r in records if r.id == ident]
    assert len(matches) == 1, [r.id for r in records]
    return matches[0]


class StubSession:
    """Hands out one stubbed client, as a Session would hand out a real one."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, service: str, region_name: str | None = None, config: Any = None) -> Any:
        return self._client


@pytest.fixture
def vpc(aws) -> dict[str, str]:
    """A VPC with one subnet, the estate most layer-1 resources hang on."""
    client = aws.client("ec2")
    vpc_id = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_id = client.create_subnet(
        VpcId=vpc_id, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{REGION}a"
    )["Subnet"]["SubnetId"]
    return {"vpc": vpc_id, "subnet": subnet_id}


def test_it_relates_a_route_table_to_its_vpc_subnet_and_next_hops(aws, vpc):
    client = aws.client("ec2")
    igw = client.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    client.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc["vpc"])
    peer_vpc = client.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    pcx = client.create_vpc_peering_connection(VpcId=vpc["vpc"], PeerVpcId=peer_vpc)[
        "VpcPeeringConnection"
    ]["VpcPeeringConnectionId"]
    rtb = client.create_route_table(
        VpcId=vpc["vpc"], TagSpecifications=tag_spec("route-table", HOSTILE)
    )["RouteTable"]["RouteTableId"]
    client.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    client.create_route(
        RouteTableId=rtb, DestinationCidrBlock="10.9.0.0/16", VpcPeeringConnectionId=pcx
    )
    client.associate_route_table(RouteTableId=rtb, SubnetId=vpc["subnet"])

    record = by_id(list(ec2.collect_route_tables(aws, REGION)), rtb)

    assert record.type == "AWS::EC2::RouteTable"
    assert record.name == HOSTILE  # unchanged: escaping is the template's job
    assert record.arn == f"arn:aws:ec2:{REGION}:123456789012:route-table/{rtb}"
    assert Relation("in-vpc", "AWS::EC2::VPC", vpc["vpc"]) in record.relations
    assert Relation("associated-subnet", "AWS::EC2::Subnet", vpc["subnet"]) in record.relations
    assert Relation("routes-to", "AWS::EC2::InternetGateway", igw) in record.relations
    assert Relation("routes-to", "AWS::EC2::VPCPeeringConnection", pcx) in record.relations
    assert not [r for r in record.relations if r.id == "local"]
    targets = {r["destination"]: r for r in record.config["RouteTargets"]}
    assert targets["0.0.0.0/0"]["target"] == igw
    assert targets["0.0.0.0/0"]["target_type"] == "AWS::EC2::InternetGateway"
    assert targets["10.0.0.0/16"]["target"] == "local"
    assert record.config["IsMain"] is False


def test_it_records_an_internet_gateway_attached_to_its_vpc(aws, vpc):
    client = aws.client("ec2")
    igw = client.create_internet_gateway(
        TagSpecifications=tag_spec("internet-gateway", "honban-igw")
    )["InternetGateway"]["InternetGatewayId"]
    client.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc["vpc"])

    record = by_id(list(ec2.collect_internet_gateways(aws, REGION)), igw)

    assert record.type == "AWS::EC2::InternetGateway"
    assert record.name == "honban-igw"
    assert record.relations == [Relation("attached-to-vpc", "AWS::EC2::VPC", vpc["vpc"])]


def test_it_keeps_a_nat_gateways_public_ip_and_places_it(aws, vpc):
    client = aws.client("ec2")
    eip = client.allocate_address(Domain="vpc")
    nat = client.create_nat_gateway(
        SubnetId=vpc["subnet"],
        AllocationId=eip["AllocationId"],
        TagSpecifications=tag_spec("natgateway", "honban-nat"),
    )["NatGateway"]["NatGatewayId"]

    record = by_id(list(ec2.collect_nat_gateways(aws, REGION)), nat)

    assert record.type == "AWS::EC2::NatGateway"
    assert record.name == "honban-nat"
    assert record.config["PublicIps"] == [eip["PublicIp"]]
    assert Relation("in-subnet", "AWS::EC2::Subnet", vpc["subnet"]) in record.relations
    assert Relation("in-vpc", "AWS::EC2::VPC", vpc["vpc"]) in record.relations
    assert Relation("uses-eip", "AWS::EC2::EIP", eip["AllocationId"]) in record.relations


def _instance(aws, subnet: str) -> str:
    client = aws.client("ec2")
    return client.run_instances(
        ImageId="ami-12c6146b",  # one of moto's built-in images
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        SubnetId=subnet,
    )["Instances"][0]["InstanceId"]


def test_it_records_an_elastic_ip_and_what_it_is_associated_with(aws, vpc):
    client = aws.client("ec2")
    instance = _instance(aws, vpc["subnet"])
    eip = client.allocate_address(
        Domain="vpc", TagSpecifications=tag_spec("elastic-ip", "honban-batch-eip")
    )
    client.associate_address(AllocationId=eip["AllocationId"], InstanceId=instance)
    spare = client.allocate_address(Domain="vpc")

    records = list(ec2.collect_addresses(aws, REGION))

    record = by_id(records, eip["AllocationId"])
    assert record.type == "AWS::EC2::EIP"
    assert record.name == "honban-batch-eip"
    assert record.config["PublicIp"] == eip["PublicIp"]
    assert Relation("associated-with", "AWS::EC2::Instance", instance) in record.relations
    # Untagged: the address itself is what a person recognises.
    assert by_id(records, spare["AllocationId"]).name == spare["PublicIp"]


def test_an_ec2_classic_address_is_identified_by_its_public_ip():
    # Stubber: moto cannot create EC2-Classic addresses (no AllocationId), seed 003's estate.
    client = boto3.client(
        "ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_response(
            "describe_addresses",
            {
                "Addresses": [
                    {"PublicIp": "203.0.113.10", "Domain": "standard", "InstanceId": "i-0a"}
                ]
            },
        )
        [record] = list(ec2.collect_addresses(StubSession(client), REGION))

    assert record.id == "203.0.113.10"
    assert record.relations == [Relation("associated-with", "AWS::EC2::Instance", "i-0a")]


def test_it_records_vpc_endpoints_with_their_route_tables(aws, vpc):
    client = aws.client("ec2")
    rtb = client.create_route_table(VpcId=vpc["vpc"])["RouteTable"]["RouteTableId"]
    endpoint = client.create_vpc_endpoint(
        VpcId=vpc["vpc"],
        ServiceName=f"com.amazonaws.{REGION}.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[rtb],
    )["VpcEndpoint"]["VpcEndpointId"]

    record = by_id(list(ec2.collect_vpc_endpoints(aws, REGION)), endpoint)

    assert record.type == "AWS::EC2::VPCEndpoint"
    assert record.name == f"com.amazonaws.{REGION}.s3"  # untagged: its service names it
    assert Relation("in-vpc", "AWS::EC2::VPC", vpc["vpc"]) in record.relations
    assert Relation("in-route-table", "AWS::EC2::RouteTable", rtb) in record.relations


def test_a_flow_log_logs_the_vpc_it_covers(aws, vpc):
    client = aws.client("ec2")
    [flow_log] = client.create_flow_logs(
        ResourceIds=[vpc["vpc"]],
        ResourceType="VPC",
        TrafficType="REJECT",
        LogDestinationType="cloud-watch-logs",
        LogGroupName="honban-vpc-flow",
        DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs",
    )["FlowLogIds"]

    [record] = list(ec2.collect_flow_logs(aws, REGION))

    assert record.type == "AWS::EC2::FlowLog"
    assert record.id == flow_log
    assert record.config["TrafficType"] == "REJECT"
    assert record.relations == [Relation("logs", "AWS::EC2::VPC", vpc["vpc"])]


def test_a_peering_keeps_both_sides_and_peers_its_local_vpcs(aws, vpc):
    client = aws.client("ec2")
    peer_vpc = client.create_vpc(CidrBlock="172.16.0.0/16")["Vpc"]["VpcId"]
    pcx = client.create_vpc_peering_connection(
        VpcId=vpc["vpc"],
        PeerVpcId=peer_vpc,
        TagSpecifications=tag_spec("vpc-peering-connection", "honban-to-partner"),
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]

    record = by_id(list(ec2.collect_vpc_peering(aws, REGION)), pcx)

    assert record.type == "AWS::EC2::VPCPeeringConnection"
    assert record.name == "honban-to-partner"
    assert record.config["Requester"]["vpc_id"] == vpc["vpc"]
    assert record.config["Requester"]["owner_id"] == "123456789012"
    assert record.config["Requester"]["cidrs"] == ["10.0.0.0/16"]
    assert record.config["Accepter"]["vpc_id"] == peer_vpc
    assert record.config["Accepter"]["cidrs"] == ["172.16.0.0/16"]
    assert record.config["CrossAccount"] is False
    assert Relation("peers-vpc", "AWS::EC2::VPC", vpc["vpc"]) in record.relations
    assert Relation("peers-vpc", "AWS::EC2::VPC", peer_vpc) in record.relations


def test_a_cross_account_cross_region_peering_relates_only_the_local_side():
    # Stubber: moto cannot model another account's VPC in another region. Shaped like the
    # DescribeVpcPeeringConnections example in the EC2 API reference.
    client = boto3.client(
        "ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    item = {
        "VpcPeeringConnectionId": "pcx-111aaa111",
        "Status": {"Code": "active", "Message": "Active"},
        "RequesterVpcInfo": {
            "VpcId": "vpc-local",
            "OwnerId": "123456789012",
            "Region": REGION,
            "CidrBlock": "10.0.0.0/16",
        },
        "AccepterVpcInfo": {
            "VpcId": "vpc-partner",
            "OwnerId": "210987654321",
            "Region": "us-west-2",
            "CidrBlockSet": [{"CidrBlock": "192.168.0.0/20"}],
        },
    }
    gone = {**item, "VpcPeeringConnectionId": "pcx-old", "Status": {"Code": "deleted"}}
    with Stubber(client) as stub:
        stub.add_response(
            "describe_vpc_peering_connections", {"VpcPeeringConnections": [item, gone]}
        )
        [record] = list(ec2.collect_vpc_peering(StubSession(client), REGION))

    assert record.id == "pcx-111aaa111"
    assert record.config["CrossAccount"] is True
    assert record.config["CrossRegion"] is True
    assert record.config["Accepter"] == {
        "vpc_id": "vpc-partner",
        "owner_id": "210987654321",
        "region": "us-west-2",
        "cidrs": ["192.168.0.0/20"],
    }
    assert record.relations == [Relation("peers-vpc", "AWS::EC2::VPC", "vpc-local")]


def test_it_links_a_vpn_to_its_customer_and_virtual_private_gateways(aws, vpc):
    client = aws.client("ec2")
    cgw = client.create_customer_gateway(
        Type="ipsec.1",
        PublicIp="198.51.100.7",
        BgpAsn=65000,
        TagSpecifications=tag_spec("customer-gateway", "honban-dc-router"),
    )["CustomerGateway"]["CustomerGatewayId"]
    vgw = client.create_vpn_gateway(
        Type="ipsec.1", TagSpecifications=tag_spec("vpn-gateway", "honban-vgw")
    )["VpnGateway"]["VpnGatewayId"]
    client.attach_vpn_gateway(VpcId=vpc["vpc"], VpnGatewayId=vgw)
    vpn = client.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=cgw,
        VpnGatewayId=vgw,
        TagSpecifications=tag_spec("vpn-connection", "honban-dc-vpn"),
    )["VpnConnection"]["VpnConnectionId"]

    [cgw_record] = list(ec2.collect_customer_gateways(aws, REGION))
    [vgw_record] = list(ec2.collect_vpn_gateways(aws, REGION))
    [vpn_record] = list(ec2.collect_vpn_connections(aws, REGION))

    assert (cgw_record.type, cgw_record.id, cgw_record.name) == (
        "AWS::EC2::CustomerGateway",
        cgw,
        "honban-dc-router",
    )
    assert cgw_record.config["IpAddress"] == "198.51.100.7"
    assert (vgw_record.type, vgw_record.name) == ("AWS::EC2::VPNGateway", "honban-vgw")
    assert vgw_record.relations == [Relation("attached-to-vpc", "AWS::EC2::VPC", vpc["vpc"])]
    assert (vpn_record.type, vpn_record.id, vpn_record.name) == (
        "AWS::EC2::VPNConnection",
        vpn,
        "honban-dc-vpn",
    )
    assert (
        Relation("uses-customer-gateway", "AWS::EC2::CustomerGateway", cgw) in vpn_record.relations
    )
    assert Relation("terminates-at", "AWS::EC2::VPNGateway", vgw) in vpn_record.relations
    # The tunnel configuration carries the pre-shared keys: never kept.
    assert "CustomerGatewayConfiguration" not in vpn_record.config


def test_a_vpn_to_a_transit_gateway_keeps_no_pre_shared_key():
    # Stubber: moto's VPN connections have no TunnelOptions. Shaped like AWS's
    # DescribeVpnConnections response for a transit gateway VPN.
    client = boto3.client(
        "ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    item = {
        "VpnConnectionId": "vpn-0tgw",
        "State": "available",
        "Type": "ipsec.1",
        "CustomerGatewayId": "cgw-0a",
        "TransitGatewayId": "tgw-0b",
        "CustomerGatewayConfiguration": "<vpn_connection>psk</vpn_connection>",
        "Options": {
            "StaticRoutesOnly": False,
            "TunnelOptions": [
                {"OutsideIpAddress": "52.0.0.1", "PreSharedKey": "s3cr3t"},
                {"OutsideIpAddress": "52.0.0.2", "PreSharedKey": "s3cr3t2"},
            ],
        },
        "VgwTelemetry": [
            {"OutsideIpAddress": "52.0.0.1", "Status": "UP", "StatusMessage": "1 BGP ROUTES"},
            {"OutsideIpAddress": "52.0.0.2", "Status": "DOWN", "StatusMessage": ""},
        ],
    }
    with Stubber(client) as stub:
        stub.add_response("describe_vpn_connections", {"VpnConnections": [item]})
        [record] = list(ec2.collect_vpn_connections(StubSession(client), REGION))

    assert "s3cr3t" not in str(record.to_dict())
    assert [t["OutsideIpAddress"] for t in record.config["Options"]["TunnelOptions"]] == [
        "52.0.0.1",
        "52.0.0.2",
    ]
    assert [t["status"] for t in record.config["Tunnels"]] == ["UP", "DOWN"]
    assert Relation("terminates-at", "AWS::EC2::TransitGateway", "tgw-0b") in record.relations


def test_it_records_a_transit_gateway_and_its_vpc_attachment(aws, vpc):
    client = aws.client("ec2")
    tgw = client.create_transit_gateway(
        Description="honban hub", TagSpecifications=tag_spec("transit-gateway", "honban-tgw")
    )["TransitGateway"]
    attachment = client.create_transit_gateway_vpc_attachment(
        TransitGatewayId=tgw["TransitGatewayId"],
        VpcId=vpc["vpc"],
        SubnetIds=[vpc["subnet"]],
    )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
    # moto 5.2.5 drops TagSpecifications on attachments; tags added afterwards stick.
    client.create_tags(Resources=[attachment], Tags=[{"Key": "Name", "Value": "honban-to-staging"}])

    tgw_record = by_id(list(ec2.collect_transit_gateways(aws, REGION)), tgw["TransitGatewayId"])
    records = list(ec2.collect_transit_gateway_attachments(aws, REGION))
    record = by_id(records, attachment)

    assert (tgw_record.type, tgw_record.name) == ("AWS::EC2::TransitGateway", "honban-tgw")
    assert tgw_record.arn == tgw["TransitGatewayArn"]
    assert record.type == "AWS::EC2::TransitGatewayAttachment"
    assert record.name == "honban-to-staging"
    assert record.config["ResourceType"] == "vpc"
    assert record.config["ResourceId"] == vpc["vpc"]
    assert (
        Relation("attached-to-transit-gateway", "AWS::EC2::TransitGateway", tgw["TransitGatewayId"])
        in record.relations
    )
    assert Relation("attaches", "AWS::EC2::VPC", vpc["vpc"]) in record.relations


def test_it_normalizes_network_acl_entries_and_relates_subnets(aws, vpc):
    client = aws.client("ec2")
    acl = client.create_network_acl(
        VpcId=vpc["vpc"], TagSpecifications=tag_spec("network-acl", "honban-nacl")
    )["NetworkAcl"]["NetworkAclId"]
    client.create_network_acl_entry(
        NetworkAclId=acl,
        RuleNumber=200,
        Protocol="6",
        RuleAction="allow",
        Egress=False,
        CidrBlock="0.0.0.0/0",
        PortRange={"From": 443, "To": 443},
    )
    client.create_network_acl_entry(
        NetworkAclId=acl,
        RuleNumber=100,
        Protocol="-1",
        RuleAction="deny",
        Egress=False,
        CidrBlock="10.1.0.0/16",
    )
    # Move the subnet from the default ACL to this one, as AWS only allows.
    default = client.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [vpc["subnet"]]}]
    )["NetworkAcls"][0]
    association = next(
        a["NetworkAclAssociationId"]
        for a in default["Associations"]
        if a["SubnetId"] == vpc["subnet"]
    )
    client.replace_network_acl_association(AssociationId=association, NetworkAclId=acl)

    record = by_id(list(ec2.collect_network_acls(aws, REGION)), acl)

    assert record.type == "AWS::EC2::NetworkAcl"
    assert record.name == "honban-nacl"
    ingress = [r for r in record.config["Rules"] if r["direction"] == "ingress"]
    # Evaluation order: the lower rule number first.
    assert ingress[0] == {
        "rule_number": 100,
        "direction": "ingress",
        "egress": False,
        "protocol": "-1",
        "from_port": None,
        "to_port": None,
        "cidr": "10.1.0.0/16",
        "action": "deny",
        "icmp_type": None,
        "icmp_code": None,
    }
    assert ingress[1]["protocol"] == "tcp"
    assert (ingress[1]["from_port"], ingress[1]["to_port"]) == (443, 443)
    assert ingress[1]["action"] == "allow"
    assert Relation("in-vpc", "AWS::EC2::VPC", vpc["vpc"]) in record.relations
    assert Relation("associated-subnet", "AWS::EC2::Subnet", vpc["subnet"]) in record.relations


def test_it_collects_customer_prefix_lists_with_their_entries_only(aws):
    client = aws.client("ec2")
    prefix_list = client.create_managed_prefix_list(
        PrefixListName="office-and-dc",
        MaxEntries=5,
        AddressFamily="IPv4",
        Entries=[
            {"Cidr": "198.51.100.0/24", "Description": "old office?"},
            {"Cidr": "192.168.0.0/16", "Description": "data centre"},
        ],
    )["PrefixList"]

    records = list(ec2.collect_prefix_lists(aws, REGION))

    # moto, like AWS, also lists AWS-managed lists (S3, DynamoDB…): those are not the estate.
    [record] = records
    assert record.type == "AWS::EC2::PrefixList"
    assert record.id == prefix_list["PrefixListId"]
    assert record.name == "office-and-dc"
    assert sorted(e["Cidr"] for e in record.config["Entries"]) == [
        "192.168.0.0/16",
        "198.51.100.0/24",
    ]
    assert {e["Cidr"]: e["Description"] for e in record.config["Entries"]}[
        "198.51.100.0/24"
    ] == "old office?"


def test_it_records_an_ebs_volume_attached_to_an_instance(aws, vpc):
    client = aws.client("ec2")
    instance = _instance(aws, vpc["subnet"])
    volume = client.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=500,
        VolumeType="gp2",
        TagSpecifications=tag_spec("volume", "honban-mysql-data"),
    )["VolumeId"]
    client.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/sdf")

    record = by_id(list(ec2.collect_volumes(aws, REGION)), volume)

    assert record.type == "AWS::EC2::Volume"
    assert record.name == "honban-mysql-data"
    assert (record.config["Size"], record.config["VolumeType"]) == (500, "gp2")
    assert record.relations == [Relation("attached-to", "AWS::EC2::Instance", instance)]


def test_items_missing_optional_fields_do_not_crash_collectors():
    # Stubber: the barest items AWS's schema allows (every optional field left out), as an
    # old or odd resource may come back.
    client = boto3.client(
        "ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    calls = [
        (
            ec2.collect_route_tables,
            "describe_route_tables",
            {"RouteTables": [{"RouteTableId": "rtb-1"}]},
        ),
        (
            ec2.collect_internet_gateways,
            "describe_internet_gateways",
            {"InternetGateways": [{"InternetGatewayId": "igw-1"}]},
        ),
        (
            ec2.collect_nat_gateways,
            "describe_nat_gateways",
            {"NatGateways": [{"NatGatewayId": "nat-1"}]},
        ),
        (
            ec2.collect_vpc_endpoints,
            "describe_vpc_endpoints",
            {"VpcEndpoints": [{"VpcEndpointId": "vpce-1"}]},
        ),
        (ec2.collect_flow_logs, "describe_flow_logs", {"FlowLogs": [{"FlowLogId": "fl-1"}]}),
        (
            ec2.collect_vpc_peering,
            "describe_vpc_peering_connections",
            {"VpcPeeringConnections": [{"VpcPeeringConnectionId": "pcx-1"}]},
        ),
        (
            ec2.collect_customer_gateways,
            "describe_customer_gateways",
            {"CustomerGateways": [{"CustomerGatewayId": "cgw-1"}]},
        ),
        (
            ec2.collect_vpn_gateways,
            "describe_vpn_gateways",
            {"VpnGateways": [{"VpnGatewayId": "vgw-1"}]},
        ),
        (
            ec2.collect_vpn_connections,
            "describe_vpn_connections",
            {"VpnConnections": [{"VpnConnectionId": "vpn-1"}]},
        ),
        (
            ec2.collect_transit_gateways,
            "describe_transit_gateways",
            {"TransitGateways": [{"TransitGatewayId": "tgw-1"}]},
        ),
        (
            ec2.collect_transit_gateway_attachments,
            "describe_transit_gateway_attachments",
            {"TransitGatewayAttachments": [{"TransitGatewayAttachmentId": "tgw-attach-1"}]},
        ),
        (
            ec2.collect_network_acls,
            "describe_network_acls",
            {"NetworkAcls": [{"NetworkAclId": "acl-1", "Entries": [{}]}]},
        ),
        (ec2.collect_volumes, "describe_volumes", {"Volumes": [{"VolumeId": "vol-1"}]}),
    ]
    for collect, operation, response in calls:
        with Stubber(client) as stub:
            stub.add_response(operation, response)
            [record] = list(collect(StubSession(client), REGION))
        assert record.id.endswith("-1"), operation
        assert record.to_dict()["name"] == ""
    with Stubber(client) as stub:
        stub.add_response("describe_addresses", {"Addresses": [{}]})
        assert list(ec2.collect_addresses(StubSession(client), REGION)) == []


# --- Direct Connect -------------------------------------------------------------------------

DX_CONNECTION = {
    # Shaped like the DescribeConnections response in the Direct Connect API reference;
    # moto 5.2.5 answers with an ARN as connectionId and no ownerAccount, unlike AWS.
    "ownerAccount": "123456789012",
    "connectionId": "dxcon-fgabc123",
    "connectionName": "honban-dx-equinix-ty2",
    "connectionState": "available",
    "region": REGION,
    "location": "EqTY2",
    "bandwidth": "1Gbps",
    "vlan": 0,
    "partnerName": "",
    "loaIssueTime": dt.datetime(2016, 4, 1, tzinfo=dt.UTC),
    "awsDeviceV2": "EqTY2-abc",
    "hasLogicalRedundancy": "no",
    "tags": [{"key": "Name", "value": HOSTILE}, {"key": "env", "value": "production"}],
    "macSecKeys": [{"secretARN": "arn:aws:secretsmanager:x", "ckn": "abc", "state": "associated"}],
}


def test_it_records_a_direct_connect_connection():
    client = boto3.client(
        "directconnect", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    gone = {**DX_CONNECTION, "connectionId": "dxcon-gone", "connectionState": "deleted"}
    with Stubber(client) as stub:
        stub.add_response("describe_connections", {"connections": [DX_CONNECTION, gone]})
        [record] = list(directconnect.collect_connections(StubSession(client), REGION))

    assert record.type == "AWS::DirectConnect::Connection"
    assert record.id == "dxcon-fgabc123"
    assert record.arn == f"arn:aws:directconnect:{REGION}:123456789012:dxcon/dxcon-fgabc123"
    assert record.name == HOSTILE
    assert record.tags == {"Name": HOSTILE, "env": "production"}
    assert record.config["bandwidth"] == "1Gbps"
    assert "macSecKeys" not in record.config


def test_it_reads_direct_connect_connections_from_moto(aws):
    aws.client("directconnect").create_connection(
        location="EqTY2", bandwidth="1Gbps", connectionName="honban-dx"
    )

    [record] = list(directconnect.collect_connections(aws, REGION))

    assert record.type == "AWS::DirectConnect::Connection"
    assert record.name == "honban-dx"


def test_a_virtual_interface_relates_its_connection_and_gateways_without_bgp_keys():
    # Stubber: moto 5.2.5 has no DescribeVirtualInterfaces. Shaped like the API reference.
    client = boto3.client(
        "directconnect", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    vif = {
        "ownerAccount": "123456789012",
        "virtualInterfaceId": "dxvif-ffabc123",
        "location": "EqTY2",
        "connectionId": "dxcon-fgabc123",
        "virtualInterfaceType": "private",
        "virtualInterfaceName": "honban-private-vif",
        "vlan": 101,
        "asn": 65001,
        "amazonSideAsn": 64512,
        "authKey": "bgp-md5-secret",
        "amazonAddress": "169.254.10.1/30",
        "customerAddress": "169.254.10.2/30",
        "addressFamily": "ipv4",
        "virtualInterfaceState": "available",
        "customerRouterConfig": "<router>bgp-md5-secret</router>",
        "virtualGatewayId": "vgw-0abc",
        "directConnectGatewayId": "5f294f92-bafb-4011-916d-9b0bexample",
        "bgpPeers": [
            {
                "bgpPeerId": "dxpeer-1",
                "asn": 65001,
                "authKey": "bgp-md5-secret",
                "bgpPeerState": "available",
                "bgpStatus": "up",
            }
        ],
        "region": REGION,
    }
    with Stubber(client) as stub:
        stub.add_response(
            "describe_virtual_interfaces", {"virtualInterfaces": [vif], "nextToken": "page2"}
        )
        stub.add_response(
            "describe_virtual_interfaces",
            {"virtualInterfaces": [{**vif, "virtualInterfaceId": "dxvif-2"}]},
            {"nextToken": "page2"},
        )
        records = list(directconnect.collect_virtual_interfaces(StubSession(client), REGION))

    assert [r.id for r in records] == ["dxvif-ffabc123", "dxvif-2"]
    record = records[0]
    assert record.type == "AWS::DirectConnect::VirtualInterface"
    assert record.name == "honban-private-vif"
    assert record.arn == f"arn:aws:directconnect:{REGION}:123456789012:dxvif/dxvif-ffabc123"
    assert record.config["vlan"] == 101
    assert record.config["bgpPeers"][0]["bgpStatus"] == "up"
    assert "bgp-md5-secret" not in str(record.to_dict())
    assert record.relations == [
        Relation("on-connection", "AWS::DirectConnect::Connection", "dxcon-fgabc123"),
        Relation("attached-to-vpn-gateway", "AWS::EC2::VPNGateway", "vgw-0abc"),
        Relation(
            "attached-to-dx-gateway",
            "AWS::DirectConnect::DirectConnectGateway",
            "5f294f92-bafb-4011-916d-9b0bexample",
        ),
    ]


def test_virtual_interfaces_are_none_where_moto_does_not_emulate_them(aws):
    # In process, moto raises NotImplementedError: no interfaces, and the sync stays complete.
    assert list(directconnect.collect_virtual_interfaces(aws, REGION)) == []


def test_a_moto_server_without_connections_is_not_asked_for_virtual_interfaces(aws_credentials):
    from tests.support.moto_server import moto_server

    with moto_server() as url:
        session = boto3.Session(region_name=REGION)
        client = session.client("directconnect", endpoint_url=url)
        started = time.monotonic()
        records = list(directconnect.collect_virtual_interfaces(StubSession(client), REGION))

    assert records == []
    # moto's server answers this API with HTTP 500, which botocore would retry for a minute.
    assert time.monotonic() - started < 5


# --- Registry and a whole sync ---------------------------------------------------------------


def test_every_network_collector_is_registered():
    keys = {
        "ec2.route_tables",
        "ec2.internet_gateways",
        "ec2.nat_gateways",
        "ec2.addresses",
        "ec2.vpc_endpoints",
        "ec2.flow_logs",
        "ec2.vpc_peering",
        "ec2.customer_gateways",
        "ec2.vpn_gateways",
        "ec2.vpn_connections",
        "ec2.transit_gateways",
        "ec2.transit_gateway_attachments",
        "ec2.network_acls",
        "ec2.prefix_lists",
        "directconnect.connections",
        "directconnect.virtual_interfaces",
    }
    assert keys <= set(COLLECTORS)
    assert all(COLLECTORS[k].layer == 1 for k in keys)
    assert COLLECTORS["ec2.volumes"].layer == 2


def _edges(resource_id: str) -> set[tuple[str, str, str]]:
    return set(
        Relationship.objects.filter(source__resource_id=resource_id).values_list(
            "kind", "target_type", "target_id"
        )
    )


def test_a_synced_estate_shows_its_external_links_and_their_relationships(
    aws, make_account, run_sync
):
    client = aws.client("ec2")
    vpc = client.create_vpc(
        CidrBlock="10.0.0.0/16", TagSpecifications=tag_spec("vpc", "honban-vpc")
    )["Vpc"]["VpcId"]
    subnet = client.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    igw = client.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    client.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    rtb = client.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    client.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    client.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
    eip = client.allocate_address(Domain="vpc")["AllocationId"]
    nat = client.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]["NatGatewayId"]
    partner = client.create_vpc(CidrBlock="172.16.0.0/16")["Vpc"]["VpcId"]
    pcx = client.create_vpc_peering_connection(
        VpcId=vpc,
        PeerVpcId=partner,
        TagSpecifications=tag_spec("vpc-peering-connection", "honban-partner-link"),
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    cgw = client.create_customer_gateway(Type="ipsec.1", PublicIp="198.51.100.7", BgpAsn=65000)[
        "CustomerGateway"
    ]["CustomerGatewayId"]
    vgw = client.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    client.attach_vpn_gateway(VpcId=vpc, VpnGatewayId=vgw)
    vpn = client.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=cgw,
        VpnGatewayId=vgw,
        TagSpecifications=tag_spec("vpn-connection", "honban-dc-vpn"),
    )["VpnConnection"]["VpnConnectionId"]

    account = make_account()
    sync = run_sync(account)

    assert sync.status == Sync.Status.COMPLETE, sync.error
    stored = dict(Resource.objects.values_list("resource_id", "type"))
    assert stored[rtb] == "AWS::EC2::RouteTable"
    assert stored[igw] == "AWS::EC2::InternetGateway"
    assert stored[nat] == "AWS::EC2::NatGateway"
    assert stored[eip] == "AWS::EC2::EIP"
    assert stored[pcx] == "AWS::EC2::VPCPeeringConnection"
    assert stored[cgw] == "AWS::EC2::CustomerGateway"
    assert stored[vgw] == "AWS::EC2::VPNGateway"
    assert stored[vpn] == "AWS::EC2::VPNConnection"
    assert Resource.objects.get(resource_id=vpn).name == "honban-dc-vpn"
    assert {
        ("in-vpc", "AWS::EC2::VPC", vpc),
        ("associated-subnet", "AWS::EC2::Subnet", subnet),
        ("routes-to", "AWS::EC2::InternetGateway", igw),
    } <= _edges(rtb)
    assert ("attached-to-vpc", "AWS::EC2::VPC", vpc) in _edges(igw)
    assert ("in-subnet", "AWS::EC2::Subnet", subnet) in _edges(nat)
    assert {("peers-vpc", "AWS::EC2::VPC", vpc), ("peers-vpc", "AWS::EC2::VPC", partner)} <= (
        _edges(pcx)
    )
    assert {
        ("uses-customer-gateway", "AWS::EC2::CustomerGateway", cgw),
        ("terminates-at", "AWS::EC2::VPNGateway", vgw),
    } <= _edges(vpn)
    assert ("attached-to-vpc", "AWS::EC2::VPC", vpc) in _edges(vgw)
    # Who points at the VPC: the reverse lookup the topology view makes.
    pointing = set(
        Relationship.objects.filter(target_id=vpc).values_list("source__resource_id", flat=True)
    )
    assert {rtb, igw, nat, pcx, vgw, subnet} <= pointing

    again = run_sync(account)

    # Nothing changed in AWS: nothing these collectors return may look changed either.
    assert (again.status, again.added, again.changed, again.removed) == (
        Sync.Status.COMPLETE,
        0,
        0,
        0,
    )
