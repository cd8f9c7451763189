"""Layers 3 and 4 — the ops path and the servers (seeds 000, 001, 002, 003)."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterator

from findings.models import Layer, Severity

from .base import AccountState, Hit, Res, cfg, rule, truthy

TRAIL = "AWS::CloudTrail::Trail"
RECORDER = "AWS::Config::ConfigurationRecorder"
LOG_GROUP = "AWS::Logs::LogGroup"
USER = "AWS::IAM::User"
INSTANCE = "AWS::EC2::Instance"
MANAGED = "AWS::SSM::ManagedInstance"

KEY_MAX_AGE_DAYS = 90


@rule(
    id="cloudtrail-not-all-regions",
    title="CloudTrail does not log every region",
    severity=Severity.HIGH,
    layer=Layer.OPS,
    source="seed 001",
    rationale="Seed 001: a leaked key launched large instances in unused regions within "
    "ten minutes; only a multi-region trail records that.",
    remediation="Create (or turn on) one multi-region trail that is logging.",
    types=(TRAIL,),
    account_wide=True,
    prowler="cloudtrail_multi_region_enabled",
)
def cloudtrail_not_all_regions(state: AccountState) -> Iterator[Hit]:
    """Passes when some trail is multi-region and logging (Status.IsLogging). Difference
    from Prowler, which reports per region: one account-wide finding, because the fix is
    one multi-region trail."""
    trails = state.of(TRAIL)
    for trail in trails:
        if truthy(cfg(trail, "IsMultiRegionTrail")) and truthy(cfg(trail, "Status", "IsLogging")):
            return
    yield Hit(
        resource=state.account_res(),
        title="No multi-region CloudTrail trail is logging",
        evidence={
            "trails": [
                {
                    "name": t.label,
                    "region": t.region,
                    "IsMultiRegionTrail": cfg(t, "IsMultiRegionTrail"),
                    "IsLogging": cfg(t, "Status", "IsLogging"),
                }
                for t in trails
            ]
        },
    )


@rule(
    id="config-not-recording",
    title="AWS Config is not recording",
    severity=Severity.MEDIUM,
    layer=Layer.OPS,
    source="seed 002",
    rationale="Seed 002: troubleshooting needs the history of configuration changes, which "
    "only a recording AWS Config keeps — and it must be on before the incident.",
    remediation="Create a configuration recorder and start it in this region.",
    types=(RECORDER,),
    prowler="config_recorder_all_regions_enabled",
)
def config_not_recording(state: AccountState) -> Iterator[Hit]:
    """Per collected region, as Prowler: no recorder, a recorder not recording, or one whose
    last status is a failure."""
    by_region: dict[str, list[Res]] = defaultdict(list)
    for rec in state.of(RECORDER):
        by_region[rec.region].append(rec)
    for region in state.regions:
        recorders = by_region.get(region, [])
        if not recorders:
            yield Hit(
                resource=state.account_res(region),
                title=f"No AWS Config recorder in {region}",
                evidence={"region": region},
            )
        for rec in recorders:
            status = cfg(rec, "Status") or {}
            failing = str(status.get("lastStatus", "")).lower() == "failure"
            if not truthy(status.get("recording")) or failing:
                yield Hit(
                    resource=rec,
                    title=f"Config recorder {rec.label} in {region} is "
                    + ("failing" if failing else "not recording"),
                    evidence={"Status": status},
                )


@rule(
    id="logs-group-no-retention",
    title="Log group keeps logs forever",
    severity=Severity.LOW,
    layer=Layer.OPS,
    source="seed 003",
    rationale="Seed 003: logs piling up with nobody deciding how long to keep them; never "
    "expiring log groups grow cost silently.",
    remediation="Set a retention period that matches the log's use.",
    types=(LOG_GROUP,),
    prowler="cloudwatch_log_group_retention_policy_specific_days_enabled",
)
def logs_group_no_retention(state: AccountState) -> Iterator[Hit]:
    """No retentionInDays ("never expire"). Deliberately the opposite of Prowler, which
    passes never-expire (it checks for a minimum kept); the seed's problem is the pile-up."""
    for group in state.of(LOG_GROUP):
        if not cfg(group, "retentionInDays"):
            yield Hit(
                resource=group,
                title=f"Log group {group.label} never expires",
                evidence={"storedBytes": cfg(group, "storedBytes")},
            )


@rule(
    id="iam-user-no-mfa",
    title="IAM user with a console password and no MFA",
    severity=Severity.HIGH,
    layer=Layer.OPS,
    source="seed 001",
    rationale="Seed 001: a leaked credential was used within minutes. A console password "
    "without MFA is one phishing mail away.",
    remediation="Enable MFA for the user, or remove the console password.",
    types=(USER,),
    prowler="iam_user_mfa_enabled_console_access",
)
def iam_user_no_mfa(state: AccountState) -> Iterator[Hit]:
    """As Prowler: console password (HasConsolePassword) and no MFA device."""
    for user in state.of(USER):
        if truthy(cfg(user, "HasConsolePassword")) and not cfg(user, "MfaDevices"):
            yield Hit(
                resource=user,
                title=f"{user.label} signs in without MFA",
                evidence={"HasConsolePassword": True, "MfaDevices": []},
            )


