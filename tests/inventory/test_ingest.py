"""Ingest: what a sync writes, given what its units collected."""

from __future__ import annotations

import pytest
from django.db import transaction

from inventory import ingest
from inventory.models import Relationship, Resource, ResourceChange, Sync, SyncTask

REGION = "ap-northeast-1"


def doc(rid: str, type_: str = "AWS::EC2::VPC", region: str = REGION, **config) -> dict:
    relations = config.pop("relations", [])
    return {
        "type": type_,
        "id": rid,
        "region": region,
        "arn": f"arn:aws:ec2:{region}:123456789012:x/{rid}",
        "name": config.pop("name", ""),
        "tags": config.pop("tags", {}),
        "config": config,
        "relations": relations,
    }


@pytest.fixture
def collect(make_account):
    """Apply one sync whose units collected `scopes` ({(collector, region): docs | None})."""
    account = make_account()

    def run(scopes: dict[tuple[str, str], list[dict] | None]) -> Sync:
        sync = Sync.objects.create(account=account, status=Sync.Status.FINALIZING)
        tasks = [
            SyncTask.objects.create(
                sync=sync,
                collector=collector,
                region=region,
                status=SyncTask.Status.FAILED if docs is None else SyncTask.Status.DONE,
                payload=docs,
            )
            for (collector, region), docs in scopes.items()
        ]
        with transaction.atomic():
            stats = ingest.apply(sync, tasks)
        Sync.objects.filter(pk=sync.pk).update(
            status=Sync.Status.COMPLETE,
            added=stats.added,
            changed=stats.changed,
            removed=stats.removed,
        )
        sync.refresh_from_db()
        return sync

    return run


def current_ids() -> set[str]:
    return set(Resource.objects.current().values_list("resource_id", flat=True))


def test_it_marks_a_resource_removed_only_when_its_scope_collected(collect):
    collect({("ec2.vpcs", REGION): [doc("vpc-1"), doc("vpc-2")]})

    failed = collect({("ec2.vpcs", REGION): None})
    assert failed.removed == 0
    assert current_ids() == {"vpc-1", "vpc-2"}

    other_scope = collect({("ec2.subnets", REGION): []})
    assert other_scope.removed == 0
    assert current_ids() == {"vpc-1", "vpc-2"}

    complete = collect({("ec2.vpcs", REGION): [doc("vpc-1")]})
    assert complete.removed == 1
    assert current_ids() == {"vpc-1"}
    removal = ResourceChange.objects.get(sync=complete)
    assert removal.kind == ResourceChange.Kind.REMOVED
    assert removal.before["arn"].endswith("vpc-2")


def test_it_records_field_level_changes(collect):
    collect({("ec2.vpcs", REGION): [doc("vpc-1", CidrBlock="10.0.0.0/16", name="old")]})

    sync = collect({("ec2.vpcs", REGION): [doc("vpc-1", CidrBlock="10.1.0.0/16", name="new")]})

    assert (sync.added, sync.changed, sync.removed) == (0, 1, 0)
    change = ResourceChange.objects.get(sync=sync)
    assert change.before == {"name": "old", "config.CidrBlock": "10.0.0.0/16"}
    assert change.after == {"name": "new", "config.CidrBlock": "10.1.0.0/16"}
    assert Resource.objects.get(resource_id="vpc-1").name == "new"


def test_a_resource_that_comes_back_keeps_its_identity(collect):
    first = collect({("ec2.vpcs", REGION): [doc("vpc-1")]})
    pk = Resource.objects.get().pk
    collect({("ec2.vpcs", REGION): []})
    assert current_ids() == set()

    back = collect({("ec2.vpcs", REGION): [doc("vpc-1")]})

    assert back.added == 1
    resource = Resource.objects.get()
    assert resource.pk == pk and resource.removed_at is None
    assert resource.first_seen_sync_id == first.pk


def test_relationships_follow_the_resource(collect):
    rel = [{"kind": "in-vpc", "type": "AWS::EC2::VPC", "id": "vpc-1"}]
    collect({("ec2.subnets", REGION): [doc("subnet-1", "AWS::EC2::Subnet", relations=rel)]})
    assert list(Relationship.objects.values_list("kind", "target_id")) == [("in-vpc", "vpc-1")]

    rel2 = [{"kind": "in-vpc", "type": "AWS::EC2::VPC", "id": "vpc-2"}]
    collect({("ec2.subnets", REGION): [doc("subnet-1", "AWS::EC2::Subnet", relations=rel2)]})

    assert list(Relationship.objects.values_list("kind", "target_id")) == [("in-vpc", "vpc-2")]


def test_duplicates_within_a_sync_are_stored_once(collect):
    sync = collect(
        {
            ("s3.buckets", "global"): [doc("b", "AWS::S3::Bucket"), doc("b", "AWS::S3::Bucket")],
        }
    )
    assert sync.added == 1
    assert Resource.objects.count() == 1
