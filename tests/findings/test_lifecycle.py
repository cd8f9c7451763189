"""Findings across syncs: open, resolve on complete data only, regress, expire."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from findings import actions
from findings.evaluate import evaluate_sync
from findings.models import Finding, FindingEvent

REGION = "ap-northeast-1"
pytestmark = pytest.mark.django_db

SSH_WORLD = {
    "direction": "ingress",
    "protocol": "tcp",
    "from_port": 22,
    "to_port": 22,
    "cidr": "0.0.0.0/0",
    "description": "",
}


def test_it_opens_resolves_and_regresses_across_real_syncs(
    aws, make_account, run_sync, django_capture_on_commit_callbacks
):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="bastion", Description="b", VpcId=vpc)["GroupId"]
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh])
    account = make_account()

    def sync():
        with django_capture_on_commit_callbacks(execute=True):
            return run_sync(account)

    first = sync()
    finding = Finding.objects.get(rule="sg-ssh-open-to-world", resource_id=group)
    assert finding.status == Finding.Status.OPEN
    assert finding.first_seen_sync == first
    assert finding.stored_resource.resource_id == group
    assert finding.due_date == timezone.localdate() + dt.timedelta(days=7)  # high: a week

    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[ssh])
    second = sync()
    finding.refresh_from_db()
    assert second.status == "complete"
    assert finding.status == Finding.Status.RESOLVED
    assert finding.resolved_sync == second

    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh])
    sync()
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN
    assert finding.regressed
    assert finding.resolved_sync is None
    kinds = list(finding.events.values_list("kind", flat=True))
    assert kinds == ["opened", "resolved", "regressed"]
    assert Finding.objects.filter(rule="sg-ssh-open-to-world", resource_id=group).count() == 1


@pytest.fixture
def open_ssh(account, make_resource, make_sync):
    """An SSH-open group and the finding a complete sync raised on it."""
    group = make_resource(
        "AWS::EC2::SecurityGroup",
        "sg-1",
        config={"Rules": [SSH_WORLD]},
        scope=f"ec2.security_groups:{REGION}",
    )
    evaluate_sync(make_sync())
    finding = Finding.objects.get(rule="sg-ssh-open-to-world")
    return group, finding


def _fix(group) -> None:
    group.config = {"Rules": []}
    group.save()


def test_a_partial_sync_resolves_nothing(open_ssh, make_sync):
    group, finding = open_ssh
    _fix(group)  # the stored state says fixed, but the unit that reads it failed
    sync = make_sync(
        "partial",
        units={
            ("ec2.security_groups", REGION): "failed",
            ("ec2.vpcs", REGION): "done",
        },
    )
    evaluate_sync(sync)
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN


def test_a_complete_sync_of_the_finding_scope_resolves(open_ssh, make_sync):
    group, finding = open_ssh
    _fix(group)
    # Partial overall, but everything EC2 in the finding's region was collected.
    units = {(k, r): s for (k, r), s in _all_done().items()}
    units[("rds.instances", REGION)] = "failed"
    sync = make_sync("partial", units=units)
    evaluate_sync(sync)
    finding.refresh_from_db()
    assert finding.status == Finding.Status.RESOLVED
    assert finding.resolved_sync == sync


def test_another_region_collected_resolves_nothing_here(open_ssh, make_sync):
    group, finding = open_ssh
    _fix(group)
    units = {(k, "us-east-1" if r == REGION else r): s for (k, r), s in _all_done().items()}
    evaluate_sync(make_sync(units=units, regions=["us-east-1"]))
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN


def test_a_failed_sync_evaluates_nothing(account, make_resource, make_sync):
    make_resource("AWS::EC2::SecurityGroup", "sg-1", config={"Rules": [SSH_WORLD]})
    evaluate_sync(make_sync("failed"))
    assert not Finding.objects.exists()


def test_account_wide_rules_need_every_region(account, make_resource, make_sync):
    evaluate_sync(make_sync())
    finding = Finding.objects.get(rule="cloudtrail-not-all-regions")
    make_resource(
        "AWS::CloudTrail::Trail",
        "all",
        region="us-east-1",
        scope="cloudtrail.trails:us-east-1",
        config={"IsMultiRegionTrail": True, "Status": {"IsLogging": True}},
    )
    units = _all_done()
    units[("cloudtrail.trails", "us-east-1")] = "failed"
    evaluate_sync(make_sync("partial", units=units, regions=[REGION, "us-east-1"]))
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN
    units[("cloudtrail.trails", "us-east-1")] = "done"
    evaluate_sync(make_sync(units=units, regions=[REGION, "us-east-1"]))
    finding.refresh_from_db()
    assert finding.status == Finding.Status.RESOLVED


def test_accepted_risk_stays_accepted_while_seen_and_reopens_on_expiry(
    open_ssh, make_sync, make_user
):
    _, finding = open_ssh
    lead = make_user("lead")
    expiry = timezone.now() + dt.timedelta(days=30)
    actions.accept_risk(
        finding, by=lead, reason="Bastion for the vendor until March", expires_at=expiry
    )
    evaluate_sync(make_sync())
    finding.refresh_from_db()
    assert finding.status == Finding.Status.ACCEPTED

    assert actions.reopen_expired(now=expiry - dt.timedelta(minutes=1)) == 0
    assert actions.reopen_expired(now=expiry + dt.timedelta(minutes=1)) == 1
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN
    assert finding.expires_at is None
    last = finding.events.last()
    assert last.kind == FindingEvent.Kind.EXPIRED and last.actor is None
    assert actions.reopen_expired(now=expiry + dt.timedelta(days=1)) == 0  # safe to run twice


def test_the_beat_task_reopens_expired(open_ssh, make_user):
    from findings.tasks import reopen_expired_task

    _, finding = open_ssh
    actions.mark_false_positive(
        finding,
        by=make_user("lead"),
        reason="It is a honeypot",
        expires_at=timezone.now() + dt.timedelta(seconds=1),
    )
    Finding.objects.filter(pk=finding.pk).update(expires_at=timezone.now() - dt.timedelta(1))
    assert reopen_expired_task.run() == 1


def _all_done() -> dict:
    from inventory.collectors import COLLECTORS

    return {(c.key, "global" if c.global_ else REGION): "done" for c in COLLECTORS.values()}


def test_an_accepted_risk_that_resolves_and_comes_back_is_still_accepted(
    open_ssh, make_sync, make_user
):
    group, finding = open_ssh
    actions.accept_risk(finding, by=make_user("lead"), reason="Vendor bastion, agreed with CISO")
    _fix(group)
    evaluate_sync(make_sync())
    finding.refresh_from_db()
    assert finding.status == Finding.Status.RESOLVED

    group.config = {"Rules": [SSH_WORLD]}  # the group was re-created as it was
    group.save()
    evaluate_sync(make_sync())

    finding.refresh_from_db()
    assert finding.status == Finding.Status.ACCEPTED
    assert finding.regressed is True
    assert finding.reason == "Vendor bastion, agreed with CISO"
    assert finding.events.last().kind == FindingEvent.Kind.REGRESSED


def test_an_expired_acceptance_comes_back_open(open_ssh, make_sync, make_user):
    group, finding = open_ssh
    expiry = timezone.now() + dt.timedelta(days=1)
    actions.accept_risk(finding, by=make_user("lead"), reason="Until tomorrow", expires_at=expiry)
    _fix(group)
    evaluate_sync(make_sync())
    Finding.objects.filter(pk=finding.pk).update(expires_at=timezone.now() - dt.timedelta(hours=1))
    group.config = {"Rules": [SSH_WORLD]}
    group.save()
    evaluate_sync(make_sync())

    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN
