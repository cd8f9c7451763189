"""CloudWatch Logs groups: retention (absent = never expire) and stored bytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Record


def collect_log_groups(session: Any, region: str) -> Iterator[Record]:
    client = session.client("logs", region_name=region)
    for page in client.get_paginator("describe_log_groups").paginate():
        for group in page.get("logGroups", []):
            name = group["logGroupName"]
            # Tags are not fetched: accounts hold thousands of log groups and
            # ListTagsForResource is one call each at a low rate limit; the
            # group's name says whose logs they are.
            arn = group.get("logGroupArn") or str(group.get("arn", "")).removesuffix(":*")
            record = Record(
                type="AWS::Logs::LogGroup",
                id=name,
                region=region,
                arn=arn,
                name=name,
                config=group,
            )
            record.relate("encrypted-by", "AWS::KMS::Key", group.get("kmsKeyId"))
            yield record
