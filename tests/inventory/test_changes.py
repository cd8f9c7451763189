"""Changes between syncs, a resource's timeline, and "since I arrived"."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catchup.roles import Role, set_role
from inventory import changes
from inventory.models import Account, Resource, ResourceChange, Sync, SyncTask

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


# --- A real moto estate, synced twice ------------------------------------------------


def build_estate(aws) -> dict[str, str]:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet_a = ec2.create_subnet(
        VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone=f"{REGION}a"
    )["Subnet"]["SubnetId"]
    subnet_c = ec2.create_subnet(
        VpcId=vpc, CidrBlock="10.40.2.0/24", AvailabilityZone=f"{REGION}c"
    )["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "office"}],
            }
        ],
    )
    image = ec2.describe_images()["Images"][0]["ImageId"]
    kept, doomed = (
        i["InstanceId"]
        for i in ec2.run_instances(
            ImageId=image,
            MinCount=2,
            MaxCount=2,
            InstanceType="t2.micro",
            SubnetId=subnet_a,
            SecurityGroupIds=[group],
        )["Instances"]
    )
    return {
        "vpc": vpc,
        "subnet_a": subnet_a,
        "subnet_c": subnet_c,
        "group": group,
        "kept": kept,
        "doomed": doomed,
    }


def change_estate(aws, estate: dict[str, str]) -> dict[str, str]:
    """Between the syncs: SSH opened to the world, a resize, a termination, new links."""
    ec2 = aws.client("ec2")
    ec2.authorize_security_group_ingress(
        GroupId=estate["group"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": XSS}],
            }
        ],
    )
    ec2.stop_instances(InstanceIds=[estate["kept"]])
    ec2.modify_instance_attribute(InstanceId=estate["kept"], InstanceType={"Value": "t3.large"})
    ec2.terminate_instances(InstanceIds=[estate["doomed"]])
    customer = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="198.51.100.7", BgpAsn=65000)
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    vpn = ec2.create_vpn_connection(
        Type="ipsec.1",
        CustomerGatewayId=customer["CustomerGateway"]["CustomerGatewayId"],
        VpnGatewayId=vgw,
    )["VpnConnection"]["VpnConnectionId"]
    partner = ec2.create_vpc(CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]
    peering = ec2.create_vpc_peering_connection(VpcId=estate["vpc"], PeerVpcId=partner)[
        "VpcPeeringConnection"
    ]["VpcPeeringConnectionId"]
    lb = aws.client("elbv2").create_load_balancer(
        Name="public-web",
        Subnets=[estate["subnet_a"], estate["subnet_c"]],
        Scheme="internet-facing",
        Type="application",
    )["LoadBalancers"][0]["LoadBalancerArn"]
    return {"vpn": vpn, "peering": peering, "lb": lb}


@pytest.fixture
def two_syncs(aws, make_account, run_sync):
    """The estate synced, changed, synced again; the first sync dated three days back."""
    account = make_account()
    estate = build_estate(aws)
    first = run_sync(account)
    assert first.status == Sync.Status.COMPLETE
    three_days_ago = timezone.now() - dt.timedelta(days=3)
    Sync.objects.filter(pk=first.pk).update(finished_at=three_days_ago)
    ResourceChange.objects.filter(sync=first).update(created_at=three_days_ago)
    estate.update(change_estate(aws, estate))
    second = run_sync(account)
    assert second.status == Sync.Status.COMPLETE
    return account, first, second, estate


def test_the_diff_of_two_real_syncs_shows_each_kind_of_change(client, viewer, two_syncs):
    account, first, second, estate = two_syncs

    response = client.get(f"/accounts/{account.name}/changes/")

    assert response.status_code == 200
    page = response.content.decode()
    assert f"sync #{first.pk}</a>" in page and f"sync #{second.pk}</a>" in page  # the default
    group = Resource.objects.get(resource_id=estate["group"])
    kept = Resource.objects.get(resource_id=estate["kept"])
    doomed = Resource.objects.get(resource_id=estate["doomed"])
    vpn = Resource.objects.get(resource_id=estate["vpn"])

    # The SG: the new rule row, not a wall of JSON; the hostile description escaped.
    sg_item = _item(page, group.pk)
    assert "config.Rules" in sg_item
    assert "ingress tcp 22 from 0.0.0.0/0" in sg_item
    assert "10.0.0.0/8" not in sg_item  # the unchanged rule is not repeated
    assert XSS not in page and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in sg_item
    # The resize, field by field.
    kept_item = _item(page, kept.pk)
    assert "kind-changed" in kept_item
    assert "config.InstanceType" in kept_item
    assert "t2.micro" in kept_item and "t3.large" in kept_item
    # The termination and the new VPN.
    assert "kind-removed" in _item(page, doomed.pk)
    assert "kind-added" in _item(page, vpn.pk)
    # Grouped by layer: the VPN (layer 1) before the instances (layer 2).
    assert page.index("1. External connections") < page.index("2. System path")
    assert page.index(f'id="change-{vpn.pk}"') < page.index(f'id="change-{kept.pk}"')


def _item(page: str, pk: int) -> str:
    start = page.index(f'id="change-{pk}"')
    end = page.find("<article", start)
    return page[start : end if end != -1 else len(page)]


def test_since_i_arrived_lists_what_opened_up_before_every_change(client, viewer, two_syncs):
    account, first, second, estate = two_syncs
    arrived = timezone.localdate() - dt.timedelta(days=2)

    response = client.get(f"/accounts/{account.name}/since/?date={arrived}")

    assert response.status_code == 200
    page = response.content.decode()
    openings = page[page.index('id="openings"') : page.index("Every change since then")]
    # SSH open to the world is the first thing said; the new peering and the public LB follow.
    rows = openings.split("<tr")[2:]  # skip the header row
    assert "tcp 22 from 0.0.0.0/0" in rows[0] and "open to the world" in rows[0]
    assert "10.0.0.0/8" not in openings  # the rule that was already there is no news
    assert estate["peering"] in openings and "VPC peering" in openings
    assert estate["vpn"] in openings
    assert "internet-facing load balancer" in openings and "public-web" in openings
    # Then the full list, by layer.
    full_list = page[page.index("Every change since then") :]
    assert full_list.index("1. External connections") < full_list.index("2. System path")
    assert f'id="change-{Resource.objects.get(resource_id=estate["doomed"]).pk}"' in page
    # The date is remembered for the next visit.
    again = client.get(f"/accounts/{account.name}/since/").content.decode()
    assert f'value="{arrived}"' in again and "tcp 22 from 0.0.0.0/0" in again


# --- Merge rules, on stored rows --------------------------------------------------------


def make_resource(account: Account, rid: str, **fields) -> Resource:
    now = timezone.now()
    fields.setdefault("type", "AWS::EC2::Instance")
    fields.setdefault("scope", f"ec2.instances:{REGION}")
    return Resource.objects.create(
        account=account,
        region=REGION,
        resource_id=rid,
        content_hash="x",
        first_seen_at=now,
        changed_at=now,
        **fields,
    )


def doc(name: str, **config) -> dict:
    return {"name": name, "arn": "", "tags": {}, "config": config, "relations": []}


def finished(account: Account, status: str = Sync.Status.COMPLETE) -> Sync:
    return Sync.objects.create(account=account, status=status, finished_at=timezone.now())


@pytest.fixture
def history(make_account):
    """Four syncs; the rows each resource's story leaves behind."""
    account = make_account()
    s1, s2, s3, s4 = (finished(account) for _ in range(4))
    res = {k: make_resource(account, k, name=k) for k in ("grown", "fleeting", "resized", "flip")}
    res["gone"] = make_resource(account, "gone", removed_at=timezone.now())
    res["back"] = make_resource(account, "back")

    def row(sync: Sync, key: str, kind: str, before=None, after=None) -> None:
        ResourceChange.objects.create(
            sync=sync, resource=res[key], kind=kind, before=before, after=after
        )

    row(s2, "grown", "added", after=doc("grown", InstanceType="t2.micro"))
    row(s3, "grown", "changed", {"config.InstanceType": "t2.micro"}, {"config.InstanceType": "m5"})
    row(s2, "fleeting", "added", after=doc("fleeting"))
    row(s3, "fleeting", "removed", before=doc("fleeting"))
    row(
        s2, "resized", "changed", {"config.InstanceType": "t2.micro"}, {"config.InstanceType": "t3"}
    )
    row(
        s3,
        "resized",
        "changed",
        {"config.InstanceType": "t3", "tags": {}},
        {"config.InstanceType": "m5", "tags": {"env": "prod"}},
    )
    row(s2, "flip", "changed", {"config.Monitoring": "off"}, {"config.Monitoring": "on"})
    row(s3, "flip", "changed", {"config.Monitoring": "on"}, {"config.Monitoring": "off"})
    row(s3, "gone", "removed", before=doc("gone", InstanceType="c5"))
    row(s2, "back", "removed", before=doc("back", InstanceType="t2.micro"))
    row(s3, "back", "added", after=doc("back", InstanceType="t3.small"))
    row(s4, "grown", "changed", {"name": "grown"}, {"name": "grown-later"})  # outside s1→s3
    return account, (s1, s2, s3, s4), res


