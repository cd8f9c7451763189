"""S3 buckets: listed once per account, each recorded in the bucket's own region.

Per bucket, the settings the findings read, each None when the bucket has none
configured (AWS answers "not configured" with an error code, not an empty value):
- config["PublicAccessBlock"]: the PublicAccessBlockConfiguration flags
- config["Acl"]: {"Owner", "Grants"}
- config["Policy"]: the bucket policy as JSON; config["PolicyStatus"]: {"IsPublic": bool}
- config["Lifecycle"]: the lifecycle rules
- config["Logging"]: LoggingEnabled (TargetBucket, TargetPrefix), None when logging is off
- config["Encryption"]: the ServerSideEncryptionConfiguration
- config["Versioning"]: {"Status", "MFADelete"} as returned; {} when never enabled
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from .base import Record, tag_dict

# Estates have hundreds of buckets and each needs about nine calls: a few
# threads keep the wall time down without bursting past S3's request rates.
WORKERS = 8

# Codes with which S3 says "this bucket has no such setting": a value of None.
NOT_CONFIGURED_CODES = {
    "NoSuchBucketPolicy",
    "NoSuchLifecycleConfiguration",
    "NoSuchPublicAccessBlockConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchTagSet",
}
# Deleted between the listing and its details: no longer part of the estate.
GONE_CODES = {"NoSuchBucket"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _optional(call: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any] | None:
    try:
        return call(**kwargs)
    except ClientError as exc:
        if _code(exc) in NOT_CONFIGURED_CODES:
            return None
        raise


def bucket_region(location: str | None) -> str:
    """GetBucketLocation's answer as a region: None is us-east-1, "EU" the old eu-west-1."""
    if not location:
        return "us-east-1"
    if location == "EU":
        return "eu-west-1"
    return location


def _locate(client: Any, bucket: dict[str, Any]) -> str | None:
    if bucket.get("BucketRegion"):
        # Newer ListBuckets answers name the region: one call fewer per bucket.
        return str(bucket["BucketRegion"])
    try:
        location = client.get_bucket_location(Bucket=bucket["Name"]).get("LocationConstraint")
    except ClientError as exc:
        if _code(exc) in GONE_CODES:
            return None
        raise
    return bucket_region(location)


def _parse_policy(policy: str | None) -> Any:
    if not policy:
        return None
    try:
        return json.loads(policy)
    except ValueError:
        return policy  # kept as written: a person can still read it


def _describe(client: Any, bucket: dict[str, Any], region: str) -> Record | None:
    name = bucket["Name"]
    try:
        access_block = _optional(client.get_public_access_block, Bucket=name)
        acl = client.get_bucket_acl(Bucket=name)
        policy = _optional(client.get_bucket_policy, Bucket=name)
        # PolicyStatus judges the policy only: without one there is nothing to ask.
        status = _optional(client.get_bucket_policy_status, Bucket=name) if policy else None
        lifecycle = _optional(client.get_bucket_lifecycle_configuration, Bucket=name)
        logging = client.get_bucket_logging(Bucket=name)
        encryption = _optional(client.get_bucket_encryption, Bucket=name)
        versioning = client.get_bucket_versioning(Bucket=name)
        tagging = _optional(client.get_bucket_tagging, Bucket=name)
    except ClientError as exc:
        if _code(exc) in GONE_CODES:
            return None
        raise
    tags = tag_dict((tagging or {}).get("TagSet"))
    config = {
        **bucket,
        "PublicAccessBlock": (access_block or {}).get("PublicAccessBlockConfiguration"),
        "Acl": {"Owner": acl.get("Owner"), "Grants": acl.get("Grants", [])},
        "Policy": _parse_policy((policy or {}).get("Policy")),
        "PolicyStatus": (status or {}).get("PolicyStatus"),
        "Lifecycle": lifecycle.get("Rules", []) if lifecycle is not None else None,
        "Logging": logging.get("LoggingEnabled"),
        "Encryption": (encryption or {}).get("ServerSideEncryptionConfiguration"),
        "Versioning": {k: versioning[k] for k in ("Status", "MFADelete") if k in versioning},
    }
    record = Record(
        type="AWS::S3::Bucket",
        id=name,
        region=region,
        arn=f"arn:aws:s3:::{name}",
        name=name,
        tags=tags,
        config=config,
    )
    record.relate("logs-to", "AWS::S3::Bucket", (config["Logging"] or {}).get("TargetBucket"))
    return record


def collect_buckets(session: Any, region: str) -> Iterator[Record]:
    """All the account's buckets; `region` is where ListBuckets is called (us-east-1)."""
    client = session.client("s3", region_name=region)
    buckets: list[dict[str, Any]] = []
    for page in client.get_paginator("list_buckets").paginate():
        buckets += page.get("Buckets", [])
    if not buckets:
        return
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="s3") as pool:
        regions = list(pool.map(lambda b: _locate(client, b), buckets))
        # Clients are made here, in one thread: a boto3 Session is not safe to
        # create clients from concurrently (the clients themselves are).
        clients = {r: session.client("s3", region_name=r) for r in set(regions) if r}
        located = [(b, r) for b, r in zip(buckets, regions, strict=True) if r]
        records = list(pool.map(lambda pair: _describe(clients[pair[1]], *pair), located))
    yield from (r for r in records if r is not None)
