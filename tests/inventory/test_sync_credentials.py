"""Long syncs refresh assumed-role credentials before they expire (issue 2).

moto does not expire credentials, so the test moves botocore's clock instead: half-way
through a sync the clock jumps past the assumed role's expiry, as if the sync had run
for hours. The sync must still complete, having assumed the role again before its next
call rather than failing on an expired token.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import pytest
from botocore import credentials as botocore_credentials

from inventory import aws
from inventory import sync as sync_service
from inventory.collectors import COLLECTORS
from inventory.models import Account, Resource, Sync
from tests.support.faults import FaultInjector

ROLE = "arn:aws:iam::123456789012:role/catchup-readonly"
BASE_COLLECTORS = ("ec2.vpcs", "ec2.subnets", "ec2.security_groups", "ec2.instances")


class Clock:
    """botocore's notion of now, which the test can move forward."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(tz=dt.UTC) + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    # The fetcher's own cache asks the module's clock; the refreshable credentials take
    # theirs as an argument, bound when the session is made.
    monkeypatch.setattr(botocore_credentials, "_local_now", clock)

    class ClockedCredentials(botocore_credentials.DeferredRefreshableCredentials):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, time_fetcher=clock, **kwargs)

    monkeypatch.setattr(aws, "DeferredRefreshableCredentials", ClockedCredentials)

    def on_assume_role(parsed: dict[str, Any], **_: Any) -> None:
        # AWS dates the credentials it issues from its own now (moto from the real one).
        if "Credentials" in parsed:
            parsed["Credentials"]["Expiration"] = clock() + dt.timedelta(hours=1)

    def hook(session: Any) -> None:
        session._session.get_component("event_emitter").register(
            "after-call.sts.AssumeRole", on_assume_role
        )

    monkeypatch.setattr(aws, "session_hooks", [*aws.session_hooks, hook])
    return clock


@pytest.mark.django_db(transaction=True)
def test_a_sync_that_outlives_its_role_credentials_assumes_the_role_again(
    aws: boto3.Session,
    clock: Clock,
    make_account: Any,
    run_sync: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        sync_service, "COLLECTORS", {key: COLLECTORS[key] for key in BASE_COLLECTORS}
    )
    settings.CATCHUP_SYNC_CONCURRENCY = 1  # units one after the other: a known order
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)
    account = make_account(auth_mode=Account.AuthMode.ROLE, role_arn=ROLE, external_id="catchup-x1")
    recorder = FaultInjector()
    # moto's assumed-role credentials last an hour: when the sync reaches its security
    # groups, two hours have "passed".
    recorder.add(
        "slow",
        operation="DescribeSecurityGroups",
        first=1,
        when=lambda call: setattr(clock, "offset", dt.timedelta(hours=2)) is None,
    )

    with recorder.install():
        sync = run_sync(account)

    assert sync.status == Sync.Status.COMPLETE, (sync.error, list(sync.tasks.values()))
    assume = recorder.calls_to(operation="AssumeRole")
    assert len(assume) == 2  # once at the start, once when the first credentials ran out
    assert all(c.params["ExternalId"] == "catchup-x1" for c in assume)
    # The calls after the refresh went through: the instance was collected.
    assert Resource.objects.filter(
        type="AWS::EC2::Instance", resource_id=instance["Instances"][0]["InstanceId"]
    ).exists()


@pytest.mark.django_db(transaction=True)
def test_credentials_that_are_still_fresh_are_not_fetched_again(
    aws: boto3.Session, clock: Clock, make_account: Any, run_sync: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(
        sync_service, "COLLECTORS", {key: COLLECTORS[key] for key in BASE_COLLECTORS}
    )
    account = make_account(auth_mode=Account.AuthMode.ROLE, role_arn=ROLE, external_id="catchup-x1")
    recorder = FaultInjector()

    with recorder.install():
        first = run_sync(account)
        clock.offset = dt.timedelta(minutes=30)  # well inside the hour
        second = run_sync(account)

    assert (first.status, second.status) == (Sync.Status.COMPLETE, Sync.Status.COMPLETE)
    assert len(recorder.calls_to(operation="AssumeRole")) == 1  # one session, reused
