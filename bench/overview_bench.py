"""Overview, list, search and detail pages at size (issue 3): run on demand, prints figures.

    .venv/bin/python bench/overview_bench.py [--accounts 20 --per-account 5000 --requests 20]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/catchup_bench .venv/bin/python bench/…

Inserts accounts × resources directly with bulk_create (not through moto):
a realistic mix of collectors over the four layers, security groups with
rules (some open to the world), instances with private IPs and tags, VPC
relationships, a few SSM managed instances and findings. Then renders each
page with the Django test client `--requests` times and prints the server time
(median and p95) and the number of SQL queries per request.

On SQLite it uses a temporary database (CATCHUP_DATA_DIR); with DATABASE_URL it
uses that database and replaces the accounts named bench-NN in it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGIONS = ["ap-northeast-1", "us-east-1"]
# (collector, type, share of an account's resources)
MIX = [
    ("ec2.vpcs", "AWS::EC2::VPC", 1),
    ("ec2.subnets", "AWS::EC2::Subnet", 6),
    ("ec2.security_groups", "AWS::EC2::SecurityGroup", 10),
    ("ec2.route_tables", "AWS::EC2::RouteTable", 3),
    ("ec2.addresses", "AWS::EC2::EIP", 2),
    ("ec2.vpc_peering", "AWS::EC2::VPCPeeringConnection", 1),
    ("ec2.nat_gateways", "AWS::EC2::NatGateway", 1),
    ("ec2.instances", "AWS::EC2::Instance", 30),
    ("ec2.volumes", "AWS::EC2::Volume", 20),
    ("elbv2.load_balancers", "AWS::ElasticLoadBalancingV2::LoadBalancer", 2),
    ("rds.instances", "AWS::RDS::DBInstance", 2),
    ("s3.buckets", "AWS::S3::Bucket", 5),
    ("lambda.functions", "AWS::Lambda::Function", 8),
    ("iam.roles", "AWS::IAM::Role", 5),
    ("logs.log_groups", "AWS::Logs::LogGroup", 3),
    ("ssm.managed_instances", "AWS::SSM::ManagedInstance", 1),
]


def config_for(type_: str, i: int, vpc: str) -> dict[str, Any]:
    ip = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
    if type_ == "AWS::EC2::SecurityGroup":
        world = i % 7 == 0
        return {
            "GroupId": f"sg-{i:017x}",
            "VpcId": vpc,
            "Description": f"group {i}",
            "Rules": [
                {"direction": "ingress", "protocol": "tcp", "from_port": 22, "to_port": 22,
                 "cidr": "0.0.0.0/0" if world else f"203.0.{i % 256}.{i % 199}/32",
                 "description": "temporary"},
                {"direction": "egress", "protocol": "-1", "from_port": None, "to_port": None,
                 "cidr": "0.0.0.0/0", "description": ""},
            ],
        }  # fmt: skip
    if type_ == "AWS::EC2::Instance":
        return {
            "InstanceId": f"i-{i:017x}",
            "InstanceType": ["t3.medium", "m5.large", "c5.xlarge"][i % 3],
            "PrivateIpAddress": ip,
            "State": {"Name": "running"},
            "VpcId": vpc,
            "UserData": "crontab -e; fluentd" if i % 50 == 0 else "",
        }
    return {"Id": str(i), "Description": f"a {type_} created in {2014 + i % 10}", "VpcId": vpc}


def populate(accounts: int, per_account: int) -> dict[str, Any]:
    from django.utils import timezone

    from findings.models import Finding
    from inventory.models import Account, Relationship, Resource, Sync

    Account.objects.filter(name__startswith="bench-").delete()
    now = timezone.now()
    weight = sum(share for _, _, share in MIX)
    sample: dict[str, Any] = {}
    for a in range(accounts):
        account = Account.objects.create(name=f"bench-{a:02d}", regions=REGIONS)
        Sync.objects.create(account=account, status=Sync.Status.COMPLETE, finished_at=now)
        rows = []
        n = 0
        for collector, type_, share in MIX:
            for _ in range(per_account * share // weight):
                i = a * per_account + n
                region = REGIONS[n % 2] if n % 97 else "sa-east-1"
                vpc = f"vpc-{a:02d}{n % 5}"
                resource_id = (
                    f"vpc-{a:02d}{n}"
                    if type_ == "AWS::EC2::VPC"
                    else f"{type_[5:8].lower()}-{i:010d}"
                )
                name = f"{'honban' if n % 3 else 'kensho'}-{type_.rsplit('::', 1)[-1]}-{n}"
                rows.append(
                    Resource(
                        account=account,
                        region=region,
                        type=type_,
                        resource_id=resource_id,
                        scope=f"{collector}:{region}",
                        arn=f"arn:aws:{collector.split('.')[0]}:{region}:{a:012d}:{resource_id}",
                        name=name,
                        tags={
                            "Name": name,
                            "Env": "prod" if n % 3 else "stg",
                            "Owner": f"t{n % 9}",
                        },
                        config=config_for(type_, i, vpc),
                        relations=[{"kind": "in-vpc", "type": "AWS::EC2::VPC", "id": vpc}],
                        content_hash="x",
                        first_seen_at=now,
                        changed_at=now,
                    )
                )
                n += 1
        Resource.objects.bulk_create(rows, batch_size=2000)
        stored = list(
            Resource.objects.filter(account=account).values_list("pk", "type", "resource_id")
        )
        instances = [rid for _, t, rid in stored if t == "AWS::EC2::Instance"]
        edges = [
            Relationship(
                account=account, source_id=pk, kind="in-vpc", target_type="AWS::EC2::VPC",
                target_id=f"vpc-{a:02d}{k % 5}",
            )
            for k, (pk, t, _) in enumerate(stored) if t != "AWS::EC2::VPC"
        ]  # fmt: skip
        agents = [pk for pk, t, _ in stored if t == "AWS::SSM::ManagedInstance"]
        edges += [
            Relationship(
                account=account, source_id=pk, kind="manages",
                target_type="AWS::EC2::Instance", target_id=instances[k],
            )
            for k, pk in enumerate(agents)
        ]  # fmt: skip
        Relationship.objects.bulk_create(edges, batch_size=5000)
        Finding.objects.bulk_create(
            Finding(
                account=account, rule="bench", fingerprint=f"f{k}",
                severity=["high", "medium", "low"][k % 3], layer=1 + k % 4, title=f"finding {k}",
                resource_type="AWS::EC2::Instance", resource_id=instances[k], region=REGIONS[0],
            )
            for k in range(60)
        )  # fmt: skip
        if a == 0:
            sample["detail"] = stored[len(stored) // 2][0]
            sample["ip"] = config_for("AWS::EC2::Instance", 1234, "")["PrivateIpAddress"]
    return sample


def measure(client: Any, url: str, params: dict[str, str], requests: int) -> tuple:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, params)  # warm caches (templates, role)
    times, queries = [], 0
    for _ in range(requests):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url, params)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured.captured_queries)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return statistics.median(times), p95, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--per-account", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()

    os.environ.setdefault("CATCHUP_DATA_DIR", tempfile.mkdtemp(prefix="catchup-bench-"))
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catchup.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from catchup.roles import Role, set_role

    call_command("migrate", verbosity=0)
    settings.ALLOWED_HOSTS = ["*"]
    started = time.perf_counter()
    sample = populate(args.accounts, args.per_account)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Flush the GIN pending list of the trigram index (autovacuum does it in
            # production) and refresh the planner's statistics after the bulk insert.
            cursor.execute("VACUUM ANALYZE inventory_resource")
    total = args.accounts * args.per_account
    print(
        f"{connection.vendor}: {args.accounts} accounts, ~{total} resources inserted in "
        f"{time.perf_counter() - started:.1f} s"
    )
    user, _ = User.objects.get_or_create(username="bench-viewer")
    set_role(user, Role.VIEWER)
    client = Client()
    client.force_login(user)
    acct = f"/accounts/bench-{min(7, args.accounts - 1):02d}/"
    pages = [
        ("home (all accounts)", "/", {}),
        ("account overview", acct, {}),
        ("resource list", f"{acct}resources/", {}),
        ("resource list ?layer=1", f"{acct}resources/", {"layer": "1"}),
        ("resource list ?attention=world-open", f"{acct}resources/", {"attention": "world-open"}),
        ("resource list ?attention=production", f"{acct}resources/", {"attention": "production"}),
        ("search name 'honban-Instance-12'", "/search/", {"q": "honban-Instance-12"}),
        ("search IP", "/search/", {"q": sample["ip"]}),
        ("search config text 'fluentd'", "/search/", {"q": "fluentd"}),
        (
            "search 'crontab' + layer 2 + tag",
            "/search/",
            {"q": "crontab", "layer": "2", "tag": "Env=prod"},
        ),  # fmt: skip
        ("search vpc + type", "/search/", {"vpc": "vpc-071", "type": "AWS::EC2::Instance"}),
        ("resource detail", f"/resources/{sample['detail']}/", {}),
    ]
    print(f"{'page':42} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for label, url, params in pages:
        median, p95, queries = measure(client, url, params, args.requests)
        print(f"{label:42} {median:10.1f} {p95:8.1f} {queries:8d}")


if __name__ == "__main__":
    main()
