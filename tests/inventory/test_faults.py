"""Bad input and AWS faults (issue 2): what the user sees, and that nothing is lost.

Faults are injected in front of moto by tests/support/faults.py, on the
sessions Catchup itself creates, so botocore's adaptive retries see them.
The registry is pinned to the four base EC2 collectors: these tests are about
the sync engine's behaviour under faults, not about each collector.
"""

from __future__ import annotations

import io
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from django.core.management import call_command

from inventory import sync as sync_service
from inventory.collectors import COLLECTORS
from inventory.models import Account, Resource, Sync, SyncTask
from tests.support.faults import FaultInjector, ec2_describe_regions_body, fast_retries

HOME = "ap-northeast-1"
OTHER = "us-west-2"
ROLE = "arn:aws:iam::123456789012:role/catchup-readonly"
EXTERNAL_ID = "catchup-4f1c2a"
BASE_COLLECTORS = ("ec2.vpcs", "ec2.subnets", "ec2.security_groups", "ec2.instances")


@pytest.fixture(autouse=True)
def _base_collectors(monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = {key: COLLECTORS[key] for key in BASE_COLLECTORS}
    monkeypatch.setattr(sync_service, "COLLECTORS", pinned)


@pytest.fixture
def faults(aws: boto3.Session) -> Any:
    """A fault injector on every session Catchup creates (moto in process)."""
    injector = FaultInjector(seed=20240601)
    with injector.install(), fast_retries():
        yield injector


def build_estate(session: boto3.Session, region: str) -> dict[str, list[str]]:
    """A VPC, a subnet, a security group with a rule and two instances in `region`."""
    ec2 = session.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName=f"honban-{region}", Description="web", VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=sg["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "203.0.113.45/32", "Description": "who?"}],
            }
        ],
    )
    instances = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=2,
        MaxCount=2,
        SubnetId=subnet,
        SecurityGroupIds=[sg["GroupId"]],
    )["Instances"]
    return {
        "vpc": [vpc],
        "subnet": [subnet],
        "sg": [sg["GroupId"]],
        "instances": [i["InstanceId"] for i in instances],
    }


@pytest.fixture
def estate(aws: boto3.Session) -> dict[str, dict[str, list[str]]]:
    return {region: build_estate(aws, region) for region in (HOME, OTHER)}


@pytest.fixture
def account(make_account: Any) -> Account:
    return make_account(regions=[HOME, OTHER])


def current(**filters: Any) -> set[tuple[str, str, str]]:
    """Identities of the resources a user sees as current."""
    rows = Resource.objects.filter(removed_at__isnull=True, **filters)
    return set(rows.values_list("region", "type", "resource_id"))


def expected_identities(session: boto3.Session) -> set[tuple[str, str, str]]:
    """What moto holds, as Catchup would store it: the ground truth for "nothing lost"."""
    found = set()
    for region in (HOME, OTHER):
        ec2 = session.client("ec2", region_name=region)
        found |= {(region, "AWS::EC2::VPC", v["VpcId"]) for v in ec2.describe_vpcs()["Vpcs"]}
        found |= {
            (region, "AWS::EC2::Subnet", s["SubnetId"]) for s in ec2.describe_subnets()["Subnets"]
        }
        found |= {
            (region, "AWS::EC2::SecurityGroup", g["GroupId"])
            for g in ec2.describe_security_groups()["SecurityGroups"]
        }
        for reservation in ec2.describe_instances()["Reservations"]:
            found |= {
                (region, "AWS::EC2::Instance", i["InstanceId"])
                for i in reservation["Instances"]
                if i["State"]["Name"] != "terminated"
            }
    return found


