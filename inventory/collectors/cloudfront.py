"""CloudFront distributions (global): origins and whether access logs are on.

`config["Logging"]` is the distribution config's Logging block (Enabled,
Bucket, Prefix, IncludeCookies); `config["OriginDomains"]` lists the origins'
domain names. Origins recognisable as an S3 bucket or a load balancer become
relations to that resource.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

from .base import Record, tag_dict

# An origin may name a region this account has not enabled (or no region at
# all): such a lookup finds nothing rather than failing the distributions.
REGION_UNUSABLE_CODES = {
    "AuthFailure",
    "InvalidClientTokenId",
    "OptInRequired",
    "UnrecognizedClientException",
}
REGION_NAME = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$")

# bucket.s3.amazonaws.com, bucket.s3.ap-northeast-1.amazonaws.com,
# bucket.s3-ap-northeast-1.amazonaws.com and the s3-website endpoints.
S3_ORIGIN = re.compile(
    r"^(?P<bucket>[a-z0-9][a-z0-9.\-]*?)\.s3(?:-website)?(?:[.\-][a-z0-9\-]+)?\.amazonaws\.com$"
)
# name-123.ap-northeast-1.elb.amazonaws.com (classic and ALB), internal-…, and NLBs'
# name-abc.elb.ap-northeast-1.amazonaws.com.
ELB_ORIGIN = re.compile(
    r"^[a-z0-9\-]+\.(?:(?P<region>[a-z0-9\-]+)\.elb|elb\.(?P<region2>[a-z0-9\-]+))\.amazonaws\.com$"
)


def _origin_region(domain: str) -> str | None:
    match = ELB_ORIGIN.match(domain)
    if not match:
        return None
    region = match.group("region") or match.group("region2")
    # The domain is data from the account: only a well-formed region is called.
    return region if REGION_NAME.match(region) else None


def _load_balancers_by_dns(session: Any, region: str) -> dict[str, tuple[str, str]]:
    """DNS name -> (type, id) of a region's load balancers: origins name only the DNS."""
    try:
        return _list_load_balancers(session, region)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in REGION_UNUSABLE_CODES:
            raise
    except EndpointConnectionError:
        pass
    return {}


def _list_load_balancers(session: Any, region: str) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    elbv2 = session.client("elbv2", region_name=region)
    for page in elbv2.get_paginator("describe_load_balancers").paginate():
        for lb in page.get("LoadBalancers", []):
            found[str(lb.get("DNSName", "")).lower()] = (
                "AWS::ElasticLoadBalancingV2::LoadBalancer",
                lb["LoadBalancerArn"],
            )
    elb = session.client("elb", region_name=region)
    for page in elb.get_paginator("describe_load_balancers").paginate():
        for lb in page.get("LoadBalancerDescriptions", []):
            found[str(lb.get("DNSName", "")).lower()] = (
                "AWS::ElasticLoadBalancing::LoadBalancer",
                lb["LoadBalancerName"],
            )
    return found


def collect_distributions(session: Any, region: str) -> Iterator[Record]:
    client = session.client("cloudfront", region_name=region)
    distributions: list[dict[str, Any]] = []
    for page in client.get_paginator("list_distributions").paginate():
        distributions += page.get("DistributionList", {}).get("Items", []) or []
    lb_lookups: dict[str, dict[str, tuple[str, str]]] = {}
    for distribution in distributions:
        dist_id = distribution["Id"]
        arn = distribution.get("ARN", "")
        dist_config = client.get_distribution_config(Id=dist_id).get("DistributionConfig", {})
        tag_items = client.list_tags_for_resource(Resource=arn).get("Tags", {}).get("Items")
        tags = tag_dict(tag_items)
        origins = distribution.get("Origins", {}).get("Items", []) or []
        domains = [str(o.get("DomainName", "")) for o in origins]
        aliases = distribution.get("Aliases", {}).get("Items", []) or []
        record = Record(
            type="AWS::CloudFront::Distribution",
            id=dist_id,
            region="global",
            arn=arn,
            name=tags.get("Name")
            or (aliases[0] if aliases else distribution.get("DomainName", "")),
            tags=tags,
            config={
                **distribution,
                "Logging": dist_config.get("Logging", {}),
                "OriginDomains": domains,
            },
        )
        for domain in domains:
            lowered = domain.lower().removeprefix("dualstack.")
            s3 = S3_ORIGIN.match(lowered)
            if s3:
                record.relate("has-origin", "AWS::S3::Bucket", s3.group("bucket"))
                continue
            lb_region = _origin_region(lowered)
            if lb_region:
                if lb_region not in lb_lookups:
                    lb_lookups[lb_region] = _load_balancers_by_dns(session, lb_region)
                target = lb_lookups[lb_region].get(lowered)
                if target:
                    record.relate("has-origin", *target)
        yield record
