"""Benchmark: rule evaluation on 100,000 resources; the finding list with 50,000 findings.

Runs against a throwaway database: a fresh SQLite file in a temporary directory by
default, or DATABASE_URL (a PostgreSQL you do not mind filling). Prints its figures.

    .venv/bin/python bench/findings_bench.py [--resources 100000] [--findings 50000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--findings", type=int, default=50_000)
    args = parser.parse_args()
    os.environ.setdefault("CATCHUP_DATA_DIR", tempfile.mkdtemp(prefix="catchup-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catchup.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from findings.evaluate import evaluate_sync
    from findings.models import Finding
    from inventory.collectors import COLLECTORS
    from inventory.models import Account, Resource, Sync, SyncTask

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    account = Account.objects.create(name=f"bench-{int(time.time())}", regions=["ap-northeast-1"])
    now = timezone.now()
    region = "ap-northeast-1"
    kinds = [
        ("AWS::EC2::SecurityGroup", lambda i: {"GroupName": f"sg{i}", "Rules": [
            {"direction": "ingress", "protocol": "tcp", "from_port": 22, "to_port": 22,
             "cidr": "0.0.0.0/0" if i % 50 == 0 else f"10.{i % 250}.0.0/16", "description": ""},
            {"direction": "ingress", "protocol": "tcp", "from_port": 443, "to_port": 443,
             "cidr": f"198.51.{i % 250}.{i % 200}/32", "description": "" if i % 3 else "x"},
        ]}),
        ("AWS::EC2::Instance", lambda i: {"State": {"Name": "running"}, "InstanceType": "t3.micro",
                                          "VpcId": f"vpc-{i % 20}"}),
        ("AWS::EC2::Volume", lambda i: {"VolumeType": "gp2" if i % 4 == 0 else "gp3"}),
        ("AWS::Logs::LogGroup", lambda i: {"retentionInDays": 30} if i % 2 else {}),
        ("AWS::RDS::DBInstance", lambda i: {"BackupRetentionPeriod": i % 10, "MultiAZ": i % 2 == 0,
                                            "PreferredBackupWindow": "02:00-02:30",
                                            "PreferredMaintenanceWindow": "sun:18:00-sun:18:30"}),
    ]  # fmt: skip
    rows = []
    for i in range(args.resources):
        type_, make = kinds[i % len(kinds)]
        rows.append(
            Resource(
                account=account, region=region, type=type_, resource_id=f"r-{i}",
                scope=f"bench:{region}", name=f"res-{i}", tags={"Name": f"res-{i}"},
                config=make(i), relations=[], content_hash="x", first_seen_at=now,
                changed_at=now,
            )
        )  # fmt: skip
    Resource.objects.bulk_create(rows, batch_size=5000)
    for v in range(20):
        Resource.objects.create(
            account=account, region=region, type="AWS::EC2::VPC", resource_id=f"vpc-{v}",
            scope=f"bench:{region}", config={"CidrBlock": f"10.{v}.0.0/16"}, content_hash="x",
            first_seen_at=now, changed_at=now,
        )  # fmt: skip
    sync = Sync.objects.create(account=account, status="complete", regions=[region],
                               finished_at=now)  # fmt: skip
    SyncTask.objects.bulk_create(
        SyncTask(sync=sync, collector=c.key, region="global" if c.global_ else region,
                 status="done") for c in COLLECTORS.values()
    )  # fmt: skip

    started = time.perf_counter()
    stats = evaluate_sync(sync)
    first = time.perf_counter() - started
    started = time.perf_counter()
    evaluate_sync(sync)
    again = time.perf_counter() - started
    print(f"resources: {args.resources:,}; findings opened: {stats.opened:,}")
    print(f"evaluate (first, opening findings): {first:.2f} s")
    print(f"evaluate (again, nothing new):      {again:.2f} s")

    total = Finding.objects.filter(account=account).count()
    if total < args.findings:
        print(f"(have {total:,} findings; the list figure uses that many)")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser(f"bench{int(time.time())}", "", "pw")
    client = Client()
    client.force_login(user)
    for label, params in (("first page", {"status": "all"}),
                          ("filtered", {"status": "all", "severity": "high"}),
                          ("page 200", {"status": "all", "page": 200})):  # fmt: skip
        client.get("/findings/", params)  # warm
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get("/findings/", params)
            elapsed = time.perf_counter() - started
        print(f"finding list {label}: {elapsed * 1000:.0f} ms, {len(ctx.captured_queries)} "
              f"queries, status {response.status_code}")  # fmt: skip


if __name__ == "__main__":
    main()
