"""The collector registry: one module per AWS service, one line per collector.

A collector is a function `collect_x(session, region) -> Iterator[Record]` in
its service's module, listed below. Collectors fetch; they never write to the
database. `session` is an `inventory.aws.AwsSession` (or anything with the
same `client(service, region_name=…)` method, such as a plain boto3 Session in
tests).
"""

from __future__ import annotations

from . import ec2
from .base import Collector, Record, Relation, content_hash, jsonable, tag_dict

_ALL = [
    # --- Layer 1: external connections and networking (EC2 APIs) ---
    Collector("ec2.vpcs", "ec2", ec2.collect_vpcs),
    Collector("ec2.subnets", "ec2", ec2.collect_subnets),
    Collector("ec2.security_groups", "ec2", ec2.collect_security_groups),
    # --- end layer 1 ---
    # --- Layer 2: system path ---
    Collector("ec2.instances", "ec2", ec2.collect_instances, layer=2),
    # --- end layer 2 ---
    # --- Layer 3: ops path ---
    # --- end layer 3 ---
]

COLLECTORS: dict[str, Collector] = {c.key: c for c in _ALL}

__all__ = ["COLLECTORS", "Collector", "Record", "Relation", "content_hash", "jsonable", "tag_dict"]
