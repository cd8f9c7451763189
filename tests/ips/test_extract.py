"""Extraction (issue 4 item 1): every address an estate built in moto lets in, out or routes
to is found after a real sync, with where it came from."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from inventory.models import Account
from ips.models import IpReference, ObservedCidr
from ips.refresh import refresh_after_sync
from tests.ips.conftest import stored

pytestmark = pytest.mark.django_db

HOME = "ap-northeast-1"
PEER_REGION = "us-west-2"  # not synced: the peer VPC there is not the account's own
HOSTILE = '<script>alert("x")</script> & =HYPERLINK("http://evil")'


def build_estate(session: boto3.Session) -> dict[str, str]:
    ec2 = session.client("ec2", region_name=HOME)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ids: dict[str, str] = {"vpc": vpc}

    prefix_list = ec2.create_managed_prefix_list(
        PrefixListName="vendor-offices",
        MaxEntries=5,
        AddressFamily="IPv4",
        Entries=[
            {"Cidr": "192.0.2.64/27", "Description": "vendor tokyo"},
            {"Cidr": "192.0.2.128/28", "Description": ""},
        ],
    )["PrefixList"]["PrefixListId"]
    ids["prefix_list"] = prefix_list

    sg = ec2.create_security_group(GroupName="honban-web", Description="web", VpcId=vpc)["GroupId"]
    ids["sg"] = sg
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "203.0.113.45/32", "Description": HOSTILE}],
                "Ipv6Ranges": [{"CidrIpv6": "2001:db8:1234::/48", "Description": "v6 bastion"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 8000,
                "ToPort": 8100,
                "IpRanges": [{"CidrIp": "198.51.100.0/24"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 3389,
                "ToPort": 3389,
                "PrefixListIds": [{"PrefixListId": prefix_list}],
            },
        ],
    )
    ec2.authorize_security_group_egress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 24224,
                "ToPort": 24224,
                "IpRanges": [{"CidrIp": "192.0.2.10/32", "Description": "fluentd aggregator"}],
            },
            {
                "IpProtocol": "udp",
                "FromPort": 53,
                "ToPort": 53,
                "Ipv6Ranges": [{"CidrIpv6": "2001:db8:53::/64"}],
            },
        ],
    )

    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ids["acl"] = acl
    ec2.create_network_acl_entry(
        NetworkAclId=acl,
        RuleNumber=100,
        Protocol="6",
        RuleAction="allow",
        Egress=False,
        CidrBlock="198.51.100.9/32",
        PortRange={"From": 22, "To": 22},
    )
    ec2.create_network_acl_entry(
        NetworkAclId=acl,
        RuleNumber=110,
        Protocol="-1",
        RuleAction="deny",
        Egress=False,
        CidrBlock="192.0.2.200/32",
    )

    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ids["rtb"] = rtb
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpcId=vpc, VpnGatewayId=vgw)
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="192.168.0.0/16", GatewayId=vgw)
    tgw = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.200.0.0/16", TransitGatewayId=tgw)
    peer_vpc = session.client("ec2", region_name=PEER_REGION).create_vpc(CidrBlock="172.20.0.0/16")[
        "Vpc"
    ]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=vpc, PeerVpcId=peer_vpc, PeerRegion=PEER_REGION)[
        "VpcPeeringConnection"
    ]["VpcPeeringConnectionId"]
    ec2.create_route(
        RouteTableId=rtb, DestinationCidrBlock="172.20.0.0/16", VpcPeeringConnectionId=pcx
    )
    ids.update(vgw=vgw, tgw=tgw, pcx=pcx, peer_vpc=peer_vpc)

    ids["cgw"] = ec2.create_customer_gateway(
        Type="ipsec.1", PublicIp="203.0.113.200", BgpAsn=65000
    )["CustomerGateway"]["CustomerGatewayId"]

    s3 = session.client("s3", region_name=HOME)
    where = {"LocationConstraint": HOME}
    s3.create_bucket(Bucket="honban-reports", CreateBucketConfiguration=where)
    s3.put_bucket_policy(
        Bucket="honban-reports",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "OfficeRead",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::honban-reports/*",
                        "Condition": {
                            "IpAddress": {"aws:SourceIp": ["198.51.100.10/32", "198.51.100.11"]}
                        },
                    },
                    {
                        "Sid": "OnlyFromPartner",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": "arn:aws:s3:::honban-reports/*",
                        "Condition": {"NotIpAddress": {"aws:SourceIp": "198.51.100.77/32"}},
                    },
                ],
            }
        ),
    )

    session.client("opensearch", region_name=HOME).create_domain(
        DomainName="honban-logs",
        AccessPolicies=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": "es:*",
                        "Condition": {"IpAddress": {"aws:SourceIp": ["198.51.100.30/32"]}},
                    }
                ],
            }
        ),
    )
    return ids


@pytest.fixture
def synced(
    aws: boto3.Session, make_account: Any, run_sync: Any, django_capture_on_commit_callbacks: Any
) -> tuple[Account, dict[str, str]]:
    ids = build_estate(aws)
    account = make_account("legacy", regions=[HOME])
    with django_capture_on_commit_callbacks(execute=True):
        sync = run_sync(account)
    assert sync.status == "complete", sync.error
    return account, ids


FIELDS = (
    "resource_type",
    "resource_id_text",
    "region",
    "kind",
    "direction",
    "protocol",
    "from_port",
    "to_port",
    "action",
    "description",
    "via",
)


def refs(cidr: str) -> set[tuple]:
    return set(IpReference.objects.filter(cidr=cidr).values_list(*FIELDS))


def test_security_group_rules_keep_direction_protocol_ports_and_description(synced) -> None:
    _, ids = synced
    sg = ("AWS::EC2::SecurityGroup", ids["sg"], HOME, "sg-rule")
    assert refs("203.0.113.45/32") == {(*sg, "ingress", "tcp", 22, 22, "allow", HOSTILE, "")}
    assert refs("2001:db8:1234::/48") == {
        (*sg, "ingress", "tcp", 22, 22, "allow", "v6 bastion", "")
    }
    assert refs("198.51.100.0/24") == {(*sg, "ingress", "tcp", 8000, 8100, "allow", "", "")}
    assert refs("192.0.2.10/32") == {
        (*sg, "egress", "tcp", 24224, 24224, "allow", "fluentd aggregator", "")
    }
    assert refs("2001:db8:53::/64") == {(*sg, "egress", "udp", 53, 53, "allow", "", "")}


def test_a_prefix_list_rule_is_expanded_into_its_entries_naming_the_list(synced) -> None:
    _, ids = synced
    pl = ids["prefix_list"]
    sg = ("AWS::EC2::SecurityGroup", ids["sg"], HOME, "sg-rule", "ingress", "tcp", 3389, 3389)
    assert refs("192.0.2.64/27") == {(*sg, "allow", "", f"{pl}: vendor tokyo")}
    assert refs("192.0.2.128/28") == {(*sg, "allow", "", pl)}
    hints = ObservedCidr.objects.get(cidr="192.0.2.64/27").hints
    assert hints == ["rdp 3389"]


def test_network_acl_entries_allow_and_deny_but_not_the_catch_all(synced) -> None:
    _, ids = synced
    acl = ("AWS::EC2::NetworkAcl", ids["acl"], HOME, "nacl-entry", "ingress")
    assert refs("198.51.100.9/32") == {(*acl, "tcp", 22, 22, "allow", "rule 100 allow", "")}
    assert refs("192.0.2.200/32") == {(*acl, "-1", None, None, "deny", "rule 110 deny", "")}
    nacl = IpReference.objects.filter(kind="nacl-entry")
    assert not nacl.filter(description__startswith="rule 32767").exists()


def test_routes_to_gateways_are_kept_and_the_local_route_is_not(synced) -> None:
    _, ids = synced
    route = ("AWS::EC2::RouteTable", ids["rtb"], HOME, "route", "egress", "", None, None, "allow")
    assert refs("192.168.0.0/16") == {(*route, f"route to {ids['vgw']} (active)", ids["vgw"])}
    assert refs("10.200.0.0/16") == {(*route, f"route to {ids['tgw']} (active)", ids["tgw"])}
    assert (*route, f"route to {ids['pcx']} (active)", ids["pcx"]) in refs("172.20.0.0/16")
    local = IpReference.objects.filter(kind="route", cidr="10.0.0.0/16")
    assert not local.exists()  # the VPC's own "local" route explains nothing


def test_customer_gateway_and_the_peer_side_of_a_peering(synced) -> None:
    _, ids = synced
    assert refs("203.0.113.200/32") == {
        (
            "AWS::EC2::CustomerGateway",
            ids["cgw"],
            HOME,
            "customer-gateway",
            "",
            "",
            None,
            None,
            "allow",
            "VPN peer address, BGP ASN 65000",
            "",
        )
    }
    peering = IpReference.objects.get(kind="peering")
    assert (peering.resource_id_text, peering.cidr, peering.via) == (
        ids["pcx"],
        "172.20.0.0/16",
        ids["peer_vpc"],
    )
    assert "accepter VPC" in peering.description
    # Only the other side: the account's own VPC CIDR is not listed as a peer.
    assert not IpReference.objects.filter(kind="peering", cidr="10.0.0.0/16").exists()
    observed = ObservedCidr.objects.get(cidr="172.20.0.0/16")
    assert observed.classification == "known-network"
    assert observed.kinds == ["peering", "route"]


def test_bucket_policy_ip_conditions_allow_and_deny_not_ip(synced) -> None:
    s3 = IpReference.objects.filter(kind="s3-policy")
    got = set(s3.values_list("resource_id_text", "cidr", "action", "description"))
    assert got == {
        ("honban-reports", "198.51.100.10/32", "allow", "allow OfficeRead from here (IpAddress)"),
        ("honban-reports", "198.51.100.11/32", "allow", "allow OfficeRead from here (IpAddress)"),
        # Deny + NotIpAddress is "only from here": the address is allowed.
        (
            "honban-reports",
            "198.51.100.77/32",
            "allow",
            "deny OnlyFromPartner unless from here (NotIpAddress)",
        ),
    }


def test_malformed_policies_are_skipped_and_the_rest_is_still_extracted(
    make_account: Any,
) -> None:
    account = make_account("legacy")
    bucket = "AWS::S3::Bucket"
    # The s3 and opensearch collectors keep a policy that is not JSON as the raw string.
    stored(account, bucket, "raw-string", {"Policy": '{"Statement": [ not json'})
    stored(account, bucket, "string-statement", {"Policy": {"Statement": "oops"}})
    stored(account, bucket, "string-condition", {"Policy": {"Statement": [{"Condition": "x"}]}})
    stored(
        account,
        bucket,
        "bad-address",
        {"Policy": {"Statement": {"Effect": "Allow", "Condition": {"IpAddress": {
            "aws:SourceIp": ["not-an-ip", 42, None, "198.51.100.99"]}}}}},
    )  # fmt: skip
    stored(account, "AWS::OpenSearchService::Domain", "logs", {"AccessPolicies": ["junk"]})
    stored(account, "AWS::EC2::SecurityGroup", "sg-odd", {"Rules": ["junk", {"cidr": "x"}]})

    stats = refresh_after_sync(account)

    assert stats.references == 1
    ref = IpReference.objects.get()
    assert (ref.resource_id_text, ref.cidr, ref.action) == (
        "bad-address",
        "198.51.100.99/32",
        "allow",
    )


def test_opensearch_access_policy_conditions(synced) -> None:
    assert set(
        IpReference.objects.filter(kind="opensearch-policy").values_list(
            "resource_type", "resource_id_text", "cidr", "direction", "action"
        )
    ) == {
        (
            "AWS::OpenSearchService::Domain",
            "honban-logs",
            "198.51.100.30/32",
            "ingress",
            "allow",
        )
    }


def test_every_address_of_the_estate_is_observed_once(synced) -> None:
    account, _ = synced
    observed = set(ObservedCidr.objects.filter(account=account).values_list("cidr", flat=True))
    expected = {
        "203.0.113.45/32",
        "2001:db8:1234::/48",
        "198.51.100.0/24",
        "192.0.2.64/27",
        "192.0.2.128/28",
        "192.0.2.10/32",
        "2001:db8:53::/64",
        "198.51.100.9/32",
        "192.0.2.200/32",
        "192.168.0.0/16",
        "10.200.0.0/16",
        "172.20.0.0/16",
        "203.0.113.200/32",
        "198.51.100.10/32",
        "198.51.100.11/32",
        "198.51.100.77/32",
        "198.51.100.30/32",
    }
    assert expected <= observed
    # The rest are the default rules every VPC has (all traffic out, the default ACL).
    assert observed - expected <= {"0.0.0.0/0", "::/0"}


def test_an_unchanged_resync_writes_no_reference(
    synced, run_sync: Any, django_capture_on_commit_callbacks: Any
) -> None:
    account, _ = synced
    before = list(IpReference.objects.order_by("pk").values_list("pk", "key"))
    with django_capture_on_commit_callbacks(execute=True):
        assert run_sync(account).status == "complete"
    assert list(IpReference.objects.order_by("pk").values_list("pk", "key")) == before
