from __future__ import annotations

import sys
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catchup import dispatch
from inventory import sync as sync_service
from inventory.models import Account, Sync

EXIT_PARTIAL = 3


class Command(BaseCommand):
    help = "Run one full sync of an account and wait for it. Exit 0 complete, 3 partial, 1 failed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--timeout", type=int, default=3600, help="Give up waiting after this many seconds."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(name=options["name"]).first()
        if account is None:
            raise CommandError(f"No account named {options['name']!r}. Add it with add_account.")
        try:
            sync = sync_service.request(account, trigger="cli")
        except sync_service.SyncAlreadyRunning as exc:
            running = f"#{exc.sync.pk}" if exc.sync else ""
            raise CommandError(
                f"A sync of {account.name} is already running ({running}); wait for it to finish."
            ) from exc
        self.stdout.write(f"Sync #{sync.pk} of {account.name} queued.")
        sync = self._wait(sync, options["timeout"])
        self._wait_for_follow_up_tasks(options["timeout"])
        self._report(sync)
        if sync.status == Sync.Status.COMPLETE:
            return
        sys.exit(EXIT_PARTIAL if sync.status == Sync.Status.PARTIAL else 1)

    def _wait(self, sync: Sync, timeout: int) -> Sync:
        deadline = time.monotonic() + timeout
        tty = self.stdout.isatty()
        last_line = ""
        while True:
            sync.refresh_from_db()
            line = (
                f"{sync.get_status_display()}: {sync.tasks_done}/{sync.tasks_total} "
                f"region×service tasks, {sync.resources_collected} resources so far"
            )
            if line != last_line:
                if tty:
                    self.stdout.write("\r" + line.ljust(80), ending="")
                else:
                    self.stdout.write(line)
                last_line = line
            if sync.is_finished:
                if tty:
                    self.stdout.write("")
                return sync
            if time.monotonic() > deadline:
                raise CommandError(f"Sync #{sync.pk} still {sync.status} after {timeout} s.")
            sync_service.reap_stale(account=sync.account)
            time.sleep(0.5)

    def _wait_for_follow_up_tasks(self, timeout: int) -> None:
        """Embedded default: let this process's task threads end before it exits.

        The sync's status commits first and the findings are evaluated right after, in
        the same background thread (catchup.dispatch names it "task-…"). Exiting at the
        status would kill that daemon thread half-way, and a following `export --kind
        findings` would miss this sync's findings. With Celery a worker does it instead.
        """
        if dispatch.task_mode() != "thread":
            return
        deadline = time.monotonic() + timeout
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and thread.name.startswith("task-"):
                thread.join(max(0.0, deadline - time.monotonic()))

    def _report(self, sync: Sync) -> None:
        for warning in sync.warnings:
            self.stdout.write(self.style.WARNING(f"warning: {warning}"))
        for task in sync.tasks.filter(status="failed").order_by("region", "collector"):
            self.stdout.write(
                self.style.ERROR(
                    f"error: {task.collector} in {task.region}: "
                    f"{task.error_code}: {task.error_message}"
                )
            )
        summary = (
            f"Sync #{sync.pk} {sync.status}: {sync.resources_collected} resources collected, "
            f"{sync.added} added, {sync.changed} changed, {sync.removed} removed, "
            f"{sync.api_calls} AWS calls"
        )
        if sync.duration:
            summary += f", {sync.duration.total_seconds():.1f} s"
        style = {
            Sync.Status.COMPLETE: self.style.SUCCESS,
            Sync.Status.PARTIAL: self.style.WARNING,
        }.get(sync.status, self.style.ERROR)
        self.stdout.write(style(summary + "."))
        if sync.error:
            self.stdout.write(style(sync.error))