def _key_age(key: dict, now: dt.datetime) -> int | None:
    """Whole days since CreateDate, computed now: the collector stores the date, not an
    age, because an age changes every day and would make every re-sync a change."""
    created = key.get("CreateDate")
    if not created:
        return None
    try:
        when = dt.datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (now - when).days


@rule(
    id="iam-access-key-old",
    title="IAM access key older than 90 days",
    severity=Severity.MEDIUM,
    layer=Layer.OPS,
    source="seed 001",
    rationale="Seed 001: a leaked access key was the start of the incident; old keys are "
    "in more places than anyone remembers.",
    remediation="Rotate the key (create, deploy, deactivate, delete) or delete it if unused.",
    types=(USER,),
    prowler="iam_rotate_access_key_90_days",
)
def iam_access_key_old(state: AccountState) -> Iterator[Hit]:
    """An active key more than 90 days old (from its CreateDate), as Prowler's
    iam_rotate_access_key_90_days."""
    now = dt.datetime.now(tz=dt.UTC)
    for user in state.of(USER):
        for key in cfg(user, "AccessKeys") or []:
            if str(key.get("Status", "Active")) != "Active":
                continue
            age = _key_age(key, now)
            if age is not None and age > KEY_MAX_AGE_DAYS:
                key_id = str(key.get("AccessKeyId", ""))
                created = str(key.get("CreateDate") or "")[:10] or f"{age} days ago"
                # No age in the title or evidence: it would change every day and make
                # an unchanged finding look changed at each sync.
                yield Hit(
                    resource=user,
                    detail=key_id,
                    title=f"{user.label}: access key …{key_id[-4:]} older than "
                    f"{KEY_MAX_AGE_DAYS} days (created {created})",
                    evidence={
                        "AccessKeyId": key_id,
                        "CreateDate": key.get("CreateDate"),
                        "LastUsedDate": key.get("LastUsedDate"),
                    },
                )


BATCH = re.compile(r"batch|cron|job|worker|scheduler|jobs", re.IGNORECASE)


def _role(inst: Res) -> str:
    """An instance's role: its Role tag, else its Name without a trailing number."""
    for key in ("Role", "role", "Service", "service"):
        if inst.tags.get(key):
            return inst.tags[key]
    return re.sub(r"[-_.]?\d+$", "", inst.name or "")


@rule(
    id="single-instance-role",
    title="A lone batch server",
    severity=Severity.MEDIUM,
    layer=Layer.OPS,
    source="seed 000 (3-3) / 003",
    rationale="Seed 000: a lone batch server is a single point of failure; seed 003 found "
    "crontabs edited by hand on such servers, in no repository.",
    remediation="Document its crontab and jobs; make it reproducible, then redundant "
    "(a scheduler, or an Auto Scaling group of one at least).",
    types=(INSTANCE,),
)
def single_instance_role(state: AccountState) -> Iterator[Hit]:
    """A batch/cron/worker role (Role tag or Name) with exactly one live instance, not in
    an Auto Scaling group."""
    groups: dict[str, list[Res]] = defaultdict(list)
    for inst in state.of(INSTANCE):
        if cfg(inst, "State", "Name") in ("terminated", "shutting-down"):
            continue
        if "aws:autoscaling:groupName" in inst.tags:
            continue
        role = _role(inst)
        if role and BATCH.search(role):
            groups[role.lower()].append(inst)
    for role, members in groups.items():
        if len(members) == 1:
            inst = members[0]
            yield Hit(
                resource=inst,
                title=f"{inst.label} is the only {role!r} server",
                evidence={
                    "role": role,
                    "InstanceType": cfg(inst, "InstanceType"),
                    "State": cfg(inst, "State", "Name"),
                },
            )


@rule(
    id="ec2-not-ssm-managed",
    title="Instance not managed by SSM",
    severity=Severity.LOW,
    layer=Layer.SERVER,
    source="seed 000 (4)",
    rationale="Seed 000: when SSH is forbidden, SSM is how you look at processes, logs and "
    "disks (pstree, df -i). An unmanaged instance cannot be inspected.",
    remediation="Install/start the SSM agent and attach an instance profile with "
    "AmazonSSMManagedInstanceCore.",
    types=(INSTANCE, MANAGED),
    prowler="ec2_instance_managed_by_ssm",
)
def ec2_not_ssm_managed(state: AccountState) -> Iterator[Hit]:
    """Running instances with no SSM managed instance ("manages" relation, or its raw
    InstanceId). As Prowler, which also skips instances that are not running."""
    managed = set()
    for m in state.of(MANAGED):
        managed.update(m.related("manages"))
        if cfg(m, "InstanceId"):
            managed.add(cfg(m, "InstanceId"))
    for inst in state.of(INSTANCE):
        if cfg(inst, "State", "Name") != "running" or inst.resource_id in managed:
            continue
        yield Hit(
            resource=inst,
            title=f"{inst.label} is not managed by SSM",
            evidence={
                "IamInstanceProfile": cfg(inst, "IamInstanceProfile"),
                "PlatformDetails": cfg(inst, "PlatformDetails"),
            },
        )
