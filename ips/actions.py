"""Every change to what people know of an address goes through here.

Each call changes annotations and appends one AnnotationEvent per annotation changed, in
one transaction, then classifies again the observed CIDRs they cover. The status is never
set directly: it follows from what is filled in (unknown → asked → answered → decided).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from inventory.models import Account

from . import classify
from .extract import normalize
from .models import ANNOTATION_FIELDS, Annotation, AnnotationEvent, annotation_snapshot

EDITABLE = tuple(f for f in ANNOTATION_FIELDS if f != "status")
TEXT_LIMITS = {"asked_whom": 200, "owner": 200, "answered_by": 200}


def canonical(cidr: Any) -> str:
    """The CIDR as stored ("203.0.113.45" -> "203.0.113.45/32"), or a ValidationError that
    says what is wrong with it."""
    value = normalize(cidr)
    if value is None:
        raise ValidationError(
            f"“{str(cidr)[:80]}” is not an IP address or CIDR (e.g. 203.0.113.45 or "
            "198.51.100.0/24)."
        )
    return value


def canonical_list(values: Iterable[Any]) -> tuple[list[str], list[str]]:
    """(canonical CIDRs in the order given, without repeats; a message per bad one). A value
    may hold several, separated by spaces, commas or new lines (a pasted list)."""
    cidrs: list[str] = []
    errors: list[str] = []
    for value in values:
        for piece in str(value).replace(",", " ").split():
            try:
                cidr = canonical(piece)
            except ValidationError as exc:
                errors.extend(exc.messages)
                continue
            if cidr not in cidrs:
                cidrs.append(cidr)
    return cidrs, errors


def derived_status(annotation: Annotation) -> str:
    if annotation.decision:
        return Annotation.Status.DECIDED
    if annotation.owner:
        return Annotation.Status.ANSWERED
    if annotation.asked_whom or annotation.asked_at:
        return Annotation.Status.ASKED
    return Annotation.Status.UNKNOWN


def validate(values: dict[str, Any]) -> None:
    """What no form may store, whatever its path (form, bulk, CSV, link)."""
    errors: dict[str, str] = {}
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not annotation fields: {sorted(unknown)}")
    for field, limit in TEXT_LIMITS.items():
        if len(values.get(field) or "") > limit:
            errors[field] = f"At most {limit} characters."
    decision = values.get("decision")
    if decision is not None and decision not in Annotation.Decision.values:
        errors["decision"] = "Choose keep, remove or review again."
    if decision == Annotation.Decision.REVIEW and not values.get("review_on"):
        errors["review_on"] = "Review again needs a date."
    if values.get("review_on") and decision not in (Annotation.Decision.REVIEW, None):
        errors["review_on"] = "A review date goes with the decision “review again”."
    if errors:
        raise ValidationError(errors)


@dataclass(frozen=True)
class Target:
    cidr: str
    account: Account | None = None


def apply(
    targets: Iterable[Target],
    values: dict[str, Any],
    *,
    actor: Any,
    source: str,
    actor_label: str | None = None,
) -> list[Annotation]:
    """Set `values` on the annotation of every target (creating it), record each change.

    Values not given are left as they are. Returns the annotations that changed.
    """
    return apply_each(
        ((target, values) for target in targets),
        actor=actor,
        source=source,
        actor_label=actor_label,
    )


def apply_each(
    items: Iterable[tuple[Target, dict[str, Any]]],
    *,
    actor: Any,
    source: str,
    actor_label: str | None = None,
) -> list[Annotation]:
    """`apply` with values per target (a CSV import): one transaction, one event per
    annotation changed, and one pass of classification at the end."""
    label = actor_label or (actor.get_username() if actor is not None else "system")
    now = timezone.now()
    changed: list[Annotation] = []
    with transaction.atomic():
        classify.serialize()  # one writer at a time: no lost answer, no duplicate insert
        for target, values in items:
            annotation = (
                Annotation.objects.select_for_update()
                .filter(cidr=target.cidr, account=target.account)
                .first()
            ) or Annotation(cidr=target.cidr, account=target.account, created_at=now)
            before = annotation_snapshot(annotation) if annotation.pk else {}
            asked_anew = values.get("asked_whom", annotation.asked_whom) != annotation.asked_whom
            for field, value in values.items():
                setattr(annotation, field, value)
            if asked_anew and "asked_at" not in values:  # a CSV row or the form: asked now
                annotation.asked_at = now if annotation.asked_whom else None
            if "decision" in values or "review_on" in values:
                validate({"decision": annotation.decision, "review_on": annotation.review_on})
            annotation.status = derived_status(annotation)
            after = annotation_snapshot(annotation)
            if before == after:
                continue
            annotation.updated_at = now
            annotation.updated_by = actor if getattr(actor, "pk", None) else None
            annotation.save()
            AnnotationEvent.objects.create(
                annotation=annotation,
                actor=annotation.updated_by,
                actor_label=label,
                at=now,
                source=source,
                before=before,
                after=after,
            )
            changed.append(annotation)
        if changed:
            classify.reclassify([a.cidr for a in changed])
    return changed


def ask(
    targets: Iterable[Target], whom: str, *, actor: Any, source: str = AnnotationEvent.Source.BULK
) -> list[Annotation]:
    whom = whom.strip()
    if not whom:
        raise ValidationError({"asked_whom": "Say whom you asked."})
    values = {"asked_whom": whom, "asked_at": timezone.now()}
    validate(values)
    return apply(targets, values, actor=actor, source=source)


def answer(
    target: Target,
    *,
    owner: str,
    purpose: str = "",
    answered_by: str = "",
    evidence: str = "",
    actor: Any,
    source: str = AnnotationEvent.Source.FORM,
    actor_label: str | None = None,
) -> list[Annotation]:
    if not owner.strip():
        raise ValidationError({"owner": "Whose address is it? The owner is required."})
    # An answer adds what it says: a field left empty keeps what was recorded before.
    values = {"owner": owner.strip()}
    optional = {"purpose": purpose, "answered_by": answered_by, "evidence": evidence}
    values.update({field: text.strip() for field, text in optional.items() if text.strip()})
    validate(values)
    return apply([target], values, actor=actor, source=source, actor_label=actor_label)


def decide(
    targets: Iterable[Target],
    decision: str,
    review_on: dt.date | None = None,
    *,
    actor: Any,
    source: str = AnnotationEvent.Source.BULK,
) -> list[Annotation]:
    values = {"decision": decision, "review_on": review_on if decision == "review" else None}
    validate(values)
    return apply(targets, values, actor=actor, source=source)
