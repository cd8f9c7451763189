"""The demo: the sample legacy estate, synced, and `manage.py demo` end to end."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from inventory import demo
from inventory.management.commands import demo as demo_command
from inventory.models import Account, Resource, Sync


def named(type_: str, name: str, region: str = demo.HOME_REGION) -> Resource:
    return Resource.objects.current().get(type=type_, name=name, region=region)


def ingress(group: Resource) -> list[dict[str, Any]]:
    return [rule for rule in group.config["Rules"] if rule["direction"] == "ingress"]


def test_the_sample_estate_is_inventoried_with_what_a_newcomer_must_find(
    aws, make_account, run_sync
):
    ids = demo.build_legacy_estate(aws)
    account = make_account("legacy-demo", regions=demo.REGIONS)

    sync = run_sync(account)

    failed = list(
        sync.tasks.filter(status="failed").values_list("collector", "region", "error_code")
    )
    assert sync.status == Sync.Status.COMPLETE, failed
    assert set(sync.regions) == set(demo.REGIONS)

    # Layer 1: live links named honban/production that no document mentions.
    peering = named("AWS::EC2::VPCPeeringConnection", "production-peering")
    assert peering.config["AccepterVpcInfo"]["OwnerId"] == demo.PARTNER_ACCOUNT_ID
    assert {r["id"] for r in peering.relations} >= {ids["vpc"], ids["partner_vpc"]}
    vpn = named("AWS::EC2::VPNConnection", "honban-dc-vpn")
    assert {r["id"] for r in vpn.relations} == {ids["customer_gateway"], ids["vpn_gateway"]}
    assert named("AWS::EC2::TransitGateway", "honban-tgw").resource_id == ids["transit_gateway"]
    assert Resource.objects.filter(type="AWS::EC2::TransitGatewayAttachment").count() == 2
    assert named("AWS::EC2::NatGateway", "honban-nat-1a").resource_id == ids["nat_gateway"]
    assert named("AWS::EC2::InternetGateway", "honban-igw").resource_id == ids["internet_gateway"]
    private_routes = named("AWS::EC2::RouteTable", "honban-private-rt")
    assert {r["type"] for r in private_routes.relations if r["kind"] == "routes-to"} >= {
        "AWS::EC2::NatGateway",
        "AWS::EC2::VPCPeeringConnection",
        "AWS::EC2::VPNGateway",
        "AWS::EC2::TransitGateway",
    }
    # Seed 002: the NACL that blocks the other AZ's private subnet.
    nacl = named("AWS::EC2::NetworkAcl", "honban-private-1c-nacl")
    assert {"cidr": "10.0.10.0/24", "action": "deny", "direction": "ingress"}.items() <= next(
        rule for rule in nacl.config["Rules"] if rule["cidr"] == "10.0.10.0/24"
    ).items()
    assert {r["id"] for r in nacl.relations if r["kind"] == "associated-subnet"} == {
        ids["subnets"]["private_c"]
    }
    old_eip = named("AWS::EC2::EIP", "old-bastion-eip")
    assert not old_eip.config.get("AssociationId")

    # Security groups: the world, and IPs nobody can explain.
    web = named("AWS::EC2::SecurityGroup", "honban-web-sg")
    web_sources = {(r.get("cidr"), r["to_port"], r["description"]) for r in ingress(web)}
    assert ("0.0.0.0/0", 22, "temporary") in web_sources
    assert ("::/0", 22, "") in web_sources
    assert (demo.UNEXPLAINED_IP, 22, "") in web_sources
    batch_sg = named("AWS::EC2::SecurityGroup", "batch-sg")
    assert (demo.OLD_OFFICE_CIDR, 22, "old office?") in {
        (r.get("cidr"), r["to_port"], r["description"]) for r in ingress(batch_sg)
    }
    app = named("AWS::EC2::SecurityGroup", "honban-app-sg")
    assert (demo.FLUENTD_SOURCE_IP, 24224) in {(r.get("cidr"), r["to_port"]) for r in ingress(app)}
    db = named("AWS::EC2::SecurityGroup", "honban-db-sg")
    assert ("0.0.0.0/0", 3306) in {(r.get("cidr"), r["to_port"]) for r in ingress(db)}
    # SG-to-SG references: web -> app -> db.
    assert web.resource_id in {r["id"] for r in app.relations}
    assert app.resource_id in {r["id"] for r in db.relations}

    # Layer 2: three web servers behind the ALB, the lone batch01, an old t2 on gp2.
    instances = Resource.objects.current().filter(type="AWS::EC2::Instance")
    web_servers = [i for i in instances if i.tags.get("Role") == "web"]
    assert sorted(i.name for i in web_servers) == ["honban-web01", "honban-web02", "honban-web03"]
    target_group = named("AWS::ElasticLoadBalancingV2::TargetGroup", "honban-web-tg")
    assert {r["id"] for r in target_group.relations if r["kind"] == "targets"} == {
        i.resource_id for i in web_servers
    }
    assert named("AWS::ElasticLoadBalancingV2::LoadBalancer", "honban-alb")
    batch01 = named("AWS::EC2::Instance", "batch01")
    assert batch01.tags == {"Name": "batch01", "Role": "batch", "Env": "prod"}
    assert [i.name for i in instances if i.tags.get("Role") == "batch"] == ["batch01"]
    old = named("AWS::EC2::Instance", "honban-admin-old")
    assert old.config["InstanceType"].startswith("t2.")
    old_volume = next(r["id"] for r in old.relations if r["kind"] == "attaches-volume")
    assert Resource.objects.get(resource_id=old_volume).config["VolumeType"] == "gp2"
    clb = named("AWS::ElasticLoadBalancing::LoadBalancer", "honban-legacy-clb")
    assert clb.config["Attributes"]["AccessLog"]["Enabled"] is False

    rds = named("AWS::RDS::DBInstance", "honban-db")
    assert rds.config["BackupRetentionPeriod"] == 1
    assert rds.config["MultiAZ"] is False
    # 03:00 UTC is noon in Tokyo; Wednesday 05:00 UTC is 14:00 JST.
    assert rds.config["PreferredBackupWindow"] == "03:00-03:30"
    assert rds.config["PreferredMaintenanceWindow"] == "wed:05:00-wed:05:30"
    parameters = named("AWS::RDS::DBParameterGroup", "honban-mysql57")
    assert {"max_connections", "slow_query_log"} <= {
        p["ParameterName"] for p in parameters.config["ModifiedParameters"]
    }
    assert named("AWS::ElastiCache::CacheCluster", "honban-redis").config["Engine"] == "redis"
    assert named("AWS::DynamoDB::Table", "honban-sessions")

    public = Resource.objects.get(type="AWS::S3::Bucket", resource_id=ids["buckets"]["public"])
    assert "http://acs.amazonaws.com/groups/global/AllUsers" in {
        g["Grantee"].get("URI") for g in public.config["Acl"]["Grants"]
    }
    assert public.config["Logging"]["TargetBucket"] == ids["buckets"]["logs"]
    other = Resource.objects.get(type="AWS::S3::Bucket", resource_id=ids["buckets"]["other_region"])
    assert other.region == demo.GLOBAL_REGION

    # Layer 3: CloudTrail in one region only, logs kept forever, a user without MFA.
    trails = Resource.objects.current().filter(type="AWS::CloudTrail::Trail")
    assert [(t.name, t.config["IsMultiRegionTrail"]) for t in trails] == [("honban-trail", False)]
    log_group = Resource.objects.get(type="AWS::Logs::LogGroup", resource_id="/honban/app")
    assert "retentionInDays" not in log_group.config
    user = Resource.objects.get(type="AWS::IAM::User", name="deploy-tanaka")
    assert user.config["MfaDevices"] == []
    assert [k["Status"] for k in user.config["AccessKeys"]] == ["Active"]
    assert named("AWS::Lambda::Function", "honban-image-resize")

    # Seed 001: the instance nobody launched, in a region nobody uses.
    stray = Resource.objects.get(type="AWS::EC2::Instance", region=demo.UNUSED_REGION)
    assert stray.resource_id == ids["unused_region_instance"]
    assert stray.name == ""


@pytest.fixture
def demo_environment(monkeypatch, settings, tmp_path):
    """The demo command rewrites AWS variables and collects static files: keep both local."""
    names = [
        *demo_command.FOREIGN_AWS_VARIABLES,
        *demo_command.DEMO_CREDENTIALS,
        "AWS_DEFAULT_REGION",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ]
    for name in names:
        monkeypatch.delenv(name, raising=False)  # restored as it was after the test
    settings.STATIC_ROOT = tmp_path / "static"
    # The login is checked three times; a fast hasher keeps the test quick.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run_demo() -> str:
    out = StringIO()
    call_command("demo", "--no-serve", stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_demo_command_syncs_the_sample_account_and_prints_a_working_login(
    demo_environment, settings
):
    output = run_demo()

    assert "http://127.0.0.1:8000/" in output
    password = re.search(r"password: (\S+)", output).group(1)
    assert authenticate(username="demo", password=password) is not None
    account = Account.objects.get(name="legacy-demo")
    assert account.auth_mode == Account.AuthMode.ROLE
    assert account.role_arn == demo.READONLY_ROLE_ARN
    assert account.endpoint_url.startswith("http://127.0.0.1:")
    sync = account.syncs.get()
    assert sync.status in (Sync.Status.COMPLETE, Sync.Status.PARTIAL), sync.error
    assert f"sync #{sync.pk}: {sync.status}" in output
    assert Resource.objects.filter(account=account, name="batch01").exists()
    assert (settings.STATIC_ROOT / "catchup.css").exists()

    # Running it again updates the same account and resets the password.
    second = run_demo()

    assert Account.objects.filter(name="legacy-demo").count() == 1
    assert account.syncs.count() == 2
    new_password = re.search(r"password: (\S+)", second).group(1)
    assert authenticate(username="demo", password=new_password) is not None
    assert authenticate(username="demo", password=password) is None
    assert account.syncs.order_by("-pk").first().is_finished
