"""Layer-2 (system path) collectors against moto, and botocore's Stubber where moto falls short."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.session import get_session
from botocore.stub import Stubber

from inventory.collectors import (
    autoscaling,
    cloudfront,
    dynamodb,
    elasticache,
    elb,
    elbv2,
    opensearch,
    rds,
    s3,
)
from inventory.collectors.base import Record, Relation

REGION = "ap-northeast-1"
HOSTILE = '<script>alert("x")</script>'


def by_id(records: list[Record]) -> dict[str, Record]:
    return {r.id: r for r in records}


def rel(record: Record, kind: str) -> set[tuple[str, str]]:
    return {(r.type, r.id) for r in record.relations if r.kind == kind}


@pytest.fixture
def network(aws) -> dict[str, Any]:
    """A VPC with two subnets, a security group and one running instance."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in ((1, "a"), (2, "c"))
    ]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    instance = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0]
    )["Instances"][0]["InstanceId"]
    return {"vpc": vpc, "subnets": subnets, "sg": group, "instance": instance}


class FakeSession:
    """Hands a collector pre-made (stubbed) clients, as AwsSession would hand cached ones."""

    def __init__(self, **clients: Any) -> None:
        self.clients = clients

    def client(self, service: str, region_name: str | None = None) -> Any:
        return self.clients[service]


def stub_client(service: str, region: str = REGION) -> Any:
    """A client for botocore's Stubber: it never reaches a network."""
    return get_session().create_client(
        service, region_name=region, aws_access_key_id="x", aws_secret_access_key="x"
    )


# --- Auto Scaling -----------------------------------------------------------------


def test_it_collects_auto_scaling_groups_with_instances_subnets_and_target_groups(aws, network):
    ec2 = aws.client("ec2")
    template = ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": "ami-12c6146b"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    target_group = aws.client("elbv2").create_target_group(
        Name="web", Protocol="HTTP", Port=80, VpcId=network["vpc"]
    )["TargetGroups"][0]["TargetGroupArn"]
    client = aws.client("autoscaling")
    client.create_auto_scaling_group(
        AutoScalingGroupName="web-asg",
        LaunchTemplate={"LaunchTemplateId": template},
        MinSize=2,
        MaxSize=2,
        VPCZoneIdentifier=",".join(network["subnets"]),
        TargetGroupARNs=[target_group],
        Tags=[{"Key": "Role", "Value": HOSTILE, "PropagateAtLaunch": True}],
    )

    [record] = list(autoscaling.collect_auto_scaling_groups(aws, REGION))

    assert record.type == "AWS::AutoScaling::AutoScalingGroup"
    assert record.id == record.name == "web-asg"
    assert record.arn.startswith("arn:aws:autoscaling:")
    assert record.tags == {"Role": HOSTILE}
    assert len(rel(record, "has-instance")) == 2
    assert rel(record, "in-subnet") == {("AWS::EC2::Subnet", s) for s in network["subnets"]}
    assert rel(record, "registers-in-target-group") == {
        ("AWS::ElasticLoadBalancingV2::TargetGroup", target_group)
    }
    assert rel(record, "uses-launch-template") == {("AWS::EC2::LaunchTemplate", template)}


# --- Classic ELB ------------------------------------------------------------------


def test_it_collects_classic_load_balancers_with_access_log_attributes(aws, network):
    client = aws.client("elb")
    for name in ("classic-a", "classic-b"):
        client.create_load_balancer(
            LoadBalancerName=name,
            Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
            Subnets=[network["subnets"][0]],
            SecurityGroups=[network["sg"]],
        )
    client.register_instances_with_load_balancer(
        LoadBalancerName="classic-a", Instances=[{"InstanceId": network["instance"]}]
    )
    client.modify_load_balancer_attributes(
        LoadBalancerName="classic-a",
        LoadBalancerAttributes={
            "AccessLog": {"Enabled": True, "S3BucketName": "elb-logs", "EmitInterval": 60}
        },
    )
    client.add_tags(LoadBalancerNames=["classic-a"], Tags=[{"Key": "Name", "Value": "honban"}])

    records = by_id(list(elb.collect_load_balancers(aws, REGION)))

    lb = records["classic-a"]
    assert lb.type == "AWS::ElasticLoadBalancing::LoadBalancer"
    assert lb.arn == f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/classic-a"
    assert lb.tags == {"Name": "honban"}
    assert lb.config["Attributes"]["AccessLog"]["Enabled"] is True
    assert records["classic-b"].config["Attributes"]["AccessLog"]["Enabled"] is False
    assert rel(lb, "has-instance") == {("AWS::EC2::Instance", network["instance"])}
    assert rel(lb, "in-subnet") == {("AWS::EC2::Subnet", network["subnets"][0])}
    assert rel(lb, "uses-security-group") == {("AWS::EC2::SecurityGroup", network["sg"])}
    assert rel(lb, "in-vpc") == {("AWS::EC2::VPC", network["vpc"])}


