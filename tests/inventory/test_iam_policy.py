"""The read-only role in docs/iam covers every call Catchup makes, and no data read."""

from __future__ import annotations

import io
import json
import re
import zipfile
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from inventory import sync as sync_service

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "docs" / "iam" / "catchup-readonly-role.yaml"
README = ROOT / "docs" / "iam" / "README.md"
SOURCES = [*sorted((ROOT / "inventory" / "collectors").glob("*.py")), ROOT / "inventory" / "aws.py"]
REGION = "ap-northeast-1"

# S3's IAM actions are not always named after its API operations.
S3_ACTIONS = {
    "ListBuckets": "ListAllMyBuckets",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "HeadBucket": "ListBucket",
}
# What PRODUCT.md and issue 2 name as data reads the role must refuse.
MUST_DENY = [
    "s3:GetObject",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "ec2:GetConsoleOutput",
    "ec2:GetConsoleScreenshot",
    "kms:Decrypt",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
    "lambda:GetFunction",
]
# AWS's limit on a role's inline policies together, whitespace not counted.
INLINE_POLICY_LIMIT = 10_240


def iam_action(signing_name: str, operation: str) -> str:
    if signing_name == "s3":
        operation = S3_ACTIONS.get(operation, operation)
    return f"{signing_name}:{operation}"


def _offline_session() -> boto3.Session:
    # Only the service models are read; nothing is sent.
    return boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def actions_in_source() -> dict[str, set[str]]:
    """IAM action -> modules, for every API method a collector module names.

    A module's services are its `.client("svc"` calls; its API calls are the
    attribute names and strings (paginators) that are operations of those
    services, so `client.get_bucket_acl(...)`, `_optional(client.get_x, …)`
    and `get_paginator("describe_x")` are all found.
    """
    session = _offline_session()
    found: dict[str, set[str]] = {}
    for path in SOURCES:
        source = path.read_text()
        services = set(re.findall(r'\.client\(\s*"([a-z0-9-]+)"', source))
        names = set(re.findall(r"\.([a-z][a-z0-9_]*)", source))
        names |= set(re.findall(r'"([a-z][a-z0-9_]+)"', source))
        for service in services:
            meta = session.client(service).meta
            operations = meta.method_to_api_mapping
            for name in names & set(operations):
                action = iam_action(meta.service_model.signing_name, operations[name])
                found.setdefault(action, set()).add(path.name)
    return found


def _template() -> dict[str, Any]:
    # safe_load: the template uses long-form intrinsics only (no "!Ref" tags).
    return yaml.safe_load(TEMPLATE.read_text())


def _role(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["CatchupReadOnlyRole"]["Properties"]


def _statements(effect: str) -> list[str]:
    patterns = []
    for policy in _role(_template())["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Effect"] == effect:
                actions = statement["Action"]
                patterns += [actions] if isinstance(actions, str) else actions
    return patterns


def _matches(action: str, patterns: list[str]) -> bool:
    # IAM action names are case-insensitive and take * and ? wildcards.
    return any(fnmatchcase(action.lower(), p.lower()) for p in patterns)


def _problems(actions: dict[str, set[str]]) -> list[str]:
    allow, deny = _statements("Allow"), _statements("Deny")
    problems = []
    for action, where in sorted(actions.items()):
        if _matches(action, deny):
            problems.append(f"{action} (called in {sorted(where)}) is denied by the role")
        elif not _matches(action, allow):
            problems.append(
                f"{action} (called in {sorted(where)}) is missing from CatchupCollectorReads "
                "in docs/iam/catchup-readonly-role.yaml and docs/iam/README.md"
            )
    return problems


def test_every_api_call_in_the_collectors_source_is_allowed_and_none_denied():
    actions = actions_in_source()

    assert len(actions) > 20  # the scan found the collectors' calls at all
    assert "iam:ListUsers" in actions and "sts:GetCallerIdentity" in actions
    assert _problems(actions) == []


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


def _small_estate(aws: boto3.Session) -> None:
    """Something of every kind whose details cost extra calls."""
    iam = aws.client("iam")
    iam.create_user(UserName="ci")
    iam.create_access_key(UserName="ci")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    aws.client("lambda").create_function(
        FunctionName="batch",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="index.handler",
        Code={"ZipFile": _zip()},
    )
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="trail-logs", CreateBucketConfiguration={"LocationConstraint": REGION})
    aws.client("cloudtrail").create_trail(Name="all", S3BucketName="trail-logs")
    aws.client("logs").create_log_group(logGroupName="/app")
    events = aws.client("events")
    events.put_rule(Name="nightly", ScheduleExpression="rate(1 day)")
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="c")
    aws.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")
    aws.client("glacier").create_vault(vaultName="v")


def test_every_call_a_sync_makes_is_allowed_and_none_denied(aws, make_account, run_sync):
    _small_estate(aws)
    account = make_account()
    recorded: dict[str, set[str]] = {}

    def record(model: Any, **_kwargs: Any) -> None:
        action = iam_action(model.service_model.signing_name, model.name)
        recorded.setdefault(action, set()).add("sync")

    # The sync reuses this cached session, so the handler sees every call it makes.
    sync_service.session_for(account).events.register("before-call", record)

    run_sync(account)

    assert "iam:GetAccessKeyLastUsed" in recorded
    assert "cloudtrail:GetTrailStatus" in recorded
    assert _problems(recorded) == []


def test_the_role_is_assumable_only_by_the_trusted_principal_with_the_external_id():
    template = _template()
    [statement] = _role(template)["AssumeRolePolicyDocument"]["Statement"]

    assert set(template["Parameters"]) >= {"TrustedPrincipalArn", "ExternalId"}
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": {"Ref": "TrustedPrincipalArn"}}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}


def test_the_role_has_security_audit_and_view_only_access():
    arns = [entry["Fn::Sub"] for entry in _role(_template())["ManagedPolicyArns"]]

    assert arns == [
        "arn:${AWS::Partition}:iam::aws:policy/SecurityAudit",
        "arn:${AWS::Partition}:iam::aws:policy/job-function/ViewOnlyAccess",
    ]


@pytest.mark.parametrize("action", MUST_DENY)
def test_data_reads_are_denied(action):
    assert _matches(action, _statements("Deny"))


def test_the_inline_allow_grants_only_reads():
    allow = _statements("Allow")

    assert allow
    assert [a for a in allow if not re.match(r"^[a-z0-9-]+:(Describe|List|Get)", a)] == []
    assert "*" not in "".join(allow)  # every action named, no wildcard that could grow


def test_the_inline_policies_fit_in_aws_limit():
    documents = [p["PolicyDocument"] for p in _role(_template())["Policies"]]

    size = sum(len(json.dumps(d, separators=(",", ":"))) for d in documents)

    assert size < INLINE_POLICY_LIMIT


def test_the_readme_shows_the_same_policies_as_the_template():
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", README.read_text(), re.S)]
    documents = [p["PolicyDocument"] for p in _role(_template())["Policies"]]

    assert all(document in blocks for document in documents)
    [trust] = [b for b in blocks if b["Statement"][0].get("Action") == "sts:AssumeRole"]
    assert "sts:ExternalId" in trust["Statement"][0]["Condition"]["StringEquals"]
    assert "SecurityAudit" in README.read_text() and "ViewOnlyAccess" in README.read_text()
