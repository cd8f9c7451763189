"""Question links: let one named outsider answer for a few CIDRs, and a teammate review it.

The token in the URL (/ask/<token>/) is the link's primary key signed with the project's
SECRET_KEY (a salt of its own, so no other signed value of Catchup opens a link), stamped
with the link's creation time. It cannot be guessed or altered; every check that can
change after creation (expiry, revocation) is read from the database on each request, so
revoking a link kills its URL at once. The token is never logged here.

Nothing an outsider sends counts until a teammate accepts it: `submit` only stores a
pending `LinkAnswer`; `accept` records it through `ips.actions.answer`, as given by the
link's recipient, with an event whose source is "link".
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from . import actions
from .models import AnnotationEvent, LinkAnswer, QuestionLink

SALT = "ips.question-link"
MAX_CIDRS = 50
MAX_ANSWERS = 50  # per link: an outsider's form is not a place to dump data
EXPIRY_DAYS = (1, 30)
DEFAULT_EXPIRY_DAYS = 7
LIMITS = {"recipient": 200, "contact": 200, "message": 4000}
ANSWER_LIMITS = {"owner": 200, "purpose": 2000, "evidence": 2000}


class LinkError(Exception):
    """Why a token opens nothing: `invalid` (tampered or unknown), `expired`, `revoked`."""

    def __init__(self, reason: str, link: QuestionLink | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.link = link


class _Signer(signing.TimestampSigner):
    """A TimestampSigner whose stamp is the link's creation time, not now: the same link
    always has the same URL (the list can offer it again) and its age is the link's."""

    def __init__(self, at: dt.datetime | None = None) -> None:
        super().__init__(salt=SALT)
        self._at = at

    def timestamp(self) -> str:
        seconds = self._at.timestamp() if self._at is not None else time.time()
        return signing.b62_encode(int(seconds))


def token_for(link: QuestionLink) -> str:
    return _Signer(link.created_at).sign_object({"l": link.pk})