# --- ELBv2 ------------------------------------------------------------------------


def make_alb(aws: Any, network: dict[str, Any]) -> tuple[str, str]:
    client = aws.client("elbv2")
    lb = client.create_load_balancer(
        Name="web",
        Subnets=network["subnets"],
        SecurityGroups=[network["sg"]],
        Tags=[{"Key": "Name", "Value": HOSTILE}],
    )["LoadBalancers"][0]["LoadBalancerArn"]
    group = client.create_target_group(
        Name="web-tg", Protocol="HTTP", Port=80, VpcId=network["vpc"], TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    client.register_targets(TargetGroupArn=group, Targets=[{"Id": network["instance"]}])
    client.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )
    client.modify_load_balancer_attributes(
        LoadBalancerArn=lb,
        Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": "true"},
            {"Key": "access_logs.s3.bucket", "Value": "alb-logs"},
        ],
    )
    return lb, group


def test_it_collects_application_load_balancers_with_flat_attributes_and_listeners(aws, network):
    lb_arn, group_arn = make_alb(aws, network)

    [lb] = list(elbv2.collect_load_balancers(aws, REGION))

    assert lb.type == "AWS::ElasticLoadBalancingV2::LoadBalancer"
    assert lb.id == lb.arn == lb_arn
    assert lb.name == "web"
    assert lb.tags == {"Name": HOSTILE}
    assert lb.config["Attributes"]["access_logs.s3.enabled"] == "true"
    assert lb.config["Attributes"]["access_logs.s3.bucket"] == "alb-logs"
    assert [(x["Protocol"], x["Port"]) for x in lb.config["Listeners"]] == [("HTTP", 80)]
    assert rel(lb, "has-target-group") == {("AWS::ElasticLoadBalancingV2::TargetGroup", group_arn)}
    assert rel(lb, "in-subnet") == {("AWS::EC2::Subnet", s) for s in network["subnets"]}
    assert rel(lb, "uses-security-group") == {("AWS::EC2::SecurityGroup", network["sg"])}
    assert rel(lb, "in-vpc") == {("AWS::EC2::VPC", network["vpc"])}


def test_it_collects_target_groups_with_their_targets(aws, network):
    _lb, group_arn = make_alb(aws, network)

    [group] = list(elbv2.collect_target_groups(aws, REGION))

    assert group.type == "AWS::ElasticLoadBalancingV2::TargetGroup"
    assert group.id == group_arn
    assert group.name == "web-tg"
    assert [t["Target"]["Id"] for t in group.config["Targets"]] == [network["instance"]]
    assert rel(group, "targets") == {("AWS::EC2::Instance", network["instance"])}
    assert rel(group, "in-vpc") == {("AWS::EC2::VPC", network["vpc"])}


def test_it_reads_tags_of_more_target_groups_than_one_describe_tags_call_takes(aws, network):
    client = aws.client("elbv2")
    for i in range(23):
        client.create_target_group(
            Name=f"tg-{i}",
            Protocol="HTTP",
            Port=80,
            VpcId=network["vpc"],
            Tags=[{"Key": "index", "Value": str(i)}],
        )

    records = list(elbv2.collect_target_groups(aws, REGION))

    assert sorted(r.tags["index"] for r in records) == sorted(str(i) for i in range(23))


