"""The account overview by layer and the cross-account home page (issue 3, part 1)."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from catchup.roles import Role, set_role
from findings.models import AccountSettings, Finding
from inventory import demo, overview
from inventory.collectors import COLLECTORS
from inventory.models import Account, Relationship, Resource, Sync

REGION = "ap-northeast-1"
XSS = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">'


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def viewer(client, db) -> User:
    user = User.objects.create_user("newcomer", password="pw-123456!")
    set_role(user, Role.VIEWER)
    client.force_login(user)
    return user


@pytest.fixture
def demo_account(aws, make_account, run_sync) -> tuple[Account, dict]:
    """The demo's legacy estate, synced; sa-east-1 is collected but not a home region."""
    ids = demo.build_legacy_estate(aws)
    account = make_account("legacy", regions=demo.REGIONS)
    AccountSettings.objects.create(
        account=account, home_regions=[demo.HOME_REGION, demo.GLOBAL_REGION]
    )
    sync = run_sync(account)
    assert sync.status == Sync.Status.COMPLETE
    return account, ids


def put(account: Account, resource_id: str, collector: str = "ec2.vpcs", **fields) -> Resource:
    now = timezone.now()
    region = fields.setdefault("region", REGION)
    fields.setdefault("type", "AWS::EC2::VPC")
    return Resource.objects.create(
        account=account,
        resource_id=resource_id,
        scope=f"{collector}:{region}",
        content_hash="x",
        first_seen_at=now,
        changed_at=now,
        **fields,
    )


def list_links(page: str, account: Account) -> list[tuple[str, int]]:
    """(href, number shown) of every link from the page into the account's resource list."""
    pattern = rf'<a[^>]*href="(/accounts/{account.name}/resources/[^"]*)"[^>]*>(\d+)</a>'
    return [(html.unescape(href), int(n)) for href, n in re.findall(pattern, page)]


def listed(client, href: str) -> list[Resource]:
    parts = urlsplit(href)
    response = client.get(parts.path, dict(parse_qsl(parts.query)))
    assert response.status_code == 200
    page = response.context["page"]
    return list(page.paginator.object_list)


# --- The layer model ----------------------------------------------------------------------


def test_every_registered_collector_has_a_band():
    bands = {layer for layer, _ in overview.BANDS}
    assert bands == {1, 2, 3, 4}
    for key in COLLECTORS:
        assert overview.collector_layers()[key] in bands, key
    # Seed 000's reading order, from the registry: links, then the request path, then ops.
    assert overview.layer_of_scope("ec2.vpc_peering:ap-northeast-1") == 1
    assert overview.layer_of_scope("directconnect.connections:us-east-1") == 1
    assert overview.layer_of_scope("elbv2.load_balancers:ap-northeast-1") == 2
    assert overview.layer_of_scope("rds.instances:ap-northeast-1") == 2
    assert overview.layer_of_scope("cloudtrail.trails:ap-northeast-1") == 3
    assert overview.layer_of_scope("iam.roles:global") == 3
    assert overview.layer_of_scope("retired.collector:global") is None


# --- The account overview on the demo estate ----------------------------------------------


def test_the_overview_shows_the_demo_estate_layer_by_layer_and_every_number_is_its_list(
    client, viewer, demo_account
):
    account, ids = demo_account
    page = client.get(f"/accounts/{account.name}/").content.decode()

    for layer, label in overview.BANDS:
        assert f'id="band-{layer}"' in page
        assert html.escape(label) in page
    fig = overview.account_figures(account)
    assert fig.bands[1].types["AWS::EC2::VPCPeeringConnection"] == 1
    assert fig.bands[1].types["AWS::EC2::VPNConnection"] == 1
    assert fig.bands[2].types["AWS::ElasticLoadBalancingV2::LoadBalancer"] >= 1
    assert fig.bands[2].types["AWS::RDS::DBInstance"] == 1
    assert fig.bands[3].types["AWS::CloudTrail::Trail"] == 1
    instances = Resource.objects.current().filter(account=account, type="AWS::EC2::Instance")
    # moto lacks DescribeInstanceInformation: no instance can be reached without SSH.
    assert fig.bands[4].servers == {"managed": 0, "unmanaged": instances.count()}

    links = list_links(page, account)
    assert len(links) > 20
    for href, shown in links:
        assert len(listed(client, href)) == shown, href

    hrefs = {href for href, _ in links}
    assert f"/accounts/{account.name}/resources/?layer=1" in hrefs
    assert f"/accounts/{account.name}/resources/?server=unmanaged" in hrefs
    assert f"/accounts/{account.name}/resources/?attention=production" in hrefs


