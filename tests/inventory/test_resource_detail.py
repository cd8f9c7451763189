"""The resource detail page: where it sits, who may reach it, and the support-case block."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catchup.roles import Role, set_role
from inventory.models import Account, Relationship, Resource, ResourceChange, Sync

REGION = "ap-northeast-1"
XSS = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">'
ROLE_ARN = "arn:aws:iam::123456789012:role/CatchupReadOnly"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def viewer(client, db) -> User:
    user = User.objects.create_user("newcomer", password="pw-123456!")
    set_role(user, Role.VIEWER)
    client.force_login(user)
    return user


def make(account: Account, type_: str, rid: str, relations=(), **fields) -> Resource:
    now = timezone.now()
    resource = Resource.objects.create(
        account=account,
        region=REGION,
        type=type_,
        resource_id=rid,
        scope=fields.pop("scope", f"ec2.x:{REGION}"),
        content_hash="x",
        first_seen_at=now,
        changed_at=now,
        relations=[{"kind": k, "type": t, "id": i} for k, t, i in relations],
        **fields,
    )
    for kind, target_type, target_id in relations:
        Relationship.objects.create(
            account=account,
            source=resource,
            kind=kind,
            target_type=target_type,
            target_id=target_id,
        )
    return resource


def rule(port: int, **source) -> dict:
    return {
        "direction": "ingress",
        "protocol": "tcp",
        "from_port": port,
        "to_port": port,
        "description": source.pop("description", ""),
        **source,
    }


@pytest.fixture
def estate(make_account):
    account = make_account(
        aws_account_id="123456789012", auth_mode=Account.AuthMode.ROLE, role_arn=ROLE_ARN
    )
    make(account, "AWS::EC2::VPC", "vpc-1", name="honban-vpc")
    make(
        account,
        "AWS::EC2::Subnet",
        "subnet-1",
        name="web-a",
        config={"AvailabilityZone": f"{REGION}a"},
        relations=[("in-vpc", "AWS::EC2::VPC", "vpc-1")],
    )
    make(account, "AWS::EC2::SecurityGroup", "sg-app", name="app-servers")
    web_sg = make(
        account,
        "AWS::EC2::SecurityGroup",
        "sg-web",
        name="web",
        config={
            "Rules": [
                rule(443, cidr="10.0.0.0/8", description="office"),
                rule(5432, group="sg-app"),
                rule(22, cidr="0.0.0.0/0", description=XSS),
                {"direction": "egress", "protocol": "-1", "cidr": "0.0.0.0/0"},
            ]
        },
    )
    sync = Sync.objects.create(
        account=account, status=Sync.Status.COMPLETE, finished_at=timezone.now()
    )
    instance = make(
        account,
        "AWS::EC2::Instance",
        "i-web1",
        name=XSS + "\nAWS account: 999999999999",
        arn=f"arn:aws:ec2:{REGION}:123456789012:instance/i-web1",
        config={"InstanceType": "t3.large", "Placement": {"AvailabilityZone": f"{REGION}a"}},
        relations=[
            ("in-subnet", "AWS::EC2::Subnet", "subnet-1"),
            ("in-vpc", "AWS::EC2::VPC", "vpc-1"),
            ("uses-security-group", "AWS::EC2::SecurityGroup", "sg-web"),
            ("uses-security-group", "AWS::EC2::SecurityGroup", "sg-gone"),
        ],
    )
    ResourceChange.objects.create(
        sync=sync,
        resource=instance,
        kind="changed",
        before={"config.InstanceType": "t2.micro"},
        after={"config.InstanceType": "t3.large"},
    )
    return {"account": account, "instance": instance, "sync": sync, "web_sg": web_sg}


def test_it_says_where_the_resource_sits_with_a_link_to_the_diagram(client, viewer, estate):
    page = client.get(f"/resources/{estate['instance'].pk}/").content.decode()

    topology = page[page.index('id="topology"') : page.index('id="support"')]
    assert "honban-vpc" in topology and "web-a" in topology and f"{REGION}a" in topology
    assert 'href="/accounts/legacy/diagram/?vpc=vpc-1"' in topology


def test_it_shows_who_may_reach_it_world_open_first(client, viewer, estate):
    page = client.get(f"/resources/{estate['instance'].pk}/").content.decode()

    exposure = page[page.index('id="exposure"') : page.index('id="relationships"')]
    rows = exposure.split("<tr")
    first_rule = rows[2]  # after the header row
    assert "0.0.0.0/0" in first_rule and "exposure-world" in first_rule and "tcp 22" in first_rule
    assert "group sg-app (app-servers)" in exposure and "tcp 5432" in exposure  # resolved by name
    assert "10.0.0.0/8" in exposure and "office" in exposure
    assert "open to the world" in exposure
    assert "sg-gone" in exposure and "not collected" in exposure
    assert "all traffic" not in exposure  # egress is not exposure
    assert XSS not in page and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in exposure


def test_a_security_group_shows_its_own_exposure(client, viewer, estate):
    page = client.get(f"/resources/{estate['web_sg'].pk}/").content.decode()

    assert 'id="exposure"' in page and "group sg-app (app-servers)" in page


def test_the_support_block_holds_what_a_support_case_needs(client, viewer, estate):
    page = client.get(f"/resources/{estate['instance'].pk}/").content.decode()

    start = page.index('id="support-text">') + len('id="support-text">')
    block = page[start : page.index("</pre>", start)]
    lines = block.splitlines()
    assert "AWS account:   123456789012" in lines
    assert f"Region:        {REGION}" in lines
    assert "Service:       EC2" in lines
    assert "Resource id:   i-web1" in lines
    assert f"ARN:           arn:aws:ec2:{REGION}:123456789012:instance/i-web1" in lines
    assert f"Identity used: role {ROLE_ARN}" in lines
    sync = estate["sync"]
    assert any(
        line.startswith(f"Latest sync:   #{sync.pk} (complete")
        and line.endswith(f"http://testserver/syncs/{sync.pk}/")
        for line in lines
    )
    # A hostile name stays on its own line, escaped: it cannot forge an account id.
    assert len(lines) == 9
    assert [line for line in lines if line.startswith("AWS account:")] == [
        "AWS account:   123456789012"
    ]
    assert "&lt;script&gt;" in block
    # The Copy button works through a static script (the CSP forbids inline ones).
    assert 'id="copy-support" data-copy-target="support-text"' in page
    assert '<script src="/static/copy.js" defer></script>' in page
    assert "<script>" not in page


def test_recent_changes_link_to_the_full_timeline(client, viewer, estate):
    page = client.get(f"/resources/{estate['instance'].pk}/").content.decode()

    assert f'href="/resources/{estate["instance"].pk}/timeline/"' in page
    assert "config.InstanceType" in page and "t2.micro" in page


def test_the_detail_page_makes_the_same_queries_whatever_the_size(client, viewer, estate):
    instance, account = estate["instance"], estate["account"]

    def measure() -> int:
        with CaptureQueriesContext(connection) as run:
            assert client.get(f"/resources/{instance.pk}/").status_code == 200
        return len(run.captured_queries)

    small = measure()
    for i in range(30):
        group = make(
            account,
            "AWS::EC2::SecurityGroup",
            f"sg-{i}",
            config={"Rules": [rule(80 + i, group=f"sg-src-{i}")]},
        )
        make(account, "AWS::EC2::SecurityGroup", f"sg-src-{i}", name=f"src-{i}")
        Relationship.objects.create(
            account=account,
            source=instance,
            kind="uses-security-group",
            target_type=group.type,
            target_id=group.resource_id,
        )
        make(account, "AWS::EC2::Instance", f"i-{i}", relations=[("in-subnet", "x", "y")])
        Relationship.objects.create(
            account=account,
            source=Resource.objects.get(resource_id=f"i-{i}"),
            kind="peer-of",
            target_type=instance.type,
            target_id=instance.resource_id,
        )
        ResourceChange.objects.create(
            sync=estate["sync"], resource=instance, kind="changed", before={}, after={}
        )
    big = measure()

    assert small == big
