"""The same task delivered twice leaves the database exactly as one delivery did."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from inventory import sync as sync_service
from inventory.models import Relationship, Resource, ResourceChange, Sync, SyncTask

pytestmark = [pytest.mark.chaos, pytest.mark.django_db]

REGION = "ap-northeast-1"
MODELS = (Resource, ResourceChange, Relationship, Sync, SyncTask)


def snapshot() -> dict[str, list[dict[str, Any]]]:
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in MODELS}


def build_estate(session) -> None:
    """A VPC, two security groups with CIDR rules and two instances: 5 resources + default VPC's."""
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    for name, cidr in (("web", "203.0.113.45/32"), ("db", "198.51.100.0/24")):
        group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpRanges": [{"CidrIp": cidr}],
                }
            ],
        )
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2, SubnetId=subnet)


def test_duplicate_deliveries_after_the_sync_change_nothing(aws, make_account, run_sync, ec2_only):
    build_estate(aws)
    account = make_account()
    sync = run_sync(account)
    assert sync.status == Sync.Status.COMPLETE
    assert sync.tasks_total == len(ec2_only) == 3
    assert sync.tasks_done == sync.tasks_total
    before = snapshot()
    assert len(before["Resource"]) >= 5

    duplicates = 0
    for task_id in SyncTask.objects.filter(sync=sync).values_list("pk", flat=True):
        sync_service.collect(task_id)
        duplicates += 1
    sync_service.finalize(sync.pk)
    sync_service.run(sync.pk)
    duplicates += 2

    assert duplicates == 5
    assert snapshot() == before
    sync.refresh_from_db()
    assert sync.tasks_done == sync.tasks_total == 3


def test_a_collect_delivered_twice_mid_sync_counts_once(aws, make_account, ec2_only):
    build_estate(aws)
    account = make_account()
    sync = sync_service.request(account, trigger="test")
    # The planning part of run(), without the inline collection: a running sync
    # with pending units, as a Celery worker leaves it before the group fans out.
    now = timezone.now()
    Sync.objects.filter(pk=sync.pk).update(
        status=Sync.Status.RUNNING, started_at=now, heartbeat_at=now, regions=[REGION]
    )
    tasks = sync_service.plan_tasks(sync, [REGION])
    Sync.objects.filter(pk=sync.pk).update(tasks_total=len(tasks))
    assert len(tasks) == 3

    identical = 0
    for task in tasks[:-1]:
        sync_service.collect(task.pk)
        after_first = snapshot()
        sync_service.collect(task.pk)  # the duplicate, before finalize
        assert snapshot() == after_first
        identical += 1
        assert Sync.objects.get(pk=sync.pk).status == Sync.Status.RUNNING

    last = tasks[-1]
    sync_service.collect(last.pk)  # the last unit finalizes (inline dispatch)
    done = snapshot()
    sync_service.collect(last.pk)
    sync_service.finalize(sync.pk)
    sync_service.run(sync.pk)
    assert snapshot() == done
    identical += 1

    sync.refresh_from_db()
    assert identical == 3
    assert sync.status == Sync.Status.COMPLETE
    assert sync.tasks_done == sync.tasks_total == 3
    assert SyncTask.objects.filter(sync=sync, attempts=1, status="done").count() == 3
    # The same state as one clean delivery: every resource added once.
    assert sync.added == Resource.objects.filter(account=account).count() >= 5
    assert ResourceChange.objects.filter(sync=sync, kind="added").count() == sync.added