def test_target_groups_relate_ip_and_lambda_targets():
    """moto keeps no health for ip/lambda targets; DescribeTargetHealth as AWS documents it."""
    client = stub_client("elbv2")
    ip_tg = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/ips/1"
    fn_tg = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/fn/2"
    fn_arn = f"arn:aws:lambda:{REGION}:123456789012:function:resize"
    with Stubber(client) as stub:
        stub.add_response(
            "describe_target_groups",
            {
                "TargetGroups": [
                    # Optional keys (VpcId, Port, …) left out: a lambda group has none.
                    {"TargetGroupArn": ip_tg, "TargetGroupName": "ips", "TargetType": "ip"},
                    {"TargetGroupArn": fn_tg, "TargetGroupName": "fn", "TargetType": "lambda"},
                ]
            },
        )
        stub.add_response("describe_tags", {"TagDescriptions": []})
        stub.add_response(
            "describe_target_health",
            {
                "TargetHealthDescriptions": [
                    {
                        "Target": {"Id": "203.0.113.45", "Port": 80},
                        "TargetHealth": {"State": "unhealthy"},
                    }
                ]
            },
            {"TargetGroupArn": ip_tg},
        )
        stub.add_response(
            "describe_target_health",
            {"TargetHealthDescriptions": [{"Target": {"Id": fn_arn}}]},
            {"TargetGroupArn": fn_tg},
        )
        records = by_id(list(elbv2.collect_target_groups(FakeSession(elbv2=client), REGION)))

    assert rel(records[ip_tg], "targets") == {("IPAddress", "203.0.113.45")}
    assert rel(records[fn_tg], "targets") == {("AWS::Lambda::Function", "resize")}
    assert records[ip_tg].relations == [Relation("targets", "IPAddress", "203.0.113.45")]


# --- CloudFront ---------------------------------------------------------------------


