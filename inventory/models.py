"""Accounts, syncs and the resources they collected, with change history."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from catchup import crypto

from .querysets import ResourceQuerySet, SyncQuerySet


class Account(models.Model):
    """An AWS account Catchup reads, and how to reach it."""

    class AuthMode(models.TextChoices):
        ROLE = "role", "Assume a role (with ExternalId)"
        PROFILE = "profile", "Named profile"
        DEFAULT = "default", "Default credential chain"
        KEYS = "keys", "Access key (stored encrypted)"

    name = models.SlugField(
        max_length=64, unique=True, help_text="Short name used in the UI and on the command line."
    )
    aws_account_id = models.CharField(
        max_length=12, blank=True, help_text="Discovered with sts:GetCallerIdentity."
    )
    auth_mode = models.CharField(max_length=16, choices=AuthMode, default=AuthMode.DEFAULT)
    role_arn = models.CharField(max_length=2048, blank=True)
    external_id = models.CharField(max_length=1224, blank=True)
    profile = models.CharField(
        max_length=128,
        blank=True,
        help_text="Named profile; with a role, the profile whose credentials assume it.",
    )
    # An access key pair (KEYS mode, or the source credentials of a role), as
    # one Fernet token of JSON: never plaintext in the database, in dumps or in
    # forms. Use set_access_keys() / access_keys().
    credentials_encrypted = models.TextField(blank=True, editable=False)
    # Empty list with all_regions=False means "the session's default region".
    regions = models.JSONField(default=list, blank=True)
    all_regions = models.BooleanField(
        default=False, help_text="Collect every region enabled in the account."
    )
    enabled_regions = models.JSONField(
        default=list, blank=True, help_text="Discovered with ec2:DescribeRegions at each sync."
    )
    endpoint_url = models.CharField(
        max_length=512, blank=True, help_text="Point every AWS client at this endpoint (moto…)."
    )
    sync_interval_hours = models.PositiveIntegerField(
        default=0, help_text="Scheduled sync every N hours (0: only on demand)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("inventory:account", args=[self.name])

    @property
    def effective_endpoint_url(self) -> str | None:
        return self.endpoint_url or settings.AWS_ENDPOINT_URL or None

    @property
    def identity_label(self) -> str:
        """How Catchup reaches the account, in words (never a secret)."""
        if self.auth_mode == self.AuthMode.ROLE:
            return f"role {self.role_arn}"
        if self.auth_mode == self.AuthMode.PROFILE:
            return f"profile {self.profile}"
        if self.auth_mode == self.AuthMode.KEYS:
            return f"access key {self.access_key_hint}"
        return "default credential chain"

    def set_access_keys(self, access_key_id: str, secret_access_key: str) -> None:
        """Store a key pair encrypted (both empty: forget it). Saved by the caller."""
        if not access_key_id and not secret_access_key:
            self.credentials_encrypted = ""
            return
        payload = json.dumps({"id": access_key_id, "secret": secret_access_key})
        self.credentials_encrypted = crypto.encrypt(payload)

    def access_keys(self) -> tuple[str, str] | None:
        """The stored (access key id, secret access key), decrypted; None when none."""
        if not self.credentials_encrypted:
            return None
        data = json.loads(crypto.decrypt(self.credentials_encrypted))
        return data["id"], data["secret"]

    @property
    def has_access_keys(self) -> bool:
        return bool(self.credentials_encrypted)

    @property
    def access_key_hint(self) -> str:
        """The key id's last 4 characters, enough to tell keys apart (never the secret)."""
        keys = self.access_keys() if self.has_access_keys else None
        return f"…{keys[0][-4:]}" if keys else "(none stored)"

    def latest_finished_sync(self) -> Sync | None:
        return self.syncs.finished().order_by("-finished_at").first()


