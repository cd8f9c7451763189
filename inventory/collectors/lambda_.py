"""Lambda functions: the ops path's glue code, often the estate's hidden cron jobs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .base import Record, tag_dict

# Environment variables often carry secrets (DB passwords, API tokens). Catchup
# keeps every key (a newcomer needs to know they exist) and values that are
# plainly settings (LOG_LEVEL=debug is a finding), but never a value whose key
# looks like a credential or a connection string that may embed one.
SECRET_KEY_PATTERN = re.compile(
    r"PASS|SECRET|TOKEN|KEY|CRED|PRIVATE|AUTH|DSN|URL|URI|CONN|SESSION|COOKIE|SALT|CERT",
    re.IGNORECASE,
)
REDACTED = "(redacted by Catchup)"


def redact_environment(environment: dict[str, Any] | None) -> dict[str, Any] | None:
    if not environment:
        return environment
    variables = environment.get("Variables") or {}
    return {
        **environment,
        "Variables": {
            key: REDACTED if SECRET_KEY_PATTERN.search(key) else value
            for key, value in variables.items()
        },
    }


def collect_functions(session: Any, region: str) -> Iterator[Record]:
    client = session.client("lambda", region_name=region)
    for page in client.get_paginator("list_functions").paginate():
        for function in page.get("Functions", []):
            arn = function["FunctionArn"]
            # ListFunctions omits tags; one ListTags per function (functions
            # number in the tens or hundreds, not thousands).
            tags = tag_dict(client.list_tags(Resource=arn).get("Tags"))
            config = {**function}
            if "Environment" in config:
                config["Environment"] = redact_environment(config["Environment"])
            record = Record(
                type="AWS::Lambda::Function",
                id=function["FunctionName"],
                region=region,
                arn=arn,
                name=function["FunctionName"],
                tags=tags,
                config=config,
            )
            vpc = function.get("VpcConfig") or {}
            record.relate("in-vpc", "AWS::EC2::VPC", vpc.get("VpcId"))
            for subnet in vpc.get("SubnetIds", []):
                record.relate("in-subnet", "AWS::EC2::Subnet", subnet)
            for group in vpc.get("SecurityGroupIds", []):
                record.relate("uses-security-group", "AWS::EC2::SecurityGroup", group)
            record.relate("uses-role", "AWS::IAM::Role", function.get("Role"))
            kms = function.get("KMSKeyArn")
            record.relate("encrypted-by", "AWS::KMS::Key", kms)
            yield record