def run_command(name: str) -> tuple[int, str]:
    """`manage.py sync NAME`: (exit status, what it printed)."""
    out = io.StringIO()
    try:
        call_command("sync", name, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


# --- The harness itself ------------------------------------------------------------------


def test_injected_errors_speak_each_protocol_and_go_through_retries(
    aws: boto3.Session,
) -> None:
    injector = FaultInjector()
    session = boto3.Session(region_name=HOME)
    injector.attach(session)
    config = Config(retries={"mode": "standard", "max_attempts": 3})
    injector.add("throttle", service="ec2")
    injector.add("access_denied", service="sts")
    injector.add("throttle", service="dynamodb")
    injector.add("expired", service="s3")
    injector.add("access_denied", service="lambda")
    cases = [
        (lambda: session.client("ec2", config=config).describe_vpcs(), "RequestLimitExceeded", 503),
        (lambda: session.client("sts", config=config).get_caller_identity(), "AccessDenied", 403),
        (
            lambda: session.client("dynamodb", config=config).list_tables(),
            "ThrottlingException",
            400,
        ),
        (lambda: session.client("s3", config=config).list_buckets(), "ExpiredToken", 400),
        (
            lambda: session.client("lambda", config=config).list_functions(),
            "AccessDeniedException",
            403,
        ),
    ]
    with fast_retries():
        for call, code, status in cases:
            with pytest.raises(ClientError) as caught:
                call()
            assert caught.value.response["Error"]["Code"] == code
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status

    # Throttling is retried up to the budget (max_attempts counts retries: 1 + 3
    # attempts); access denied is not retried.
    assert injector.attempts[("ec2", HOME, "DescribeVpcs")] == 4
    assert injector.attempts[("dynamodb", HOME, "ListTables")] == 4
    assert injector.attempts[("sts", HOME, "GetCallerIdentity")] == 1
    assert [c.operation for c in injector.calls_to(service="ec2")] == ["DescribeVpcs"]


def test_faults_fire_for_the_first_n_calls_then_moto_answers(aws: boto3.Session) -> None:
    injector = FaultInjector()
    session = boto3.Session(region_name=HOME)
    injector.attach(session)
    session.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")
    fault = injector.add("server_error", service="ec2", operation="DescribeVpcs", first=2)
    ec2 = session.client("ec2", config=Config(retries={"mode": "standard", "max_attempts": 5}))

    with fast_retries():
        vpcs = ec2.describe_vpcs()["Vpcs"]

    assert any(v["CidrBlock"] == "10.9.0.0/16" for v in vpcs)
    assert fault.fired == 2
    assert injector.attempts[("ec2", HOME, "DescribeVpcs")] == 3


# --- Reaching the account -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("used_arn", "code"),
    [
        ("arn:aws:iam::999999999999:role/catchup-readonly", "AccessDenied"),  # another account
        ("arn:aws:iam:role/catchup", "ValidationError"),  # malformed
        (ROLE, "AccessDenied"),  # the right role, the wrong ExternalId
    ],
)
def test_a_wrong_role_or_external_id_fails_the_sync_and_keeps_the_last_state(
    faults: FaultInjector,
    estate: dict[str, Any],
    make_account: Any,
    run_sync: Any,
    used_arn: str,
    code: str,
) -> None:
    # AWS's side of the trust policy, which moto does not enforce.
    faults.add(
        "error",
        service="sts",
        operation="AssumeRole",
        code="ValidationError",
        status=400,
        when=lambda call: not call.params["RoleArn"].startswith("arn:aws:iam::"),
    )
    faults.add(
        "access_denied",
        service="sts",
        operation="AssumeRole",
        message="User is not authorized to perform: sts:AssumeRole",
        when=lambda call: (
            call.params["RoleArn"] != ROLE or call.params.get("ExternalId") != EXTERNAL_ID
        ),
    )
    account = make_account(
        auth_mode=Account.AuthMode.ROLE,
        role_arn=ROLE,
        external_id=EXTERNAL_ID,
        regions=[HOME, OTHER],
    )
    first = run_sync(account)
    assert first.status == Sync.Status.COMPLETE, first.error
    before = current()

    wrong_id = "not-the-agreed-id" if used_arn == ROLE else EXTERNAL_ID
    account.role_arn, account.external_id = used_arn, wrong_id
    account.save()
    second = run_sync(account)

    assert second.status == Sync.Status.FAILED
    assert code in second.error
    assert used_arn in second.error
    assert "ExternalId" in second.error
    assert current() == before  # the previous complete state is still what users see
    assert Resource.objects.filter(removed_at__isnull=False).count() == 0
    # Every AssumeRole carried the account's ExternalId of the moment.
    assume = faults.calls_to(operation="AssumeRole")
    assert assume
    assert {c.params.get("ExternalId") for c in assume} <= {EXTERNAL_ID, wrong_id}
    assert all("ExternalId" in c.params for c in assume)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("auth_mode", [Account.AuthMode.DEFAULT, Account.AuthMode.ROLE])
