"""A worker SIGKILLed at several points of a sync, and the broker's Redis restarted mid-sync.

Real `celery worker` subprocesses against a moto server behind a FaultProxy
(fixtures in conftest.py). What a user relies on: no sync stays "running"
forever (the stale-sync reaper, run by beat every minute in production, is
driven here with a 3 s threshold), the account syncs again, and what people
wrote (triage, comments, annotations) is byte-identical afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import redis
from django.apps import apps
from django.contrib.auth import get_user_model
from kombu import pools
from kombu.utils.collections import eqhash

from catchup.celery import app as celery_app
from catchup.roles import Role, set_role
from findings import actions
from findings.models import Finding
from inventory import sync as sync_service
from inventory.models import Account, Resource, ResourceChange, Sync
from tests.inventory.conftest import (
    WAIT_SECONDS,
    kill_worker,
    services_missing,
    wait_finished,
    worker_database_url,
)
from tests.support.proxy import FaultProxy

pytestmark = pytest.mark.integration

REGION = "ap-northeast-1"
STALE_SECONDS = 3
# How long a dead worker's sync may stay active: beat's reaper, driven every 0.5 s.
REAP_BOUND_SECONDS = 30

# What people wrote, compared byte for byte before and after a fault: every
# "app_label.ModelName" here (or every model of an "app_label"), skipped when
# that app or model is not installed. Add the tables of a new feature here.
HUMAN_TABLES = [
    "findings.Finding",
    "findings.FindingEvent",
    "findings.Comment",
    # IP annotations: questions, owners' answers, decisions (not the derived
    # IpReference / ObservedCidr rows, which every sync rebuilds).
    "ips.Annotation",
    "ips.AnnotationEvent",
    "ips.QuestionLink",
    "ips.LinkAnswer",
]
# A finding row also records what each sync saw (last_seen_*, evidence):
# only the fields a person sets are compared.
HUMAN_FIELDS = {
    "findings.Finding": (
        "id",
        "fingerprint",
        "status",
        "assignee_id",
        "due_date",
        "reason",
        "expires_at",
        "resolved_from",
    ),
}


@pytest.fixture(autouse=True)
def _require_services() -> None:
    missing = services_missing()
    if missing:
        if os.environ.get("CATCHUP_REQUIRE_SERVICES") == "1":
            pytest.fail(f"CATCHUP_REQUIRE_SERVICES=1 but {missing}")
        pytest.skip(f"integration test needs PostgreSQL and Redis: {missing}")


def human_knowledge() -> tuple[str, dict[str, int]]:
    """A JSON dump of HUMAN_TABLES (stable order) and its row count per table."""
    dump: dict[str, list[dict[str, Any]]] = {}
    for label in HUMAN_TABLES:
        app_label, _, model_name = label.partition(".")
        try:
            config = apps.get_app_config(app_label)
            models = [config.get_model(model_name)] if model_name else list(config.get_models())
        except LookupError:
            continue  # not installed (yet)
        for model in models:
            fields = HUMAN_FIELDS.get(model._meta.label) or [
                f.attname for f in model._meta.concrete_fields
            ]
            dump[model._meta.label] = list(model.objects.order_by("pk").values(*fields))
    text = json.dumps(dump, sort_keys=True, default=str, ensure_ascii=False)
    return text, {label: len(rows) for label, rows in dump.items()}


def build_estate(endpoint: str) -> dict[str, str]:
    ec2 = boto3.Session(region_name=REGION).client("ec2", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    bastion = ec2.create_security_group(GroupName="bastion", Description="ssh", VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=bastion["GroupId"], IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )
    web = ec2.create_security_group(GroupName="honban-web", Description="web", VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=web["GroupId"], IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="203.0.113.45/32"
    )
    ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=2,
        MaxCount=2,
        SubnetId=subnet,
        SecurityGroupIds=[web["GroupId"]],
    )
    return {"vpc": vpc, "subnet": subnet, "bastion": bastion["GroupId"], "web": web["GroupId"]}


def current_resources(account: Account) -> set[tuple[str, str, str]]:
    return set(
        Resource.objects.filter(account=account, removed_at__isnull=True).values_list(
            "region", "type", "resource_id"
        )
    )


def sync_in_process(account: Account, settings: Any) -> Sync:
    """The first sync, run in this process (faster than through the worker)."""
    settings.CATCHUP_TASK_MODE = "inline"
    try:
        sync = sync_service.request(account)
    finally:
        settings.CATCHUP_TASK_MODE = "celery"
    sync.refresh_from_db()
    assert sync.status == Sync.Status.COMPLETE, sync.error
    return sync


def triage(estate: dict[str, str]) -> None:
    """What people did with the first sync's findings."""
    users = get_user_model().objects
    alice = users.create_user("alice", password="pw-for-tests-only")
    bob = users.create_user("bob", password="pw-for-tests-only")
    for user in (alice, bob):
        set_role(user, Role.EDITOR)
    ssh = Finding.objects.get(rule="sg-ssh-open-to-world", resource_id=estate["bastion"])
    actions.acknowledge(ssh, by=alice, note="known bastion, asking the network team")
    actions.assign(ssh, by=alice, assignee=bob)
    actions.comment(ssh, by=bob, body="Owner: **infra-team**; 0.0.0.0/0 since 2016 <script>")
    other = Finding.objects.exclude(pk=ssh.pk).order_by("pk").first()
    assert other is not None
    actions.accept_risk(other, by=alice, reason="Partner CDN 203.0.113.45 — reviewed with 田中さん")
    if apps.is_installed("ips"):
        from ips import actions as ip_actions

        partner = ip_actions.Target(cidr="203.0.113.45/32")
        ip_actions.ask([partner], "田中さん (#ops)", actor=alice)
        ip_actions.answer(partner, owner="Partner CDN", evidence="contract #42", actor=alice)


