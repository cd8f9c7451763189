"""A real celery worker subprocess syncs an account served by a moto server.

Needs PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL); skipped without
them unless CATCHUP_REQUIRE_SERVICES=1 (CI), which turns the skip into a failure.
The worker uses the test database, so these tests use `transactional_db`: it
must see committed rows. The worker fixtures are in conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from django.db import connections

from inventory import sync as sync_service
from inventory.models import Account, Resource, Sync
from tests.inventory.conftest import WAIT_SECONDS, wait_finished
from tests.inventory.conftest import kill_worker as _kill
from tests.inventory.conftest import services_missing as _services_missing
from tests.support.proxy import FaultProxy

pytestmark = pytest.mark.integration

REGION = "ap-northeast-1"


@pytest.fixture(autouse=True)
def _require_services() -> None:
    missing = _services_missing()
    if missing:
        if os.environ.get("CATCHUP_REQUIRE_SERVICES") == "1":
            pytest.fail(f"CATCHUP_REQUIRE_SERVICES=1 but {missing}")
        pytest.skip(f"integration test needs PostgreSQL and Redis: {missing}")


def build_estate(endpoint: str) -> dict[str, set[str]]:
    ec2 = boto3.Session(region_name=REGION).client("ec2", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="honban-web", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="203.0.113.45/32"
    )
    instances = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=3, MaxCount=3, SubnetId=subnet, SecurityGroupIds=[sg]
    )["Instances"]
    return {
        "AWS::EC2::VPC": {vpc},
        "AWS::EC2::Subnet": {subnet},
        "AWS::EC2::SecurityGroup": {sg},
        "AWS::EC2::Instance": {i["InstanceId"] for i in instances},
    }


def stored(type_: str) -> set[str]:
    return set(
        Resource.objects.filter(type=type_, removed_at__isnull=True).values_list(
            "resource_id", flat=True
        )
    )


def test_a_celery_worker_syncs_an_account_served_by_moto(
    moto_url: str, start_worker: Callable[[], subprocess.Popen]
) -> None:
    estate = build_estate(moto_url)
    account = Account.objects.create(name="legacy", regions=[REGION], endpoint_url=moto_url)
    start_worker()

    sync = wait_finished(sync_service.request(account))

    failures = list(sync.tasks.exclude(status="done").values_list("collector", "error_message"))
    assert sync.status == Sync.Status.COMPLETE, (sync.error, failures)
    assert sync.tasks_total == sync.tasks_done > 0
    assert sync.aws_account_id == "123456789012"
    for type_, ids in estate.items():
        assert ids <= stored(type_), type_
    assert stored("AWS::EC2::Instance") == estate["AWS::EC2::Instance"]


def test_a_killed_worker_ends_the_sync_failed_and_the_account_syncs_again(
    moto_url: str, start_worker: Callable[[], subprocess.Popen], settings: Any
) -> None:
    settings.CATCHUP_SYNC_STALE_SECONDS = 3
    estate = build_estate(moto_url)
    with FaultProxy(moto_url) as proxy:
        account = Account.objects.create(name="legacy", regions=[REGION], endpoint_url=proxy.url)
        proxy.delay = 1.0  # slow AWS, so that the kill lands in the middle
        worker = start_worker()
        sync = sync_service.request(account)
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            sync.refresh_from_db()
            if sync.status == Sync.Status.RUNNING and sync.tasks_total:
                break
            time.sleep(0.2)
        assert sync.status == Sync.Status.RUNNING and sync.tasks_done < sync.tasks_total

        _kill(worker)  # SIGKILL, the whole process group
        # What beat does every minute in production; bounded here.
        deadline = time.monotonic() + 30
        while not sync_service.reap_stale() and time.monotonic() < deadline:
            time.sleep(0.5)
        sync.refresh_from_db()
        assert sync.status == Sync.Status.FAILED
        assert "worker" in sync.error and "stopped" in sync.error
        assert not Sync.objects.active().exists()

        proxy.delay = 0
        start_worker()
        again = wait_finished(sync_service.request(account))

    assert again.status == Sync.Status.COMPLETE, again.error
    assert stored("AWS::EC2::Instance") == estate["AWS::EC2::Instance"]


def test_20_concurrent_requests_start_exactly_one_sync(
    moto_url: str, start_worker: Callable[[], subprocess.Popen]
) -> None:
    build_estate(moto_url)
    account = Account.objects.create(name="legacy", regions=[REGION], endpoint_url=moto_url)
    start_worker()
    started: list[Sync] = []
    refused: list[Exception] = []
    barrier = threading.Barrier(20)

    def ask() -> None:
        try:
            barrier.wait()
            started.append(sync_service.request(account))
        except sync_service.SyncAlreadyRunning as exc:
            refused.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(started) == 1
    assert len(refused) == 19
    assert Sync.objects.filter(account=account).count() == 1
    assert wait_finished(started[0]).status == Sync.Status.COMPLETE