def test_missing_credentials_fail_the_sync_with_words(
    aws: boto3.Session,
    make_account: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    auth_mode: str,
) -> None:
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    # Never ask an instance metadata service (not a loopback address).
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    extra = {"role_arn": ROLE, "external_id": EXTERNAL_ID} if auth_mode == "role" else {}
    make_account(auth_mode=auth_mode, **extra)

    status, output = run_command("legacy")

    assert status == 1
    sync = Sync.objects.get()
    assert sync.status == Sync.Status.FAILED
    assert "NoCredentials" in sync.error
    assert "No AWS credentials were found" in output


# --- One scope failing ----------------------------------------------------------------------


def test_an_expired_token_on_one_service_fails_only_that_scope(
    faults: FaultInjector,
    estate: dict[str, Any],
    account: Account,
    run_sync: Any,
    aws: boto3.Session,
) -> None:
    run_sync(account)
    gone = estate[HOME]["instances"][0]
    aws.client("ec2", region_name=HOME).terminate_instances(InstanceIds=[gone])
    faults.add("expired", service="ec2", operation="DescribeInstances")

    sync = run_sync(account)

    assert sync.status == Sync.Status.PARTIAL
    failed = sync.tasks.filter(status=SyncTask.Status.FAILED)
    assert {(t.collector, t.region) for t in failed} == {
        ("ec2.instances", HOME),
        ("ec2.instances", OTHER),
    }
    assert {t.error_code for t in failed} == {"RequestExpired"}
    assert "expired" in failed[0].error_message
    # The terminated instance is not marked removed: its scope failed to collect.
    assert (HOME, "AWS::EC2::Instance", gone) in current()
    assert sync.removed == 0
    assert sync.tasks.filter(status=SyncTask.Status.DONE).count() == 6


@pytest.mark.django_db(transaction=True)
def test_access_denied_on_one_service_in_one_region_is_partial_and_exits_3(
    faults: FaultInjector,
    estate: dict[str, Any],
    account: Account,
    aws: boto3.Session,
) -> None:
    assert run_command("legacy")[0] == 0
    before = current(region=OTHER, type="AWS::EC2::SecurityGroup")
    aws.client("ec2", region_name=OTHER).delete_security_group(GroupId=estate[OTHER]["sg"][0])
    faults.add("access_denied", service="ec2", region=OTHER, operation="DescribeSecurityGroups")

    status, output = run_command("legacy")

    assert status == 3
    sync = Sync.objects.order_by("-pk").first()
    assert sync.status == Sync.Status.PARTIAL
    task = sync.tasks.get(status=SyncTask.Status.FAILED)
    assert (task.collector, task.region) == ("ec2.security_groups", OTHER)
    assert task.error_code == "UnauthorizedOperation"
    assert "DescribeSecurityGroups" in task.error_message
    assert f"error: ec2.security_groups in {OTHER}: UnauthorizedOperation" in output
    assert current(region=OTHER, type="AWS::EC2::SecurityGroup") == before
    assert sync.removed == 0


@pytest.mark.django_db(transaction=True)
def test_a_region_that_is_not_enabled_is_never_called(
    faults: FaultInjector,
    estate: dict[str, Any],
    make_account: Any,
) -> None:
    # moto ignores DescribeRegions' opt-in filter; answer as AWS would.
    faults.add(
        "respond",
        service="ec2",
        operation="DescribeRegions",
        body=ec2_describe_regions_body(
            {HOME: "opt-in-not-required", OTHER: "opt-in-not-required", "ap-east-1": "not-opted-in"}
        ),
    )
    make_account(regions=[HOME, "ap-east-1"])

    status, output = run_command("legacy")

    assert status == 0
    sync = Sync.objects.get()
    assert sync.regions == [HOME]
    assert any("ap-east-1" in w and "not enabled" in w for w in sync.warnings)
    assert "warning: Region ap-east-1 is not enabled" in output
    assert faults.calls_to(region="ap-east-1") == []
    assert faults.regions_called() <= {HOME, "us-east-1"}


