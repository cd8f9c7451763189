"""Every change a person (or the clock) makes to a finding: one transaction, one history row.

Each public function takes the acting user, checks the role, locks the row, changes
it and writes its FindingEvent together. Bulk actions run the same steps for each
finding of a selection in one transaction, one event per finding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from catchup.roles import Role, has_role

from . import notify
from .models import Comment, Finding, FindingEvent

Status = Finding.Status
Kind = FindingEvent.Kind


def _require_editor(user: Any) -> None:
    if not has_role(user, Role.EDITOR):
        raise PermissionDenied("Changing a finding needs the Editor role.")


def _lock(finding: Finding) -> Finding:
    return Finding.objects.select_for_update().get(pk=finding.pk)


def _change(
    finding: Finding,
    *,
    by: Any,
    kind: str,
    changes: dict[str, Any],
    note: str = "",
) -> Finding:
    """Apply `changes` to a locked finding and write the event with before/after."""
    before = {k: _plain(getattr(finding, k)) for k in changes}
    for key, value in changes.items():
        setattr(finding, key, value)
    finding.save(update_fields=[*changes, "updated_at"])
    FindingEvent.objects.create(
        finding=finding,
        kind=kind,
        actor=by,
        note=note,
        before=before,
        after={k: _plain(v) for k, v in changes.items()},
    )
    return finding


def _plain(value: Any) -> Any:
    """JSON for the history: users by name, dates as ISO text."""
    if hasattr(value, "get_username"):
        return value.get_username()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


# --- The steps (no transaction of their own; callers hold one) ------------------


def _acknowledge(finding: Finding, by: Any, note: str = "") -> Finding:
    if finding.status != Status.OPEN:
        raise ValidationError("Only an open finding can be acknowledged.")
    return _change(
        finding, by=by, kind=Kind.ACKNOWLEDGED, changes={"status": Status.ACKNOWLEDGED}, note=note
    )


def _assign(finding: Finding, by: Any, assignee: Any, note: str = "") -> Finding:
    if assignee is not None and not assignee.is_active:
        raise ValidationError("That teammate's account is disabled.")
    if finding.assignee_id == (assignee.pk if assignee else None):
        return finding  # nothing changes: no history row, no mail
    _change(finding, by=by, kind=Kind.ASSIGNED, changes={"assignee": assignee}, note=note)
    if assignee is not None and assignee != by:
        pk, assignee_pk = finding.pk, assignee.pk
        transaction.on_commit(lambda: notify.assigned(pk, assignee_pk, by_name=_name(by)))
    return finding


def _set_due_date(finding: Finding, by: Any, due_date: dt.date | None, note: str = "") -> Finding:
    return _change(finding, by=by, kind=Kind.DUE_DATE, changes={"due_date": due_date}, note=note)


def _suppress(
    finding: Finding, by: Any, status: str, reason: str, expires_at: dt.datetime | None
) -> Finding:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError("The expiry must be in the future.")
    if finding.status == Status.RESOLVED:
        raise ValidationError("A resolved finding has nothing left to accept.")
    kind = Kind.ACCEPTED if status == Status.ACCEPTED else Kind.FALSE_POSITIVE
    return _change(
        finding,
        by=by,
        kind=kind,
        changes={"status": status, "reason": reason, "expires_at": expires_at},
        note=reason,
    )


def _reopen(finding: Finding, by: Any, note: str = "") -> Finding:
    if finding.status == Status.OPEN:
        raise ValidationError("The finding is already open.")
    return _change(
        finding,
        by=by,
        kind=Kind.REOPENED,
        changes={"status": Status.OPEN, "expires_at": None},
        note=note,
    )


# --- Public: one durable transaction per change ----------------------------------


@transaction.atomic(durable=True)
def acknowledge(finding: Finding, *, by: Any, note: str = "") -> Finding:
    _require_editor(by)
    return _acknowledge(_lock(finding), by, note)


@transaction.atomic(durable=True)
def assign(finding: Finding, *, by: Any, assignee: Any, note: str = "") -> Finding:
    _require_editor(by)
    return _assign(_lock(finding), by, assignee, note)


@transaction.atomic(durable=True)
def set_due_date(finding: Finding, *, by: Any, due_date: dt.date | None) -> Finding:
    _require_editor(by)
    return _set_due_date(_lock(finding), by, due_date)


@transaction.atomic(durable=True)
def accept_risk(
    finding: Finding, *, by: Any, reason: str, expires_at: dt.datetime | None = None
) -> Finding:
    _require_editor(by)
    return _suppress(_lock(finding), by, Status.ACCEPTED, reason, expires_at)


@transaction.atomic(durable=True)
def mark_false_positive(
    finding: Finding, *, by: Any, reason: str, expires_at: dt.datetime | None = None
) -> Finding:
    _require_editor(by)
    return _suppress(_lock(finding), by, Status.FALSE_POSITIVE, reason, expires_at)


@transaction.atomic(durable=True)
def reopen(finding: Finding, *, by: Any, note: str = "") -> Finding:
    _require_editor(by)
    return _reopen(_lock(finding), by, note)


@transaction.atomic(durable=True)
def comment(finding: Finding, *, by: Any, body: str) -> Comment:
    _require_editor(by)
    body = (body or "").strip()
    if not body:
        raise ValidationError("The comment is empty.")
    finding = _lock(finding)
    created = Comment.objects.create(finding=finding, author=by, body=body)
    FindingEvent.objects.create(
        finding=finding, kind=Kind.COMMENTED, actor=by, after={"comment": created.pk}
    )
    # Touch the finding so lists ordered by activity see the comment.
    finding.save(update_fields=["updated_at"])
    return created


# --- Bulk ----------------------------------------------------------------------

BULK_ACTIONS: dict[str, Callable[..., Finding]] = {
    "acknowledge": _acknowledge,
    "assign": _assign,
    "set_due_date": _set_due_date,
    "accept": lambda f, by, reason, expires_at=None: _suppress(
        f, by, Status.ACCEPTED, reason, expires_at
    ),
    "false_positive": lambda f, by, reason, expires_at=None: _suppress(
        f, by, Status.FALSE_POSITIVE, reason, expires_at
    ),
    "reopen": _reopen,
}


@transaction.atomic(durable=True)
def bulk(findings: Iterable[Finding], action: str, *, by: Any, **kwargs: Any) -> tuple[int, int]:
    """Apply one action to a selection: (changed, skipped). A finding the action does not
    apply to (acknowledging one already acknowledged…) is skipped, not an error."""
    _require_editor(by)
    step = BULK_ACTIONS[action]
    pks = [f.pk for f in findings]
    changed = skipped = 0
    for finding in Finding.objects.select_for_update().filter(pk__in=pks).order_by("pk"):
        try:
            with transaction.atomic():  # a savepoint: a skipped one leaves no half change
                step(finding, by, **kwargs)
            changed += 1
        except ValidationError:
            skipped += 1
    return changed, skipped


# --- The clock -------------------------------------------------------------------


def reopen_expired(*, now: dt.datetime | None = None) -> int:
    """Accepted / false-positive findings whose expiry passed open again (run on every
    evaluation and by beat). Each in its own transaction, safe to run twice."""
    now = now or timezone.now()
    reopened = 0
    expired = Finding.objects.filter(
        status__in=Finding.SUPPRESSED, expires_at__lte=now
    ).values_list("pk", flat=True)
    for pk in list(expired):
        with transaction.atomic():
            finding = (
                Finding.objects.select_for_update()
                .filter(pk=pk, status__in=Finding.SUPPRESSED, expires_at__lte=now)
                .first()
            )
            if finding is None:
                continue  # another run got there first
            _change(
                finding,
                by=None,
                kind=Kind.EXPIRED,
                changes={"status": Status.OPEN, "expires_at": None},
                note=f"The {finding.get_status_display().lower()} expired.",
            )
            reopened += 1
    return reopened


def _name(user: Any) -> str:
    if user is None:
        return "Catchup"
    return user.get_full_name() or user.get_username()


def teammates() -> Any:
    return get_user_model().objects.filter(is_active=True).order_by("username")