def distribution_config(origins: list[str], logging: dict[str, Any]) -> dict[str, Any]:
    return {
        "CallerReference": "ref-" + "-".join(origins),
        "Comment": HOSTILE,
        "Enabled": True,
        "Origins": {
            "Quantity": len(origins),
            "Items": [
                {
                    "Id": f"o{i}",
                    "DomainName": domain,
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "http-only",
                    },
                }
                for i, domain in enumerate(origins)
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "o0",
            "ViewerProtocolPolicy": "allow-all",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
        "Logging": logging,
    }


def test_it_collects_cloudfront_distributions_with_logging_and_origins(aws, network):
    lb_arn, _group = make_alb(aws, network)
    dns = aws.client("elbv2").describe_load_balancers()["LoadBalancers"][0]["DNSName"]
    client = aws.client("cloudfront", region_name="us-east-1")
    logged = client.create_distribution_with_tags(
        DistributionConfigWithTags={
            "DistributionConfig": distribution_config(
                ["assets.s3.amazonaws.com", f"dualstack.{dns}", "legacy.example.com"],
                {
                    "Enabled": True,
                    "IncludeCookies": False,
                    "Bucket": "cf-logs.s3.amazonaws.com",
                    "Prefix": "cf/",
                },
            ),
            "Tags": {"Items": [{"Key": "Name", "Value": "honban-cdn"}]},
        }
    )["Distribution"]["Id"]
    silent = client.create_distribution(
        DistributionConfig=distribution_config(
            ["static.s3.ap-northeast-1.amazonaws.com"],
            {"Enabled": False, "IncludeCookies": False, "Bucket": "", "Prefix": ""},
        )
    )["Distribution"]["Id"]

    records = by_id(list(cloudfront.collect_distributions(aws, "us-east-1")))

    dist = records[logged]
    assert dist.type == "AWS::CloudFront::Distribution"
    assert dist.region == "global"
    assert dist.arn.endswith(f"distribution/{logged}")
    assert dist.name == "honban-cdn"
    assert dist.config["Comment"] == HOSTILE
    assert dist.config["Logging"]["Enabled"] is True
    assert dist.config["Logging"]["Bucket"] == "cf-logs.s3.amazonaws.com"
    assert "legacy.example.com" in dist.config["OriginDomains"]
    assert rel(dist, "has-origin") == {
        ("AWS::S3::Bucket", "assets"),
        ("AWS::ElasticLoadBalancingV2::LoadBalancer", lb_arn),
    }
    assert records[silent].config["Logging"]["Enabled"] is False
    assert rel(records[silent], "has-origin") == {("AWS::S3::Bucket", "static")}


def test_origin_domains_name_only_well_formed_regions():
    assert cloudfront._origin_region("web-1.ap-northeast-1.elb.amazonaws.com") == "ap-northeast-1"
    assert cloudfront._origin_region("nlb-abc.elb.us-west-2.amazonaws.com") == "us-west-2"
    assert cloudfront._origin_region("x.evil_region.elb.amazonaws.com") is None
    assert cloudfront._origin_region("example.com") is None


# --- ElastiCache ----------------------------------------------------------------------


def test_it_collects_elasticache_clusters_and_replication_groups(aws):
    client = aws.client("elasticache")
    client.create_cache_cluster(
        CacheClusterId="sessions",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheNodes=1,
        SnapshotRetentionLimit=0,
        Tags=[{"Key": "env", "Value": "honban"}],
    )
    client.create_replication_group(
        ReplicationGroupId="cache",
        ReplicationGroupDescription="main cache",
        Engine="redis",
        CacheNodeType="cache.r5.large",
        NumCacheClusters=1,
    )

    clusters = by_id(list(elasticache.collect_cache_clusters(aws, REGION)))
    groups = by_id(list(elasticache.collect_replication_groups(aws, REGION)))

    cluster = clusters["sessions"]
    assert cluster.type == "AWS::ElastiCache::CacheCluster"
    assert cluster.arn.endswith(":cluster:sessions")
    assert cluster.tags == {"env": "honban"}
    assert cluster.config["Engine"] == "redis"
    assert cluster.config["CacheNodeType"] == "cache.t3.micro"
    assert cluster.config["SnapshotRetentionLimit"] == 0
    group = groups["cache"]
    assert group.type == "AWS::ElastiCache::ReplicationGroup"
    assert group.config["CacheNodeType"] == "cache.r5.large"
    assert rel(group, "has-member") == {
        ("AWS::ElastiCache::CacheCluster", m) for m in group.config["MemberClusters"]
    }


def test_elasticache_clusters_keep_windows_subnet_group_and_security_groups():
    """moto returns neither windows nor security groups; a documented-shape answer instead."""
    client = stub_client("elasticache")
    arn = f"arn:aws:elasticache:{REGION}:123456789012:cluster:memc"
    with Stubber(client) as stub:
        stub.add_response(
            "describe_cache_clusters",
            {
                "CacheClusters": [
                    {
                        "CacheClusterId": "memc",
                        "ARN": arn,
                        "Engine": "memcached",
                        "CacheNodeType": "cache.m5.large",
                        "CacheSubnetGroupName": "private",
                        "SecurityGroups": [{"SecurityGroupId": "sg-0abc", "Status": "active"}],
                        "PreferredMaintenanceWindow": "mon:01:00-mon:02:00",
                        "SnapshotWindow": "03:00-04:00",
                        "SnapshotRetentionLimit": 1,
                    }
                ]
            },
            {"ShowCacheNodeInfo": True},
        )
        stub.add_response("list_tags_for_resource", {"TagList": []}, {"ResourceName": arn})
        [record] = list(elasticache.collect_cache_clusters(FakeSession(elasticache=client), REGION))

    assert record.config["PreferredMaintenanceWindow"] == "mon:01:00-mon:02:00"
    assert record.config["SnapshotWindow"] == "03:00-04:00"
    assert rel(record, "in-subnet-group") == {("AWS::ElastiCache::SubnetGroup", "private")}
    assert rel(record, "uses-security-group") == {("AWS::EC2::SecurityGroup", "sg-0abc")}


# --- RDS ------------------------------------------------------------------------------


def make_rds(aws: Any, network: dict[str, Any]) -> None:
    client = aws.client("rds")
    client.create_db_subnet_group(
        DBSubnetGroupName="db-private",
        DBSubnetGroupDescription="private",
        SubnetIds=network["subnets"],
        Tags=[{"Key": "team", "Value": "db"}],
    )
    client.create_db_parameter_group(
        DBParameterGroupName="honban-mysql",
        DBParameterGroupFamily="mysql8.0",
        Description="tuned by hand",
    )
    client.modify_db_parameter_group(
        DBParameterGroupName="honban-mysql",
        Parameters=[
            {
                "ParameterName": "max_connections",
                "ParameterValue": "2000",
                "ApplyMethod": "immediate",
            },
            {"ParameterName": "general_log", "ParameterValue": "1", "ApplyMethod": "immediate"},
        ],
    )
    client.create_db_instance(
        DBInstanceIdentifier="honban-db",
        DBInstanceClass="db.m5.large",
        Engine="mysql",
        MasterUsername="admin",
        MasterUserPassword="password123",
        AllocatedStorage=20,
        DBSubnetGroupName="db-private",
        DBParameterGroupName="honban-mysql",
        VpcSecurityGroupIds=[network["sg"]],
        BackupRetentionPeriod=1,
        PreferredBackupWindow="03:00-03:30",
        PreferredMaintenanceWindow="mon:10:00-mon:10:30",
        MultiAZ=False,
        Tags=[{"Key": "Name", "Value": HOSTILE}],
    )


def test_it_collects_rds_instances_with_backup_settings_and_relations(aws, network):
    make_rds(aws, network)

    [db] = list(rds.collect_db_instances(aws, REGION))

    assert db.type == "AWS::RDS::DBInstance"
    assert db.id == "honban-db"
    assert db.arn == f"arn:aws:rds:{REGION}:123456789012:db:honban-db"
    assert db.tags == {"Name": HOSTILE}
    assert db.config["BackupRetentionPeriod"] == 1
    assert db.config["PreferredBackupWindow"] == "03:00-03:30"
    assert db.config["PreferredMaintenanceWindow"] == "mon:10:00-mon:10:30"
    assert db.config["MultiAZ"] is False
    assert db.config["DBParameterGroups"][0]["DBParameterGroupName"] == "honban-mysql"
    assert rel(db, "in-subnet-group") == {("AWS::RDS::DBSubnetGroup", "db-private")}
    assert rel(db, "uses-security-group") == {("AWS::EC2::SecurityGroup", network["sg"])}
    assert rel(db, "uses-parameter-group") == {("AWS::RDS::DBParameterGroup", "honban-mysql")}
    assert rel(db, "in-vpc") == {("AWS::EC2::VPC", network["vpc"])}


def test_it_collects_parameter_groups_with_their_user_modified_parameters(aws, network):
    make_rds(aws, network)

    groups = by_id(list(rds.collect_db_parameter_groups(aws, REGION)))

    group = groups["honban-mysql"]
    assert group.type == "AWS::RDS::DBParameterGroup"
    assert group.arn.endswith(":pg:honban-mysql")
    assert {
        p["ParameterName"]: p["ParameterValue"] for p in group.config["ModifiedParameters"]
    } == {
        "max_connections": "2000",
        "general_log": "1",
    }
    defaults = [g for name, g in groups.items() if name.startswith("default.")]
    assert all(g.config["ModifiedParameters"] == [] for g in defaults)


def test_parameter_groups_keep_only_parameters_a_person_set():
    """Source="user" as AWS documents it; if an endpoint ignores the filter, users' only."""
    client = stub_client("rds")
    arn = f"arn:aws:rds:{REGION}:123456789012:pg:legacy"
    with Stubber(client) as stub:
        stub.add_response(
            "describe_db_parameter_groups",
            {"DBParameterGroups": [{"DBParameterGroupName": "legacy", "DBParameterGroupArn": arn}]},
        )
        stub.add_response(
            "describe_db_parameters",
            {
                "Parameters": [
                    {"ParameterName": "slow_query_log", "ParameterValue": "1", "Source": "user"},
                    {"ParameterName": "innodb_buffer_pool_size", "Source": "system"},
                ]
            },
            {"DBParameterGroupName": "legacy", "Source": "user"},
        )
        stub.add_response("list_tags_for_resource", {"TagList": []}, {"ResourceName": arn})
        [group] = list(rds.collect_db_parameter_groups(FakeSession(rds=client), REGION))

    assert [p["ParameterName"] for p in group.config["ModifiedParameters"]] == ["slow_query_log"]


def test_it_collects_aurora_clusters_and_cluster_parameter_groups(aws, network):
    client = aws.client("rds")
    client.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="aurora-honban",
        DBParameterGroupFamily="aurora-mysql8.0",
        Description="tuned",
    )
    client.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName="aurora-honban",
        Parameters=[
            {
                "ParameterName": "time_zone",
                "ParameterValue": "Asia/Tokyo",
                "ApplyMethod": "immediate",
            }
        ],
    )
    client.create_db_cluster(
        DBClusterIdentifier="aurora-main",
        Engine="aurora-mysql",
        MasterUsername="admin",
        MasterUserPassword="password123",
        DBClusterParameterGroupName="aurora-honban",
        VpcSecurityGroupIds=[network["sg"]],
        BackupRetentionPeriod=7,
        Tags=[{"Key": "env", "Value": "production"}],
    )
    client.create_db_instance(
        DBInstanceIdentifier="aurora-main-1",
        DBInstanceClass="db.r5.large",
        Engine="aurora-mysql",
        DBClusterIdentifier="aurora-main",
    )

    [cluster] = list(rds.collect_db_clusters(aws, REGION))
    groups = by_id(list(rds.collect_db_cluster_parameter_groups(aws, REGION)))
    instances = by_id(list(rds.collect_db_instances(aws, REGION)))

    assert cluster.type == "AWS::RDS::DBCluster"
    assert cluster.tags == {"env": "production"}
    assert cluster.config["BackupRetentionPeriod"] == 7
    assert rel(cluster, "has-member") == {("AWS::RDS::DBInstance", "aurora-main-1")}
    assert rel(cluster, "uses-parameter-group") == {
        ("AWS::RDS::DBClusterParameterGroup", "aurora-honban")
    }
    assert rel(cluster, "uses-security-group") == {("AWS::EC2::SecurityGroup", network["sg"])}
    group = groups["aurora-honban"]
    assert group.type == "AWS::RDS::DBClusterParameterGroup"
    assert [
        (p["ParameterName"], p["ParameterValue"]) for p in group.config["ModifiedParameters"]
    ] == [("time_zone", "Asia/Tokyo")]
    assert rel(instances["aurora-main-1"], "member-of-cluster") == {
        ("AWS::RDS::DBCluster", "aurora-main")
    }


