"""Mail the assignee (Django's email backend; the console backend in the demo)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from .models import Finding

logger = logging.getLogger(__name__)


def assigned(finding_pk: int, assignee_pk: int, *, by_name: str) -> bool:
    """After commit: tell the assignee. A mail failure must not undo the assignment."""
    finding = Finding.objects.select_related("account").filter(pk=finding_pk).first()
    user = get_user_model().objects.filter(pk=assignee_pk).first()
    if finding is None or user is None or not user.email:
        return False
    base = getattr(settings, "CATCHUP_BASE_URL", "").rstrip("/")
    # Plain text only: the title holds AWS names, which must never become markup.
    body = (
        f"{by_name} assigned you a finding in account {finding.account.name}:\n\n"
        f"  [{finding.get_severity_display()}] {finding.title}\n"
        f"  rule {finding.rule}, {finding.resource_type} {finding.resource_id} "
        f"({finding.region})\n"
        f"  due {finding.due_date or '-'}\n\n"
        f"{base}{finding.get_absolute_url()}\n"
    )
    subject = f"[Catchup] Assigned: {finding.title}"[:200].replace("\n", " ")
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    except Exception:  # the SMTP server is an edge we do not control: log, don't fail
        logger.exception("could not mail %s about finding %s", user.email, finding_pk)
        return False
    return True
