"""Sync benchmark (issue 2, "Performance"): run on demand, prints its figures.

    .venv/bin/python bench/sync_bench.py [--instances 2000 --groups 500 --rules 20 --buckets 200]

A moto server (ThreadedMotoServer on 127.0.0.1, in a child process so that
its memory is not counted as Catchup's) holds an estate over 3 regions. The
script then measures, on the embedded default (in-process sync with
CATCHUP_SYNC_CONCURRENCY threads; a temporary SQLite database, or DATABASE_URL
when set):

1. a first sync: wall time until its complete state is committed (and with the
   findings rules that run after it, inline here), AWS calls (Sync.api_calls),
   resources ingested per second, peak memory growth (ru_maxrss);
2. a bare boto3 replay of the same API calls (the operations and parameters the
   sync made, recorded per collector x region unit; paginated the same way), grouped
   as the sync grouped them (one job per unit in a pool of the sync's size, the
   collector's inner per-bucket/per-user pools mirrored), with the same clients and
   adaptive-retry config and no Django or database: the ratio sync time / bare time
   (aim <= 1.5);
3. a second sync with nothing changed: its time and the Resource rows it wrote
   (0 expected: count, max(changed_at) and its ResourceChange rows).

It uses whatever inventory.collectors.COLLECTORS holds when run.
"""

from __future__ import annotations

import argparse
import contextvars
import copy
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGIONS = ["ap-northeast-1", "us-east-1", "us-west-2"]
# Request parameters that only carry a page position: dropping them turns the
# recorded page calls of one listing back into one paginated listing.
PAGE_TOKENS = {
    "NextToken",
    "Marker",
    "ContinuationToken",
    "StartingToken",
    "nextToken",
    "PaginationToken",
    "NextMarker",
    "KeyMarker",
    "VersionIdMarker",
}


def start_moto() -> tuple[subprocess.Popen, str]:
    code = (
        "import sys\n"
        "from moto.server import ThreadedMotoServer\n"
        "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
        "s.start()\n"
        "print(s.get_host_and_port()[1], flush=True)\n"
        "sys.stdin.read()\n"  # until the parent closes our stdin
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # moto's tracebacks for APIs it lacks
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


def build_estate(url: str, instances: int, groups: int, rules: int, buckets: int) -> None:
    import boto3

    session = boto3.Session(region_name=REGIONS[0])
    for index, region in enumerate(REGIONS):
        ec2 = session.client("ec2", region_name=region, endpoint_url=url)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20")["Subnet"]["SubnetId"]
        share = instances // len(REGIONS) + (1 if index < instances % len(REGIONS) else 0)
        while share > 0:
            batch = min(share, 100)
            ec2.run_instances(
                ImageId="ami-12c6146b",
                MinCount=batch,
                MaxCount=batch,
                SubnetId=subnet,
                InstanceType="t3.micro",
                TagSpecifications=[
                    {
                        "ResourceType": "instance",
                        "Tags": [{"Key": "Name", "Value": f"app-{region}"}],
                    }
                ],
            )
            share -= batch
        group_share = groups // len(REGIONS) + (1 if index < groups % len(REGIONS) else 0)
        for g in range(group_share):
            group_id = ec2.create_security_group(
                GroupName=f"sg-{g}", Description="bench", VpcId=vpc
            )["GroupId"]
            # One call with every rule: 20 sources nobody can explain.
            ec2.authorize_security_group_ingress(
                GroupId=group_id,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 1000 + r,
                        "ToPort": 1000 + r,
                        "IpRanges": [{"CidrIp": f"203.0.{g % 250}.{r}/32"}],
                    }
                    for r in range(rules)
                ],
            )
    s3 = session.client("s3", region_name="us-east-1", endpoint_url=url)
    for b in range(buckets):
        region = REGIONS[b % len(REGIONS)]
        extra = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        s3.create_bucket(Bucket=f"catchup-bench-{b:04d}", **extra)


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# The collector x region unit a call belongs to. A ContextVar (not a thread-local)
# so that the per-bucket / per-user pools inside a collector inherit it: see
# _propagate_context below.
UNIT: contextvars.ContextVar[str] = contextvars.ContextVar("unit", default="plan")


@dataclass
class Call:
    """One API call the sync made, with the unit and the thread that made it."""

    unit: str
    thread: str
    service: str
    region: str
    operation: str
    params: dict[str, Any]
    # The client's config as the collector made it: retries as the sync had them
    # (a collector may narrow them, e.g. SSM against a stand-in endpoint).
    config: Any = None


