"""The collector registry: one module per AWS service, one line per collector.

A collector is a function `collect_x(session, region) -> Iterator[Record]` in
its service's module, listed below. Collectors fetch; they never write to the
database. `session` is an `inventory.aws.AwsSession` (or anything with the
same `client(service, region_name=…)` method, such as a plain boto3 Session in
tests).
"""

from __future__ import annotations

from . import (
    autoscaling,
    cloudfront,
    cloudtrail,
    directconnect,
    dynamodb,
    ec2,
    ecs,
    elasticache,
    elb,
    elbv2,
    events,
    glacier,
    iam,
    lambda_,
    logs,
    opensearch,
    rds,
    s3,
    ssm,
)
from . import config as config_
from .base import Collector, Record, Relation, content_hash, jsonable, tag_dict

_ALL = [
    # --- Layer 1: external connections and networking (EC2 APIs) ---
    Collector("ec2.vpcs", "ec2", ec2.collect_vpcs),
    Collector("ec2.subnets", "ec2", ec2.collect_subnets),
    Collector("ec2.security_groups", "ec2", ec2.collect_security_groups),
    Collector("ec2.route_tables", "ec2", ec2.collect_route_tables),
    Collector("ec2.internet_gateways", "ec2", ec2.collect_internet_gateways),
    Collector("ec2.nat_gateways", "ec2", ec2.collect_nat_gateways),
    Collector("ec2.addresses", "ec2", ec2.collect_addresses),
    Collector("ec2.vpc_endpoints", "ec2", ec2.collect_vpc_endpoints),
    Collector("ec2.flow_logs", "ec2", ec2.collect_flow_logs),
    Collector("ec2.vpc_peering", "ec2", ec2.collect_vpc_peering),
    Collector("ec2.customer_gateways", "ec2", ec2.collect_customer_gateways),
    Collector("ec2.vpn_gateways", "ec2", ec2.collect_vpn_gateways),
    Collector("ec2.vpn_connections", "ec2", ec2.collect_vpn_connections),
    Collector("ec2.transit_gateways", "ec2", ec2.collect_transit_gateways),
    Collector("ec2.transit_gateway_attachments", "ec2", ec2.collect_transit_gateway_attachments),
    Collector("ec2.network_acls", "ec2", ec2.collect_network_acls),
    Collector("ec2.prefix_lists", "ec2", ec2.collect_prefix_lists),
    Collector("directconnect.connections", "directconnect", directconnect.collect_connections),
    Collector(
        "directconnect.virtual_interfaces",
        "directconnect",
        directconnect.collect_virtual_interfaces,
    ),
    # --- end layer 1 ---
    # --- Layer 2: system path ---
    Collector("ec2.instances", "ec2", ec2.collect_instances, layer=2),
    Collector(
        "autoscaling.groups", "autoscaling", autoscaling.collect_auto_scaling_groups, layer=2
    ),
    Collector("elb.load_balancers", "elb", elb.collect_load_balancers, layer=2),
    Collector("elbv2.load_balancers", "elbv2", elbv2.collect_load_balancers, layer=2),
    Collector("elbv2.target_groups", "elbv2", elbv2.collect_target_groups, layer=2),
    Collector(
        "cloudfront.distributions",
        "cloudfront",
        cloudfront.collect_distributions,
        layer=2,
        global_=True,
    ),
    Collector("elasticache.clusters", "elasticache", elasticache.collect_cache_clusters, layer=2),
    Collector(
        "elasticache.replication_groups",
        "elasticache",
        elasticache.collect_replication_groups,
        layer=2,
    ),
    Collector("rds.instances", "rds", rds.collect_db_instances, layer=2),
    Collector("rds.clusters", "rds", rds.collect_db_clusters, layer=2),
    Collector("rds.parameter_groups", "rds", rds.collect_db_parameter_groups, layer=2),
    Collector(
        "rds.cluster_parameter_groups", "rds", rds.collect_db_cluster_parameter_groups, layer=2
    ),
    Collector("rds.subnet_groups", "rds", rds.collect_db_subnet_groups, layer=2),
    Collector("opensearch.domains", "opensearch", opensearch.collect_domains, layer=2),
    Collector("dynamodb.tables", "dynamodb", dynamodb.collect_tables, layer=2),
    Collector("s3.buckets", "s3", s3.collect_buckets, layer=2, global_=True),
    Collector("ec2.volumes", "ec2", ec2.collect_volumes, layer=2),
    # --- end layer 2 ---
    # --- Layer 3: ops path ---
    Collector("lambda.functions", "lambda", lambda_.collect_functions, layer=3),
    Collector("ecs.clusters", "ecs", ecs.collect_clusters, layer=3),
    Collector("ecs.services", "ecs", ecs.collect_services, layer=3),
    Collector("events.rules", "events", events.collect_rules, layer=3),
    Collector("iam.users", "iam", iam.collect_users, layer=3, global_=True),
    Collector("iam.roles", "iam", iam.collect_roles, layer=3, global_=True),
    Collector("iam.password_policy", "iam", iam.collect_password_policy, layer=3, global_=True),
    Collector("cloudtrail.trails", "cloudtrail", cloudtrail.collect_trails, layer=3),
    Collector("config.recorders", "config", config_.collect_recorders, layer=3),
    Collector("logs.log_groups", "logs", logs.collect_log_groups, layer=3),
    Collector("glacier.vaults", "glacier", glacier.collect_vaults, layer=3),
    Collector("ssm.managed_instances", "ssm", ssm.collect_managed_instances, layer=3),
    # --- end layer 3 ---
]

COLLECTORS: dict[str, Collector] = {c.key: c for c in _ALL}

__all__ = ["COLLECTORS", "Collector", "Record", "Relation", "content_hash", "jsonable", "tag_dict"]