# --- Throttling ----------------------------------------------------------------------------


def test_30_percent_throttled_describe_calls_still_collect_everything(
    faults: FaultInjector,
    estate: dict[str, Any],
    account: Account,
    run_sync: Any,
    aws: boto3.Session,
) -> None:
    faults.add("throttle", rate=0.3, when=lambda call: call.operation.startswith("Describe"))

    sync = run_sync(account)

    assert sync.status == Sync.Status.COMPLETE, sync.error
    throttled = sum(n for key, n in faults.injected.items() if key[3] == "throttle")
    assert throttled >= 3  # the fault really fired
    stored = list(Resource.objects.values_list("region", "type", "resource_id"))
    assert len(stored) == len(set(stored))  # nothing duplicated
    assert set(stored) == expected_identities(aws)  # nothing lost


def test_a_region_throttled_past_the_retry_budget_keeps_its_state_then_recovers(
    faults: FaultInjector,
    estate: dict[str, Any],
    account: Account,
    run_sync: Any,
    aws: boto3.Session,
) -> None:
    run_sync(account)
    before_other = current(region=OTHER)
    ec2 = aws.client("ec2", region_name=OTHER)
    gone = estate[OTHER]["instances"][0]
    ec2.terminate_instances(InstanceIds=[gone])
    fault = faults.add("throttle", service="ec2", region=OTHER)
    faults.reset_records()

    partial = run_sync(account)

    assert partial.status == Sync.Status.PARTIAL
    failed = partial.tasks.filter(status=SyncTask.Status.FAILED)
    assert {t.region for t in failed} == {OTHER}
    assert failed.count() == len(BASE_COLLECTORS)
    assert {t.error_code for t in failed} == {"RequestLimitExceeded"}
    assert "throttling" in failed[0].error_message
    # Each call was tried the whole budget: 1 + 8 retries (inventory.aws.AWS_CONFIG).
    assert faults.attempts[("ec2", OTHER, "DescribeInstances")] == 9
    assert current(region=OTHER) == before_other  # nothing removed there
    assert partial.removed == 0

    faults.remove(fault)
    recovered = run_sync(account)

    assert recovered.status == Sync.Status.COMPLETE, recovered.error
    assert recovered.removed == 1
    assert (OTHER, "AWS::EC2::Instance", gone) not in current()
    stored = list(Resource.objects.values_list("region", "type", "resource_id"))
    assert len(stored) == len(set(stored))
    assert current() == expected_identities(aws)


# --- Malformed responses ------------------------------------------------------------------------

# A DescribeSecurityGroups answer whose group lacks its required groupId.
MALFORMED_GROUPS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
    "<requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId><securityGroupInfo>"
    "<item><ownerId>123456789012</ownerId><groupName>no-id</groupName>"
    "<groupDescription>x</groupDescription></item>"
    "</securityGroupInfo></DescribeSecurityGroupsResponse>"
)


def test_a_malformed_response_fails_that_unit_and_a_later_sync_recovers(
    faults: FaultInjector,
    estate: dict[str, Any],
    account: Account,
    run_sync: Any,
    aws: boto3.Session,
) -> None:
    run_sync(account)
    groups = current(region=HOME, type="AWS::EC2::SecurityGroup")
    fault = faults.add(
        "respond",
        service="ec2",
        region=HOME,
        operation="DescribeSecurityGroups",
        body=MALFORMED_GROUPS,
    )

    sync = run_sync(account)

    assert sync.status == Sync.Status.PARTIAL
    task = sync.tasks.get(status=SyncTask.Status.FAILED)
    assert (task.collector, task.region) == ("ec2.security_groups", HOME)
    assert task.error_code == "MalformedResponse"
    assert "GroupId" in task.error_message
    assert current(region=HOME, type="AWS::EC2::SecurityGroup") == groups
    assert sync.removed == 0

    faults.remove(fault)
    again = run_sync(account)

    assert again.status == Sync.Status.COMPLETE
    assert (again.added, again.removed) == (0, 0)
    assert current() == expected_identities(aws)
