"""The command-line contract of PRODUCT.md, against a moto server, as outside checks run it.

`add_account`, `sync` and `export` run as real subprocesses (`python manage.py …`) on a
fresh SQLite database of their own, pointed at a ThreadedMotoServer on 127.0.0.1, and
are judged only by their exit status and what they print. The cases that need fault
injection or a pinned collector registry run the same commands with call_command, in
process, against the same kind of server.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.management import CommandError, call_command

from inventory import sync as sync_service
from inventory.collectors import COLLECTORS
from inventory.models import Account, Resource, Sync
from tests.support.faults import FaultInjector, fast_retries
from tests.support.moto_server import moto_server, reset_moto

ROOT = Path(__file__).resolve().parents[2]
HOME = "ap-northeast-1"
OTHER = "us-west-2"
ROLE = "arn:aws:iam::123456789012:role/catchup-readonly"
RESOURCE_KEYS = {"type", "id", "arn", "region", "name", "tags"}
FINDING_KEYS = {
    "rule",
    "severity",
    "resource_type",
    "resource_id",
    "region",
    "status",
    "title",
    "assignee",
}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def moto_url(server: str, aws_credentials: None) -> str:
    reset_moto(server)
    return server


def build_estate(url: str) -> dict[str, str]:
    """A designed VPC with SSH open to the world, an instance and a bucket."""
    ec2 = boto3.Session(region_name=HOME).client("ec2", endpoint_url=url)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="honban-ssh", Description="ssh", VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=sg["GroupId"], IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )
    instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        SecurityGroupIds=[sg["GroupId"]],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "honban-web-1"}]}
        ],
    )["Instances"][0]
    s3 = boto3.Session(region_name="us-east-1").client("s3", endpoint_url=url)
    s3.create_bucket(Bucket="catchup-cli-logs")
    iam = boto3.Session(region_name="us-east-1").client("iam", endpoint_url=url)
    iam.create_user(UserName="deploy")
    return {"sg": sg["GroupId"], "instance": instance["InstanceId"]}


# --- As a real subprocess ---------------------------------------------------------------


class Cli:
    """`python manage.py …` in a child process, on its own database and data dir."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.db = data_dir / "cli.sqlite3"
        self.env = env

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def accounts(self) -> list[tuple[str, str, str, str]]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(
                "SELECT name, auth_mode, endpoint_url, regions FROM inventory_account"
            ).fetchall()


@pytest.fixture
def cli(tmp_path: Path, moto_url: str) -> Cli:
    env = {
        key: value
        for key, value in os.environ.items()
        # The children must not reach the test run's database, broker or AWS settings.
        if not key.startswith(("AWS_", "CELERY_", "DATABASE_", "DJANGO_"))
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=HOME,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        CATCHUP_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        SECRET_KEY="cli-test-only",
        DJANGO_SETTINGS_MODULE="catchup.settings",
    )
    run = Cli(tmp_path, env)
    assert run("migrate", "--no-input", "-v", "0").returncode == 0
    return run


INVALID_TOKEN = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
    b"<Type>Sender</Type><Code>InvalidClientTokenId</Code>"
    b"<Message>The security token included in the request is invalid.</Message>"
    b"</Error><RequestId>0</RequestId></ErrorResponse>"
)


