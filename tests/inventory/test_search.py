"""Search across every account (issue 3, part 5), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from catchup.roles import Role, set_role
from inventory import demo
from inventory.models import Account, Relationship, Resource

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


def put(account: Account, resource_id: str, collector: str, type_: str, **fields) -> Resource:
    now = timezone.now()
    region = fields.setdefault("region", REGION)
    resource = Resource.objects.create(
        account=account,
        resource_id=resource_id,
        type=type_,
        scope=f"{collector}:{region}",
        content_hash="x",
        first_seen_at=now,
        changed_at=now,
        **fields,
    )
    for relation in fields.get("relations", []):
        Relationship.objects.create(
            account=account,
            source=resource,
            kind=relation["kind"],
            target_type=relation["type"],
            target_id=relation["id"],
        )
    return resource


def in_vpc(vpc: str) -> list[dict[str, str]]:
    return [{"kind": "in-vpc", "type": "AWS::EC2::VPC", "id": vpc}]


@pytest.fixture
def estate(make_account) -> dict[str, Account]:
    """Two accounts with look-alike resources, so each filter has something to exclude."""
    prod, stg = make_account("prod"), make_account("stg")
    for account, vpc in ((prod, "vpc-aaa"), (stg, "vpc-bbb")):
        put(account, vpc, "ec2.vpcs", "AWS::EC2::VPC", name=f"{account.name}-vpc",
            config={"CidrBlock": "10.0.0.0/16"})  # fmt: skip
        put(account, f"sg-{account.name}", "ec2.security_groups", "AWS::EC2::SecurityGroup",
            name=f"{account.name}-web-sg", relations=in_vpc(vpc),
            config={"Rules": [{"direction": "ingress", "cidr": "203.0.113.45/32",
                               "description": "who is this?"}]})  # fmt: skip
        put(account, f"i-{account.name}1", "ec2.instances", "AWS::EC2::Instance",
            name=f"{account.name}-web-1", tags={"Role": "web", "Env": account.name},
            relations=in_vpc(vpc),
            config={"PrivateIpAddress": "10.0.1.5", "InstanceType": "t3.medium"})  # fmt: skip
        put(account, f"i-{account.name}2", "ec2.instances", "AWS::EC2::Instance",
            name=f"{account.name}-batch01", tags={"Role": "batch"}, region="us-east-1",
            config={"PrivateIpAddress": "10.0.1.50", "UserData": "crontab fluentd"})  # fmt: skip
        put(account, f"fn-{account.name}", "lambda.functions", "AWS::Lambda::Function",
            name="image-resize", arn=f"arn:aws:lambda:{REGION}:1:function:{account.name}-resize",
            config={"Description": "resize uploaded images (2019)",
                    "Environment": {"Variables": {"OWNER": "本番チーム"}}})  # fmt: skip
    gone = put(prod, "i-gone", "ec2.instances", "AWS::EC2::Instance", name="prod-web-old")
    gone.removed_at = timezone.now()
    gone.save()
    return {"prod": prod, "stg": stg}


def found(client, **params) -> set[str]:
    response = client.get("/search/", params)
    assert response.status_code == 200
    return {r.resource_id for r in response.context["page"].paginator.object_list}


def test_search_finds_ids_names_arns_and_text_inside_configuration(client, viewer, estate):
    assert found(client, q="i-prod1") == {"i-prod1"}
    assert found(client, q="WEB-1") == {"i-prod1", "i-stg1"}  # names, any case
    assert found(client, q="function:stg-resize") == {"fn-stg"}  # ARN
    assert found(client, q="crontab") == {"i-prod2", "i-stg2"}  # configuration text
    assert found(client, q="t3.medium prod") == {"i-prod1"}  # every word must match
    assert found(client, q="本番チーム") == {"fn-prod", "fn-stg"}  # non-ASCII in JSON
    assert found(client, q="prod-web-old") == set()  # removed resources are not current
    assert found(client, q="100%") == set()  # LIKE wildcards are plain text
    assert found(client, q="_") == set()


def test_search_finds_tags_by_key_or_value(client, viewer, estate):
    assert found(client, q="batch") == {"i-prod2", "i-stg2"}
    assert found(client, tag="Role=web") == {"i-prod1", "i-stg1"}
    assert found(client, tag="Env") == {"i-prod1", "i-stg1"}
    assert found(client, tag="Env=stg") == {"i-stg1"}


def test_an_ip_or_cidr_finds_what_mentions_it_as_a_whole(client, viewer, estate):
    assert found(client, q="10.0.1.5") == {"i-prod1", "i-stg1"}  # not 10.0.1.50
    assert found(client, q="203.0.113.45") == {"sg-prod", "sg-stg"}  # rule 203.0.113.45/32
    assert found(client, q="203.0.113.45/32") == {"sg-prod", "sg-stg"}
    assert found(client, q="10.0.0.0/16") == {"vpc-aaa", "vpc-bbb"}
    assert found(client, q="10.0.0.0/16", account="stg") == {"vpc-bbb"}


def test_each_filter_and_their_combinations(client, viewer, estate):
    assert found(client, account="stg", type="AWS::EC2::Instance") == {"i-stg1", "i-stg2"}
    assert found(client, layer="1", account="prod") == {"vpc-aaa", "sg-prod"}
    assert found(client, layer="3") == {"fn-prod", "fn-stg"}
    assert found(client, layer="4", region="us-east-1") == {"i-prod2", "i-stg2"}
    assert found(client, vpc="vpc-aaa") == {"vpc-aaa", "sg-prod", "i-prod1"}
    assert found(client, vpc="vpc-aaa", type="AWS::EC2::Instance") == {"i-prod1"}
    assert found(client, q="web", vpc="vpc-bbb", tag="Role=web") == {"i-stg1"}
    assert found(client, q="web", account="nobody") == set()


def test_search_is_bookmarkable_paginated_and_makes_constant_queries(
    client, viewer, estate, settings, django_assert_max_num_queries
):
    settings.CATCHUP_PAGE_SIZE = 3
    params = {"q": "10.0", "layer": "4"}
    client.get("/search/", params)
    with django_assert_max_num_queries(20) as small:
        client.get("/search/", params)
    now = timezone.now()
    Resource.objects.bulk_create(
        Resource(
            account=estate["prod"],
            region=REGION,
            type="AWS::EC2::Instance",
            resource_id=f"i-bulk{i:04d}",
            scope=f"ec2.instances:{REGION}",
            config={"PrivateIpAddress": f"10.0.9.{i}"},
            content_hash="x",
            first_seen_at=now,
            changed_at=now,
        )
        for i in range(200)
    )
    with django_assert_max_num_queries(20) as big:
        response = client.get("/search/", {**params, "page": "2"})
    assert len(big.captured_queries) == len(small.captured_queries)
    page = response.content.decode()
    assert "Page 2 of 68" in page
    assert "?q=10.0&amp;layer=4&amp;page=3" in page  # the filters survive in the pager
    assert 'value="10.0"' in page  # and in the form


def test_hostile_values_and_the_query_itself_are_escaped(client, viewer, make_account):
    account = make_account()
    put(account, "i-evil", "ec2.instances", "AWS::EC2::Instance", name=XSS, tags={XSS: XSS})
    response = client.get("/search/", {"q": XSS, "tag": XSS, "vpc": XSS})
    page = response.content.decode()
    assert response.status_code == 200
    assert "<script>window" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page
    assert found(client, q="window.__xss=1") == {"i-evil"}
    hit = client.get("/search/", {"q": "__xss"}).content.decode()
    assert "<script>window" not in hit and "&lt;script&gt;window.__xss=1" in hit


def test_htmx_gets_only_the_results_and_an_empty_box_explains_itself(client, viewer, estate):
    fragment = client.get("/search/", {"q": "web"}, headers={"HX-Request": "true"})
    assert fragment.content.decode().lstrip().startswith('<div id="results">')
    empty = client.get("/search/").content.decode()
    assert "Type something to search" in empty
    assert 'id="topbar-search"' in empty


def test_the_demo_estate_answers_whose_ip_is_this(client, viewer, aws, make_account, run_sync):
    ids = demo.build_legacy_estate(aws)
    run_sync(make_account("legacy", regions=[demo.HOME_REGION]))
    ip = demo.UNEXPLAINED_IP.split("/")[0]
    assert found(client, q=ip) == {ids["security_groups"]["web"]}
    fluentd = found(client, q=demo.FLUENTD_SOURCE_IP)
    assert fluentd == {ids["security_groups"]["app"]}
    assert ids["peering"] in found(client, q="production-peering")
    assert ids["vpc"] in found(client, vpc=ids["vpc"], type="AWS::EC2::VPC")
    web_in_vpc = found(client, vpc=ids["vpc"], type="AWS::EC2::Instance")
    assert set(ids["instances"]["web"]) <= web_in_vpc
