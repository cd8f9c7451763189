"""Layer 2 — the system path: load balancers, CDN, databases, storage (seeds 000, 001, 003)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from findings.models import Layer, Severity

from .base import AccountState, Hit, Res, cfg, rule, truthy
from .windows import business_hours_utc, daily_window, overlap, weekly_window

DB_INSTANCE = "AWS::RDS::DBInstance"
DB_CLUSTER = "AWS::RDS::DBCluster"
DB_PARAMS = "AWS::RDS::DBParameterGroup"
DB_CLUSTER_PARAMS = "AWS::RDS::DBClusterParameterGroup"
CLB = "AWS::ElasticLoadBalancing::LoadBalancer"
ALB = "AWS::ElasticLoadBalancingV2::LoadBalancer"
CLOUDFRONT = "AWS::CloudFront::Distribution"
BUCKET = "AWS::S3::Bucket"
VOLUME = "AWS::EC2::Volume"


def _databases(state: AccountState) -> Iterator[tuple[Res, bool]]:
    """Instances that own their backups (not Aurora members) and clusters; flag = cluster."""
    for db in state.of(DB_INSTANCE):
        if not cfg(db, "DBClusterIdentifier"):
            yield db, False
    for cluster in state.of(DB_CLUSTER):
        yield cluster, True


@rule(
    id="rds-backup-retention-short",
    title="Database backups kept too briefly",
    severity=Severity.MEDIUM,
    layer=Layer.SYSTEM,
    source="seed 000 (3-2) / 003",
    rationale="Seed 000 asks how many generations of DB backups are kept; seed 003 found "
    "backups that had silently failed. Fewer days than the account's minimum (default 7) "
    "leaves no room to notice a bad change before its backup is gone.",
    remediation="Raise BackupRetentionPeriod to at least the account's minimum.",
    types=(DB_INSTANCE, DB_CLUSTER),
    prowler="rds_instance_backup_enabled",
)
def rds_backup_retention_short(state: AccountState) -> Iterator[Hit]:
    """BackupRetentionPeriod below the account minimum. Prowler only fails 0 (no backups);
    we fail anything under the minimum (0 included), which is stricter on purpose."""
    minimum = state.settings.min_backup_retention_days
    for db, _ in _databases(state):
        days = cfg(db, "BackupRetentionPeriod")
        if days is not None and int(days) < minimum:
            yield Hit(
                resource=db,
                title=f"{db.label} keeps backups {days} day(s) (< {minimum})",
                evidence={"BackupRetentionPeriod": days, "minimum": minimum},
            )


@rule(
    id="rds-window-in-business-hours",
    title="Database backup or maintenance window in business hours",
    severity=Severity.LOW,
    layer=Layer.SYSTEM,
    source="seed 000 (3-2)",
    rationale="Seed 000: check whether backup and maintenance windows fall in business "
    "hours; a backup's I/O or a maintenance reboot at noon is an outage users notice.",
    remediation="Move PreferredBackupWindow / PreferredMaintenanceWindow outside business "
    "hours (they are in UTC; business hours in the account's time zone).",
    types=(DB_INSTANCE, DB_CLUSTER),
)
def rds_window_in_business_hours(state: AccountState) -> Iterator[Hit]:
    """Windows are UTC (AWS documents them so); business hours are local. A window crossing
    midnight or the week's end counts on both sides. Aurora members are judged on their
    maintenance window only (their backups belong to the cluster)."""
    s = state.settings
    hours = business_hours_utc(
        s.business_hours_start, s.business_hours_end, s.weekdays, s.time_zone
    )
    for db in [*state.of(DB_INSTANCE), *state.of(DB_CLUSTER)]:
        member = db.type == DB_INSTANCE and bool(cfg(db, "DBClusterIdentifier"))
        windows = [("maintenance", "PreferredMaintenanceWindow", weekly_window)]
        if not member:
            windows.insert(0, ("backup", "PreferredBackupWindow", daily_window))
        for kind, key, parse in windows:
            text = cfg(db, key)
            if not text:
                continue
            try:
                intervals = parse(text)
            except (ValueError, IndexError):
                continue  # a shape AWS does not document: say nothing rather than guess
            if overlap(intervals, hours):
                yield Hit(
                    resource=db,
                    detail=kind,
                    title=f"{db.label}: {kind} window {text} (UTC) in business hours",
                    evidence={
                        key: text,
                        "time_zone": s.time_zone,
                        "business_hours": f"{s.business_hours_start:%H:%M}-"
                        f"{s.business_hours_end:%H:%M}",
                    },
                )


@rule(
    id="rds-not-multi-az",
    title="Database is not Multi-AZ",
    severity=Severity.MEDIUM,
    layer=Layer.SYSTEM,
    source="seed 000 (3-2)",
    rationale="A single-AZ database is a single point of failure on the system path.",
    remediation="Enable Multi-AZ (or add an Aurora replica in another AZ).",
    types=(DB_INSTANCE, DB_CLUSTER),
    prowler="rds_instance_multi_az",
)
def rds_not_multi_az(state: AccountState) -> Iterator[Hit]:
    """As Prowler: an instance in a cluster is judged by its cluster (reported once, on the
    cluster); a standalone instance by its own MultiAZ."""
    for db, _ in _databases(state):
        if cfg(db, "MultiAZ") is not None and not truthy(cfg(db, "MultiAZ")):
            yield Hit(
                resource=db,
                title=f"{db.label} runs in one availability zone",
                evidence={
                    "MultiAZ": cfg(db, "MultiAZ"),
                    "AvailabilityZone": cfg(db, "AvailabilityZone"),
                },
            )


@rule(
    id="rds-parameter-group-modified",
    title="Database parameters differ from the defaults",
    severity=Severity.INFO,
    layer=Layer.SYSTEM,
    source="seed 000 (3-2) / 003",
    rationale="Seed 000: what runs in production is the truth; parameters that differ from "
    "the design must be traced to why they were changed.",
    remediation="Find why each parameter was changed and write it down.",
    types=(DB_PARAMS, DB_CLUSTER_PARAMS),
)
def rds_parameter_group_modified(state: AccountState) -> Iterator[Hit]:
    """A custom parameter group with user-modified parameters (config["ModifiedParameters"],
    a list of DescribeDBParameters items with Source "user", or a name->value dict)."""
    for group in state.of(DB_PARAMS, DB_CLUSTER_PARAMS):
        modified = cfg(group, "ModifiedParameters") or []
        if isinstance(modified, dict):
            names = sorted(modified)
        else:
            names = sorted(
                str(p.get("ParameterName"))
                for p in modified
                if isinstance(p, dict) and p.get("Source", "user") == "user"
            )
        if names:
            yield Hit(
                resource=group,
                title=f"{group.label}: {len(names)} modified parameter(s)",
                evidence={"ModifiedParameters": modified},
            )


def lb_access_logs(lb: Res) -> bool | None:
    """True/False from the collector's Attributes; None when they were not collected."""
    attrs = cfg(lb, "Attributes")
    if attrs is None:
        return None
    if isinstance(attrs, list):  # the raw v2 [{Key, Value}] shape
        attrs = {a.get("Key"): a.get("Value") for a in attrs}
    if "AccessLog" in attrs:  # classic
        return truthy((attrs.get("AccessLog") or {}).get("Enabled"))
    return truthy(attrs.get("access_logs.s3.enabled"))


