"""Every address the estate trusts, how it is classified, and what people know of it.

Three kinds of rows:
- Derived from the inventory after each sync, rebuilt freely: `IpReference` (one place a
  CIDR is allowed or routed) and `ObservedCidr` (one CIDR of one account, classified).
- Human knowledge, never derived and never deleted by a sync: `Annotation` (keyed by the
  CIDR, optionally scoped to one account) with its append-only `AnnotationEvent` history,
  and question links for people without an account (`QuestionLink`, `LinkAnswer`).
- Reference data: AWS's published ranges (`AwsIpRange`, `AwsIpRangeSet`).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from inventory.models import Account, Resource


class Classification(models.TextChoices):
    # Order: what the queue lists first.
    UNKNOWN = "unknown", "Unknown"
    AWS = "aws", "AWS range"
    ANNOTATED = "annotated", "Annotated"
    KNOWN_NETWORK = "known-network", "Known network"
    OWN_VPC = "own-vpc", "Own VPC"
    INTERNET = "internet", "Internet"


class Annotation(models.Model):
    """What a person recorded about a CIDR: the question, the owner's answer, the decision.

    Keyed by the CIDR (and an optional account), never by a rule row: it outlives
    re-syncs, recreated security groups and new accounts. It applies to every observed
    CIDR inside it; the most specific one wins.
    """

    class Status(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        ASKED = "asked", "Asked"
        ANSWERED = "answered", "Answered"
        DECIDED = "decided", "Decided"

    class Decision(models.TextChoices):
        NONE = "", "—"
        KEEP = "keep", "Keep"
        REMOVE = "remove", "Remove"
        REVIEW = "review", "Review again"

    cidr = models.CharField(max_length=64)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="ip_annotations"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN)
    asked_whom = models.CharField(max_length=200, blank=True)
    asked_at = models.DateTimeField(null=True, blank=True)
    owner = models.CharField(max_length=200, blank=True)
    purpose = models.TextField(blank=True)
    answered_by = models.CharField(max_length=200, blank=True)
    evidence = models.TextField(blank=True, help_text="A ticket, a chat message, a contract.")
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    review_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["cidr"]
        constraints = [
            models.UniqueConstraint(fields=["cidr", "account"], name="annotation_cidr_account"),
            models.UniqueConstraint(
                fields=["cidr"], condition=models.Q(account=None), name="annotation_cidr_global"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cidr} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("ips:cidr", args=[self.cidr])

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr)

    @property
    def explains(self) -> bool:
        """An owner's answer makes the CIDR "annotated". A question alone does not, nor a
        decision nobody could back with an owner ("remove" what nobody claims stays on the
        queue, and its finding open, until the rule is gone)."""
        return bool(self.owner) and self.status in (self.Status.ANSWERED, self.Status.DECIDED)

    @property
    def review_due(self) -> bool:
        return bool(
            self.decision == self.Decision.REVIEW
            and self.review_on
            and self.review_on <= timezone.localdate()
        )

    @property
    def scope_label(self) -> str:
        return self.account.name if self.account_id else "every account"


# Fields a person edits, in the order history shows them.
ANNOTATION_FIELDS = (
    "status",
    "asked_whom",
    "asked_at",
    "owner",
    "purpose",
    "answered_by",
    "evidence",
    "decision",
    "review_on",
)


def annotation_snapshot(annotation: Annotation | None) -> dict[str, Any]:
    if annotation is None:
        return {}
    data = {}
    for field in ANNOTATION_FIELDS:
        value = getattr(annotation, field)
        data[field] = value.isoformat() if hasattr(value, "isoformat") else value
    return data


class AnnotationEvent(models.Model):
    """One change to an annotation: who, when, how, before and after. Never rewritten."""

    class Source(models.TextChoices):
        FORM = "form", "Form"
        BULK = "bulk", "Bulk action"
        CSV = "csv", "CSV import"
        LINK = "link", "Question link"

    # Goes only with its annotation, which goes only when an admin deletes the one account
    # it was scoped to (everything Catchup knew of that account goes then).
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=8, choices=Source.choices)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.annotation.cidr} by {self.actor_label} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("Annotation history is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("Annotation history is append-only.")

    @property
    def changes(self) -> list[tuple[str, Any, Any]]:
        """(field, before, after) for every field that changed."""
        keys = [k for k in ANNOTATION_FIELDS if k in self.before or k in self.after]
        return [
            (key, self.before.get(key), self.after.get(key))
            for key in keys
            if self.before.get(key) != self.after.get(key)
        ]


class IpReference(models.Model):
    """One place the estate lets a CIDR in or out, or routes to it. Derived; rebuilt per sync."""

    class Kind(models.TextChoices):
        SG_RULE = "sg-rule", "Security-group rule"
        NACL_ENTRY = "nacl-entry", "Network ACL entry"
        ROUTE = "route", "Route"
        CUSTOMER_GATEWAY = "customer-gateway", "Customer gateway"
        PEERING = "peering", "Peering CIDR"
        S3_POLICY = "s3-policy", "S3 bucket policy"
        OPENSEARCH_POLICY = "opensearch-policy", "OpenSearch access policy"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="ip_references")
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="+")
    # Denormalised from the resource: the queue and the export read them without a join.
    resource_type = models.CharField(max_length=96)
    resource_id_text = models.CharField(max_length=512)
    resource_name = models.CharField(max_length=1024, blank=True)
    region = models.CharField(max_length=32)
    cidr = models.CharField(max_length=64)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    direction = models.CharField(max_length=8, blank=True)  # ingress | egress | ""
    protocol = models.CharField(max_length=16, blank=True)  # "-1" all, tcp, udp, icmp…
    from_port = models.IntegerField(null=True, blank=True)
    to_port = models.IntegerField(null=True, blank=True)
    action = models.CharField(max_length=8, default="allow")  # NACL entries can deny
    description = models.TextField(blank=True)
    via = models.CharField(max_length=512, blank=True)  # prefix list, route target, statement
    key = models.CharField(max_length=64)  # hash of everything above: the diff identity

    class Meta:
        ordering = ["cidr", "resource_type", "resource_id_text"]
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="ipreference_identity")
        ]
        indexes = [models.Index(fields=["account", "cidr"], name="ipreference_cidr")]

    def __str__(self) -> str:
        return f"{self.cidr} in {self.resource_type} {self.resource_id_text}"

    @property
    def ports_label(self) -> str:
        from .ports import ports_label

        return ports_label(self.protocol, self.from_port, self.to_port)

    @property
    def hints(self) -> list[str]:
        from .ports import hints

        return hints(self.protocol, self.from_port, self.to_port)


class ObservedCidr(models.Model):
    """One CIDR that one account refers to, classified. Derived; refreshed after every sync
    and every annotation change."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="observed_cidrs")
    cidr = models.CharField(max_length=64)
    version = models.PositiveSmallIntegerField()
    prefixlen = models.PositiveSmallIntegerField()
    classification = models.CharField(max_length=16, choices=Classification.choices)
    rank = models.PositiveSmallIntegerField()  # Classification order, for sorting
    detail = models.CharField(max_length=512, blank=True)
    annotation = models.ForeignKey(
        Annotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="observed"
    )
    reference_count = models.PositiveIntegerField()
    ingress_count = models.PositiveIntegerField()
    port_count = models.PositiveIntegerField()  # distinct ports allowed; 65536 = all
    ports = models.CharField(max_length=512, blank=True)
    hints = models.JSONField(default=list, blank=True)
    kinds = models.JSONField(default=list, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rank", "-port_count", "-reference_count", "cidr"]
        constraints = [
            models.UniqueConstraint(fields=["account", "cidr"], name="observedcidr_identity")
        ]
        indexes = [
            models.Index(fields=["classification", "account"], name="observedcidr_class"),
            models.Index(fields=["cidr"], name="observedcidr_cidr"),
        ]

    def __str__(self) -> str:
        return f"{self.cidr} ({self.classification}) in {self.account_id}"


class QuestionLink(models.Model):
    """A signed, expiring, revocable link that lets one named outsider answer for some CIDRs."""

    recipient = models.CharField(max_length=200, help_text="Who the link is sent to.")
    contact = models.CharField(max_length=200, blank=True, help_text="Email, chat handle…")
    message = models.TextField(blank=True)
    cidrs = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Question to {self.recipient} ({len(self.cidrs)} CIDRs)"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class LinkAnswer(models.Model):
    """An outsider's answer for one CIDR; it counts only once a teammate accepts it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    link = models.ForeignKey(QuestionLink, on_delete=models.CASCADE, related_name="answers")
    cidr = models.CharField(max_length=64)
    owner = models.CharField(max_length=200)
    purpose = models.TextField(blank=True)
    evidence = models.TextField(blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-submitted_at"]

    def __str__(self) -> str:
        return f"{self.cidr}: {self.owner} (from {self.link.recipient})"


class AwsIpRangeSet(models.Model):
    """One loaded copy of AWS's ip-ranges.json; the newest is current."""

    create_date = models.CharField(max_length=32)  # as AWS writes it: 2024-12-02-22-09-08
    sync_token = models.CharField(max_length=32, blank=True)
    source = models.CharField(max_length=512)
    loaded_at = models.DateTimeField(default=timezone.now)
    prefix_count = models.PositiveIntegerField()

    class Meta:
        ordering = ["-loaded_at", "-pk"]

    def __str__(self) -> str:
        return f"AWS ranges of {self.create_date} ({self.prefix_count} prefixes)"


class AwsIpRange(models.Model):
    range_set = models.ForeignKey(AwsIpRangeSet, on_delete=models.CASCADE, related_name="ranges")
    cidr = models.CharField(max_length=64)
    region = models.CharField(max_length=32, blank=True)
    service = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return self.cidr
