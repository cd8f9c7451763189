"""Sync benchmark (issue 2, "Performance"): run on demand, prints its figures.

    .venv/bin/python bench/sync_bench.py [--instances 2000 --groups 500 --rules 20 --buckets 200]

A moto server (ThreadedMotoServer on 127.0.0.1, in a child process so that
its memory is not counted as Catchup's) holds an estate over 3 regions. The
script then measures, on the embedded default (in-process sync with
CATCHUP_SYNC_CONCURRENCY threads; a temporary SQLite database, or DATABASE_URL
when set):

1. a first sync: wall time, AWS calls (Sync.api_calls), resources ingested per
   second, peak memory growth (ru_maxrss);
2. a bare boto3 replay of the same API calls (the operations and parameters the
   sync made, recorded by tests/support/faults.py; paginated the same way), with
   the same concurrency and no Django: the ratio sync time / bare time (aim <= 1.5);
3. a second sync with nothing changed: its time and the Resource rows it wrote
   (0 expected: count, max(changed_at) and its ResourceChange rows).

It uses whatever inventory.collectors.COLLECTORS holds when run.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
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


def replay_plan(calls: list[Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """The sync's distinct calls, page tokens dropped: what a bare script would make."""
    seen: set[tuple[str, str, str, str]] = set()
    plan = []
    for call in calls:
        if not call.ok:
            continue  # failed in the sync too (an API moto lacks…): not a describe to time
        params = {k: v for k, v in call.params.items() if k not in PAGE_TOKENS}
        key = (call.service, call.region, call.operation, repr(sorted(params.items())))
        if key not in seen:
            seen.add(key)
            plan.append((call.service, call.region, call.operation, params))
    return plan


def bare_replay(plan: list[tuple[str, str, str, dict[str, Any]]], url: str, workers: int) -> float:
    """The same describe calls with plain boto3 clients and threads; no Django."""
    import boto3
    from botocore import xform_name
    from botocore.exceptions import ClientError

    from inventory.aws import AWS_CONFIG

    session = boto3.Session(region_name=REGIONS[0])
    clients = {
        (service, region): session.client(
            service, region_name=region, endpoint_url=url, config=AWS_CONFIG
        )
        for service, region, _op, _params in plan
    }
    # One job per (service, region, operation), its calls in sequence: about a
    # collector's unit of work.
    jobs: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for service, region, operation, params in plan:
        jobs[(service, region, operation)].append(params)

    def run(job: tuple[tuple[str, str, str], list[dict[str, Any]]]) -> None:
        (service, region, operation), param_list = job
        client = clients[(service, region)]
        name = xform_name(operation)
        for params in param_list:
            try:
                if client.can_paginate(name):
                    for _page in client.get_paginator(name).paginate(**params):
                        pass
                else:
                    getattr(client, name)(**params)
            except ClientError:
                pass  # the sync met the same error and recorded it

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, jobs.items()))
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

    from inventory import sync as sync_service
    from inventory.collectors import COLLECTORS
    from inventory.models import Account, Resource, ResourceChange, Sync
    from tests.support.faults import FaultInjector

    call_command("migrate", verbosity=0)
    settings.CATCHUP_TASK_MODE = "inline"  # request() runs the sync to its end
    workers = settings.CATCHUP_SYNC_CONCURRENCY
    Account.objects.filter(name="bench").delete()
    account = Account.objects.create(name="bench", regions=REGIONS, endpoint_url=url)
    recorder = FaultInjector()  # no faults: it only records the calls

    rss_before = maxrss_mb()
    with recorder.install():
        started = time.perf_counter()
        first = sync_service.request(account, trigger="bench")
        first_seconds = time.perf_counter() - started
    first.refresh_from_db()
    rss_growth = maxrss_mb() - rss_before
    stored = Resource.objects.filter(account=account, removed_at__isnull=True).count()

    plan = replay_plan(recorder.calls)
    bare_seconds = bare_replay(plan, url, workers)

    count_before = Resource.objects.filter(account=account).count()
    changed_before = Resource.objects.filter(account=account).aggregate(m=Max("changed_at"))["m"]
    sync_service.forget_sessions()
    started = time.perf_counter()
    second = sync_service.request(account, trigger="bench")
    second_seconds = time.perf_counter() - started
    second.refresh_from_db()
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
        ("first sync wall time", f"{first_seconds:.2f} s"),
        ("AWS calls (Sync.api_calls)", f"{first.api_calls}"),
        ("resources stored", f"{stored} ({first.resources_collected} collected)"),
        ("resources ingested / s", f"{stored / first_seconds:.0f}"),
        ("peak memory growth (maxrss)", f"{rss_growth:.0f} MiB"),
        ("bare boto3 replay", f"{bare_seconds:.2f} s ({len(plan)} distinct calls)"),
        ("sync / bare ratio", f"{first_seconds / bare_seconds:.2f} (aim <= 1.5)"),
        ("second sync (no change)", f"{second_seconds:.2f} s, status {second.status}"),
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
