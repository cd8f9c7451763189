"""Layer 3-4 rules (trails, Config, logs, IAM, servers) on moto data, both ways."""

from __future__ import annotations

import datetime as dt

import pytest

from findings.rules import ACCOUNT_TYPE

REGION = "ap-northeast-1"
AMI = "ami-12c6146b"
pytestmark = pytest.mark.django_db


def _ids(found) -> set[str]:
    return {h.resource.resource_id for h in found}


def _bucket(aws) -> str:
    aws.client("s3").create_bucket(
        Bucket="trail-logs", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return "trail-logs"


def test_cloudtrail_single_region_trail_is_not_enough(aws, collect, hits, make_account):
    trails = aws.client("cloudtrail")
    bucket = _bucket(aws)
    trails.create_trail(Name="local", S3BucketName=bucket, IsMultiRegionTrail=False)
    trails.start_logging(Name="local")
    collect(aws, "cloudtrail.trails")
    found = hits("cloudtrail-not-all-regions")
    assert [(h.resource.type, h.resource.region) for h in found] == [(ACCOUNT_TYPE, "global")]

    trails.create_trail(Name="everywhere", S3BucketName=bucket, IsMultiRegionTrail=True)
    stopped = make_account("stopped")
    collect(aws, "cloudtrail.trails", of=stopped)
    assert len(hits("cloudtrail-not-all-regions", of=stopped)) == 1  # not logging yet

    trails.start_logging(Name="everywhere")
    fixed = make_account("fixed")
    collect(aws, "cloudtrail.trails", of=fixed)
    assert hits("cloudtrail-not-all-regions", of=fixed) == []


def test_config_recorder_per_region(aws, collect, hits):
    config = aws.client("config")
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": "arn:aws:iam::123456789012:role/config",
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
        }
    )
    collect(aws, "config.recorders")
    collect(aws, "config.recorders", region="us-east-1")
    found = hits("config-not-recording", regions=[REGION, "us-east-1"])
    # Tokyo: a recorder that is stopped; Virginia: none at all (on the account).
    assert {(h.resource.type, h.resource.region) for h in found} == {
        ("AWS::Config::ConfigurationRecorder", REGION),
        (ACCOUNT_TYPE, "us-east-1"),
    }


def test_config_recorder_recording_passes(aws, collect, hits):
    config = aws.client("config")
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": "arn:aws:iam::123456789012:role/config",
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": _bucket(aws)})
    config.start_configuration_recorder(ConfigurationRecorderName="default")
    collect(aws, "config.recorders")
    assert hits("config-not-recording", regions=[REGION]) == []


def test_log_groups_without_retention(aws, collect, hits):
    logs = aws.client("logs")
    logs.create_log_group(logGroupName="/app/forever")
    logs.create_log_group(logGroupName="/app/kept")
    logs.put_retention_policy(logGroupName="/app/kept", retentionInDays=30)
    collect(aws, "logs.log_groups")
    assert _ids(hits("logs-group-no-retention")) == {"/app/forever"}


def test_iam_console_users_without_mfa(aws, collect, hits):
    iam = aws.client("iam")
    for name in ("console-no-mfa", "console-mfa", "api-only"):
        iam.create_user(UserName=name)
    iam.create_login_profile(UserName="console-no-mfa", Password="Pw-for-tests-1")
    iam.create_login_profile(UserName="console-mfa", Password="Pw-for-tests-1")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="m")["VirtualMFADevice"]
    iam.enable_mfa_device(
        UserName="console-mfa",
        SerialNumber=serial["SerialNumber"],
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    iam.create_access_key(UserName="api-only")
    collect(aws, "iam.users")
    assert {h.resource.name for h in hits("iam-user-no-mfa")} == {"console-no-mfa"}
    # A key created just now is not old.
    assert hits("iam-access-key-old") == []


def test_old_access_keys(make_resource, hits):
    # moto cannot backdate a key: a stored row with the collector's CreateDate (the age is
    # computed at evaluation; a stored age would change at every sync).
    now = dt.datetime.now(tz=dt.UTC)

    def key(key_id: str, status: str = "Active", days: int | None = None, **raw: str) -> dict:
        if days is not None:
            raw["CreateDate"] = (now - dt.timedelta(days=days)).isoformat()
        return {"AccessKeyId": key_id, "Status": status, **raw}

    make_resource(
        "AWS::IAM::User",
        "AIDAOLD",
        region="global",
        name="deployer",
        config={
            "AccessKeys": [
                key("AKIAOLD0000000000001", days=400),
                key("AKIAOLD0000000000002", "Inactive", days=900),
                key("AKIANEW0000000000003", days=10),
                key("AKIAEDGE000000000005", days=90),
                key("AKIAOLD0000000000004", CreateDate="2019-01-01T00:00:00Z"),
                key("AKIANAIVE00000000006", CreateDate="2019-01-01 00:00:00"),
                key("AKIANODATE0000000007"),
                key("AKIAOLDAGE0000000008", AgeDays="400"),
            ],
        },
    )
    found = hits("iam-access-key-old")
    # Older than 90 days, active; a key with no CreateDate (or only a stale AgeDays from an
    # older collector) is not judged.
    assert {h.detail for h in found} == {
        "AKIAOLD0000000000001",
        "AKIAOLD0000000000004",
        "AKIANAIVE00000000006",
    }
    assert all("days" not in str(h.evidence) for h in found)  # nothing that changes daily


def _run(ec2, name: str, **tags: str) -> str:
    all_tags = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in tags.items()]
    return ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": all_tags}],
    )["Instances"][0]["InstanceId"]


def test_lone_batch_server_and_unmanaged_instances(aws, collect, hits, make_resource):
    ec2 = aws.client("ec2")
    lone = _run(ec2, "batch01")
    _run(ec2, "worker-1")
    _run(ec2, "worker-2")
    _run(ec2, "web-1")
    managed = _run(ec2, "cron-main", Role="cron", **{"aws:autoscaling:groupName": "cron-asg"})
    collect(aws, "ec2.instances")
    assert _ids(hits("single-instance-role")) == {lone}

    # moto has no DescribeInstanceInformation: the managed instance is a stored row.
    make_resource(
        "AWS::SSM::ManagedInstance",
        "mi-1",
        config={"InstanceId": managed},
        relations=[{"kind": "manages", "type": "AWS::EC2::Instance", "id": managed}],
    )
    unmanaged = _ids(hits("ec2-not-ssm-managed"))
    assert managed not in unmanaged
    assert lone in unmanaged and len(unmanaged) == 4


def test_stopped_instances_need_no_ssm(aws, collect, hits):
    ec2 = aws.client("ec2")
    stopped = _run(ec2, "old-box")
    ec2.stop_instances(InstanceIds=[stopped])
    collect(aws, "ec2.instances")
    assert hits("ec2-not-ssm-managed") == []