@pytest.fixture
def rejecting_endpoint() -> Iterator[str]:
    """An endpoint on 127.0.0.1 that refuses every request's credentials, as AWS does for
    a deleted key (an error AWS does not retry, so the sync fails at once)."""

    class Reject(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(403)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(INVALID_TOKEN)))
            self.end_headers()
            self.wfile.write(INVALID_TOKEN)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Reject)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_it_adds_syncs_and_exports_an_account_the_way_product_md_says(
    cli: Cli, moto_url: str
) -> None:
    estate = build_estate(moto_url)

    added = cli("add_account", "legacy", "--endpoint-url", moto_url, "--regions", f"{HOME},{OTHER}")
    assert added.returncode == 0, added.stderr
    assert "Created account legacy" in added.stdout
    updated = cli("add_account", "legacy", "--regions", HOME)
    assert updated.returncode == 0, updated.stderr
    assert "Updated account legacy" in updated.stdout
    assert cli.accounts() == [("legacy", "default", moto_url, json.dumps([HOME]))]

    synced = cli("sync", "legacy")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "region×service tasks" in synced.stdout  # progress lines
    assert "complete" in synced.stdout.splitlines()[-1]

    exported = cli("export", "legacy", "--kind", "resources")
    assert exported.returncode == 0, exported.stderr
    resources = json.loads(exported.stdout)
    assert all(set(row) == RESOURCE_KEYS for row in resources)
    by_id = {row["id"]: row for row in resources}
    instance = by_id[estate["instance"]]
    assert instance["type"] == "AWS::EC2::Instance"
    assert instance["region"] == HOME
    assert instance["name"] == "honban-web-1"
    assert instance["tags"] == {"Name": "honban-web-1"}
    assert instance["arn"].startswith("arn:aws:ec2:ap-northeast-1:")
    user = next(row for row in resources if row["type"] == "AWS::IAM::User")
    assert user["region"] in ("global", "us-east-1")  # a global service
    assert any(row["type"] == "AWS::S3::Bucket" for row in resources)

    as_csv = cli("export", "legacy", "--kind", "resources", "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert set(rows[0]) == RESOURCE_KEYS
    assert {r["id"] for r in rows} == set(by_id)

    findings_out = cli("export", "legacy", "--kind", "findings")
    assert findings_out.returncode == 0, findings_out.stderr
    findings = json.loads(findings_out.stdout)
    assert all(set(row) == FINDING_KEYS for row in findings)
    ssh = [f for f in findings if f["rule"] == "sg-ssh-open-to-world"]
    assert [(f["resource_id"], f["region"], f["status"]) for f in ssh] == [
        (estate["sg"], HOME, "open")
    ]
    assert ssh[0]["severity"] and ssh[0]["title"] and ssh[0]["assignee"] is None
    findings_csv = cli("export", "legacy", "--kind", "findings", "--format", "csv")
    assert set(next(csv.DictReader(io.StringIO(findings_csv.stdout)))) == FINDING_KEYS


def test_the_aws_endpoint_url_variable_replaces_the_option(cli: Cli, moto_url: str) -> None:
    estate = build_estate(moto_url)
    assert cli("add_account", "viaenv", "--regions", HOME).returncode == 0

    synced = cli("sync", "viaenv", AWS_ENDPOINT_URL=moto_url)

    assert synced.returncode == 0, synced.stdout + synced.stderr
    exported = cli("export", "viaenv", "--kind", "resources")
    assert estate["instance"] in {row["id"] for row in json.loads(exported.stdout)}


def test_a_sync_that_cannot_reach_the_account_exits_1_and_says_why(
    cli: Cli, rejecting_endpoint: str
) -> None:
    assert cli("add_account", "gone", "--endpoint-url", rejecting_endpoint).returncode == 0

    synced = cli("sync", "gone")

    assert synced.returncode == 1
    assert "failed" in synced.stdout
    assert "Could not reach the account (InvalidClientTokenId)" in synced.stdout


BAD_INPUT = [
    (["--role-arn", "arn:aws:iam::12345:role/x", "--external-id", "e"], "role ARN"),
    (["--regions", "ap-northeast-1,ap-nrotheast-1"], "ap-nrotheast-1"),
    (["--regions", "ap-northeast-l"], "ap-northeast-l"),
    (["--endpoint-url", "127.0.0.1:5000"], "http"),
    (["--endpoint-url", "http://127.0.0.1:port"], "port"),
]


def test_bad_add_account_input_exits_non_zero_and_saves_nothing(cli: Cli) -> None:
    for args, message in BAD_INPUT:
        result = cli("add_account", "legacy", *args)

        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
        assert cli.accounts() == [], args


def test_an_unknown_account_name_exits_non_zero_with_a_message(cli: Cli) -> None:
    for command in (["sync", "nobody"], ["export", "nobody", "--kind", "resources"]):
        result = cli(*command)
        assert result.returncode != 0
        assert "No account named 'nobody'" in result.stderr


# --- In process (fault injection, a pinned registry) -------------------------------------


def run_command(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command(*args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def ec2_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two collectors: these tests are about the contract, not about every service."""
    pinned = {key: COLLECTORS[key] for key in ("ec2.vpcs", "ec2.instances")}
    monkeypatch.setattr(sync_service, "COLLECTORS", pinned)


@pytest.mark.django_db(transaction=True)
def test_a_failed_region_service_exits_3_and_prints_the_error(
    moto_url: str, ec2_only: None
) -> None:
    build_estate(moto_url)
    call_command("add_account", "legacy", "--endpoint-url", moto_url, "--regions", HOME,
                 stdout=io.StringIO())  # fmt: skip
    injector = FaultInjector()
    injector.add("access_denied", service="ec2", operation="DescribeInstances")

    with injector.install(), fast_retries():
        status, output = run_command("sync", "legacy")

    assert status == 3
    assert f"error: ec2.instances in {HOME}: UnauthorizedOperation" in output
    assert Sync.objects.get().status == Sync.Status.PARTIAL


@pytest.mark.django_db(transaction=True)
def test_a_role_with_external_id_then_a_profile(
    moto_url: str, ec2_only: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_estate(moto_url)
    out = io.StringIO()
    call_command("add_account", "legacy", "--endpoint-url", moto_url, "--regions", HOME,
                 "--role-arn", ROLE, "--external-id", "catchup-x1", stdout=out)  # fmt: skip
    account = Account.objects.get()
    assert (account.auth_mode, account.role_arn, account.external_id) == (
        "role",
        ROLE,
        "catchup-x1",
    )
    assert run_command("sync", "legacy")[0] == 0

    credentials = tmp_path / "credentials"
    credentials.write_text("[ops]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    call_command("add_account", "byprofile", "--endpoint-url", moto_url, "--regions", HOME,
                 "--profile", "ops", stdout=out)  # fmt: skip
    profiled = Account.objects.get(name="byprofile")
    assert (profiled.auth_mode, profiled.profile) == ("profile", "ops")
    sync_service.forget_sessions()
    assert run_command("sync", "byprofile")[0] == 0
    assert Resource.objects.filter(account=profiled, type="AWS::EC2::Instance").count() == 1


@pytest.mark.django_db(transaction=True)
def test_regions_all_collects_every_enabled_region(moto_url: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(sync_service, "COLLECTORS", {"ec2.vpcs": COLLECTORS["ec2.vpcs"]})
    call_command("add_account", "everywhere", "--endpoint-url", moto_url, "--regions", "all",
                 stdout=io.StringIO())  # fmt: skip
    assert Account.objects.get().all_regions

    status, _ = run_command("sync", "everywhere")

    sync = Sync.objects.get()
    assert status == 0
    assert {HOME, OTHER, "eu-west-1"} <= set(sync.regions)
    assert sync.tasks_total == len(sync.regions) > 10


@pytest.mark.django_db(transaction=True)
def test_a_bad_role_arn_on_an_existing_account_changes_nothing(moto_url: str) -> None:
    call_command("add_account", "legacy", "--endpoint-url", moto_url, stdout=io.StringIO())
    with pytest.raises(CommandError, match="role ARN"):
        call_command("add_account", "legacy", "--role-arn", "not-an-arn", "--external-id", "x")
    account = Account.objects.get()
    assert (account.auth_mode, account.role_arn) == ("default", "")
