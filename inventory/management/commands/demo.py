"""`manage.py demo`: the whole product on the embedded default, on a sample account.

Migrates the SQLite database, starts moto's server on a free loopback port,
builds the sample legacy estate in it (inventory/demo.py), registers it as the
account "legacy-demo" (read through an assumed role with an ExternalId, the
recommended mode), syncs it, prints a login and serves the site.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from catchup.roles import Role, set_role
from inventory import demo
from inventory import sync as sync_service
from inventory.forms import AccountForm
from inventory.models import Account, Sync, SyncTask

ACCOUNT_NAME = "legacy-demo"
USERNAME = "demo"
HOST = "127.0.0.1"  # loopback only: the demo's login is printed on the terminal
# Fixed so a re-run builds the same resource ids: the second sync then shows
# changes, not a whole estate removed and added again.
MOTO_SEED = 20161001

# Fake credentials for the moto server, never real ones. Set in this process
# only, so nothing the demo does can reach AWS with the user's own keys.
DEMO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "demo-access-key-not-real",
    "AWS_SECRET_ACCESS_KEY": "demo-secret-key-not-real",
}
# Variables that would make boto3 pick other credentials or another endpoint.
FOREIGN_AWS_VARIABLES = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


class Command(BaseCommand):
    help = (
        "Start a demo: a sample legacy AWS account served by moto, synced, and the site "
        "served on 127.0.0.1 with a printed login."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="Serve the site on this port.")
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help="Set everything up and sync, then stop (no web server).",
        )
        parser.add_argument(
            "--timeout", type=int, default=300, help="Give up waiting for the sync after N s."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._prepare_database_and_static()
        from moto.server import ThreadedMotoServer

        # moto's server logs every request, and a traceback for each API it does
        # not implement; the sync records those failures itself, in words.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)

        moto_port = _free_port()
        endpoint = f"http://{HOST}:{moto_port}"
        server = ThreadedMotoServer(ip_address=HOST, port=moto_port, verbose=False)
        server.start()
        try:
            self.stdout.write(f"moto server (the sample AWS account) on {endpoint}")
            _use_demo_credentials()
            _reset_and_seed_moto(endpoint)
            self.stdout.write("Building the sample legacy estate…")
            session = boto3.Session(region_name=demo.HOME_REGION)
            estate = demo.build_legacy_estate(session, endpoint_url=endpoint)
            account = self._save_account(endpoint, estate["regions"])
            sync = self._sync(account, options["timeout"])
            password = _reset_demo_user()
            self._print_login(options["port"], sync, password)
            if not options["no_serve"]:
                # Django's server without the reloader (a reload would lose the
                # moto server's state). With DEBUG off, WhiteNoise serves the
                # static files collected above. Ctrl-C ends it with SystemExit.
                call_command(
                    "runserver", f"{HOST}:{options['port']}", use_reloader=False, skip_checks=True
                )
        except KeyboardInterrupt:
            pass  # Ctrl-C before the site was up; runserver handles its own
        finally:
            server.stop()
            self.stdout.write("Demo stopped (the database in var/ is kept; run it again any time).")

    # --- Steps --------------------------------------------------------------------

    def _prepare_database_and_static(self) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        static_root = Path(settings.STATIC_ROOT)
        # With DEBUG off the site's CSS and htmx come from STATIC_ROOT through
        # WhiteNoise. Collected at every start (it copies only what changed), so
        # a pulled update's CSS is served too.
        if not static_root.is_dir():
            self.stdout.write("Collecting static files…")
        call_command("collectstatic", interactive=False, verbosity=0)

    def _save_account(self, endpoint: str, regions: list[str]) -> Account:
        existing = Account.objects.filter(name=ACCOUNT_NAME).first()
        if existing is not None:
            _end_abandoned_syncs(existing)
        form = AccountForm(
            {
                "name": ACCOUNT_NAME,
                "auth_mode": Account.AuthMode.ROLE,
                "role_arn": demo.READONLY_ROLE_ARN,
                "external_id": demo.READONLY_EXTERNAL_ID,
                "profile": "",
                "endpoint_url": endpoint,
                "sync_interval_hours": 0,
                "regions_text": ",".join(regions),
            },
            instance=existing,
        )
        if not form.is_valid():
            raise CommandError(f"The demo account is invalid: {form.errors.as_text()}")
        account = form.save()
        verb = "Updated" if existing else "Created"
        self.stdout.write(f"{verb} account {account.name} ({account.identity_label}).")
        return account

    def _sync(self, account: Account, timeout: int) -> Sync:
        sync = sync_service.request(account, trigger="demo")
        self.stdout.write(f"Sync #{sync.pk} of {account.name} started.")
        deadline = time.monotonic() + timeout
        last_line = ""
        while True:
            sync.refresh_from_db()
            line = (
                f"  {sync.get_status_display()}: {sync.tasks_done}/{sync.tasks_total} "
                f"region×service tasks, {sync.resources_collected} resources so far"
            )
            if line != last_line:
                self.stdout.write(line)
                last_line = line
            if sync.is_finished:
                break
            if time.monotonic() > deadline:
                raise CommandError(f"Sync #{sync.pk} still {sync.status} after {timeout} s.")
            time.sleep(0.5)
        style = {
            Sync.Status.COMPLETE: self.style.SUCCESS,
            Sync.Status.PARTIAL: self.style.WARNING,
        }.get(sync.status, self.style.ERROR)
        self.stdout.write(
            style(
                f"Sync #{sync.pk} {sync.status}: {sync.resources_collected} resources, "
                f"{sync.added} added, {sync.changed} changed, {sync.removed} removed."
            )
        )
        for task in sync.tasks.filter(status=SyncTask.Status.FAILED).order_by("region"):
            self.stdout.write(
                self.style.WARNING(
                    f"  {task.collector} in {task.region}: {task.error_code}: {task.error_message}"
                )
            )
        if sync.error:
            self.stdout.write(style(sync.error))
        if sync.status == Sync.Status.FAILED:
            # The site still starts: the sync page says what went wrong.
            self.stderr.write("The demo sync failed; the site shows why.")
        return sync

    def _print_login(self, port: int, sync: Sync, password: str) -> None:
        lines = [
            "",
            "=" * 60,
            f"  Catchup demo: http://{HOST}:{port}/",
            f"  username: {USERNAME}",
            f"  password: {password}",
            f"  account:  {ACCOUNT_NAME} (sync #{sync.pk}: {sync.status})",
            f"  then:     http://{HOST}:{port}/ips/ (addresses nobody explained yet)",
            "=" * 60,
            "",
        ]
        self.stdout.write("\n".join(lines))


def _free_port() -> int:
    """A port nobody listens on now (the OS picks it; tiny race, fine for a demo)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _use_demo_credentials() -> None:
    for name in FOREIGN_AWS_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(DEMO_CREDENTIALS)
    os.environ["AWS_DEFAULT_REGION"] = demo.HOME_REGION
    # A user's ~/.aws files must not leak into the demo (a profile's role or
    # endpoint settings); point boto3 at files that do not exist.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def _reset_and_seed_moto(endpoint: str) -> None:
    """Start from an empty estate with repeatable ids, through moto's control API.

    moto keeps its state per process, not per server: the reset matters when
    the command runs twice in one process (tests), not on a fresh start.
    """
    for path in ("/moto-api/reset", f"/moto-api/seed?a={MOTO_SEED}"):
        request = urllib.request.Request(f"{endpoint}{path}", method="POST")
        with urllib.request.urlopen(request, timeout=10):  # loopback: our own moto server
            pass


def _end_abandoned_syncs(account: Account) -> None:
    """A previous demo stopped mid-sync leaves its sync active; its thread is gone.

    The demo owns this account, so it ends that sync now instead of waiting for
    the stale-sync reaper's timeout.
    """
    now = timezone.now()
    message = "The demo process that ran this sync was stopped."
    with transaction.atomic():
        active = list(account.syncs.active().values_list("pk", flat=True))
        Sync.objects.filter(pk__in=active).update(
            status=Sync.Status.FAILED, finished_at=now, heartbeat_at=now, error=message
        )
        SyncTask.objects.filter(
            sync_id__in=active, status__in=[SyncTask.Status.PENDING, SyncTask.Status.RUNNING]
        ).update(
            status=SyncTask.Status.FAILED,
            finished_at=now,
            error_code="SyncFailed",
            error_message=message,
            payload=None,
        )


def _reset_demo_user() -> str:
    """The `demo` admin, with a fresh random password each run."""
    password = secrets.token_urlsafe(12)
    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    user.set_password(password)
    user.is_active = True
    user.save()
    set_role(user, Role.ADMIN)
    return password