def wait_evaluated(sync: Sync) -> None:
    """The worker evaluates the rules after a sync, in a task of its own: wait for it."""
    deadline = time.monotonic() + WAIT_SECONDS
    while Finding.objects.exclude(last_seen_sync=sync).exclude(status="resolved").exists():
        assert time.monotonic() < deadline, f"findings not evaluated after sync #{sync.pk}"
        time.sleep(0.3)


def refreshed(sync: Sync) -> Sync:
    sync.refresh_from_db()
    return sync


def wait_for(predicate: Callable[[], bool], what: str, seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def reap_like_beat(sync: Sync) -> float:
    """Run the stale-sync reaper until `sync` has ended; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < REAP_BOUND_SECONDS:
        sync_service.reap_stale()
        sync.refresh_from_db()
        if sync.is_finished:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def lock_waiters(conn: psycopg.Connection) -> list[int]:
    """Backends of the test database waiting for a row lock (a blocked finalize)."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    ).fetchall()
    return [pid for (pid,) in rows]


def backend_alive(conn: psycopg.Connection, pid: int) -> bool:
    row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    return bool(row and row[0])


@pytest.mark.parametrize("point", ["planning", "collecting", "finalizing"])
def test_a_worker_killed_at_any_point_fails_the_sync_and_people_s_work_is_untouched(
    point: str,
    moto_url: str,
    start_worker: Callable[[], subprocess.Popen],
    settings: Any,
) -> None:
    settings.CATCHUP_SYNC_STALE_SECONDS = STALE_SECONDS
    estate = build_estate(moto_url)
    with FaultProxy(moto_url) as proxy:
        account = Account.objects.create(name="legacy", regions=[REGION], endpoint_url=proxy.url)
        sync_in_process(account, settings)
        triage(estate)
        # A sync after people's work settles what follows from it (an answered
        # IP's finding resolves): the state a fault must leave unchanged.
        first = sync_in_process(account, settings)
        resources = current_resources(account)
        before, counts = human_knowledge()
        assert counts["findings.Comment"] == 1
        assert Finding.objects.exclude(status="open").count() == 2

        # The finalize of the killed sync must have something to write: a new tag.
        ec2 = boto3.Session(region_name=REGION).client("ec2", endpoint_url=moto_url)
        ec2.create_tags(Resources=[estate["subnet"]], Tags=[{"Key": "Owner", "Value": "unknown"}])
        locker = psycopg.connect(worker_database_url())
        # Activity is read outside any transaction (a transaction sees one snapshot of it).
        watcher = psycopg.connect(worker_database_url(), autocommit=True)
        try:
            if point == "planning":
                proxy.delay = 2.0  # GetCallerIdentity and DescribeRegions: 4 s of planning
            elif point == "collecting":
                proxy.delay = 0.5
            else:
                # Hold the subnet's row, so finalize blocks inside its transaction.
                subnet_pk = Resource.objects.get(resource_id=estate["subnet"]).pk
                locker.execute(
                    f"SELECT id FROM {Resource._meta.db_table} WHERE id = %s FOR UPDATE",
                    [subnet_pk],
                )
            worker = start_worker()
            sync = sync_service.request(account)

            if point == "planning":
                wait_for(lambda: refreshed(sync).status == "running", "the claim")
            elif point == "collecting":
                wait_for(lambda: refreshed(sync).tasks_done >= 2, "two units collected")
            else:
                wait_for(lambda: refreshed(sync).status == "finalizing", "finalize")
                wait_for(lambda: len(lock_waiters(watcher)) == 1, "finalize to block on the row")
                blocked = lock_waiters(watcher)
            kill_worker(worker)  # SIGKILL, the main process and its pool children
            sync.refresh_from_db()
            if point == "finalizing":
                # Its database session outlives the worker, blocked: released, it
                # finds its client gone and rolls the transaction back.
                locker.rollback()
                wait_for(lambda: not backend_alive(watcher, blocked[0]), "the orphan to end")
        finally:
            locker.close()
            watcher.close()

        if point == "planning":
            assert sync.status == Sync.Status.RUNNING
            assert (sync.tasks_total, sync.tasks.count()) == (0, 0)  # no unit planned
        elif point == "collecting":
            assert sync.status == Sync.Status.RUNNING
            assert 2 <= sync.tasks_done < sync.tasks_total
        else:
            assert sync.status == Sync.Status.FINALIZING
            assert sync.tasks_done == sync.tasks_total

        took = reap_like_beat(sync)
        assert sync.status == Sync.Status.FAILED, (point, sync.status)
        assert took < REAP_BOUND_SECONDS
        assert "worker" in sync.error and "stopped" in sync.error
        assert Sync.objects.active().count() == 0
        # Nothing of the killed sync was applied: finalize is all or nothing.
        assert ResourceChange.objects.filter(sync=sync).count() == 0
        assert current_resources(account) == resources

        proxy.delay = 0
        start_worker()
        again = wait_finished(sync_service.request(account))
        assert again.status == Sync.Status.COMPLETE, again.error
        wait_evaluated(again)

    after, _ = human_knowledge()
    assert after == before  # byte-identical
    assert current_resources(account) == resources
    assert again.resources_collected == first.resources_collected
    changed = ResourceChange.objects.filter(sync=again).values_list("kind", "resource__resource_id")
    assert list(changed) == [("changed", estate["subnet"])]
    print(f"[{point}] reaped in {took:.1f} s; {counts}")


# --- Redis restarted mid-sync ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own on a loopback port, configured like
    docker-compose's (no persistence: the broker is only a doorbell)."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.directory),
        ]
        self._log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - closed by kill()
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()


