"""Annotations that last (issue 4 item 4 and "Done when"): an owner's answer on the demo's
unexplained address stays applied through re-syncs, a recreated security group, a new
account, a partial sync and a failed one; the answer and its history are never rewritten."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from django.core import serializers
from django.test import Client

from catchup.roles import Role
from inventory import demo
from inventory.models import Account, Sync
from ips import actions
from ips.actions import Target
from ips.models import Annotation, AnnotationEvent, IpReference, ObservedCidr
from tests.support.faults import FaultInjector, fast_retries

pytestmark = pytest.mark.django_db

IP = demo.UNEXPLAINED_IP  # 203.0.113.45/32: SSH, no description
HOME = demo.HOME_REGION
NEW_REGION = "us-west-2"  # not one of the demo account's regions


def knowledge() -> str:
    """Every annotation and history row, serialized: must stay byte-identical."""
    rows = [*Annotation.objects.order_by("pk"), *AnnotationEvent.objects.order_by("pk")]
    return serializers.serialize("json", rows)


def observed(account: Account) -> ObservedCidr:
    return ObservedCidr.objects.get(account=account, cidr=IP)


@pytest.fixture
def synced_demo(
    aws: boto3.Session, make_account: Any, run_sync: Any, django_capture_on_commit_callbacks: Any
) -> Any:
    demo.build_legacy_estate(aws)
    account = make_account("demo", regions=demo.REGIONS)

    def sync(target: Account = account) -> Sync:
        with django_capture_on_commit_callbacks(execute=True):
            return run_sync(target)

    assert sync().status == "complete"
    assert observed(account).classification == "unknown"
    (annotation,) = actions.answer(
        Target(IP),
        owner="Ops office VPN",
        purpose="SSH from the office",
        answered_by="Sato (network team)",
        evidence="chat 2024-05-10",
        actor=None,
    )
    return account, annotation, sync


def test_an_answer_survives_a_resync_and_a_recreated_security_group(
    synced_demo: Any, aws: boto3.Session
) -> None:
    account, annotation, sync = synced_demo
    assert (observed(account).classification, observed(account).annotation_id) == (
        "annotated",
        annotation.pk,
    )
    before = knowledge()

    assert sync().status == "complete"
    assert observed(account).classification == "annotated"
    assert knowledge() == before

    # The previous team deletes the group and builds it again: a new id, the same rule.
    ec2 = aws.client("ec2", region_name=HOME)
    old = IpReference.objects.get(account=account, cidr=IP).resource_id_text
    group = ec2.describe_security_groups(GroupIds=[old])["SecurityGroups"][0]
    ec2.delete_security_group(GroupId=old)
    new = ec2.create_security_group(
        GroupName=f"{group['GroupName']}-v2", Description="rebuilt", VpcId=group["VpcId"]
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=new,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": IP}]}
        ],
    )

    assert sync().status == "complete"

    assert list(
        IpReference.objects.filter(account=account, cidr=IP).values_list("resource_id_text")
    ) == [(new,)]
    row = observed(account)
    assert (row.classification, row.annotation_id, row.detail) == (
        "annotated",
        annotation.pk,
        "Ops office VPN: SSH from the office",
    )
    assert knowledge() == before  # same annotation row, no event added or rewritten


def test_the_same_address_in_a_new_account_is_already_answered(
    synced_demo: Any, aws: boto3.Session, make_account: Any
) -> None:
    _, annotation, sync = synced_demo
    before = knowledge()
    ec2 = aws.client("ec2", region_name=NEW_REGION)
    vpc = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    sg = ec2.create_security_group(GroupName="tools-ssh", Description="ssh", VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=sg["GroupId"], IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp=IP
    )
    tools = make_account("tools", regions=[NEW_REGION])

    assert sync(tools).status == "complete"

    row = observed(tools)
    assert (row.classification, row.annotation_id) == ("annotated", annotation.pk)
    assert knowledge() == before


@pytest.fixture
def faults(aws: boto3.Session) -> Any:
    injector = FaultInjector(seed=4)
    with injector.install(), fast_retries():
        yield injector


def picture(account: Account) -> tuple[list, list]:
    refs = IpReference.objects.filter(account=account).order_by("pk")
    rows = ObservedCidr.objects.filter(account=account).order_by("cidr")
    return (
        list(refs.values_list("pk", "key")),
        list(rows.values_list("cidr", "classification", "annotation_id", "reference_count")),
    )


def test_a_partial_sync_keeps_the_failed_scope_and_a_failed_sync_changes_nothing(
    faults: FaultInjector, synced_demo: Any, aws: boto3.Session
) -> None:
    # `faults` first: it must be on the sessions before the first sync creates them.
    account, annotation, sync = synced_demo
    before, refs_before = knowledge(), picture(account)
    # The rule is removed in AWS, but the security groups cannot be read this time.
    ec2 = aws.client("ec2", region_name=HOME)
    group = IpReference.objects.get(account=account, cidr=IP).resource_id_text
    ec2.revoke_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": IP}]}
        ],
    )
    faults.add("access_denied", service="ec2", region=HOME, operation="DescribeSecurityGroups")

    partial = sync()

    assert partial.status == "partial"
    failed = {(t.collector, t.region) for t in partial.tasks.filter(status="failed")}
    assert failed == {("ec2.security_groups", HOME)}
    assert picture(account) == refs_before  # 0 references removed, classes unchanged
    assert observed(account).annotation_id == annotation.pk
    assert knowledge() == before

    faults.clear()
    faults.add("access_denied", service="sts")

    failed_sync = sync()

    assert failed_sync.status == "failed"
    assert picture(account) == refs_before
    assert knowledge() == before

    # Once the groups can be read again, the revoked rule goes, and the answer stays.
    faults.clear()
    assert sync().status == "complete"
    assert not IpReference.objects.filter(account=account, cidr=IP).exists()
    assert not ObservedCidr.objects.filter(account=account, cidr=IP).exists()
    assert Annotation.objects.get(pk=annotation.pk).owner == "Ops office VPN"
    assert knowledge() == before


def test_deleting_an_account_forgets_only_what_was_scoped_to_it(make_account, make_user) -> None:
    """An admin deleting an account removes its own answers and their history; answers
    given for every account stay, history included."""
    gone, kept = make_account("gone"), make_account("kept")
    admin = make_user("admin", Role.ADMIN)
    actions.answer(Target("203.0.113.45/32", gone), owner="their vendor", actor=admin)
    actions.answer(Target("198.51.100.0/24"), owner="old office", actor=admin)
    client = Client()
    client.force_login(admin)
    response = client.post(f"/accounts/{gone.name}/delete/")
    assert response.status_code == 302
    assert list(Annotation.objects.values_list("cidr", "account")) == [("198.51.100.0/24", None)]
    assert AnnotationEvent.objects.count() == 1
    assert Account.objects.filter(pk=kept.pk).exists()
