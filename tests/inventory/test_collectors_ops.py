"""Layer-3 (ops path) collectors: Lambda, ECS, EventBridge, IAM, CloudTrail,
Config, CloudWatch Logs, Glacier and SSM, against moto (Stubber where moto lacks
the API)."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterable
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from inventory.collectors import (
    COLLECTORS,
    Record,
    cloudtrail,
    ecs,
    events,
    glacier,
    iam,
    lambda_,
    logs,
    ssm,
)
from inventory.collectors import config as config_collectors
from inventory.models import Resource, Sync, SyncTask


def _parse(value: Any) -> dt.datetime:
    """A CreateDate as collected (datetime) or as stored (ISO string)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


def _role(session: boto3.Session, name: str = "batch-role") -> str:
    return session.client("iam").create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST)
    )["Role"]["Arn"]


def _lambda(session: boto3.Session, name: str = "nightly-batch", **extra: Any) -> str:
    return session.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.8",
        Role=_role(session, f"{name}-role"),
        Handler="index.handler",
        Code={"ZipFile": _zip()},
        **extra,
    )["FunctionArn"]


def _backdate_access_keys(user_name: str, days: int) -> None:
    """moto stamps keys with "now"; an inherited estate has old ones."""
    from moto.iam.models import iam_backends

    backend = iam_backends[ACCOUNT]["aws"]
    for key in backend.get_user(user_name).access_keys:
        key.create_date = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=days)


def _by_id(records: Iterable[Record]) -> dict[str, Record]:
    return {r.id: r for r in records}


# --- Lambda ----------------------------------------------------------------------


def test_it_collects_a_lambda_function_with_its_vpc_role_and_runtime(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="fn", Description="fn", VpcId=vpc)["GroupId"]
    arn = _lambda(
        aws,
        VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [group]},
        Tags={"Owner": "<script>ops</script>"},
        Environment={"Variables": {"LOG_LEVEL": "debug", "DB_PASSWORD": "hunter2"}},
    )

    [record] = list(lambda_.collect_functions(aws, REGION))

    assert record.type == "AWS::Lambda::Function"
    assert (record.id, record.arn, record.region) == ("nightly-batch", arn, REGION)
    assert record.config["Runtime"] == "python3.8"
    assert record.tags == {"Owner": "<script>ops</script>"}
    relations = {(r.kind, r.type, r.id) for r in record.relations}
    assert ("in-subnet", "AWS::EC2::Subnet", subnet) in relations
    assert ("uses-security-group", "AWS::EC2::SecurityGroup", group) in relations
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/nightly-batch-role"
    assert ("uses-role", "AWS::IAM::Role", role_arn) in relations


def test_it_never_stores_a_lambda_secret_but_keeps_plain_settings(aws):
    _lambda(aws, Environment={"Variables": {"LOG_LEVEL": "debug", "DB_PASSWORD": "hunter2"}})

    [record] = list(lambda_.collect_functions(aws, REGION))

    variables = record.config["Environment"]["Variables"]
    assert variables["LOG_LEVEL"] == "debug"
    assert variables["DB_PASSWORD"] != "hunter2"
    assert "hunter2" not in json.dumps(record.to_dict())


# --- ECS -------------------------------------------------------------------------


def test_it_collects_ecs_clusters_and_services_with_their_links(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="svc", Description="svc", VpcId=vpc)["GroupId"]
    client = aws.client("ecs")
    cluster_arn = client.create_cluster(
        clusterName="honban", tags=[{"key": "env", "value": "production"}]
    )["cluster"]["clusterArn"]
    client.register_task_definition(
        family="web",
        containerDefinitions=[{"name": "web", "image": "nginx", "memory": 128}],
    )
    target_group = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web/abc"
    service_arn = client.create_service(
        cluster="honban",
        serviceName="web",
        taskDefinition="web",
        desiredCount=1,
        loadBalancers=[
            {"targetGroupArn": target_group, "containerName": "web", "containerPort": 80}
        ],
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}
        },
    )["service"]["serviceArn"]

    [cluster] = list(ecs.collect_clusters(aws, REGION))
    [service] = list(ecs.collect_services(aws, REGION))

    assert (cluster.type, cluster.id, cluster.name) == ("AWS::ECS::Cluster", cluster_arn, "honban")
    assert cluster.tags == {"env": "production"}
    assert (service.type, service.id, service.name) == ("AWS::ECS::Service", service_arn, "web")
    relations = {(r.kind, r.type, r.id) for r in service.relations}
    assert ("in-cluster", "AWS::ECS::Cluster", cluster_arn) in relations
    assert ("registers-in", "AWS::ElasticLoadBalancingV2::TargetGroup", target_group) in relations
    assert ("in-subnet", "AWS::EC2::Subnet", subnet) in relations
    assert ("uses-security-group", "AWS::EC2::SecurityGroup", group) in relations
    assert "events" not in service.config


