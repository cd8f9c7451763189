"""Running a sync: plan (regions × collectors), collect in parallel, finalize.

The database is the source of truth and the broker only a doorbell: every step
claims its row with a conditional UPDATE, so a task delivered twice does
nothing the second time, and a sync whose worker died is found by its stopped
heartbeat and failed by `reap_stale`.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from catchup import dispatch

from . import aws, errors, ingest
from .collectors import COLLECTORS, Collector
from .models import Account, Sync, SyncTask
from .signals import sync_finished

logger = logging.getLogger(__name__)


class SyncAlreadyRunning(Exception):
    """A sync of this account is queued or running; it is on `self.sync`."""

    def __init__(self, sync: Sync | None) -> None:
        super().__init__(
            f"A sync of this account is already running (#{sync.pk if sync else '?'})."
        )
        self.sync = sync


# --- Requesting ---------------------------------------------------------------


def request(account: Account, *, by: Any = None, trigger: str = "manual") -> Sync:
    """Queue a sync of `account`; raises SyncAlreadyRunning if one is active."""
    from .tasks import run_sync_task

    reap_stale(account=account)
    try:
        with transaction.atomic():
            sync = Sync.objects.create(account=account, requested_by=by, trigger=trigger)
            transaction.on_commit(lambda: dispatch.enqueue(run_sync_task, sync_id=sync.pk))
    except IntegrityError:
        raise SyncAlreadyRunning(account.syncs.active().first()) from None
    return sync


def start_scheduled() -> list[Sync]:
    """Queue a sync for each account whose interval has passed (run by beat)."""
    started = []
    now = timezone.now()
    for account in Account.objects.filter(sync_interval_hours__gt=0):
        last = account.syncs.order_by("-created_at").first()
        if last and last.created_at > now - timedelta(hours=account.sync_interval_hours):
            continue
        try:
            started.append(request(account, trigger="schedule"))
        except SyncAlreadyRunning:
            continue
    return started


# --- Planning -------------------------------------------------------------------


def plan_regions(account: Account, session: aws.AwsSession) -> tuple[list[str], list[str]]:
    """Regions to collect and warnings; never a region the account has not enabled."""
    warnings: list[str] = []
    enabled = aws.enabled_regions(session)
    if account.all_regions:
        return enabled, warnings
    wanted = account.regions or [aws.HOME_REGION]
    regions = [r for r in wanted if r in enabled]
    for region in wanted:
        if region not in enabled:
            warnings.append(
                f"Region {region} is not enabled in this account (or does not exist); "
                "it was not called."
            )
    return regions, warnings


def plan_tasks(sync: Sync, regions: list[str]) -> list[SyncTask]:
    tasks = []
    for collector in COLLECTORS.values():
        if collector.global_:
            tasks.append(SyncTask(sync=sync, collector=collector.key, region="global"))
        else:
            tasks += [SyncTask(sync=sync, collector=collector.key, region=r) for r in regions]
    return SyncTask.objects.bulk_create(tasks)


# --- Sessions -------------------------------------------------------------------

_sessions: dict[tuple[int, str], aws.AwsSession] = {}
_sessions_lock = threading.Lock()


def session_for(account: Account) -> aws.AwsSession:
    """One session per account (and its settings) per process.

    Reusing it keeps one assumed-role credential set (refreshed by botocore
    before it expires) and one adaptive rate limiter per service and region.
    """
    key = (account.pk, account.updated_at.isoformat())
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = aws.session_for(account)
            _sessions[key] = session
        return session


def forget_sessions() -> None:
    with _sessions_lock:
        _sessions.clear()


# --- Collecting -----------------------------------------------------------------


@dataclass
class FetchResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    api_calls: int = 0
    error_code: str = ""
    error_message: str = ""

    @property
    def ok(self) -> bool:
        return not self.error_code


def fetch(session: Any, collector: Collector, region: str) -> FetchResult:
    """Run one collector in one region. Touches no database; safe in any thread.

    `api_calls` is the session's request count during the fetch: exact when the
    unit runs alone on its session (a prefork Celery worker), an approximation
    when units of one account run side by side in process (the sync's total is
    then taken from the session as a whole, see _collect_in_process).
    """
    calls_before = getattr(session, "calls", 0)
    call_region = collector.home_region if region == "global" else region
    result = FetchResult()
    try:
        result.records = [record.to_dict() for record in collector.collect(session, call_region)]
    except Exception as exc:
        # The boundary of one unit: whatever went wrong is recorded on the unit
        # (code and words) and the sync goes on; its scope keeps its last state.
        # Celery's SoftTimeLimitExceeded lands here too.
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            result.error_code = "TimedOut"
            result.error_message = (
                f"Collecting {collector.key} in {region} took longer than "
                f"{settings.CELERY_TASK_SOFT_TIME_LIMIT} s and was stopped."
            )
        else:
            result.error_code, result.error_message = errors.describe(exc)
        result.records = []
        logger.info("collect %s@%s failed: %s", collector.key, region, result.error_code)
    result.api_calls = getattr(session, "calls", 0) - calls_before
    return result


def _record(task: SyncTask, result: FetchResult, *, count_calls: bool = True) -> bool:
    """Store one unit's outcome; False if another delivery of it got there first."""
    now = timezone.now()
    with transaction.atomic():
        updated = SyncTask.objects.filter(
            pk=task.pk, status=SyncTask.Status.RUNNING, attempts=task.attempts
        ).update(
            status=SyncTask.Status.DONE if result.ok else SyncTask.Status.FAILED,
            payload=result.records if result.ok else None,
            finished_at=now,
            resource_count=len(result.records),
            api_calls=result.api_calls,
            error_code=result.error_code[:128],
            error_message=result.error_message,
        )
        if updated:
            Sync.objects.filter(pk=task.sync_id).update(
                tasks_done=F("tasks_done") + 1,
                resources_collected=F("resources_collected") + len(result.records),
                api_calls=F("api_calls") + (result.api_calls if count_calls else 0),
                heartbeat_at=now,
            )
    return bool(updated)


