"""OpenSearch and Elasticsearch domains: access policy, VPC placement, endpoint.

`config["AccessPolicies"]` is the policy document as JSON when AWS returns a
JSON string (the raw string when it does not parse).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .base import Record, tag_dict

# DescribeDomains accepts at most 5 domain names per call.
DESCRIBE_BATCH = 5


def parse_policy(policy: Any) -> Any:
    """A policy document as JSON; anything else (empty, malformed) unchanged."""
    if isinstance(policy, str) and policy.strip():
        try:
            return json.loads(policy)
        except ValueError:
            return policy
    return policy


def collect_domains(session: Any, region: str) -> Iterator[Record]:
    client = session.client("opensearch", region_name=region)
    # ListDomainNames has no pagination: it returns every domain of the region.
    names = [d["DomainName"] for d in client.list_domain_names().get("DomainNames", [])]
    for start in range(0, len(names), DESCRIBE_BATCH):
        batch = names[start : start + DESCRIBE_BATCH]
        for domain in client.describe_domains(DomainNames=batch).get("DomainStatusList", []):
            name = domain["DomainName"]
            arn = domain.get("ARN", "")
            tags = tag_dict(client.list_tags(ARN=arn).get("TagList")) if arn else {}
            vpc = domain.get("VPCOptions") or {}
            record = Record(
                type="AWS::OpenSearchService::Domain",
                id=name,
                region=region,
                arn=arn,
                name=name,
                tags=tags,
                config={**domain, "AccessPolicies": parse_policy(domain.get("AccessPolicies"))},
            )
            for subnet in vpc.get("SubnetIds", []):
                record.relate("in-subnet", "AWS::EC2::Subnet", subnet)
            for group in vpc.get("SecurityGroupIds", []):
                record.relate("uses-security-group", "AWS::EC2::SecurityGroup", group)
            record.relate("in-vpc", "AWS::EC2::VPC", vpc.get("VPCId"))
            yield record