# --- EventBridge -----------------------------------------------------------------


def test_it_collects_scheduled_rules_with_their_targets(aws):
    function_arn = _lambda(aws, "cleanup")
    client = aws.client("events")
    client.put_rule(Name="nightly-cleanup", ScheduleExpression="cron(0 18 * * ? *)")
    client.put_targets(Rule="nightly-cleanup", Targets=[{"Id": "1", "Arn": function_arn}])
    client.create_event_bus(Name="orders")
    client.put_rule(
        Name="order-placed", EventBusName="orders", EventPattern=json.dumps({"source": ["shop"]})
    )

    records = _by_id(events.collect_rules(aws, REGION))

    nightly = records["nightly-cleanup"]
    assert nightly.type == "AWS::Events::Rule"
    assert nightly.config["ScheduleExpression"] == "cron(0 18 * * ? *)"
    assert [t["Arn"] for t in nightly.config["Targets"]] == [function_arn]
    assert ("triggers", "AWS::Lambda::Function", "cleanup") in {
        (r.kind, r.type, r.id) for r in nightly.relations
    }
    assert records["orders|order-placed"].config["Targets"] == []


# --- IAM -------------------------------------------------------------------------


def test_it_collects_iam_users_with_mfa_keys_and_console_password(aws):
    client = aws.client("iam")
    client.create_user(UserName="old-deployer", Tags=[{"Key": "team", "Value": "infra"}])
    key_id = client.create_access_key(UserName="old-deployer")["AccessKey"]["AccessKeyId"]
    policy = client.create_policy(PolicyName="deploy-everything", PolicyDocument=ALLOW_ALL)[
        "Policy"
    ]["Arn"]
    client.attach_user_policy(UserName="old-deployer", PolicyArn=policy)
    client.put_user_policy(
        UserName="old-deployer", PolicyName="inline-s3", PolicyDocument=ALLOW_ALL
    )
    _backdate_access_keys("old-deployer", 800)
    client.create_user(UserName="alice")
    client.create_login_profile(UserName="alice", Password="Secret-pass-1234")
    serial = client.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"][
        "SerialNumber"
    ]
    client.enable_mfa_device(
        UserName="alice",
        SerialNumber=serial,
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )

    records = {r.name: r for r in iam.collect_users(aws, "us-east-1")}

    deployer = records["old-deployer"]
    assert deployer.type == "AWS::IAM::User"
    assert deployer.region == "global"
    assert deployer.id == deployer.arn == f"arn:aws:iam::{ACCOUNT}:user/old-deployer"
    assert deployer.tags == {"team": "infra"}
    assert deployer.config["MfaDevices"] == []
    assert deployer.config["HasConsolePassword"] is False
    [key] = deployer.config["AccessKeys"]
    assert key["AccessKeyId"] == key_id
    assert key["Status"] == "Active"
    assert "AgeDays" not in key  # a daily-changing age would make every sync a change
    assert (dt.datetime.now(dt.UTC) - _parse(key["CreateDate"])).days >= 799
    assert key["LastUsedDate"] is None
    assert deployer.config["AttachedPolicies"] == ["deploy-everything"]
    assert deployer.config["InlinePolicies"] == ["inline-s3"]
    alice = records["alice"]
    assert alice.config["HasConsolePassword"] is True
    assert [d["SerialNumber"] for d in alice.config["MfaDevices"]] == [serial]
    assert alice.config["AccessKeys"] == []


