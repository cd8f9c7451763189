"""The rule registry: one module per layer, one line per rule (like collectors)."""

from __future__ import annotations

from . import data, network, ops
from .base import ACCOUNT_TYPE, AccountState, Hit, Res, Rule, fingerprint

_ALL: list[Rule] = [
    # --- Layer 1: external connections ---
    network.sg_ssh_open_to_world,
    network.sg_rdp_open_to_world,
    network.sg_db_port_open_to_world,
    network.sg_rule_unexplained_source,
    network.production_named_resource,
    network.vpc_flow_logs_off,
    network.eip_unassociated,
    network.default_vpc_in_use,
    network.resources_in_unexpected_region,
    network.nacl_blocks_intra_vpc,
    # --- Layer 2: system path ---
    data.rds_backup_retention_short,
    data.rds_window_in_business_hours,
    data.rds_not_multi_az,
    data.rds_parameter_group_modified,
    data.elb_access_logs_off,
    data.cloudfront_logging_off,
    data.s3_bucket_public,
    data.ebs_gp2_volume,
    # --- Layers 3-4: ops path and servers ---
    ops.cloudtrail_not_all_regions,
    ops.config_not_recording,
    ops.logs_group_no_retention,
    ops.iam_user_no_mfa,
    ops.iam_access_key_old,
    ops.single_instance_role,
    ops.ec2_not_ssm_managed,
]

RULES: dict[str, Rule] = {r.id: r for r in _ALL}

__all__ = ["ACCOUNT_TYPE", "RULES", "AccountState", "Hit", "Res", "Rule", "fingerprint"]