def test_the_overview_points_at_what_deserves_a_look_first(client, viewer, demo_account):
    account, ids = demo_account
    url = f"/accounts/{account.name}/resources/"

    production = {r.resource_id for r in listed(client, f"{url}?attention=production")}
    # Live links named production/honban; the VPC and its subnets are not links.
    assert {ids["peering"], ids["nat_gateway"], ids["internet_gateway"]} <= production
    assert ids["vpc"] not in production
    assert not production & set(ids["subnets"].values())

    outside = listed(client, f"{url}?attention=region")
    assert ids["unused_region_instance"] in {r.resource_id for r in outside}
    assert {r.region for r in outside} == {demo.UNUSED_REGION}
    # The default VPC AWS made in sa-east-1 says nothing: only what somebody runs there.
    assert not {r.type for r in outside} & overview.DEFAULT_PLUMBING_TYPES

    world_open = {r.resource_id for r in listed(client, f"{url}?attention=world-open")}
    sgs = ids["security_groups"]
    assert world_open == {sgs["alb"], sgs["web"], sgs["db"]}

    page = client.get(f"/accounts/{account.name}/").content.decode()
    assert f'href="{url}?attention=world-open">3</a>' in page
    assert "sa-east-1" in page
    assert "Last sync" in page and "badge-complete" in page


def test_findings_by_severity_link_to_the_finding_list(client, viewer, make_account):
    account = make_account()
    for n, severity in enumerate(["high", "high", "low"]):
        Finding.objects.create(
            account=account,
            rule="r",
            fingerprint=f"f{n}",
            severity=severity,
            layer=1,
            title="t",
            resource_type="AWS::EC2::VPC",
            resource_id="vpc-1",
            region=REGION,
        )
    Finding.objects.create(
        account=account,
        rule="r",
        fingerprint="done",
        severity="critical",
        layer=1,
        title="t",
        resource_type="AWS::EC2::VPC",
        resource_id="vpc-1",
        region=REGION,
        status=Finding.Status.RESOLVED,
    )
    page = client.get(f"/accounts/{account.name}/").content.decode()
    assert 'href="/findings/?account=legacy&amp;severity=high">2 high</a>' in page
    assert ">1 low</a>" in page
    assert "critical</a>" not in page  # resolved findings no longer ask for attention
    listed_high = client.get("/findings/", {"account": "legacy", "severity": "high"})
    assert listed_high.context["page"].paginator.count == 2


def test_ssm_managed_instances_are_told_apart(client, viewer, make_account):
    account = make_account()
    for i in range(3):
        put(account, f"i-{i}", "ec2.instances", type="AWS::EC2::Instance")
    agent = put(account, "i-0", "ssm.managed_instances", type="AWS::SSM::ManagedInstance")
    Relationship.objects.create(
        account=account,
        source=agent,
        kind="manages",
        target_type="AWS::EC2::Instance",
        target_id="i-0",
    )
    url = f"/accounts/{account.name}/resources/"
    assert [r.resource_id for r in listed(client, f"{url}?server=managed")] == ["i-0"]
    assert {r.resource_id for r in listed(client, f"{url}?server=unmanaged")} == {"i-1", "i-2"}
    page = client.get(f"/accounts/{account.name}/").content.decode()
    assert f'href="{url}?server=managed">1</a>' in page
    assert f'href="{url}?server=unmanaged">2</a>' in page


def test_production_words_match_names_and_tags_in_any_case_and_in_japanese(
    client, viewer, make_account
):
    account = make_account(regions=[REGION])
    put(account, "pcx-1", "ec2.vpc_peering", type="AWS::EC2::VPCPeeringConnection", name="HONBAN")
    put(account, "vpn-1", "ec2.vpn_connections", type="AWS::EC2::VPNConnection",
        tags={"環境": "本番"})  # fmt: skip
    put(account, "dx-1", "directconnect.connections", type="AWS::DirectConnect::Connection",
        region="global", tags={"Production": ""})  # fmt: skip
    put(account, "cgw-1", "ec2.customer_gateways", type="AWS::EC2::CustomerGateway", name="dev")
    put(account, "sg-1", "ec2.security_groups", type="AWS::EC2::SecurityGroup", name="honban")
    found = listed(client, f"/accounts/{account.name}/resources/?attention=production")
    assert {r.resource_id for r in found} == {"pcx-1", "vpn-1", "dx-1"}
    assert overview.account_figures(account).attention["production"] == 3