def test_it_collects_db_subnet_groups(aws, network):
    make_rds(aws, network)

    [group] = list(rds.collect_db_subnet_groups(aws, REGION))

    assert group.type == "AWS::RDS::DBSubnetGroup"
    assert group.id == "db-private"
    assert group.tags == {"team": "db"}
    assert rel(group, "includes-subnet") == {("AWS::EC2::Subnet", s) for s in network["subnets"]}
    assert rel(group, "in-vpc") == {("AWS::EC2::VPC", network["vpc"])}


def test_an_rds_instance_missing_optional_fields_does_not_break_collection():
    client = stub_client("rds")
    with Stubber(client) as stub:
        # The bare minimum AWS may answer for an instance still being created.
        stub.add_response(
            "describe_db_instances", {"DBInstances": [{"DBInstanceIdentifier": "new"}]}
        )
        [db] = list(rds.collect_db_instances(FakeSession(rds=client), REGION))

    assert (db.id, db.arn, db.tags, db.relations) == ("new", "", {}, [])


# --- OpenSearch -------------------------------------------------------------------------


def test_it_collects_opensearch_domains_with_a_parsed_access_policy(aws, network):
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "es:*", "Resource": "*"}
        ],
    }
    client = aws.client("opensearch")
    client.create_domain(
        DomainName="logs",
        AccessPolicies=json.dumps(policy),
        VPCOptions={"SubnetIds": [network["subnets"][0]], "SecurityGroupIds": [network["sg"]]},
        TagList=[{"Key": "Name", "Value": "kibana"}],
    )

    [domain] = list(opensearch.collect_domains(aws, REGION))

    assert domain.type == "AWS::OpenSearchService::Domain"
    assert domain.id == "logs"
    assert domain.arn.endswith(":domain/logs")
    assert domain.tags == {"Name": "kibana"}
    assert domain.config["AccessPolicies"] == policy
    assert domain.config["VPCOptions"]["SubnetIds"] == [network["subnets"][0]]
    assert domain.config["Endpoints"]
    assert rel(domain, "in-subnet") == {("AWS::EC2::Subnet", network["subnets"][0])}
    assert rel(domain, "uses-security-group") == {("AWS::EC2::SecurityGroup", network["sg"])}


