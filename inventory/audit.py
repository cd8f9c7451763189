"""The audit trail of changes people make to accounts and teammates.

`record()` writes one AuditEvent; callers call it inside the transaction of the
change (zulip's `do_*` actions pattern), so the change and its row commit or
roll back together. Snapshots never hold secrets: stored keys appear as a
yes/no and the key id's last characters, the ExternalId as set/not set.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from catchup.roles import role_of

from .models import Account, AuditEvent

ACCOUNT_FIELDS = (
    "name",
    "auth_mode",
    "role_arn",
    "profile",
    "regions",
    "all_regions",
    "endpoint_url",
    "sync_interval_hours",
)


def account_snapshot(account: Account) -> dict[str, Any]:
    """What an account looked like, for before/after: every setting except secrets."""
    data: dict[str, Any] = {field: getattr(account, field) for field in ACCOUNT_FIELDS}
    data["regions"] = list(account.regions or [])
    data["external_id_set"] = bool(account.external_id)
    data["access_keys"] = account.access_key_hint if account.has_access_keys else None
    return data


def user_snapshot(user: Any) -> dict[str, Any]:
    """A teammate's identity, role and access (never a password hash)."""
    # The cached role can be stale after set_role on another instance: ask again.
    if hasattr(user, "_catchup_role"):
        del user._catchup_role
    role = role_of(user)
    return {
        "username": user.get_username(),
        "email": user.email,
        "role": role.value if role else None,
        "is_active": user.is_active,
    }


def _label(actor: Any) -> str:
    return actor.get_username() if actor is not None and actor.is_authenticated else ""


def record(
    *,
    actor: Any,
    action: str,
    obj: Any,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    object_type: str | None = None,
) -> AuditEvent | None:
    """Write one audit row for a change `actor` made to `obj`; nothing when nothing changed."""
    if action == AuditEvent.Action.UPDATE and before == after:
        return None
    if not transaction.get_connection().in_atomic_block:
        # A row outside the change's transaction could outlive a rolled-back change.
        raise RuntimeError("audit.record() must run inside the change's transaction")
    user = actor if actor is not None and actor.is_authenticated else None
    return AuditEvent.objects.create(
        actor=user,
        actor_label=_label(actor),
        action=action,
        object_type=object_type or obj._meta.model_name,
        object_id=str(obj.pk),
        object_label=str(obj)[:255],
        before=before,
        after=after,
    )