def test_it_collects_iam_roles_with_a_decoded_trust_policy(aws):
    arn = _role(aws, "lambda-exec")

    records = _by_id(iam.collect_roles(aws, "us-east-1"))

    role = records[arn]
    assert (role.type, role.region, role.name) == ("AWS::IAM::Role", "global", "lambda-exec")
    trust = role.config["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "RoleLastUsed" in role.config


def test_it_decodes_a_url_encoded_trust_policy():
    encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D"

    assert iam.decode_policy(encoded) == {"Version": "2012-10-17", "Statement": []}


def test_an_account_without_password_policy_still_yields_one_that_says_so(aws):
    [record] = list(iam.collect_password_policy(aws, "us-east-1"))

    assert (record.type, record.id, record.region) == (
        "AWS::IAM::AccountPasswordPolicy",
        "password-policy",
        "global",
    )
    assert record.config == {"Exists": False}


def test_it_collects_the_password_policy_when_set(aws):
    aws.client("iam").update_account_password_policy(MinimumPasswordLength=14)

    [record] = list(iam.collect_password_policy(aws, "us-east-1"))

    assert record.config["Exists"] is True
    assert record.config["MinimumPasswordLength"] == 14


# --- CloudTrail ------------------------------------------------------------------


def _trail(session: boto3.Session, name: str, region: str, **extra: Any) -> str:
    s3 = session.client("s3", region_name=region)
    s3.create_bucket(
        Bucket=f"{name}-logs", CreateBucketConfiguration={"LocationConstraint": region}
    )
    client = session.client("cloudtrail", region_name=region)
    arn = client.create_trail(Name=name, S3BucketName=f"{name}-logs", **extra)["TrailARN"]
    client.start_logging(Name=name)
    return arn


def test_it_collects_a_multi_region_trail_once_in_its_home_region(aws):
    arn = _trail(aws, "org-trail", REGION, IsMultiRegionTrail=True)

    home = list(cloudtrail.collect_trails(aws, REGION))
    elsewhere = list(cloudtrail.collect_trails(aws, "us-west-2"))

    [record] = home
    assert elsewhere == []
    assert (record.type, record.id, record.arn) == ("AWS::CloudTrail::Trail", "org-trail", arn)
    assert record.config["IsMultiRegionTrail"] is True
    assert record.config["Status"]["IsLogging"] is True
    assert "EventSelectors" in record.config
    assert ("logs-to", "AWS::S3::Bucket", "org-trail-logs") in {
        (r.kind, r.type, r.id) for r in record.relations
    }


def test_a_stopped_single_region_trail_reads_as_not_logging(aws):
    _trail(aws, "old-trail", REGION)
    aws.client("cloudtrail").stop_logging(Name="old-trail")

    [record] = list(cloudtrail.collect_trails(aws, REGION))

    assert record.config["IsMultiRegionTrail"] is False
    assert record.config["Status"]["IsLogging"] is False


# --- AWS Config ------------------------------------------------------------------


def test_it_collects_a_config_recorder_with_its_status(aws):
    client = aws.client("config")
    role = f"arn:aws:iam::{ACCOUNT}:role/config-role"
    client.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": role,
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
        }
    )

    [record] = list(config_collectors.collect_recorders(aws, REGION))

    assert (record.type, record.id) == ("AWS::Config::ConfigurationRecorder", "default")
    assert record.config["Status"]["recording"] is False
    assert ("uses-role", "AWS::IAM::Role", role) in {
        (r.kind, r.type, r.id) for r in record.relations
    }


def test_a_region_without_a_recorder_yields_nothing(aws):
    assert list(config_collectors.collect_recorders(aws, REGION)) == []


# --- CloudWatch Logs ---------------------------------------------------------------


def test_it_collects_log_groups_with_retention_and_size(aws):
    client = aws.client("logs")
    client.create_log_group(logGroupName="/app/forever")
    client.create_log_group(logGroupName="/app/week")
    client.put_retention_policy(logGroupName="/app/week", retentionInDays=7)

    records = _by_id(logs.collect_log_groups(aws, REGION))

    forever, week = records["/app/forever"], records["/app/week"]
    assert forever.type == "AWS::Logs::LogGroup"
    assert "retentionInDays" not in forever.config  # never expires
    assert week.config["retentionInDays"] == 7
    assert "storedBytes" in forever.config
    assert not forever.arn.endswith(":*")


# --- Glacier ---------------------------------------------------------------------


def test_it_collects_glacier_vaults(aws):
    aws.client("glacier").create_vault(vaultName="db-backups-2015")

    [record] = list(glacier.collect_vaults(aws, REGION))

    assert (record.type, record.id, record.name) == (
        "AWS::Glacier::Vault",
        "db-backups-2015",
        "db-backups-2015",
    )
    assert record.arn.endswith(":vaults/db-backups-2015")


# --- SSM (moto lacks DescribeInstanceInformation: Stubber) ---------------------------


