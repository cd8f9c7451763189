"""DynamoDB tables, with whether point-in-time recovery is on.

`config["PointInTimeRecovery"]` is DescribeContinuousBackups'
PointInTimeRecoveryDescription ({"PointInTimeRecoveryStatus": "ENABLED"|"DISABLED", …}).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from .base import Record, tag_dict

# A table deleted between the listing and its description is simply gone.
GONE_CODES = {"ResourceNotFoundException", "TableNotFoundException"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _tags(client: Any, arn: str) -> dict[str, str]:
    # ListTagsOfResource pages with NextToken but botocore has no paginator for it.
    tags: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        response = client.list_tags_of_resource(**kwargs)
        tags += response.get("Tags", [])
        if not response.get("NextToken"):
            return tag_dict(tags)
        kwargs["NextToken"] = response["NextToken"]


def collect_tables(session: Any, region: str) -> Iterator[Record]:
    client = session.client("dynamodb", region_name=region)
    for page in client.get_paginator("list_tables").paginate():
        for name in page.get("TableNames", []):
            try:
                table = client.describe_table(TableName=name)["Table"]
                backups = client.describe_continuous_backups(TableName=name).get(
                    "ContinuousBackupsDescription", {}
                )
                arn = table.get("TableArn", "")
                tags = _tags(client, arn) if arn else {}
            except ClientError as exc:
                if _code(exc) in GONE_CODES:
                    continue
                raise
            yield Record(
                type="AWS::DynamoDB::Table",
                id=name,
                region=region,
                arn=arn,
                name=name,
                tags=tags,
                config={
                    **table,
                    "PointInTimeRecovery": backups.get("PointInTimeRecoveryDescription", {}),
                },
            )