def _claim_task(task_id: int) -> SyncTask | None:
    """Take a unit: pending, or running past its lease (its worker died)."""
    now = timezone.now()
    lease = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    claimed = (
        SyncTask.objects.filter(pk=task_id, sync__status=Sync.Status.RUNNING)
        .filter(
            Q(status=SyncTask.Status.PENDING)
            | Q(status=SyncTask.Status.RUNNING, started_at__lt=now - lease)
        )
        .update(status=SyncTask.Status.RUNNING, started_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    return SyncTask.objects.select_related("sync__account").get(pk=task_id)


def collect(task_id: int) -> None:
    """Celery path: one unit in a worker, then finalize if it was the last one."""
    task = _claim_task(task_id)
    if task is None:
        return  # a duplicate delivery, or the sync already ended
    session = session_for(task.sync.account)
    result = fetch(session, COLLECTORS[task.collector], task.region)
    _record(task, result)
    _finalize_when_done(task.sync_id)


def _finalize_when_done(sync_id: int) -> None:
    from .tasks import finalize_sync_task

    open_units = SyncTask.objects.filter(
        sync_id=sync_id, status__in=[SyncTask.Status.PENDING, SyncTask.Status.RUNNING]
    )
    if not open_units.exists():
        # Two last units may both get here: finalize claims the sync, so only one
        # of the two finalizes.
        dispatch.enqueue(finalize_sync_task, sync_id=sync_id)


def _collect_in_process(sync: Sync, tasks: list[SyncTask], session: aws.AwsSession) -> None:
    """Embedded default: AWS calls in a thread pool, database writes in this thread."""
    SyncTask.objects.filter(pk__in=[t.pk for t in tasks]).update(
        status=SyncTask.Status.RUNNING, started_at=timezone.now(), attempts=1
    )
    for task in tasks:
        task.status, task.attempts = SyncTask.Status.RUNNING, 1
    calls_before = session.calls
    with ThreadPoolExecutor(
        max_workers=settings.CATCHUP_SYNC_CONCURRENCY, thread_name_prefix=f"sync{sync.pk}"
    ) as pool:
        pending: dict[Future, SyncTask] = {
            pool.submit(fetch, session, COLLECTORS[t.collector], t.region): t for t in tasks
        }
        while pending:
            done, _ = wait(pending, timeout=30, return_when=FIRST_COMPLETED)
            if not done:
                Sync.objects.filter(pk=sync.pk).update(heartbeat_at=timezone.now())
            for future in done:
                _record(pending.pop(future), future.result(), count_calls=False)
    # Units ran side by side on one session: the sync's total comes from the
    # session (one sync per account at a time, so nothing else shares it).
    Sync.objects.filter(pk=sync.pk).update(api_calls=session.calls - calls_before)


# --- Running ----------------------------------------------------------------------


def _fail(sync_id: int, message: str, *, from_status: tuple[str, ...] = Sync.ACTIVE) -> bool:
    now = timezone.now()
    with transaction.atomic():
        failed = Sync.objects.filter(pk=sync_id, status__in=from_status).update(
            status=Sync.Status.FAILED, finished_at=now, error=message, heartbeat_at=now
        )
        if failed:
            SyncTask.objects.filter(
                sync_id=sync_id, status__in=[SyncTask.Status.PENDING, SyncTask.Status.RUNNING]
            ).update(
                status=SyncTask.Status.FAILED,
                finished_at=now,
                error_code="SyncFailed",
                error_message=message,
                payload=None,
            )
    if failed:
        sync = Sync.objects.get(pk=sync_id)
        transaction.on_commit(lambda: sync_finished.send(sender=Sync, sync=sync))
    return bool(failed)


def run(sync_id: int) -> None:
    """Claim a queued sync, plan its units and start collecting them."""
    from .tasks import collect_task

    now = timezone.now()
    claimed = Sync.objects.filter(pk=sync_id, status=Sync.Status.QUEUED).update(
        status=Sync.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return  # a duplicate delivery: another worker has it
    sync = Sync.objects.select_related("account").get(pk=sync_id)
    account = sync.account
    try:
        session = session_for(account)
        identity = aws.caller_identity(session)
    except Exception as exc:  # any failure to reach the account fails the sync, in words
        if account.auth_mode == Account.AuthMode.ROLE:
            code, message = errors.assume_role_error(exc, account.role_arn)
        else:
            code, message = errors.describe(exc, operation_hint="GetCallerIdentity")
        forget_sessions()
        _fail(sync_id, f"Could not reach the account ({code}). {message}")
        return
    try:
        regions, warnings = plan_regions(account, session)
    except Exception as exc:
        code, message = errors.describe(exc, operation_hint="DescribeRegions")
        _fail(sync_id, f"Could not list the account's enabled regions ({code}). {message}")
        return
    if not regions:
        _fail(
            sync_id,
            "No region to collect: none of the account's regions is enabled. " + " ".join(warnings),
        )
        return

    with transaction.atomic():
        tasks = plan_tasks(sync, regions)
        Sync.objects.filter(pk=sync_id).update(
            aws_account_id=identity["account"],
            regions=regions,
            warnings=warnings,
            tasks_total=len(tasks),
            heartbeat_at=timezone.now(),
        )
        Account.objects.filter(pk=account.pk).update(aws_account_id=identity["account"])

    if dispatch.task_mode() == "celery":
        from celery import group

        # The group fans out; the last unit to finish enqueues finalize (see
        # _finalize_when_done) instead of a chord, so no result backend holds state.
        group(collect_task.s(task_id=t.pk) for t in tasks).apply_async()
    else:
        _collect_in_process(sync, tasks, session)
        finalize(sync_id)


def finalize(sync_id: int) -> None:
    """Apply the collected records and settle the outcome, all or nothing."""
    claimed = Sync.objects.filter(pk=sync_id, status=Sync.Status.RUNNING).update(
        status=Sync.Status.FINALIZING, heartbeat_at=timezone.now()
    )
    if not claimed:
        return
    sync = Sync.objects.select_related("account").get(pk=sync_id)
    tasks = list(sync.tasks.all())
    failed = [t for t in tasks if t.status != SyncTask.Status.DONE]
    try:
        with transaction.atomic():
            if tasks and len(failed) == len(tasks):
                status = Sync.Status.FAILED
                stats = ingest.IngestStats()
                error = (
                    f"Every one of the {len(tasks)} collections failed; the previous "
                    "inventory is kept. The first error: "
                    f"{failed[0].collector} in {failed[0].region}: {failed[0].error_message}"
                )
            else:
                stats = ingest.apply(sync, tasks)
                status = Sync.Status.PARTIAL if failed else Sync.Status.COMPLETE
                error = (
                    f"{len(failed)} of {len(tasks)} collections failed; their resources keep "
                    "their previous state."
                    if failed
                    else ""
                )
            now = timezone.now()
            Sync.objects.filter(pk=sync_id).update(
                status=status,
                finished_at=now,
                heartbeat_at=now,
                added=stats.added,
                removed=stats.removed,
                changed=stats.changed,
                error=error,
            )
            SyncTask.objects.filter(sync_id=sync_id).update(payload=None)
            sync.refresh_from_db()
            transaction.on_commit(lambda: sync_finished.send(sender=Sync, sync=sync))
    except Exception as exc:
        logger.exception("finalizing sync %s failed", sync_id)
        _fail(
            sync_id,
            f"Saving the collected inventory failed ({type(exc).__name__}: {exc}). "
            "The previous inventory is kept; sync again.",
        )


def reap_stale(*, account: Account | None = None) -> int:
    """Fail active syncs whose heartbeat stopped: their worker died."""
    stale_after = timedelta(seconds=settings.CATCHUP_SYNC_STALE_SECONDS)
    cutoff = timezone.now() - stale_after
    stale = Sync.objects.active().filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    if account is not None:
        stale = stale.filter(account=account)
    count = 0
    for sync_id in stale.values_list("pk", flat=True):
        minutes = max(1, int(stale_after.total_seconds() // 60))
        if _fail(
            sync_id,
            f"No progress for {minutes} minutes: the worker running this sync stopped "
            "(killed or lost). The previous inventory is kept; start a new sync.",
        ):
            count += 1
    return count