@rule(
    id="elb-access-logs-off",
    title="Load balancer access logs are off",
    severity=Severity.MEDIUM,
    layer=Layer.SYSTEM,
    source="seed 001",
    rationale="Seed 001: ELB logs must be on before an incident; afterwards it is too late "
    "to know who called what.",
    remediation="Enable access logs to an S3 bucket.",
    types=(CLB, ALB),
    prowler="elb_logging_enabled / elbv2_logging_enabled",
)
def elb_access_logs_off(state: AccountState) -> Iterator[Hit]:
    """Classic AccessLog.Enabled / v2 access_logs.s3.enabled false, as Prowler. Gateway load
    balancers have no access logs and are skipped; missing attributes say nothing."""
    for lb in state.of(CLB, ALB):
        if cfg(lb, "Type") == "gateway":
            continue
        if lb_access_logs(lb) is False:
            yield Hit(
                resource=lb,
                title=f"No access logs on {lb.label}",
                evidence={"Attributes": cfg(lb, "Attributes")},
            )


@rule(
    id="cloudfront-logging-off",
    title="CloudFront access logging is off",
    severity=Severity.MEDIUM,
    layer=Layer.SYSTEM,
    source="seed 001",
    rationale="Seed 001: CloudFront logs must be on to reconstruct an incident.",
    remediation="Enable standard logging (or real-time logs) on the distribution.",
    types=(CLOUDFRONT,),
    prowler="cloudfront_distributions_logging_enabled",
)
def cloudfront_logging_off(state: AccountState) -> Iterator[Hit]:
    """As Prowler: logging enabled, or a real-time log config on the default cache behaviour,
    passes. Logging is read from config["Logging"] or the raw DistributionConfig."""
    for dist in state.of(CLOUDFRONT):
        logging = cfg(dist, "Logging")
        if logging is None:
            logging = cfg(dist, "DistributionConfig", "Logging")
        if logging is None:
            continue  # not collected: say nothing
        realtime = cfg(dist, "DefaultCacheBehavior", "RealtimeLogConfigArn") or cfg(
            dist, "DistributionConfig", "DefaultCacheBehavior", "RealtimeLogConfigArn"
        )
        if not truthy(logging.get("Enabled")) and not realtime:
            yield Hit(
                resource=dist,
                title=f"No access logs on distribution {dist.label}",
                evidence={"Logging": logging},
            )


PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def _public_grants(acl: Any) -> list[dict[str, Any]]:
    grants = (acl or {}).get("Grants", []) if isinstance(acl, dict) else []
    return [g for g in grants if (g.get("Grantee") or {}).get("URI") in PUBLIC_GRANTEES]


def _public_statements(policy: Any) -> list[dict[str, Any]]:
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return []
    statements = (policy or {}).get("Statement", []) if isinstance(policy, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    public = []
    for st in statements:
        principal = st.get("Principal")
        anyone = principal == "*" or (
            isinstance(principal, dict)
            and "*"
            in (
                [principal.get("AWS")]
                if isinstance(principal.get("AWS"), str)
                else principal.get("AWS") or []
            )
        )
        if st.get("Effect") == "Allow" and anyone and not st.get("Condition"):
            public.append(st)
    return public


@rule(
    id="s3-bucket-public",
    title="S3 bucket is public",
    severity=Severity.HIGH,
    layer=Layer.SYSTEM,
    source="seed 003",
    rationale="Seed 003: years of hand-made buckets; one readable by anyone leaks data "
    "nobody remembers putting there.",
    remediation="Turn on Block Public Access, or serve through CloudFront with an origin "
    "access control.",
    types=(BUCKET,),
    prowler="s3_bucket_public_access",
)
def s3_bucket_public(state: AccountState) -> Iterator[Hit]:
    """Public by ACL (AllUsers/AuthenticatedUsers) unless IgnorePublicAcls, or by policy
    (PolicyStatus.IsPublic, or an unconditioned Allow to "*") unless RestrictPublicBuckets.
    Difference from Prowler: the account-level Block Public Access is not collected, so
    only the bucket's own block is considered."""
    for bucket in state.of(BUCKET):
        block = cfg(bucket, "PublicAccessBlock") or {}
        if isinstance(block, dict) and "PublicAccessBlockConfiguration" in block:
            block = block["PublicAccessBlockConfiguration"]
        reasons = []
        if not truthy(block.get("IgnorePublicAcls")) and _public_grants(cfg(bucket, "Acl")):
            reasons.append("ACL grants everyone")
        if not truthy(block.get("RestrictPublicBuckets")):
            status = cfg(bucket, "PolicyStatus") or {}
            status = status.get("PolicyStatus", status)
            if truthy(status.get("IsPublic")) or _public_statements(cfg(bucket, "Policy")):
                reasons.append("policy allows everyone")
        if reasons:
            yield Hit(
                resource=bucket,
                title=f"Bucket {bucket.label} is public: " + ", ".join(reasons),
                evidence={
                    k: cfg(bucket, k)
                    for k in ("PublicAccessBlock", "Acl", "Policy", "PolicyStatus")
                },
            )


@rule(
    id="ebs-gp2-volume",
    title="gp2 EBS volume (burst credits)",
    severity=Severity.LOW,
    layer=Layer.SYSTEM,
    source="seed 002 / 003",
    rationale="Seeds 002/003: gp2 volumes run out of I/O burst credits and the server "
    "slows to a crawl with nothing in the logs; gp3 has a baseline instead.",
    remediation="Migrate the volume to gp3 (online, no detach).",
    types=(VOLUME,),
)
def ebs_gp2_volume(state: AccountState) -> Iterator[Hit]:
    """VolumeType gp2."""
    for vol in state.of(VOLUME):
        if cfg(vol, "VolumeType") == "gp2":
            yield Hit(
                resource=vol,
                title=f"Volume {vol.label} is gp2 ({cfg(vol, 'Size')} GiB)",
                evidence={k: cfg(vol, k) for k in ("VolumeType", "Size", "Iops")},
            )
