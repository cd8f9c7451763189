"""Layer-2 rules (databases, load balancers, CDN, storage) on moto data, both ways."""

from __future__ import annotations

import json

import pytest

REGION = "ap-northeast-1"
pytestmark = pytest.mark.django_db


def _db(rds, name: str, **kwargs) -> None:
    params = {
        "DBInstanceIdentifier": name,
        "DBInstanceClass": "db.t3.micro",
        "Engine": "mysql",
        "MasterUsername": "admin",
        "MasterUserPassword": "password-for-tests",
        "AllocatedStorage": 20,
        "BackupRetentionPeriod": 7,
        "MultiAZ": True,
        # 18:00 UTC = 03:00 JST: outside Tokyo business hours.
        "PreferredBackupWindow": "18:00-18:30",
        "PreferredMaintenanceWindow": "sun:19:00-sun:19:30",
    }
    rds.create_db_instance(**{**params, **kwargs})


def _ids(found) -> set[str]:
    return {h.resource.resource_id for h in found}


def test_rds_rules_on_moto(aws, collect, hits):
    rds = aws.client("rds")
    _db(rds, "good")
    _db(rds, "short", BackupRetentionPeriod=1)
    _db(rds, "single", MultiAZ=False)
    # 02:00 UTC = 11:00 JST on a weekday: in business hours.
    _db(rds, "noon-backup", PreferredBackupWindow="02:00-02:30")
    # Mon 00:00 UTC = Mon 09:00 JST. (moto rejects windows that wrap the week; see below.)
    _db(rds, "monday-morning", PreferredMaintenanceWindow="mon:00:00-mon:00:30")
    rds.create_db_parameter_group(
        DBParameterGroupName="tuned", DBParameterGroupFamily="mysql8.0", Description="tuned"
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="tuned",
        Parameters=[
            {
                "ParameterName": "max_connections",
                "ParameterValue": "2000",
                "ApplyMethod": "immediate",
            }
        ],
    )
    rds.create_db_parameter_group(
        DBParameterGroupName="untouched", DBParameterGroupFamily="mysql8.0", Description="x"
    )
    collect(aws, "rds.instances", "rds.clusters", "rds.parameter_groups")

    assert _ids(hits("rds-backup-retention-short")) == {"short"}
    assert _ids(hits("rds-not-multi-az")) == {"single"}
    windows = {(h.resource.resource_id, h.detail) for h in hits("rds-window-in-business-hours")}
    assert windows == {("noon-backup", "backup"), ("monday-morning", "maintenance")}
    assert _ids(hits("rds-parameter-group-modified")) == {"tuned"}
    # The account's own minimum and time zone are what the rules read.
    assert _ids(hits("rds-backup-retention-short", min_backup_retention_days=8)) == {
        "good",
        "short",
        "single",
        "noon-backup",
        "monday-morning",
    }
    in_utc = hits("rds-window-in-business-hours", time_zone="UTC")
    # 18:00-18:30 UTC daily is outside 09-18 UTC; Sunday windows are off business days.
    assert {(h.resource.resource_id, h.detail) for h in in_utc} == set()


def test_load_balancer_access_logs(aws, collect, hits):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in ((1, "a"), (2, "c"))
    ]
    elb = aws.client("elb")
    listener = [{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}]
    for name in ("clb-dark", "clb-logged"):
        elb.create_load_balancer(
            LoadBalancerName=name, Listeners=listener, AvailabilityZones=[f"{REGION}a"]
        )
    elb.modify_load_balancer_attributes(
        LoadBalancerName="clb-logged",
        LoadBalancerAttributes={"AccessLog": {"Enabled": True, "S3BucketName": "logs"}},
    )
    elbv2 = aws.client("elbv2")
    dark = elbv2.create_load_balancer(Name="alb-dark", Subnets=subnets)["LoadBalancers"][0]
    logged = elbv2.create_load_balancer(Name="alb-logged", Subnets=subnets)["LoadBalancers"][0]
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=logged["LoadBalancerArn"],
        Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": "true"},
            {"Key": "access_logs.s3.bucket", "Value": "logs"},
        ],
    )
    collect(aws, "elb.load_balancers", "elbv2.load_balancers")
    names = {h.resource.name or h.resource.resource_id for h in hits("elb-access-logs-off")}
    assert "clb-dark" in names and "alb-dark" in names
    assert "clb-logged" not in names and "alb-logged" not in names
    assert dark["LoadBalancerArn"]


