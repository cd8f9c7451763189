"""Layer-1 rules on moto-built estates (collected by the real collectors), both ways."""

from __future__ import annotations

import pytest

REGION = "ap-northeast-1"
AMI = "ami-12c6146b"  # in moto's default AMI list; listing them all is slow
pytestmark = pytest.mark.django_db


def _sg(ec2, vpc_id: str, name: str, *perms: dict) -> str:
    group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)["GroupId"]
    if perms:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=list(perms))
    return group


def _tcp(low: int, high: int, cidr: str, description: str = "") -> dict:
    key = "Ipv6Ranges" if ":" in cidr else "IpRanges"
    ip = {"CidrIpv6" if ":" in cidr else "CidrIp": cidr}
    if description:
        ip["Description"] = description
    return {"IpProtocol": "tcp", "FromPort": low, "ToPort": high, key: [ip]}


@pytest.fixture
def estate(aws, collect):
    """Security groups covering the edge cases of the world-open rules."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.2.0/24")
    groups = {
        "ssh": _sg(ec2, vpc, "ssh", _tcp(22, 22, "0.0.0.0/0")),
        "range6": _sg(ec2, vpc, "range6", _tcp(20, 25, "::/0")),
        "all": _sg(ec2, vpc, "all", {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}),
        "rdp": _sg(ec2, vpc, "rdp", _tcp(3389, 3389, "0.0.0.0/0")),
        "redis": _sg(ec2, vpc, "redis", _tcp(6000, 7000, "0.0.0.0/0")),
        "safe": _sg(
            ec2,
            vpc,
            "safe",
            _tcp(22, 22, "203.0.113.5/32", "office"),
            _tcp(80, 443, "0.0.0.0/0"),
            {
                "IpProtocol": "udp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            },
            _tcp(3306, 3306, "10.1.2.0/24"),
        ),
        "unknown": _sg(
            ec2,
            vpc,
            "unknown",
            _tcp(8080, 8080, "198.51.100.7/32"),
            _tcp(8081, 8081, "192.168.0.0/16"),
        ),
        "explained": _sg(ec2, vpc, "explained", _tcp(8080, 8080, "198.51.100.8/32", "partner X")),
    }
    collect(aws, "ec2.vpcs", "ec2.subnets", "ec2.security_groups", "ec2.addresses")
    return groups


def _ids(found) -> set[str]:
    return {h.resource.resource_id for h in found}


def test_it_flags_world_open_ssh_rdp_and_database_ports(estate, hits):
    # SSH: a single port, a range including 22 over IPv6 ::/0, and all traffic (-1).
    assert _ids(hits("sg-ssh-open-to-world")) == {estate["ssh"], estate["range6"], estate["all"]}
    assert _ids(hits("sg-rdp-open-to-world")) == {estate["rdp"], estate["all"]}
    # Not: udp 22, tcp 80-443, 3306 from inside the VPC, 22 from a described /32.
    found = hits("sg-db-port-open-to-world")
    assert _ids(found) == {estate["redis"], estate["all"]}
    redis = next(h for h in found if h.resource.resource_id == estate["redis"])
    assert "Redis" in redis.evidence["ports"]


def test_it_flags_unknown_sources_without_description(estate, hits):
    found = hits("sg-rule-unexplained-source")
    # Not 0.0.0.0/0 (the internet), not 10.1.2.0/24 (own VPC), not a described source.
    assert {h.evidence["rule"]["cidr"] for h in found} == {"198.51.100.7/32", "192.168.0.0/16"}
    assert len({h.detail for h in found}) == 2  # one fingerprint per rule row


def test_an_elastic_ip_of_another_synced_account_is_explained(aws, collect, make_account, hits):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    other = make_account("sibling")
    ip = ec2.allocate_address(Domain="vpc")["PublicIp"]
    collect(aws, "ec2.addresses", of=other)
    _sg(ec2, vpc, "from-sibling", _tcp(443, 443, f"{ip}/32"))
    collect(aws, "ec2.security_groups")
    assert hits("sg-rule-unexplained-source") == []


def test_production_named_links_and_unowned_resources(aws, collect, hits):
    ec2 = aws.client("ec2")
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    ec2.create_tags(Resources=[vgw], Tags=[{"Key": "Name", "Value": "honban-dc-link"}])
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "product-catalog"}])
    owned = ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_tags(
        Resources=[owned],
        Tags=[{"Key": "Name", "Value": "prod-a"}, {"Key": "Owner", "Value": "team-web"}],
    )
    unowned = ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.2.0/24")["Subnet"]["SubnetId"]
    ec2.create_tags(Resources=[unowned], Tags=[{"Key": "Name", "Value": "production-b"}])
    collect(aws, "ec2.vpcs", "ec2.subnets", "ec2.vpn_gateways")
    assert _ids(hits("production-named-resource")) == {vgw, unowned}


def test_vpc_flow_logs(aws, collect, hits):
    ec2 = aws.client("ec2")
    logged = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    dark = ec2.create_vpc(CidrBlock="10.4.0.0/16")["Vpc"]["VpcId"]
    ec2.create_flow_logs(
        ResourceIds=[logged],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="cloud-watch-logs",
        LogGroupName="flows",
        DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flows",
    )
    collect(aws, "ec2.vpcs", "ec2.flow_logs")
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    found = _ids(hits("vpc-flow-logs-off"))
    # The untouched default VPC is skipped (as Prowler's default does).
    assert found == {dark}
    assert logged not in found and default[0]["VpcId"] not in found


def test_idle_elastic_ip(aws, collect, hits):
    ec2 = aws.client("ec2")
    image = AMI
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    used = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=used["AllocationId"], InstanceId=instance["InstanceId"])
    idle = ec2.allocate_address(Domain="vpc")
    collect(aws, "ec2.addresses")
    found = hits("eip-unassociated")
    assert [h.evidence["PublicIp"] for h in found] == [idle["PublicIp"]]


def test_default_vpc_in_use_only_when_something_runs_in_it(aws, collect, hits, make_account):
    ec2 = aws.client("ec2")
    image = AMI
    vpc = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.5.1.0/24")["Subnet"]["SubnetId"]
    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)
    collect(aws, "ec2.vpcs", "ec2.instances")
    assert hits("default-vpc-in-use") == []

    ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)  # lands in the default VPC
    later = make_account("later")
    collect(aws, "ec2.vpcs", "ec2.instances", of=later)
    found = hits("default-vpc-in-use", of=later)
    assert len(found) == 1
    assert found[0].resource.config["IsDefault"] is True


def test_instances_in_unexpected_regions(aws, collect, hits, make_account):
    tokyo, virginia = aws.client("ec2"), aws.client("ec2", region_name="us-east-1")
    vpc = tokyo.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    subnet = tokyo.create_subnet(VpcId=vpc, CidrBlock="10.6.1.0/24")["Subnet"]["SubnetId"]
    home = tokyo.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
    miner = virginia.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
    for region in (REGION, "us-east-1"):
        collect(aws, "ec2.vpcs", "ec2.instances", region=region)
    # No home regions declared: us-east-1 has nothing but its default VPC.
    assert _ids(hits("resources-in-unexpected-region")) == {miner["InstanceId"]}
    # Declared: only what is outside them.
    found = hits("resources-in-unexpected-region", home_regions=["us-east-1"])
    assert _ids(found) == {home["InstanceId"]}


def test_a_legacy_estate_in_default_vpcs_is_home_by_its_workloads(
    aws, collect, hits, make_resource
):
    tokyo, oregon = aws.client("ec2"), aws.client("ec2", region_name="us-west-2")
    # Everything in Tokyo's default VPC (seed 003's ten-year-old estate), with its database.
    legacy = tokyo.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
    miner = oregon.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
    for region in (REGION, "us-west-2"):
        collect(aws, "ec2.vpcs", "ec2.instances", region=region)
    # Default networking only in both regions, no workload anywhere: no "home" to judge by.
    assert hits("resources-in-unexpected-region") == []

    make_resource("AWS::RDS::DBInstance", "legacy-db", config={"Engine": "mysql"})
    found = hits("resources-in-unexpected-region")

    assert _ids(found) == {miner["InstanceId"]}
    assert legacy["InstanceId"] not in _ids(found)
    assert found[0].evidence["home_regions"] == [REGION]


def test_nacl_denying_a_sibling_subnet(aws, collect, hits):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24", AvailabilityZone="ap-northeast-1a")
    b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.2.0/24", AvailabilityZone="ap-northeast-1c")
    a_id, b_id = a["Subnet"]["SubnetId"], b["Subnet"]["SubnetId"]
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    association = next(
        assoc["NetworkAclAssociationId"]
        for acl in acls["NetworkAcls"]
        for assoc in acl["Associations"]
        if assoc["SubnetId"] == a_id
    )
    blocking = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(
        NetworkAclId=blocking,
        RuleNumber=100,
        Protocol="-1",
        RuleAction="deny",
        Egress=False,
        CidrBlock="10.7.2.0/24",
    )
    ec2.create_network_acl_entry(
        NetworkAclId=blocking,
        RuleNumber=110,
        Protocol="-1",
        RuleAction="deny",
        Egress=False,
        CidrBlock="203.0.113.0/24",
    )
    ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=blocking)
    # An allow above the deny lets the sibling through: nothing to report there.
    allowing = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    for number, action in ((50, "allow"), (100, "deny")):
        ec2.create_network_acl_entry(
            NetworkAclId=allowing,
            RuleNumber=number,
            Protocol="-1",
            RuleAction=action,
            Egress=False,
            CidrBlock="10.7.0.0/16",
        )
    b_assoc = next(
        assoc["NetworkAclAssociationId"]
        for acl in ec2.describe_network_acls()["NetworkAcls"]
        for assoc in acl["Associations"]
        if assoc["SubnetId"] == b_id
    )
    ec2.replace_network_acl_association(AssociationId=b_assoc, NetworkAclId=allowing)
    collect(aws, "ec2.subnets", "ec2.network_acls")
    found = hits("nacl-blocks-intra-vpc")
    assert [(h.resource.resource_id, h.evidence["subnet"]) for h in found] == [(blocking, b_id)]