def test_several_syncs_merge_into_one_net_change_per_resource(history):
    account, (s1, _s2, s3, _s4), res = history
    diff_range = changes.DiffRange(account, s1, s3)
    rows = diff_range.changes()
    found = changes.entries(rows)
    changes.load(rows, found)
    net = {e.resource.resource_id: e.net for e in found}

    assert "fleeting" not in net  # added then removed: never there for the reader
    assert net["grown"].kind == "added"
    assert net["grown"].after["config.InstanceType"] == "m5"  # its latest document
    assert net["grown"].after["name"] == "grown"  # s4 is outside the range
    assert net["resized"].kind == "changed"
    assert net["resized"].before == {"config.InstanceType": "t2.micro", "tags": {}}
    assert net["resized"].after == {"config.InstanceType": "m5", "tags": {"env": "prod"}}
    assert net["flip"].kind == "changed" and net["flip"].changed_back
    assert net["gone"].kind == "removed" and net["gone"].before["config.InstanceType"] == "c5"
    # Removed and re-created: a change from its old self.
    assert net["back"].kind == "changed"
    assert net["back"].after == {"config.InstanceType": "t3.small"}
    assert changes.counts(found) == {"added": 1, "removed": 1, "changed": 3}


def test_the_page_defaults_to_the_last_step_and_accepts_any_two_syncs(client, viewer, history):
    account, (s1, s2, s3, s4), res = history

    default = client.get(f"/accounts/{account.name}/changes/").content.decode()
    assert f'id="change-{res["grown"].pk}"' in default  # s3 → s4: only the rename
    assert "grown-later" in default
    assert f'id="change-{res["resized"].pk}"' not in default

    picked = client.get(f"/accounts/{account.name}/changes/?from={s1.pk}&to={s3.pk}")
    page = picked.content.decode()
    assert picked.status_code == 200
    assert "t2.micro" in page and "m5" in page and "env" in page
    assert "Changed, then changed back" in page
    assert f'id="change-{res["fleeting"].pk}"' not in page

    swapped = client.get(f"/accounts/{account.name}/changes/?from={s3.pk}&to={s1.pk}")
    assert "were swapped" in swapped.content.decode()
    assert f'id="change-{res["resized"].pk}"' in swapped.content.decode()


