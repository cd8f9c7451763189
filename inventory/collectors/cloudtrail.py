"""CloudTrail trails: is every region's API activity recorded, and is it logging?"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from .base import Record, tag_dict

# ListTags takes up to 20 trail ARNs per call.
TAGS_BATCH = 20
# A trail deleted between DescribeTrails and the detail calls: it is gone, which
# is not a failure of the collection.
TRAIL_GONE = "TrailNotFoundException"


def _is_gone(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == TRAIL_GONE


def _log_group_name(arn: str | None) -> str | None:
    """`NAME` from `arn:aws:logs:region:account:log-group:NAME:*`."""
    if not arn or ":log-group:" not in arn:
        return None
    name = arn.split(":log-group:", 1)[1]
    return name[:-2] if name.endswith(":*") else name


def _tags(client: Any, arns: list[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), TAGS_BATCH):
        response = client.list_tags(ResourceIdList=arns[start : start + TAGS_BATCH])
        for item in response.get("ResourceTagList", []):
            tags[item["ResourceId"]] = tag_dict(item.get("TagsList"))
    return tags


def _event_selectors(client: Any, arn: str) -> dict[str, Any]:
    try:
        response = client.get_event_selectors(TrailName=arn)
    except ClientError as exc:
        if _is_gone(exc):
            return {}
        raise
    return {
        key: response[key]
        for key in ("EventSelectors", "AdvancedEventSelectors")
        if key in response
    }


def collect_trails(session: Any, region: str) -> Iterator[Record]:
    client = session.client("cloudtrail", region_name=region)
    # Without shadow trails each region lists the trails created there; the
    # HomeRegion check keeps a multi-region trail to one record (in its home).
    trails = [
        trail
        for trail in client.describe_trails(includeShadowTrails=False).get("trailList", [])
        if trail.get("HomeRegion", region) == region
    ]
    tags = _tags(client, [t["TrailARN"] for t in trails])
    for trail in trails:
        arn = trail["TrailARN"]
        try:
            status = client.get_trail_status(Name=arn)
        except ClientError as exc:
            if _is_gone(exc):
                continue
            raise
        config = {
            **trail,
            "Status": {k: v for k, v in status.items() if k != "ResponseMetadata"},
            **_event_selectors(client, arn),
        }
        record = Record(
            type="AWS::CloudTrail::Trail",
            id=trail["Name"],
            region=region,
            arn=arn,
            name=trail["Name"],
            tags=tags.get(arn, {}),
            config=config,
        )
        record.relate("logs-to", "AWS::S3::Bucket", trail.get("S3BucketName"))
        log_group = _log_group_name(trail.get("CloudWatchLogsLogGroupArn"))
        record.relate("logs-to", "AWS::Logs::LogGroup", log_group)
        record.relate("uses-role", "AWS::IAM::Role", trail.get("CloudWatchLogsRoleArn"))
        record.relate("encrypted-by", "AWS::KMS::Key", trail.get("KmsKeyId"))
        yield record
