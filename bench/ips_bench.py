"""Benchmark: unknown IPs (issue 4) at 10,000 distinct CIDRs in 100,000 rule references.

Inserts security groups with many rules (plus VPCs and Elastic IPs, so that own-vpc and
known-network occur, and a few hundred annotations) directly as resource rows, over
several accounts, then measures per account sync the IP refresh (extraction, storing the
references, classifying every account), an unchanged re-run (which must write nothing),
`classify.rebuild()` on its own, and the queue page's server time and SQL queries. It runs
the whole thing at a tenth of the size first, to show the queries do not grow with rows.

    .venv/bin/python bench/ips_bench.py [--cidrs 10000 --references 100000 --accounts 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/catchup_bench \
        .venv/bin/python bench/ips_bench.py

On SQLite it uses a temporary database (CATCHUP_DATA_DIR); with DATABASE_URL it replaces
the accounts named `bench-ips-N` in that database.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REGION = "ap-northeast-1"
RULES_PER_GROUP = 50
PORTS = [22, 443, 3306, 5432, 6379, 8080, 24224, 3389, 9200, 11211]


def cidr_pool(size: int) -> list[str]:
    """`size` distinct CIDRs: 1 in 20 inside some account's VPC, 1 in 20 in AWS's ranges
    (52.192.0.0/15 in the bundled copy), the rest addresses nobody explained."""
    pool = []
    for i in range(size):
        if i % 20 == 0:
            pool.append(f"10.{(i // 20) % 5}.{(i // 256) % 256}.{i % 256}/32")
        elif i % 20 == 1:
            pool.append(f"52.{192 + (i // 65536) % 2}.{(i // 256) % 256}.{i % 256}/32")
        else:
            pool.append(f"198.{18 + (i // 65536) % 2}.{(i // 256) % 256}.{i % 256}/32")
    pool[2] = "0.0.0.0/0"
    assert len(set(pool)) == size
    return pool


def populate(cidrs: int, references: int, accounts: int, annotations: int) -> list[Any]:
    from django.utils import timezone

    from inventory.models import Account, Resource
    from ips.models import Annotation

    Account.objects.filter(name__startswith="bench-ips-").delete()
    Annotation.objects.filter(evidence="bench").delete()
    pool = cidr_pool(cidrs)
    rng = random.Random(4)
    now = timezone.now()
    made = []
    per_account = references // accounts
    window = max(1, cidrs * 2 // accounts)  # each account sees ~2/N of the CIDRs, overlapping
    for a in range(accounts):
        account = Account.objects.create(name=f"bench-ips-{a}", regions=[REGION])
        made.append(account)
        rows = [
            Resource(
                account=account, region=REGION, type="AWS::EC2::VPC", resource_id=f"vpc-{a}",
                scope=f"bench:{REGION}", config={"CidrBlock": f"10.{a}.0.0/16"},
                content_hash="x", first_seen_at=now, changed_at=now,
            ),
            Resource(
                account=account, region=REGION, type="AWS::EC2::EIP", resource_id=f"eip-{a}",
                scope=f"bench:{REGION}", config={"PublicIp": f"198.18.{a}.{a + 3}"},
                content_hash="x", first_seen_at=now, changed_at=now,
            ),
        ]  # fmt: skip
        start = a * cidrs // accounts
        rules: list[dict[str, Any]] = []
        for r in range(per_account):
            cidr = pool[(start + rng.randrange(window)) % cidrs]
            kind = r % 10
            port = PORTS[r % len(PORTS)]
            rules.append(
                {
                    "direction": "egress" if kind == 9 else "ingress",
                    "protocol": "-1" if kind == 8 else "tcp",
                    "from_port": None if kind == 8 else port,
                    "to_port": None if kind == 8 else (port + 1000 if kind == 7 else port),
                    "cidr": cidr,
                    "description": "" if r % 3 else f"rule {r} of bench",
                }
            )
        for g in range(0, len(rules), RULES_PER_GROUP):
            rows.append(
                Resource(
                    account=account, region=REGION, type="AWS::EC2::SecurityGroup",
                    resource_id=f"sg-{a}-{g // RULES_PER_GROUP}", scope=f"bench:{REGION}",
                    name=f"bench-sg-{g // RULES_PER_GROUP}",
                    config={"GroupName": f"g{g}", "Rules": rules[g : g + RULES_PER_GROUP]},
                    content_hash="x", first_seen_at=now, changed_at=now,
                )
            )  # fmt: skip
        Resource.objects.bulk_create(rows, batch_size=2000)
    unknown = [c for i, c in enumerate(pool) if i % 20 > 1 and c != "0.0.0.0/0"]
    notes = []
    for n, cidr in enumerate(rng.sample(unknown, min(annotations, len(unknown)))):
        answered = n % 3 != 0
        notes.append(
            Annotation(
                cidr=cidr,
                status="answered" if answered else "asked",
                asked_whom="network team",
                owner=f"owner {n}" if answered else "",
                evidence="bench",
            )
        )
    Annotation.objects.bulk_create(notes)
    return made


def measure(client: Any, url: str, requests: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm caches (templates, role, AWS ranges)
    times, queries = [], 0
    for _ in range(requests):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured.captured_queries)
    return statistics.median(times), queries


def run(size: dict[str, int], requests: int, search: bool) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.test import Client

    from catchup.roles import Role, set_role
    from ips import classify, extract
    from ips.models import IpReference, ObservedCidr

    figures: dict[str, Any] = {}
    started = time.perf_counter()
    accounts = populate(**size)
    figures["insert s"] = time.perf_counter() - started

    def sync_all() -> tuple[list[float], list[float], int]:
        """The refresh each account's sync runs (ips.refresh), timed in its two halves."""
        extract_s, classify_s, writes = [], [], 0
        for account in accounts:
            t0 = time.perf_counter()
            refs = extract.extract(account)
            with transaction.atomic():
                added, removed = extract.store(account, refs)
                t1 = time.perf_counter()
                stats = classify.rebuild()
            extract_s.append(t1 - t0)
            classify_s.append(time.perf_counter() - t1)
            writes += added + removed + stats.created + stats.updated + stats.deleted
        return extract_s, classify_s, writes

    first = sync_all()
    if connection.vendor == "postgresql":
        # What autovacuum does after bulk inserts; without statistics on the fresh
        # references the planner runs the search's EXISTS per row (minutes, not ms).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    second = sync_all()
    figures["refs"] = IpReference.objects.filter(account__in=accounts).count()
    figures["observed"] = ObservedCidr.objects.filter(account__in=accounts).count()
    figures["distinct"] = (
        ObservedCidr.objects.filter(account__in=accounts).values("cidr").distinct().count()
    )
    figures["classes"] = dict(
        ObservedCidr.objects.filter(account__in=accounts)
        .values_list("classification")
        .annotate(n=__import__("django.db.models", fromlist=["Count"]).Count("pk"))
        .order_by()
    )
    figures["first extract+store s/sync"] = statistics.mean(first[0])
    figures["first classify s/sync"] = statistics.mean(first[1])
    figures["first writes"] = first[2]
    figures["rerun extract+store s/sync"] = statistics.mean(second[0])
    figures["rerun classify s/sync"] = statistics.mean(second[1])
    figures["rerun writes"] = second[2]
    t0 = time.perf_counter()
    classify.rebuild()
    figures["rebuild() all s"] = time.perf_counter() - t0

    user, _ = User.objects.get_or_create(username="bench-viewer")
    set_role(user, Role.VIEWER)
    client = Client()
    client.force_login(user)
    pages = {
        "/ips/": "/ips/",
        "/ips/?account=…": f"/ips/?account={accounts[len(accounts) // 2].name}",
        "/ips/ every class, ssh, by rules": "/ips/?classification=all&hint=ssh&sort=references",
        "/ips/ page 50": "/ips/?classification=all&page=50",
    }
    if search:
        pages["/ips/?q=198.18.1"] = "/ips/?q=198.18.1&classification=all"
    for label, url in pages.items():
        figures[label] = measure(client, url, requests)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cidrs", type=int, default=10_000)
    parser.add_argument("--references", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=5)
    parser.add_argument("--annotations", type=int, default=300)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--no-search", action="store_true", help="skip the ?q= search page")
    args = parser.parse_args()

    os.environ.setdefault("CATCHUP_DATA_DIR", tempfile.mkdtemp(prefix="catchup-bench-"))
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catchup.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    settings.ALLOWED_HOSTS = ["*"]
    sizes = [
        {
            "cidrs": args.cidrs // 10,
            "references": args.references // 10,
            "accounts": args.accounts,
            "annotations": args.annotations // 10,
        },
        {
            "cidrs": args.cidrs,
            "references": args.references,
            "accounts": args.accounts,
            "annotations": args.annotations,
        },
    ]
    results = [run(size, args.requests, not args.no_search) for size in sizes]
    small, big = results
    print(f"\n{connection.vendor}, {args.accounts} accounts\n")
    head = [f"{s['cidrs']:,} CIDRs / {s['references']:,} refs" for s in sizes]
    print(f"| figure | {head[0]} | {head[1]} |")
    print("|---|---:|---:|")
    for key, value in big.items():
        if key == "classes":
            continue
        a, b = small[key], value
        if isinstance(b, tuple):
            print(f"| {key} (median ms / queries) | {a[0]:.0f} / {a[1]} | {b[0]:.0f} / {b[1]} |")
        elif isinstance(b, float):
            print(f"| {key} | {a:.2f} | {b:.2f} |")
        else:
            print(f"| {key} | {a:,} | {b:,} |")
    print(f"\nclasses at full size: {big['classes']}")
    same = all(small[k][1] == big[k][1] for k in big if isinstance(big[k], tuple))
    print(f"queue queries equal at both sizes: {same}")
    print(f"unchanged re-run wrote nothing: {small['rerun writes'] == big['rerun writes'] == 0}")


if __name__ == "__main__":
    main()