def resolve(token: str) -> QuestionLink:
    """The usable link a token names, or LinkError."""
    try:
        # First the signature alone (any age), to learn which link it names …
        payload = _Signer().unsign_object(token)
        pk = int(payload["l"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise LinkError("invalid") from exc
    link = QuestionLink.objects.filter(pk=pk).first()
    if link is None or not constant_time_compare(token, token_for(link)):
        raise LinkError("invalid")  # a link deleted, or a token signed at another time
    if link.revoked_at is not None:
        raise LinkError("revoked", link)
    # … then its age against the link's own lifetime, and the stored expiry.
    try:
        _Signer().unsign_object(token, max_age=link.expires_at - link.created_at)
    except signing.SignatureExpired as exc:
        raise LinkError("expired", link) from exc
    if link.expires_at <= timezone.now():
        raise LinkError("expired", link)
    return link


def clean_cidrs(values: Iterable[str]) -> list[str]:
    """Canonical, de-duplicated CIDRs in the order given; ValidationError naming the bad ones."""
    cidrs, errors = actions.canonical_list(values)
    if errors:
        raise ValidationError(errors)
    if not cidrs:
        raise ValidationError("Select at least one CIDR to ask about.")
    if len(cidrs) > MAX_CIDRS:
        raise ValidationError(f"At most {MAX_CIDRS} CIDRs per link ({len(cidrs)} given).")
    return cidrs


def _check_lengths(values: dict[str, str], limits: dict[str, int]) -> None:
    errors = {
        field: f"At most {limit} characters."
        for field, limit in limits.items()
        if len(values.get(field) or "") > limit
    }
    if errors:
        raise ValidationError(errors)


def create(
    cidrs: Iterable[str],
    *,
    recipient: str,
    contact: str = "",
    message: str = "",
    expiry_days: int = DEFAULT_EXPIRY_DAYS,
    by: Any,
) -> QuestionLink:
    values = {"recipient": recipient.strip(), "contact": contact.strip(), "message": message}
    errors: dict[str, list[str]] = {}
    try:
        cleaned = clean_cidrs(cidrs)
    except ValidationError as exc:
        errors["cidrs"] = exc.messages
    if not values["recipient"]:
        errors["recipient"] = ["Say who the link is for: their answer is recorded in their name."]
    if not EXPIRY_DAYS[0] <= expiry_days <= EXPIRY_DAYS[1]:
        errors["expiry_days"] = [f"Between {EXPIRY_DAYS[0]} and {EXPIRY_DAYS[1]} days."]
    try:
        _check_lengths(values, LIMITS)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    return QuestionLink.objects.create(
        recipient=values["recipient"],
        contact=values["contact"],
        message=values["message"].strip(),
        cidrs=cleaned,
        created_by=by,
        created_at=now,
        expires_at=now + dt.timedelta(days=expiry_days),
    )


@transaction.atomic
def revoke(link: QuestionLink, *, by: Any) -> QuestionLink:
    """Kill the link now. Its answers still awaiting review are rejected with it: a link
    is revoked because it went to the wrong person or leaked."""
    now = timezone.now()
    updated = QuestionLink.objects.filter(pk=link.pk, revoked_at=None).update(
        revoked_at=now, revoked_by=by
    )
    if updated:
        LinkAnswer.objects.filter(link=link, status=LinkAnswer.Status.PENDING).update(
            status=LinkAnswer.Status.REJECTED, reviewed_by=by, reviewed_at=now
        )
        link.refresh_from_db()
    return link


class TooManyAnswers(Exception):
    pass


@transaction.atomic
def submit(link: QuestionLink, cidr: str, *, owner: str, purpose: str, evidence: str) -> LinkAnswer:
    """Store an outsider's answer, pending review. The caller has resolved the link."""
    if cidr not in link.cidrs:
        raise ValueError("not a CIDR of this link")
    values = {"owner": owner.strip(), "purpose": purpose.strip(), "evidence": evidence.strip()}
    if not values["owner"]:
        raise ValidationError({"owner": "Whose address is it? Please name the owner."})
    _check_lengths(values, ANSWER_LIMITS)
    # Locks the link row: two answers sent at once cannot both slip under the limit.
    QuestionLink.objects.select_for_update().filter(pk=link.pk).first()
    if LinkAnswer.objects.filter(link=link).count() >= MAX_ANSWERS:
        raise TooManyAnswers
    return LinkAnswer.objects.create(link=link, cidr=cidr, **values)


class AlreadyReviewed(Exception):
    pass


def _claim(answer: LinkAnswer) -> LinkAnswer:
    locked = LinkAnswer.objects.select_for_update().select_related("link").get(pk=answer.pk)
    if locked.status != LinkAnswer.Status.PENDING:
        raise AlreadyReviewed
    return locked


@transaction.atomic
def accept(answer: LinkAnswer, *, by: Any) -> LinkAnswer:
    """Record the answer as the recipient's, through the one path every answer takes."""
    answer = _claim(answer)
    recipient = answer.link.recipient
    reviewer = by.get_username()
    actions.answer(
        actions.Target(answer.cidr, None),
        owner=answer.owner,
        purpose=answer.purpose,
        evidence=answer.evidence,
        answered_by=recipient,
        actor=by,
        source=AnnotationEvent.Source.LINK,
        actor_label=f"{reviewer} (accepted {recipient}'s answer via question link)"[:200],
    )
    answer.status = LinkAnswer.Status.ACCEPTED
    answer.reviewed_by = by
    answer.reviewed_at = timezone.now()
    answer.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    return answer


@transaction.atomic
def reject(answer: LinkAnswer, *, by: Any) -> LinkAnswer:
    answer = _claim(answer)
    answer.status = LinkAnswer.Status.REJECTED
    answer.reviewed_by = by
    answer.reviewed_at = timezone.now()
    answer.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    return answer
