"""End to end: a small system-path estate in moto, synced and stored."""

from __future__ import annotations

from inventory.models import Relationship, Resource, SyncTask

REGION = "ap-northeast-1"
SYSTEM_COLLECTORS = {
    "autoscaling.groups",
    "elb.load_balancers",
    "elbv2.load_balancers",
    "elbv2.target_groups",
    "cloudfront.distributions",
    "elasticache.clusters",
    "elasticache.replication_groups",
    "rds.instances",
    "rds.clusters",
    "rds.parameter_groups",
    "rds.cluster_parameter_groups",
    "rds.subnet_groups",
    "opensearch.domains",
    "dynamodb.tables",
    "s3.buckets",
}


def test_it_syncs_a_system_path_estate_into_resources_and_relationships(
    aws, make_account, run_sync
):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in ((1, "a"), (2, "c"))
    ]
    instance = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0]
    )["Instances"][0]["InstanceId"]
    elbv2 = aws.client("elbv2")
    lb = elbv2.create_load_balancer(Name="honban-alb", Subnets=subnets)["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    group = elbv2.create_target_group(Name="app", Protocol="HTTP", Port=80, VpcId=vpc)[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": instance}])
    elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )
    rds = aws.client("rds")
    rds.create_db_parameter_group(
        DBParameterGroupName="honban-mysql", DBParameterGroupFamily="mysql8.0", Description="x"
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="honban-mysql",
        Parameters=[
            {
                "ParameterName": "max_connections",
                "ParameterValue": "2000",
                "ApplyMethod": "immediate",
            }
        ],
    )
    rds.create_db_instance(
        DBInstanceIdentifier="honban-db",
        DBInstanceClass="db.t3.micro",
        Engine="mysql",
        MasterUsername="admin",
        MasterUserPassword="password123",
        AllocatedStorage=20,
        DBParameterGroupName="honban-mysql",
        BackupRetentionPeriod=1,
    )
    aws.client("s3", region_name="us-east-1").create_bucket(
        Bucket="tokyo-archive", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    account = make_account()

    sync = run_sync(account)

    # Only this layer's collectors are judged: other layers are not this test's concern.
    failed = SyncTask.objects.filter(sync=sync, collector__in=SYSTEM_COLLECTORS).exclude(
        status=SyncTask.Status.DONE
    )
    assert not failed.exists(), [(t.collector, t.region, t.error_message) for t in failed]
    assert set(
        SyncTask.objects.filter(
            sync=sync, collector__in=SYSTEM_COLLECTORS, region="global"
        ).values_list("collector", flat=True)
    ) == {"cloudfront.distributions", "s3.buckets"}

    stored = Resource.objects.filter(account=account)
    alb = stored.get(type="AWS::ElasticLoadBalancingV2::LoadBalancer", resource_id=lb)
    assert alb.name == "honban-alb"
    assert alb.region == REGION
    tg = stored.get(type="AWS::ElasticLoadBalancingV2::TargetGroup", resource_id=group)
    assert tg.config["Targets"][0]["Target"]["Id"] == instance
    db = stored.get(type="AWS::RDS::DBInstance", resource_id="honban-db")
    assert db.config["BackupRetentionPeriod"] == 1
    parameters = stored.get(type="AWS::RDS::DBParameterGroup", resource_id="honban-mysql")
    assert [p["ParameterName"] for p in parameters.config["ModifiedParameters"]] == [
        "max_connections"
    ]
    bucket = stored.get(type="AWS::S3::Bucket", resource_id="tokyo-archive")
    assert bucket.region == "eu-west-1"
    assert bucket.arn == "arn:aws:s3:::tokyo-archive"

    edges = set(
        Relationship.objects.filter(account=account).values_list(
            "source__resource_id", "kind", "target_type", "target_id"
        )
    )
    assert (lb, "has-target-group", "AWS::ElasticLoadBalancingV2::TargetGroup", group) in edges
    assert (group, "targets", "AWS::EC2::Instance", instance) in edges
    assert (
        "honban-db",
        "uses-parameter-group",
        "AWS::RDS::DBParameterGroup",
        "honban-mysql",
    ) in edges
    assert (lb, "in-subnet", "AWS::EC2::Subnet", subnets[0]) in edges