def test_unusable_ranges_are_explained_not_crashed_on(client, viewer, history):
    account, (s1, *_rest), _res = history
    failed = Sync.objects.create(account=account, status=Sync.Status.FAILED)
    other = Account.objects.create(name="other")
    foreign = finished(other)

    for query, words in [
        (f"to={failed.pk}", "is not a finished sync"),
        (f"from={foreign.pk}", "is not a finished sync"),
        ("from=abc", "is not a sync number"),
        (f"from={s1.pk}&to={s1.pk}", "does not differ from itself"),
    ]:
        response = client.get(f"/accounts/{account.name}/changes/?{query}")
        assert response.status_code == 400, query
        assert words in response.content.decode(), query
    # Failed syncs are not offered in the pickers.
    page = client.get(f"/accounts/{account.name}/changes/").content.decode()
    assert f'value="{failed.pk}"' not in page


def test_a_partial_sync_in_the_range_is_called_out(client, viewer, history):
    account, (s1, _s2, s3, _s4), _res = history
    Sync.objects.filter(pk=s3.pk).update(status=Sync.Status.PARTIAL)
    SyncTask.objects.create(
        sync=s3, collector="ec2.instances", region=REGION, status="failed", error_code="Throttling"
    )

    page = client.get(f"/accounts/{account.name}/changes/?from={s1.pk}&to={s3.pk}")

    notice = page.content.decode()
    assert 'id="partial-notice"' in notice
    assert f"ec2.instances:{REGION}" in notice and f"sync #{s3.pk}" in notice
    calm = client.get(f"/accounts/{account.name}/changes/?from=0&to={s1.pk}").content.decode()
    assert 'id="partial-notice"' not in calm


