"""Findings raised by rules, their triage history and comments, and per-account settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from inventory.models import Account, Resource, Sync

from .querysets import FindingQuerySet


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    INFO = "info", "Info"


# Days until a new finding is due, by severity (issue 5: 7/30/90/120).
DUE_DAYS = {
    Severity.CRITICAL: 7,
    Severity.HIGH: 7,
    Severity.MEDIUM: 30,
    Severity.LOW: 90,
    Severity.INFO: 120,
}
# Sort key: most severe first on every list.
SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class Layer(models.IntegerChoices):
    """The catch-up layers of seed 000, investigated bottom-up."""

    EXTERNAL = 1, "External connections"
    SYSTEM = 2, "System path"
    OPS = 3, "Ops path"
    SERVER = 4, "Server layer"


def _default_home_regions() -> list[str]:
    return []


class AccountSettings(models.Model):
    """What the rules need to know about an account that AWS cannot tell them."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="finding_settings"
    )
    business_hours_start = models.TimeField(default=dt.time(9, 0))
    business_hours_end = models.TimeField(default=dt.time(18, 0))
    # Monday=0 … Sunday=6, as datetime.weekday().
    business_days = models.JSONField(default=list, blank=True, help_text="Empty: Mon–Fri.")
    time_zone = models.CharField(max_length=64, default="Asia/Tokyo")
    home_regions = models.JSONField(
        default=_default_home_regions,
        blank=True,
        help_text="Regions the account is meant to run in; empty: infer from its networking.",
    )
    min_backup_retention_days = models.PositiveSmallIntegerField(default=7)

    class Meta:
        verbose_name_plural = "account settings"

    def __str__(self) -> str:
        return f"settings of {self.account}"

    @classmethod
    def for_account(cls, account: Account) -> AccountSettings:
        """Created on demand with the defaults, so rules never lack settings."""
        found, _ = cls.objects.get_or_create(account=account)
        return found

    @property
    def weekdays(self) -> list[int]:
        return list(self.business_days) or [0, 1, 2, 3, 4]


class Finding(models.Model):
    """One rule's hit on one resource (identity = fingerprint), across syncs."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ACCEPTED = "accepted", "Risk accepted"
        FALSE_POSITIVE = "false_positive", "False positive"
        RESOLVED = "resolved", "Resolved"

    # Statuses still asking for someone's attention.
    ACTIVE = (Status.OPEN, Status.ACKNOWLEDGED)
    # Statuses a person chose, which an evaluation must not undo.
    SUPPRESSED = (Status.ACCEPTED, Status.FALSE_POSITIVE)

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="findings")
    rule = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    severity = models.CharField(max_length=16, choices=Severity)
    layer = models.PositiveSmallIntegerField(choices=Layer)
    title = models.CharField(max_length=512)
    detail = models.CharField(max_length=512, blank=True)
    # The resource by identity (it may be removed, or be the account itself);
    # `stored_resource` links to the stored row when there is one.
    resource_type = models.CharField(max_length=96)
    resource_id = models.CharField(max_length=512)
    region = models.CharField(max_length=32)
    stored_resource = models.ForeignKey(
        Resource, null=True, blank=True, on_delete=models.SET_NULL, related_name="findings"
    )
    # The configuration that triggered the rule, as it was when last seen.
    evidence = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status, default=Status.OPEN)
    regressed = models.BooleanField(default=False)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_findings",
    )
    due_date = models.DateField(null=True, blank=True)
    # Accepted / false positive: why, and until when (then it reopens).
    reason = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    first_seen_sync = models.ForeignKey(
        Sync, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_seen_sync = models.ForeignKey(Sync, null=True, on_delete=models.SET_NULL, related_name="+")
    resolved_sync = models.ForeignKey(
        Sync, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The status a finding had when a sync resolved it: a risk someone accepted
    # (or a false positive) is still their decision if the condition comes back.
    resolved_from = models.CharField(max_length=16, choices=Status, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen_at", "-pk"]
        constraints = [
            # Re-running the rules updates a finding instead of duplicating it.
            models.UniqueConstraint(fields=["account", "fingerprint"], name="finding_identity")
        ]
        indexes = [
            # Finding list: by account and status (the default filter), newest first.
            models.Index(fields=["account", "status", "-last_seen_at"], name="finding_list"),
            # Finding list across accounts, "open" first, newest first.
            models.Index(fields=["status", "-last_seen_at"], name="finding_status"),
            # "Assigned to me".
            models.Index(fields=["assignee", "status"], name="finding_assignee"),
            # Expiry reopening: accepted/false-positive findings whose expiry passed.
            models.Index(fields=["status", "expires_at"], name="finding_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} on {self.resource_type} {self.resource_id}"

    def get_absolute_url(self) -> str:
        return reverse("findings:detail", args=[self.pk])

    @property
    def is_overdue(self) -> bool:
        return (
            self.due_date is not None
            and self.status in self.ACTIVE
            and self.due_date < timezone.localdate()
        )

    @staticmethod
    def default_due_date(severity: str, *, today: dt.date | None = None) -> dt.date:
        today = today or timezone.localdate()
        return today + dt.timedelta(days=DUE_DAYS.get(Severity(severity), 90))


class FindingEvent(models.Model):
    """One entry of a finding's history. Written once, never changed."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        RESOLVED = "resolved", "Resolved"
        REGRESSED = "regressed", "Reopened (regressed)"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ASSIGNED = "assigned", "Assigned"
        COMMENTED = "commented", "Commented"
        DUE_DATE = "due_date", "Due date set"
        ACCEPTED = "accepted", "Risk accepted"
        FALSE_POSITIVE = "false_positive", "Marked false positive"
        REOPENED = "reopened", "Reopened"
        EXPIRED = "expired", "Acceptance expired"

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=Kind)
    # None: the system (an evaluation, an expiry).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sync = models.ForeignKey(
        Sync, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            # Finding detail: its history in order.
            models.Index(fields=["finding", "created_at"], name="finding_event_history"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on finding #{self.finding_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # History is immutable: a second save would rewrite the past.
        if self.pk is not None:
            raise ValueError("Finding events are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("Finding events are immutable.")

    @property
    def changes(self) -> list[tuple[str, Any, Any]]:
        """(field, before, after) for the history table."""
        before, after = self.before or {}, self.after or {}
        return [(key, before.get(key), after.get(key)) for key in {**before, **after}]


class Comment(models.Model):
    """A teammate's note on a finding, in Markdown (rendered escaped and sanitized)."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"comment #{self.pk} on finding #{self.finding_id}"

    @property
    def html(self) -> str:
        from .markdown import render

        return render(self.body)
