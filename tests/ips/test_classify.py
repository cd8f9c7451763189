"""Classification (issue 4 item 2): every class, the precedence between them, which
annotation applies, port hints and exposure, and the finding that reads the class.

Most cases store resource rows directly (as collectors would) and run the post-sync
refresh; the finding case runs real syncs against moto.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.management import call_command

from findings.models import Finding
from inventory.models import Account, Resource
from ips import actions
from ips.actions import Target
from ips.models import Annotation, ObservedCidr
from ips.refresh import refresh_after_sync
from tests.ips.conftest import stored

pytestmark = pytest.mark.django_db

HOME = "ap-northeast-1"
SG = "AWS::EC2::SecurityGroup"


def rule(
    cidr: str,
    port: int | None = 22,
    to: int | None = None,
    *,
    protocol: str = "tcp",
    direction: str = "ingress",
    description: str = "",
) -> dict[str, Any]:
    return {
        "direction": direction,
        "protocol": protocol,
        "from_port": port,
        "to_port": to if to is not None else port,
        "cidr": cidr,
        "description": description,
    }


def group(account: Account, ident: str, *rules: dict[str, Any]) -> Resource:
    return stored(account, SG, ident, {"GroupName": ident, "Rules": list(rules)})


def seen(account: Account, cidr: str) -> ObservedCidr:
    return ObservedCidr.objects.select_related("annotation").get(account=account, cidr=cidr)


def answer(cidr: str, owner: str, account: Account | None = None) -> Annotation:
    (annotation,) = actions.answer(Target(cidr, account), owner=owner, actor=None)
    return annotation


def refresh(*accounts: Account) -> None:
    for account in accounts:
        refresh_after_sync(account)


@pytest.fixture
def estate(make_account: Any) -> tuple[Account, Account]:
    """Account "legacy" with a VPC, a subnet, an Elastic IP and a peering; a sibling
    account "tools" with its own VPC and Elastic IP (seed 003)."""
    legacy, tools = make_account("legacy"), make_account("tools")
    stored(legacy, "AWS::EC2::VPC", "vpc-legacy", {"CidrBlock": "10.0.0.0/16"})
    stored(legacy, "AWS::EC2::Subnet", "subnet-app", {"CidrBlock": "10.0.1.0/24"})
    stored(legacy, "AWS::EC2::EIP", "eipalloc-web", {"PublicIp": "52.192.0.10"})
    stored(
        legacy,
        "AWS::EC2::VPCPeeringConnection",
        "pcx-partner",
        {
            "Requester": {"vpc_id": "vpc-legacy", "cidrs": ["10.0.0.0/16"]},
            "Accepter": {"vpc_id": "vpc-partner", "owner_id": "210987654321",
                         "cidrs": ["172.20.0.0/16"]},
        },
    )  # fmt: skip
    stored(tools, "AWS::EC2::VPC", "vpc-tools", {"CidrBlock": "10.50.0.0/16"})
    stored(tools, "AWS::EC2::EIP", "eipalloc-batch", {"PublicIp": "54.250.0.20"})
    group(
        legacy,
        "sg-web",
        rule("0.0.0.0/0", 443),
        rule("::/0", 443),
        rule("10.0.1.5/32"),
        rule("52.192.0.10/32"),
        rule("10.50.3.0/24", 3306),
        rule("54.250.0.20/32", 5432),
        rule("172.20.5.0/24", 6379),
        rule("3.2.0.5/32", 443),
        rule("203.0.113.45/32"),
        rule("198.51.100.200/32"),
    )
    refresh(legacy, tools)
    return legacy, tools


def classes(account: Account) -> dict[str, str]:
    return dict(ObservedCidr.objects.filter(account=account).values_list("cidr", "classification"))


def test_every_class_has_its_case(estate: tuple[Account, Account]) -> None:
    legacy, _ = estate
    assert classes(legacy) == {
        "0.0.0.0/0": "internet",
        "::/0": "internet",
        "10.0.1.5/32": "own-vpc",
        "52.192.0.10/32": "own-vpc",  # the account's own Elastic IP
        "10.50.3.0/24": "known-network",  # the sibling account's VPC
        "54.250.0.20/32": "known-network",  # the sibling's Elastic IP, though AWS's too
        "172.20.5.0/24": "known-network",  # the peered VPC
        "172.20.0.0/16": "known-network",  # the peering itself refers to it
        "3.2.0.5/32": "aws",
        "203.0.113.45/32": "unknown",
        "198.51.100.200/32": "unknown",
    }
    assert seen(legacy, "10.0.1.5/32").detail == "subnet subnet-app"  # the most specific
    assert seen(legacy, "52.192.0.10/32").detail == "Elastic IP eipalloc-web"
    assert seen(legacy, "10.50.3.0/24").detail == "VPC vpc-tools of account tools"
    assert seen(legacy, "54.250.0.20/32").detail == "Elastic IP eipalloc-batch of account tools"
    assert seen(legacy, "172.20.5.0/24").detail == "VPC vpc-partner peered through pcx-partner"
    assert seen(legacy, "3.2.0.5/32").detail == "AWS published range"  # bundled: no service


def test_an_answer_annotates_but_a_question_alone_does_not(
    estate: tuple[Account, Account],
) -> None:
    legacy, _ = estate
    actions.ask([Target("198.51.100.200/32")], "network team", actor=None)
    asked = seen(legacy, "198.51.100.200/32")
    assert asked.classification == "unknown"
    assert asked.annotation.status == "asked"  # the queue can still say who was asked

    answer("203.0.113.45/32", "Ops office VPN")
    answered = seen(legacy, "203.0.113.45/32")
    assert (answered.classification, answered.detail) == ("annotated", "Ops office VPN")


def test_own_vpc_beats_an_annotation_and_an_annotation_beats_aws(
    estate: tuple[Account, Account],
) -> None:
    legacy, _ = estate
    own = answer("10.0.1.5/32", "app server")
    aws = answer("3.2.0.5/32", "vendor's EC2 monitoring box")
    inside = seen(legacy, "10.0.1.5/32")
    assert inside.classification == "own-vpc"
    assert inside.annotation_id == own.pk  # still shown as the applicable note
    vendor = seen(legacy, "3.2.0.5/32")
    assert (vendor.classification, vendor.annotation_id) == ("annotated", aws.pk)
    assert vendor.detail == "vendor's EC2 monitoring box"


def test_the_most_specific_annotation_applies(make_account: Any) -> None:
    legacy, tools = make_account("legacy"), make_account("tools")
    office = answer("198.51.100.0/24", "Head office")
    vpn = answer("198.51.100.7/32", "VPN concentrator")
    everyone = answer("192.0.2.0/24", "Datacenter (everyone)")
    mine = answer("192.0.2.0/24", "Datacenter (legacy's contract)", legacy)
    wide_mine = answer("203.0.113.0/24", "Legacy's old range", legacy)
    host = answer("203.0.113.45/32", "Monitoring SaaS")
    cidrs = ["198.51.100.0/24", "198.51.100.7/32", "198.51.100.8/32", "192.0.2.9/32"]
    group(legacy, "sg-a", *map(rule, [*cidrs, "203.0.113.45/32", "203.0.113.46/32"]))
    group(tools, "sg-b", rule("192.0.2.9/32"), rule("203.0.113.46/32"))
    refresh(legacy, tools)

    def applied(account: Account, cidr: str) -> int | None:
        return seen(account, cidr).annotation_id

    assert applied(legacy, "198.51.100.0/24") == office.pk
    assert applied(legacy, "198.51.100.7/32") == vpn.pk  # a /32 inside an answered /24
    assert applied(legacy, "198.51.100.8/32") == office.pk
    # Same prefix: the account's own wins; another account gets the global one.
    assert applied(legacy, "192.0.2.9/32") == mine.pk
    assert applied(tools, "192.0.2.9/32") == everyone.pk
    # A global /32 beats an account's /24: specificity first.
    assert applied(legacy, "203.0.113.45/32") == host.pk
    assert applied(legacy, "203.0.113.46/32") == wide_mine.pk
    assert applied(tools, "203.0.113.46/32") is None
    assert seen(tools, "203.0.113.46/32").classification == "unknown"
    assert seen(legacy, "203.0.113.46/32").detail == "Legacy's old range"


def test_a_loaded_aws_file_names_service_and_region(
    estate: tuple[Account, Account], tmp_path: Path
) -> None:
    legacy, _ = estate
    path = tmp_path / "ip-ranges.json"
    path.write_text(
        json.dumps(
            {
                "syncToken": "1733177348",
                "createDate": "2024-12-02-22-09-08",
                "prefixes": [
                    {"ip_prefix": "3.2.0.0/24", "region": "ap-northeast-1", "service": "AMAZON"},
                    {"ip_prefix": "3.2.0.0/24", "region": "ap-northeast-1", "service": "EC2"},
                ],
                "ipv6_prefixes": [
                    {"ipv6_prefix": "2406:da14::/32", "region": "ap-northeast-1", "service": "EC2"}
                ],
            }
        )
    )
    group(legacy, "sg-v6", rule("2406:da14:1:2::/64"))
    refresh(legacy)
    assert seen(legacy, "2406:da14:1:2::/64").classification == "unknown"  # bundled: IPv4 only

    call_command("load_aws_ip_ranges", str(path), stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert (seen(legacy, "3.2.0.5/32").classification, seen(legacy, "3.2.0.5/32").detail) == (
        "aws",
        "AWS EC2 ap-northeast-1",
    )
    assert seen(legacy, "2406:da14:1:2::/64").classification == "aws"


WELL_KNOWN = {
    22: "ssh",
    3389: "rdp",
    3306: "mysql",
    5432: "postgres",
    6379: "redis",
    11211: "memcached",
    9200: "elasticsearch",
    24224: "fluentd",
}


def test_port_hints_and_exposure(make_account: Any) -> None:
    legacy = make_account("legacy")
    rules = [rule(f"198.51.100.{n}/32", port) for n, port in enumerate(WELL_KNOWN, start=1)]
    group(
        legacy,
        "sg-ports",
        *rules,
        rule("192.0.2.1/32", None, protocol="-1"),
        rule("192.0.2.2/32", 1000, 2999),
        rule("192.0.2.2/32", 1500, 3500),
        rule("192.0.2.2/32", 22, protocol="udp"),
        rule("192.0.2.2/32", 22),
        rule("192.0.2.2/32", 443, direction="egress"),
    )
    refresh(legacy)
    for n, (port, name) in enumerate(WELL_KNOWN.items(), start=1):
        row = seen(legacy, f"198.51.100.{n}/32")
        assert (row.hints, row.port_count, row.ports) == ([f"{name} {port}"], 1, f"tcp/{port}")
    everything = seen(legacy, "192.0.2.1/32")
    assert (everything.port_count, everything.hints) == (65536, ["all traffic"])
    mixed = seen(legacy, "192.0.2.2/32")
    # 1000-3500 once (2501), 22 once for tcp and udp, 443 out.
    assert mixed.port_count == 2501 + 1 + 1
    assert (mixed.reference_count, mixed.ingress_count) == (5, 4)
    assert mixed.ports == "tcp/22, udp/22, tcp/443, tcp/1000-2999, tcp/1500-3500"  # by port
    assert mixed.hints[:2] == ["ssh 22", "https 443"]
    # A wide range is "many ports", not a list of every service in it.
    assert "2000 ports" in mixed.hints and "mssql 1433" not in mixed.hints
    # The queue's default order: most exposed first within a class.
    order = list(ObservedCidr.objects.filter(account=legacy).values_list("cidr", flat=True))
    assert order[:2] == ["192.0.2.1/32", "192.0.2.2/32"]


def unexplained_open() -> set[str]:
    rows = Finding.objects.filter(rule="sg-rule-unexplained-source", status="open")
    return {f.evidence["rule"]["cidr"] for f in rows}


def test_the_unexplained_source_finding_stops_once_the_address_is_answered(
    aws: boto3.Session,
    make_account: Any,
    run_sync: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    ec2 = aws.client("ec2", region_name=HOME)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sg = ec2.create_security_group(GroupName="honban-db", Description="db", VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=sg["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "203.0.113.45/32"}, {"CidrIp": "198.51.100.0/24"}],
            }
        ],
    )
    account = make_account("legacy")

    def sync() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            assert run_sync(account).status == "complete"

    sync()
    assert unexplained_open() == {"203.0.113.45/32", "198.51.100.0/24"}

    answer("203.0.113.45/32", "Ops office VPN")
    sync()

    assert unexplained_open() == {"198.51.100.0/24"}
    gone = Finding.objects.get(rule="sg-rule-unexplained-source", status="resolved")
    assert gone.evidence["rule"]["cidr"] == "203.0.113.45/32"