def _distribution(cloudfront, ref: str, logging: bool) -> str:
    config = {
        "CallerReference": ref,
        "Comment": ref,
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "o",
                    "DomainName": "example.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "o",
            "ViewerProtocolPolicy": "allow-all",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        },
        "Logging": {
            "Enabled": logging,
            "IncludeCookies": False,
            "Bucket": "logs.s3.amazonaws.com" if logging else "",
            "Prefix": "",
        },
    }
    return cloudfront.create_distribution(DistributionConfig=config)["Distribution"]["Id"]


def test_cloudfront_logging(aws, collect, hits):
    cloudfront = aws.client("cloudfront", region_name="us-east-1")
    dark = _distribution(cloudfront, "dark", logging=False)
    logged = _distribution(cloudfront, "logged", logging=True)
    collect(aws, "cloudfront.distributions")
    found = _ids(hits("cloudfront-logging-off"))
    assert dark in found
    assert logged not in found


def test_public_buckets(aws, collect, hits):
    s3 = aws.client("s3")
    where = {"CreateBucketConfiguration": {"LocationConstraint": REGION}}
    for name in ("by-acl", "by-policy", "private", "blocked"):
        s3.create_bucket(Bucket=name, **where)
        # New buckets block public access by default; these legacy ones predate that.
        s3.delete_public_access_block(Bucket=name)
    s3.put_bucket_acl(Bucket="by-acl", ACL="public-read")
    s3.put_bucket_policy(
        Bucket="by-policy",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::by-policy/*",
                    }
                ],
            }
        ),
    )
    s3.put_bucket_acl(Bucket="blocked", ACL="public-read")
    s3.put_public_access_block(
        Bucket="blocked",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    collect(aws, "s3.buckets")
    assert _ids(hits("s3-bucket-public")) == {"by-acl", "by-policy"}


def test_gp2_volumes(aws, collect, hits):
    ec2 = aws.client("ec2")
    old = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=100, VolumeType="gp2")
    ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=100, VolumeType="gp3")
    collect(aws, "ec2.volumes")
    assert _ids(hits("ebs-gp2-volume")) == {old["VolumeId"]}


def test_aurora_members_are_judged_by_their_cluster(make_resource, hits):
    make_resource(
        "AWS::RDS::DBCluster",
        "aurora",
        config={
            "BackupRetentionPeriod": 1,
            "MultiAZ": False,
            "PreferredBackupWindow": "18:00-18:30",
            "PreferredMaintenanceWindow": "sat:18:00-sat:18:30",
        },
    )
    make_resource(
        "AWS::RDS::DBInstance",
        "aurora-1",
        config={
            "DBClusterIdentifier": "aurora",
            "BackupRetentionPeriod": 1,
            "MultiAZ": False,
            "PreferredMaintenanceWindow": "tue:03:00-tue:03:30",  # 12:00 JST Tuesday
        },
    )
    assert _ids(hits("rds-backup-retention-short")) == {"aurora"}
    assert _ids(hits("rds-not-multi-az")) == {"aurora"}
    assert {(h.resource.resource_id, h.detail) for h in hits("rds-window-in-business-hours")} == {
        ("aurora-1", "maintenance")
    }


def test_a_window_spanning_days_overlaps_business_hours(make_resource, hits):
    # Fri 20:00 UTC -> Sat 02:00 UTC = Sat 05:00-11:00 JST: Saturday is not a business day.
    make_resource(
        "AWS::RDS::DBInstance",
        "weekend",
        config={
            "BackupRetentionPeriod": 7,
            "MultiAZ": True,
            "PreferredMaintenanceWindow": "fri:20:00-sat:02:00",
        },
    )
    assert hits("rds-window-in-business-hours") == []
    # With Saturday a business day (a shop open on weekends), it does.
    assert len(hits("rds-window-in-business-hours", business_days=[0, 1, 2, 3, 4, 5])) == 1


def test_a_window_crossing_the_end_of_the_week_in_utc(make_resource, hits):
    # Sun 23:00 UTC -> Mon 01:30 UTC = Mon 08:00-10:30 JST: overlaps Monday 09:00.
    make_resource(
        "AWS::RDS::DBInstance",
        "wraps",
        config={
            "BackupRetentionPeriod": 7,
            "MultiAZ": True,
            "PreferredBackupWindow": "23:30-00:15",  # 08:30-09:15 JST: crosses midnight UTC
            "PreferredMaintenanceWindow": "sun:23:00-mon:01:30",
        },
    )
    found = {h.detail for h in hits("rds-window-in-business-hours")}
    assert found == {"backup", "maintenance"}
    # Business hours from 11:00 JST: neither window reaches them.
    assert hits("rds-window-in-business-hours", business_hours_start="11:00") == []