class Sync(models.Model):
    """One collection of an account: its plan (tasks), progress and outcome.

    The sync's state lives here, not in the broker: tasks read and update these
    rows, so a task delivered twice or a worker that died leaves a consistent
    record.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINALIZING = "finalizing", "Saving"
        COMPLETE = "complete", "Complete"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.FINALIZING)
    FINISHED = (Status.COMPLETE, Status.PARTIAL, Status.FAILED)

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="syncs")
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    trigger = models.CharField(max_length=16, default="manual")  # manual, cli, schedule
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every task that makes progress; the reaper fails a sync whose
    # heartbeat stopped (its worker died).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    aws_account_id = models.CharField(max_length=12, blank=True)
    regions = models.JSONField(default=list, blank=True)
    tasks_total = models.PositiveIntegerField(default=0)
    tasks_done = models.PositiveIntegerField(default=0)
    resources_collected = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the whole sync failed, in words.")
    # Things the user should know that did not fail the sync (a requested
    # region that is not enabled in the account…).
    warnings = models.JSONField(default=list, blank=True)

    objects = SyncQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One active sync per account; a second request is told one is running.
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status__in=["queued", "running", "finalizing"]),
                name="one_active_sync_per_account",
            )
        ]
        indexes = [
            # Account page: latest syncs of an account.
            models.Index(fields=["account", "-created_at"], name="sync_account_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.account} sync #{self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("inventory:sync", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress_percent(self) -> int:
        if not self.tasks_total:
            return 0
        return int(100 * self.tasks_done / self.tasks_total)

    @property
    def duration(self):  # -> timedelta | None
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class SyncTask(models.Model):
    """One unit of a sync: one collector in one region (or `global`)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="tasks")
    collector = models.CharField(max_length=64)
    region = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    resource_count = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=128, blank=True)
    error_message = models.TextField(blank=True)
    # The collected records, held here until the sync is finalized, so readers
    # keep seeing the last complete state meanwhile. Emptied after finalizing.
    payload = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["region", "collector"]
        constraints = [
            models.UniqueConstraint(
                fields=["sync", "collector", "region"], name="one_task_per_unit"
            )
        ]

    def __str__(self) -> str:
        return f"{self.collector}@{self.region}"

    @property
    def scope(self) -> str:
        return f"{self.collector}:{self.region}"


class Resource(models.Model):
    """One AWS resource's current (or last known) state in an account.

    Identity is (account, region, type, resource_id). Rows change only when the
    resource does: an unchanged re-sync writes nothing here.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="resources")
    region = models.CharField(max_length=32)
    type = models.CharField(max_length=96)
    resource_id = models.CharField(max_length=512)
    # collector:region of the task that owns this resource; a failed task's
    # scope is left untouched by finalize.
    scope = models.CharField(max_length=128)
    arn = models.CharField(max_length=2048, blank=True)
    name = models.CharField(max_length=1024, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True)
    relations = models.JSONField(default=list, blank=True)
    content_hash = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField()
    changed_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)
    first_seen_sync = models.ForeignKey(
        Sync, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_change_sync = models.ForeignKey(
        Sync, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ResourceQuerySet.as_manager()

    class Meta:
        ordering = ["type", "resource_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "region", "type", "resource_id"], name="resource_identity"
            )
        ]
        indexes = [
            # Finalize loads the current rows of one scope.
            models.Index(fields=["account", "scope"], name="resource_scope"),
            # Resource list: current resources of an account by type.
            models.Index(fields=["account", "removed_at", "type"], name="resource_list"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.resource_id}"

    def get_absolute_url(self) -> str:
        return reverse("inventory:resource", args=[self.pk])

    @property
    def display_name(self) -> str:
        return self.name or self.resource_id

    @property
    def service(self) -> str:
        """`AWS::EC2::Instance` -> `EC2`."""
        parts = self.type.split("::")
        return parts[1] if len(parts) > 1 else self.type


class Relationship(models.Model):
    """A stored edge between two resources of one account (instance -> subnet…).

    Targets are kept by identity, not by foreign key, because the target may be
    in a scope that failed to collect, or not collected at all.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="relationships")
    kind = models.CharField(max_length=64)
    target_type = models.CharField(max_length=96)
    target_id = models.CharField(max_length=512)

    class Meta:
        indexes = [
            # Resource detail: what points at this resource.
            models.Index(
                fields=["account", "target_type", "target_id"], name="relationship_target"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} -{self.kind}-> {self.target_type} {self.target_id}"


class ResourceChange(models.Model):
    """What one sync changed about one resource, field by field."""

    class Kind(models.TextChoices):
        ADDED = "added", "Added"
        REMOVED = "removed", "Removed"
        CHANGED = "changed", "Changed"

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="changes")
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=16, choices=Kind)
    # Top-level fields that differ: {"config.InstanceType": ["t2.micro", "t3.large"], …}
    # for a change; the whole document on the "after" side for an addition and
    # on the "before" side for a removal.
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # Resource detail: its change history.
            models.Index(fields=["resource", "-created_at"], name="change_resource"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.resource}"


class AuditEvent(models.Model):
    """One change a person made to accounts or teammates: who, when, before and after.

    Written in the transaction of the change (inventory/audit.py `record`), so
    there is never a change without its row nor a row without its change.
    Findings keep their own history (findings.FindingEvent).
    """

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Changed"
        DELETE = "delete", "Deleted"

    # Kept when the actor is deleted later: the label says who it was.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=16, choices=Action)
    object_type = models.CharField(max_length=64)  # "account", "user"
    object_id = models.CharField(max_length=64)
    object_label = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            # Admin list and an object's history: newest first per object.
            models.Index(fields=["object_type", "object_id", "-at"], name="audit_object"),
        ]

    def __str__(self) -> str:
        who = self.actor_label or "system"
        return f"{who} {self.action} {self.object_type} {self.object_label}"