def test_a_malformed_access_policy_is_kept_as_written():
    assert opensearch.parse_policy("{not json") == "{not json"
    assert opensearch.parse_policy("") == ""
    assert opensearch.parse_policy(None) is None


# --- DynamoDB -----------------------------------------------------------------------------


def test_it_collects_dynamodb_tables_with_point_in_time_recovery(aws):
    client = aws.client("dynamodb")
    for name in ("orders", "sessions"):
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=[{"Key": "owner", "Value": HOSTILE}] if name == "orders" else [],
        )
    client.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )

    tables = by_id(list(dynamodb.collect_tables(aws, REGION)))

    orders = tables["orders"]
    assert orders.type == "AWS::DynamoDB::Table"
    assert orders.arn == f"arn:aws:dynamodb:{REGION}:123456789012:table/orders"
    assert orders.tags == {"owner": HOSTILE}
    assert orders.config["PointInTimeRecovery"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert tables["sessions"].config["PointInTimeRecovery"]["PointInTimeRecoveryStatus"] == (
        "DISABLED"
    )


# --- S3 ---------------------------------------------------------------------------------


def test_it_collects_buckets_in_their_own_regions_with_their_exposure(aws):
    client = aws.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="plain-bucket")
    client.create_bucket(
        Bucket="eu-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    eu = aws.client("s3", region_name="eu-west-1")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::eu-logs/*",
            }
        ],
    }
    eu.put_bucket_policy(Bucket="eu-logs", Policy=json.dumps(policy))
    eu.put_public_access_block(
        Bucket="eu-logs",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    eu.put_bucket_lifecycle_configuration(
        Bucket="eu-logs",
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": 30},
                }
            ]
        },
    )
    eu.put_bucket_encryption(
        Bucket="eu-logs",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    eu.put_bucket_versioning(Bucket="eu-logs", VersioningConfiguration={"Status": "Enabled"})
    eu.put_bucket_tagging(Bucket="eu-logs", Tagging={"TagSet": [{"Key": "Name", "Value": HOSTILE}]})
    # S3 only logs to a bucket in the same region.
    eu.create_bucket(
        Bucket="eu-log-archive", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    eu.put_bucket_acl(Bucket="eu-log-archive", ACL="log-delivery-write")
    eu.put_bucket_logging(
        Bucket="eu-logs",
        BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": "eu-log-archive", "TargetPrefix": "eu/"}
        },
    )

    buckets = by_id(list(s3.collect_buckets(aws, "us-east-1")))

    plain, logs = buckets["plain-bucket"], buckets["eu-logs"]
    assert plain.type == "AWS::S3::Bucket"
    assert plain.region == "us-east-1"
    assert plain.arn == "arn:aws:s3:::plain-bucket"
    for key in (
        "PublicAccessBlock",
        "Policy",
        "PolicyStatus",
        "Lifecycle",
        "Logging",
        "Encryption",
    ):
        assert plain.config[key] is None, key
    assert plain.config["Versioning"] == {}
    assert plain.tags == {}
    assert plain.config["Acl"]["Grants"]

    assert logs.region == "eu-west-1"
    assert logs.name == "eu-logs"
    assert logs.tags == {"Name": HOSTILE}
    assert logs.config["Policy"] == policy
    assert logs.config["PolicyStatus"] == {"IsPublic": True}
    assert logs.config["PublicAccessBlock"]["BlockPublicAcls"] is True
    assert logs.config["PublicAccessBlock"]["BlockPublicPolicy"] is False
    assert [r["ID"] for r in logs.config["Lifecycle"]] == ["expire"]
    assert logs.config["Encryption"]["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    assert logs.config["Versioning"]["Status"] == "Enabled"
    assert logs.config["Logging"]["TargetBucket"] == "eu-log-archive"
    assert rel(logs, "logs-to") == {("AWS::S3::Bucket", "eu-log-archive")}


def test_a_denied_bucket_setting_fails_the_collection_instead_of_reading_as_none():
    client = stub_client("s3", "us-east-1")
    with Stubber(client) as stub:
        stub.add_response("list_buckets", {"Buckets": [{"Name": "locked"}]})
        stub.add_response("get_bucket_location", {"LocationConstraint": "EU"})
        stub.add_client_error(
            "get_public_access_block", "NoSuchPublicAccessBlockConfiguration", http_status_code=404
        )
        stub.add_response("get_bucket_acl", {"Grants": []})
        stub.add_client_error("get_bucket_policy", "AccessDenied", http_status_code=403)
        with pytest.raises(ClientError) as caught:
            list(s3.collect_buckets(FakeSession(s3=client), "us-east-1"))

    assert caught.value.response["Error"]["Code"] == "AccessDenied"


def test_a_bucket_deleted_during_collection_is_left_out():
    client = stub_client("s3", "us-east-1")
    with Stubber(client) as stub:
        stub.add_response("list_buckets", {"Buckets": [{"Name": "gone"}]})
        stub.add_client_error("get_bucket_location", "NoSuchBucket", http_status_code=404)
        records = list(s3.collect_buckets(FakeSession(s3=client), "us-east-1"))

    assert records == []


def test_bucket_locations_read_as_regions():
    assert s3.bucket_region(None) == "us-east-1"
    assert s3.bucket_region("") == "us-east-1"
    assert s3.bucket_region("EU") == "eu-west-1"
    assert s3.bucket_region("ap-northeast-1") == "ap-northeast-1"