class CallRecorder:
    """Records every API call of the sessions Catchup creates (an aws.session_hooks hook)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def attach(self, session: Any) -> None:
        session.events.register("before-parameter-build", self._on_call)

    def _on_call(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any):
        call = Call(
            unit=UNIT.get(),
            thread=threading.current_thread().name,
            service=model.service_model.service_name,
            region=str(context.get("client_region") or ""),
            operation=model.name,
            params=copy.deepcopy(params),
            config=context.get("client_config"),
        )
        with self._lock:
            self.calls.append(call)


def _propagate_context() -> None:
    """Make every ThreadPoolExecutor task run in a copy of its submitter's context.

    Bench only: it lets a call made in a collector's inner pool (S3 buckets, IAM users)
    be attributed to the collector's unit, as asyncio.to_thread does for its threads.
    """
    original = ThreadPoolExecutor.submit

    def submit(self: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return original(self, contextvars.copy_context().run, fn, *args, **kwargs)

    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]


Step = tuple[str, str, str, dict[str, Any], Any]  # service, region, operation, params, config


@dataclass
class Job:
    """One collector x region unit as the sync ran it: its own calls in sequence, then
    the calls its inner pool made, one sequence per inner thread, side by side."""

    unit: str
    steps: list[Step] = field(default_factory=list)
    inner: dict[str, list[Step]] = field(default_factory=dict)


def _page_free(call: Call) -> Step:
    return (
        call.service,
        call.region,
        call.operation,
        {k: v for k, v in call.params.items() if k not in PAGE_TOKENS},
        call.config,
    )


def replay_plan(calls: list[Call]) -> tuple[Job, list[Job]]:
    """The sync's calls grouped as the sync grouped them: the planning calls (identity,
    regions) and one job per collector x region unit. Page calls of one listing become one
    paginated listing again. Failed calls (an API moto lacks) are kept: the sync spent time
    on them too."""
    jobs: dict[str, Job] = {}
    unit_threads: dict[str, str] = {}
    for call in calls:
        job = jobs.setdefault(call.unit, Job(call.unit))
        owner = unit_threads.setdefault(call.unit, call.thread)
        steps = job.steps if call.thread == owner else job.inner.setdefault(call.thread, [])
        step = _page_free(call)
        if steps and steps[-1][:3] == step[:3] and repr(steps[-1][3]) == repr(step[3]):
            continue  # the next page of the listing just before
        steps.append(step)
    plan = jobs.pop("plan", Job("plan"))
    return plan, list(jobs.values())


def bare_replay(plan: Job, jobs: list[Job], url: str, workers: int) -> float:
    """The same describe calls with plain boto3 clients and threads; no Django, no DB.

    Same grouping (one job per unit), same concurrency (the sync's pool size, and the
    collector's inner pool size for the per-bucket / per-user calls), same clients per
    (service, region) with the same adaptive-retry config.
    """
    import boto3
    from botocore import xform_name
    from botocore.exceptions import BotoCoreError, ClientError

    from inventory.aws import AWS_CONFIG

    session = boto3.Session(region_name=REGIONS[0])
    every = [*plan.steps, *(s for j in jobs for s in [*j.steps, *sum(j.inner.values(), [])])]
    # One client per (service, region, config), made before the clock starts, as the
    # sync's AwsSession caches them.
    clients = {
        (service, region, id(config)): session.client(
            service, region_name=region, endpoint_url=url, config=config or AWS_CONFIG
        )
        for service, region, _op, _params, config in every
    }

    def run_steps(steps: list[Step]) -> None:
        for service, region, operation, params, config in steps:
            client = clients[(service, region, id(config))]
            name = xform_name(operation)
            try:
                if client.can_paginate(name):
                    for _page in client.get_paginator(name).paginate(**params):
                        pass
                else:
                    getattr(client, name)(**params)
            except (ClientError, BotoCoreError):
                pass  # the sync met the same error and recorded it

    def run(job: Job) -> None:
        run_steps(job.steps)
        if job.inner:
            with ThreadPoolExecutor(max_workers=len(job.inner)) as inner:
                list(inner.map(run_steps, job.inner.values()))

    started = time.perf_counter()
    run_steps(plan.steps)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, jobs))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--buckets", type=int, default=200)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="catchup-bench-")
    os.environ["CATCHUP_DATA_DIR"] = data_dir
    os.environ.pop("CELERY_BROKER_URL", None)  # the embedded default: in process
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catchup.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[var] = "testing"
    os.environ.pop("AWS_PROFILE", None)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

    moto, url = start_moto()
    try:
        started = time.perf_counter()
        build_estate(url, args.instances, args.groups, args.rules, args.buckets)
        print(f"estate built in {time.perf_counter() - started:.1f} s on {url}", flush=True)
        measure(url, args)
    finally:
        assert moto.stdin is not None
        moto.stdin.close()
        moto.wait(timeout=30)


def measure(url: str, args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db.models import Max

    from inventory import aws
    from inventory import sync as sync_service
    from inventory.collectors import COLLECTORS
    from inventory.models import Account, Resource, ResourceChange, Sync

    call_command("migrate", verbosity=0)
    settings.CATCHUP_TASK_MODE = "inline"  # request() runs the sync to its end
    workers = settings.CATCHUP_SYNC_CONCURRENCY
    Account.objects.filter(name="bench").delete()
    account = Account.objects.create(name="bench", regions=REGIONS, endpoint_url=url)
    recorder = CallRecorder()
    _propagate_context()
    fetch = sync_service.fetch

    def fetch_in_unit(session: Any, collector: Any, region: str) -> Any:
        UNIT.set(f"{collector.key}@{region}")  # this task's own context copy
        return fetch(session, collector, region)

    rss_before = maxrss_mb()
    aws.session_hooks.append(recorder.attach)
    sync_service.fetch = fetch_in_unit
    try:
        started = time.perf_counter()
        first = sync_service.request(account, trigger="bench")
        first_seconds = time.perf_counter() - started
    finally:
        sync_service.fetch = fetch
        aws.session_hooks.remove(recorder.attach)
    first.refresh_from_db()
    # The sync ends when its complete state commits; the rules then run on it (inline
    # here, a separate Celery task in production) and are timed by findings_bench.py.
    first_sync_seconds = (first.finished_at - first.created_at).total_seconds()
    rss_growth = maxrss_mb() - rss_before
    stored = Resource.objects.filter(account=account, removed_at__isnull=True).count()

    plan, jobs = replay_plan(recorder.calls)
    bare_seconds = bare_replay(plan, jobs, url, workers)
    replayed = len(plan.steps) + sum(
        len(j.steps) + sum(len(s) for s in j.inner.values()) for j in jobs
    )

    count_before = Resource.objects.filter(account=account).count()
    changed_before = Resource.objects.filter(account=account).aggregate(m=Max("changed_at"))["m"]
    sync_service.forget_sessions()
    started = time.perf_counter()
    second = sync_service.request(account, trigger="bench")
    second_seconds = time.perf_counter() - started
    second.refresh_from_db()
    second_sync_seconds = (second.finished_at - second.created_at).total_seconds()
    count_after = Resource.objects.filter(account=account).count()
    changed_after = Resource.objects.filter(account=account).aggregate(m=Max("changed_at"))["m"]
    changes = ResourceChange.objects.filter(sync=second).count()
    rows_written = (count_after - count_before) + changes
    if changed_after != changed_before:
        rows_written = max(
            rows_written,
            Resource.objects.filter(account=account, last_change_sync=second).count(),
        )

    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    failed = first.tasks.exclude(status="done")
    rows = [
        (
            "estate",
            f"{args.instances} instances, {args.groups} SGs x {args.rules} rules, "
            f"{args.buckets} buckets, {len(REGIONS)} regions",
        ),
        ("collectors", f"{len(COLLECTORS)} ({first.tasks_total} region x service tasks)"),
        ("database / concurrency", f"{db} / {workers} threads"),
        ("first sync status", f"{first.status} ({failed.count()} tasks failed)"),
        ("first sync wall time", f"{first_sync_seconds:.2f} s to complete"),
        ("  + findings evaluation", f"{first_seconds:.2f} s with the rules run after it"),
        ("AWS calls (Sync.api_calls)", f"{first.api_calls}"),
        ("resources stored", f"{stored} ({first.resources_collected} collected)"),
        ("resources ingested / s", f"{stored / first_sync_seconds:.0f}"),
        ("peak memory growth (maxrss)", f"{rss_growth:.0f} MiB"),
        ("bare boto3 replay", f"{bare_seconds:.2f} s ({len(jobs)} units, {replayed} calls)"),
        ("sync / bare ratio", f"{first_sync_seconds / bare_seconds:.2f} (aim <= 1.5)"),
        (
            "second sync (no change)",
            f"{second_sync_seconds:.2f} s "
            f"({second_seconds:.2f} s with the rules), status {second.status}",
        ),
        (
            "second sync rows written",
            f"{rows_written} resource rows, {changes} changes, "
            f"+{second.added} ~{second.changed} -{second.removed}",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")
    for task in failed[:10]:
        print(
            f"  failed: {task.collector}@{task.region}: {task.error_code}: "
            f"{task.error_message[:120]}"
        )
    assert first.status != Sync.Status.FAILED, first.error


if __name__ == "__main__":
    main()