def test_the_list_says_which_overview_filter_it_shows_and_keeps_it(client, viewer, make_account):
    account = make_account()
    put(account, "vpc-1")
    page = client.get(f"/accounts/{account.name}/resources/", {"layer": "1"}).content.decode()
    assert "Layer 1: External connections" in page
    assert '<input type="hidden" name="layer" value="1">' in page
    odd = client.get(f"/accounts/{account.name}/resources/", {"attention": XSS})
    assert odd.status_code == 200
    assert odd.context["page"].paginator.count == 0
    assert "<script>window" not in odd.content.decode()


def test_hostile_names_regions_and_types_are_escaped_on_the_overview_and_home(
    client, viewer, make_account
):
    account = make_account()
    put(account, "x-1", "ec2.vpc_peering", type=XSS, region='"><img src=x onerror=1>', name=XSS)
    for url in (f"/accounts/{account.name}/", "/"):
        page = client.get(url).content.decode()
        assert "<script>window" not in page
        assert "<img src=x" not in page
    assert "&lt;script&gt;" in client.get(f"/accounts/{account.name}/").content.decode()


# --- The cross-account home page -------------------------------------------------------------


def make_estate(account: Account, size: int) -> None:
    now = timezone.now()
    rows = []
    for i in range(size):
        collector, type_ = [
            ("ec2.vpc_peering", "AWS::EC2::VPCPeeringConnection"),
            ("ec2.instances", "AWS::EC2::Instance"),
            ("lambda.functions", "AWS::Lambda::Function"),
        ][i % 3]
        region = REGION if i % 4 else "eu-west-1"
        rows.append(
            Resource(
                account=account,
                region=region,
                type=type_,
                resource_id=f"{account.name}-{i}",
                scope=f"{collector}:{region}",
                name=f"honban-{i}" if i % 2 else f"dev-{i}",
                config={"Rules": [{"direction": "ingress", "cidr": "0.0.0.0/0"}]},
                content_hash="x",
                first_seen_at=now,
                changed_at=now,
            )
        )
    Resource.objects.bulk_create(rows)
    Sync.objects.create(account=account, status=Sync.Status.COMPLETE, finished_at=now)


def test_home_sums_every_account_by_layer(client, viewer, make_account):
    a, b = make_account("alpha"), make_account("beta")
    make_estate(a, 12)
    make_estate(b, 6)
    figures = overview.home_figures(list(Account.objects.order_by("name")))
    alpha, beta = figures.rows
    assert (alpha.bands[1].total, alpha.bands[2].total, alpha.bands[3].total) == (4, 4, 4)
    assert (beta.bands[1].total, beta.bands[2].total, beta.bands[3].total) == (2, 2, 2)
    assert figures.total_bands[1].total == 6
    assert figures.total_bands[4].servers == {"managed": 0, "unmanaged": 6}
    # i % 4 == 0 sits in eu-west-1, outside the declared ap-northeast-1.
    assert alpha.attention["region"] == 3 and beta.attention["region"] == 2
    assert figures.total_attention["region"] == 5
    # Peerings with an odd index are named honban-…: 2 of alpha's 4 (1, 7), 1 of beta's.
    assert figures.total_attention["production"] == alpha.attention["production"] + 1

    page = client.get("/").content.decode()
    assert 'href="/accounts/alpha/"' in page and 'href="/accounts/beta/"' in page
    assert 'href="/accounts/alpha/resources/?layer=1">4</a>' in page
    assert 'href="/accounts/beta/resources/?attention=region"' in page
    assert "All 2 accounts" in page
    for href, shown in list_links(page, a):
        assert len(listed(client, href)) == shown, href


def test_home_makes_the_same_queries_for_2_or_10_accounts(
    client, viewer, make_account, django_assert_max_num_queries
):
    for name in ("a0", "a1"):
        make_estate(make_account(name), 6)
    client.get("/")  # warm the session and role caches
    with django_assert_max_num_queries(30) as small:
        assert client.get("/").status_code == 200
    for i in range(2, 10):
        make_estate(make_account(f"a{i}"), 30)
    with django_assert_max_num_queries(30) as big:
        page = client.get("/").content.decode()
    assert "All 10 accounts" in page
    assert len(big.captured_queries) == len(small.captured_queries)


def test_the_overview_makes_the_same_queries_whatever_the_size(
    client, viewer, make_account, django_assert_max_num_queries
):
    small, big = make_account("small"), make_account("big")
    make_estate(small, 3)
    make_estate(big, 300)
    client.get("/accounts/small/")
    with django_assert_max_num_queries(30) as small_run:
        client.get("/accounts/small/")
    with django_assert_max_num_queries(30) as big_run:
        client.get("/accounts/big/")
    assert len(big_run.captured_queries) == len(small_run.captured_queries)
