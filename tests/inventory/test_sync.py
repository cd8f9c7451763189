from __future__ import annotations

from inventory.models import Resource, ResourceChange, Sync

REGION = "ap-northeast-1"


def test_it_collects_an_account_into_resources(aws, make_account, run_sync):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "honban-vpc"}])
    account = make_account()

    sync = run_sync(account)

    assert sync.status == Sync.Status.COMPLETE, sync.error
    assert sync.aws_account_id == "123456789012"
    vpc_row = Resource.objects.get(type="AWS::EC2::VPC", resource_id=vpc)
    assert vpc_row.name == "honban-vpc"
    assert vpc_row.region == REGION
    assert sync.added == Resource.objects.count()


def test_an_unchanged_resync_writes_no_resource_rows(
    aws, make_account, run_sync, django_assert_max_num_queries
):
    aws.client("ec2").create_vpc(CidrBlock="10.20.0.0/16")
    account = make_account()
    run_sync(account)
    before = list(Resource.objects.values_list("pk", "content_hash", "changed_at"))

    second = run_sync(account)

    assert second.status == Sync.Status.COMPLETE
    assert (second.added, second.changed, second.removed) == (0, 0, 0)
    assert list(Resource.objects.values_list("pk", "content_hash", "changed_at")) == before
    assert not ResourceChange.objects.filter(sync=second).exists()