@pytest.fixture
def own_redis(
    settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[RedisServer]:
    """The broker on a redis-server of this test's own (the machine's one is shared).

    Listed before start_worker, so the worker and this process both use it.
    """
    if not shutil.which("redis-server"):
        if os.environ.get("CATCHUP_REQUIRE_SERVICES") == "1":
            pytest.fail("CATCHUP_REQUIRE_SERVICES=1 but redis-server is not on PATH")
        pytest.skip("the Redis restart test starts its own redis-server: not on PATH")
    server = RedisServer(tmp_path)
    server.start()
    # Celery reads the broker from this variable before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", server.url)
    settings.CELERY_BROKER_URL = server.url
    _reset_broker_pools()
    try:
        yield server
    finally:
        _reset_broker_pools(drop=True)
        server.kill()


def _reset_broker_pools(*, drop: bool = False) -> None:
    """Make this process's Celery app connect anew (kombu keeps its pools per URL);
    `drop` closes and forgets the pools of the current broker first."""
    if drop:
        key = eqhash(celery_app.connection_for_write())
        for group in (pools.producers, pools.connections):
            pool = dict.pop(group, key, None)
            if pool is not None:
                pool.force_close_all()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def test_a_redis_restart_mid_sync_fails_the_sync_by_the_reaper_and_the_worker_syncs_again(
    own_redis: RedisServer,
    moto_url: str,
    start_worker: Callable[[], subprocess.Popen],
    settings: Any,
) -> None:
    # docker-compose runs Redis without persistence: a restart loses the queued
    # units, the sync's heartbeat stops, and the reaper fails it (exactly that,
    # never "complete" with units missing); the same worker then syncs again.
    settings.CATCHUP_SYNC_STALE_SECONDS = STALE_SECONDS
    build_estate(moto_url)
    with FaultProxy(moto_url) as proxy:
        account = Account.objects.create(name="legacy", regions=[REGION], endpoint_url=proxy.url)
        first = sync_in_process(account, settings)
        resources = current_resources(account)

        proxy.delay = 0.5
        worker = start_worker()
        sync = sync_service.request(account)
        wait_for(lambda: refreshed(sync).tasks_done >= 2, "two units collected")
        queued = redis.Redis.from_url(own_redis.url).llen("celery")
        assert queued >= 10  # units waiting in Redis, about to be lost
        try:
            own_redis.kill()
            time.sleep(2)
        finally:
            own_redis.start()  # same port, empty

        took = reap_like_beat(sync)
        assert sync.status == Sync.Status.FAILED, sync.status
        assert took < REAP_BOUND_SECONDS
        assert sync.tasks_done < sync.tasks_total
        assert Sync.objects.active().count() == 0

        proxy.delay = 0
        assert worker.poll() is None  # the same worker, reconnected
        again = wait_finished(sync_service.request(account))

    assert again.status == Sync.Status.COMPLETE, again.error
    assert again.resources_collected == first.resources_collected
    assert current_resources(account) == resources
    undone = sync.tasks_total - sync.tasks_done
    print(f"[redis] {queued} queued, {undone} units never ran; reaped in {took:.1f} s")