def _stubbed_ssm(response: dict[str, Any]) -> tuple[Any, Stubber]:
    """A session whose SSM client answers with a documented-shape response."""
    client = boto3.client("ssm", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response("describe_instance_information", response, {})
    stubber.activate()

    class Session:
        def client(self, service: str, region_name: str | None = None, config: Any = None) -> Any:
            assert service == "ssm"
            return client

    return Session(), stubber


def test_it_collects_ssm_managed_instances_linked_to_ec2(aws_credentials):
    # Shaped like the DescribeInstanceInformation example in AWS's API reference.
    response = {
        "InstanceInformationList": [
            {
                "InstanceId": "i-0123456789abcdef0",
                "PingStatus": "Online",
                "LastPingDateTime": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
                "AgentVersion": "3.3.40.0",
                "IsLatestVersion": False,
                "PlatformType": "Linux",
                "PlatformName": "Amazon Linux",
                "PlatformVersion": "2",
                "ResourceType": "EC2Instance",
                "IPAddress": "10.0.1.5",
                "ComputerName": "batch01.internal",
            },
            {
                "InstanceId": "mi-0123456789abcdef0",
                "PingStatus": "ConnectionLost",
                "AgentVersion": "2.3.13.0",
                "PlatformType": "Linux",
                "PlatformName": "CentOS Linux",
                "ResourceType": "ManagedInstance",
                "Name": "onprem-db",
            },
        ]
    }
    session, stubber = _stubbed_ssm(response)

    records = _by_id(ssm.collect_managed_instances(session, REGION))

    stubber.assert_no_pending_responses()
    ec2_managed = records["i-0123456789abcdef0"]
    assert ec2_managed.type == "AWS::SSM::ManagedInstance"
    assert ec2_managed.config["PingStatus"] == "Online"
    assert ec2_managed.config["PlatformName"] == "Amazon Linux"
    assert ec2_managed.config["AgentVersion"] == "3.3.40.0"
    assert [(r.kind, r.type, r.id) for r in ec2_managed.relations] == [
        ("manages", "AWS::EC2::Instance", "i-0123456789abcdef0")
    ]
    on_premises = records["mi-0123456789abcdef0"]
    assert on_premises.name == "onprem-db"
    assert on_premises.relations == []


def test_an_ssm_error_from_aws_is_not_hidden(aws_credentials):
    client = boto3.client("ssm", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_client_error("describe_instance_information", "AccessDeniedException")
    stubber.activate()

    class Session:
        def client(self, service: str, region_name: str | None = None, config: Any = None) -> Any:
            return client

    with pytest.raises(Exception, match="AccessDenied"):
        list(ssm.collect_managed_instances(Session(), REGION))


# --- Registry and end to end -------------------------------------------------------


def test_iam_collectors_run_once_per_account_and_the_rest_per_region():
    layer3 = {key: c for key, c in COLLECTORS.items() if c.layer == 3}

    assert {k for k, c in layer3.items() if c.global_} == {
        "iam.users",
        "iam.roles",
        "iam.password_policy",
    }
    assert {
        "lambda.functions",
        "ecs.clusters",
        "ecs.services",
        "events.rules",
        "cloudtrail.trails",
        "config.recorders",
        "logs.log_groups",
        "glacier.vaults",
        "ssm.managed_instances",
    } <= set(layer3)


def test_a_sync_stores_the_ops_path_of_a_small_estate(aws, make_account, run_sync):
    iam_client = aws.client("iam")
    iam_client.create_user(UserName="legacy-ci")
    iam_client.create_access_key(UserName="legacy-ci")
    _backdate_access_keys("legacy-ci", 1200)
    _trail(aws, "all-regions", REGION, IsMultiRegionTrail=True)
    aws.client("logs").create_log_group(logGroupName="/var/log/app")
    _lambda(aws, "honban-batch")

    sync = run_sync(make_account())

    # Other layers' collectors are judged by their own tests; every ops-path
    # unit (one per region, one "global" per IAM collector) must have succeeded.
    assert sync.status in (Sync.Status.COMPLETE, Sync.Status.PARTIAL), sync.error
    layer3 = {key for key, c in COLLECTORS.items() if c.layer == 3}
    tasks = {(t.collector, t.region): t for t in sync.tasks.filter(collector__in=layer3)}
    assert ("iam.users", "global") in tasks
    assert ("ssm.managed_instances", REGION) in tasks
    failed = [(k, t.error_message) for k, t in tasks.items() if t.status != SyncTask.Status.DONE]
    assert failed == []
    user = Resource.objects.get(type="AWS::IAM::User", name="legacy-ci")
    assert user.region == "global"
    assert user.config["MfaDevices"] == []
    created = _parse(user.config["AccessKeys"][0]["CreateDate"])
    assert (dt.datetime.now(dt.UTC) - created).days >= 1199
    trail = Resource.objects.get(type="AWS::CloudTrail::Trail", resource_id="all-regions")
    assert (trail.region, trail.config["IsMultiRegionTrail"]) == (REGION, True)
    assert trail.config["Status"]["IsLogging"] is True
    group = Resource.objects.get(type="AWS::Logs::LogGroup", resource_id="/var/log/app")
    assert "retentionInDays" not in group.config
    function = Resource.objects.get(type="AWS::Lambda::Function", resource_id="honban-batch")
    assert function.region == REGION
    assert Resource.objects.filter(
        type="AWS::IAM::AccountPasswordPolicy", resource_id="password-policy"
    ).exists()
