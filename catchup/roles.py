"""Teammates' roles: viewer, editor, admin, kept as Django groups.

- viewer: reads everything, changes nothing.
- editor: triages findings, annotates IPs, starts syncs.
- admin: also manages accounts and teammates.
Superusers are admins. A user in no group is a viewer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"


RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


def role_of(user: AbstractBaseUser | AnonymousUser) -> Role | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    cached = getattr(user, "_catchup_role", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = next((r for r in (Role.ADMIN, Role.EDITOR) if r.value in names), Role.VIEWER)
        user._catchup_role = cached
    return cached


def has_role(user: Any, role: Role) -> bool:
    current = role_of(user)
    return current is not None and RANK[current] >= RANK[role]


def set_role(user: Any, role: Role) -> None:
    """Put the user in exactly one role group."""
    groups = {r: Group.objects.get_or_create(name=r.value)[0] for r in Role}
    user.groups.remove(*[g for r, g in groups.items() if r != role])
    user.groups.add(groups[role])
    user._catchup_role = role


def require_role(role: Role) -> Callable:
    """View decorator: 403 unless the user holds at least `role`."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not has_role(request.user, role):
                raise PermissionDenied(f"This needs the {role.label} role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def roles(request: Any) -> dict[str, Any]:
    """Template context: what the current user may do."""
    user = request.user
    return {
        "user_role": role_of(user),
        "can_edit": has_role(user, Role.EDITOR),
        "is_admin": has_role(user, Role.ADMIN),
    }