def test_the_changes_page_makes_the_same_queries_whatever_the_size(client, viewer, make_account):
    def measure(name: str, count: int) -> int:
        account = make_account(name)
        before, after = finished(account), finished(account)
        for i in range(count):
            resource = make_resource(account, f"i-{i:05d}", name=f"web-{i}")
            ResourceChange.objects.create(
                sync=after,
                resource=resource,
                kind="changed",
                before={"config.Rules": [{"direction": "ingress", "protocol": "6"}]},
                after={"config.Rules": []},
            )
        url = f"/accounts/{name}/changes/?from={before.pk}&to={after.pk}&page=2"
        with CaptureQueriesContext(connection) as run:
            assert client.get(url).status_code == 200
        return len(run.captured_queries)

    assert measure("small", 60) == measure("big", 400)


def test_hostile_values_in_a_diff_are_shown_as_text(client, viewer, make_account):
    account = make_account()
    _s1, s2 = finished(account), finished(account)
    resource = make_resource(account, "i-evil", name=XSS)
    ResourceChange.objects.create(
        sync=s2,
        resource=resource,
        kind="changed",
        before={"tags": {"Owner": "ops"}},
        after={"tags": {"Owner": XSS, XSS: "x"}},
    )
    for url in (f"/accounts/{account.name}/changes/", f"/resources/{resource.pk}/timeline/"):
        page = client.get(url).content.decode()
        assert XSS not in page, url
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page, url
        assert ">tags<" in page and ">Owner<" in page and "ops" in page, url


def test_the_timeline_lists_every_change_with_its_sync_and_fields(client, viewer, history):
    _account, (_s1, s2, s3, s4), res = history

    with CaptureQueriesContext(connection) as run:
        response = client.get(f"/resources/{res['grown'].pk}/timeline/")

    page = response.content.decode()
    assert response.status_code == 200
    for sync in (s2, s3, s4):
        assert f"sync #{sync.pk}</a>" in page
    assert page.index(f"sync #{s4.pk}</a>") < page.index(f"sync #{s2.pk}</a>")  # newest first
    assert "config.InstanceType" in page and "t2.micro" in page and "m5" in page
    assert "grown-later" in page
    assert len(run.captured_queries) < 12


def test_since_rejects_malformed_and_future_dates_in_words(client, viewer, make_account):
    account = make_account()
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    for value, words in [
        ("2026-13-45", "is not a date"),
        ("yesterday", "is not a date"),
        (tomorrow.isoformat(), "is in the future"),
    ]:
        response = client.get(f"/accounts/{account.name}/since/", {"date": value})
        assert response.status_code == 400
        assert words in response.content.decode()
    empty = client.get(f"/accounts/{account.name}/since/")
    assert empty.status_code == 200 and "Pick the day you arrived" in empty.content.decode()


def test_since_before_the_first_sync_counts_from_it(client, viewer, make_account):
    account = make_account()
    first = finished(account)
    resource = make_resource(account, "i-new")
    later = finished(account)
    ResourceChange.objects.create(sync=first, resource=resource, kind="added", after=doc("x"))
    long_ago = timezone.localdate() - dt.timedelta(days=400)

    page = client.get(f"/accounts/{account.name}/since/?date={long_ago}").content.decode()

    assert "first sync" in page and f"#{first.pk}" in page
    assert f"sync #{later.pk}</a>" in page
    assert f'id="change-{resource.pk}"' not in page  # its first sighting is not news
