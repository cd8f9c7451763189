"""Teammates: admins add users with a role, invite them by email, change roles, deactivate.

An invite is Django's own password-reset token (PasswordResetTokenGenerator)
in a link to the built-in password reset confirm view, so Catchup never picks
or sees anyone's password. Every change is written to Django's admin LogEntry
in the same transaction, so the admin's history shows who changed whom.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.http import require_GET, require_POST

from catchup.roles import Role, require_role, set_role
from inventory import audit
from inventory.models import AuditEvent

User = get_user_model()


class TeammateForm(forms.Form):
    """A new teammate; the password is set by them through the invite link."""

    username = forms.CharField(max_length=150, validators=[User.username_validator])
    email = forms.EmailField(help_text="The invite goes here.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)
    send_invite = forms.BooleanField(
        required=False, initial=True, label="Email an invite to set a password"
    )

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A teammate with this username already exists.")
        return username


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


def role_from_groups(user: Any) -> Role:
    """The role from prefetched groups (roles.role_of would query once per user)."""
    if user.is_superuser:
        return Role.ADMIN
    names = {group.name for group in user.groups.all()}
    return next((r for r in (Role.ADMIN, Role.EDITOR) if r.value in names), Role.VIEWER)


def _log(actor: Any, target: Any, flag: int, message: str) -> None:
    LogEntry.objects.log_actions(
        user_id=actor.pk,
        queryset=[target],
        action_flag=flag,
        change_message=message,
        single_object=True,
    )


def send_invite(request: HttpRequest, user: Any) -> None:
    """Email a one-time link to set a password (valid PASSWORD_RESET_TIMEOUT)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = request.build_absolute_uri(reverse("password_reset_confirm", args=[uid, token]))
    context = {"user": user, "link": link, "inviter": request.user}
    send_mail(
        subject="You are invited to Catchup",
        message=render_to_string("team/invite_email.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


def _page(request: HttpRequest, form: TeammateForm, status: int = 200) -> HttpResponse:
    users = User.objects.prefetch_related("groups").order_by("-is_active", "username")
    rows = [{"user": u, "role": role_from_groups(u)} for u in users]
    context = {"rows": rows, "form": form, "roles": Role.choices}
    return render(request, "team/list.html", context, status=status)


@require_GET
@require_role(Role.ADMIN)
def team_list(request: HttpRequest) -> HttpResponse:
    return _page(request, TeammateForm())


@require_POST
@require_role(Role.ADMIN)
def team_add(request: HttpRequest) -> HttpResponse:
    form = TeammateForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    with transaction.atomic():
        user = User(username=data["username"], email=data["email"])
        user.set_unusable_password()
        user.save()
        set_role(user, Role(data["role"]))
        _log(request.user, user, ADDITION, f"Added as {Role(data['role']).label}.")
        audit.record(
            actor=request.user,
            action=AuditEvent.Action.CREATE,
            obj=user,
            object_type="user",
            before=None,
            after=audit.user_snapshot(user),
        )
    if data["send_invite"]:
        send_invite(request, user)
        messages.success(request, f"{user.username} added; an invite went to {user.email}.")
    else:
        messages.success(request, f"{user.username} added. Send an invite when they are ready.")
    return redirect("team:list")


def _other_user(request: HttpRequest, pk: int) -> Any:
    """A teammate other than yourself: changing your own role or access could lock you out."""
    user = get_object_or_404(User, pk=pk)
    if user.pk == request.user.pk:
        return None
    return user


@require_POST
@require_role(Role.ADMIN)
def team_invite(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk, is_active=True)
    if not user.email:
        messages.error(request, f"{user.username} has no email address to invite.")
        return redirect("team:list")
    send_invite(request, user)
    _log(request.user, user, CHANGE, "Invite sent.")
    messages.success(request, f"Invite sent to {user.email}.")
    return redirect("team:list")


@require_POST
@require_role(Role.ADMIN)
def team_role(request: HttpRequest, pk: int) -> HttpResponse:
    user = _other_user(request, pk)
    form = RoleForm(request.POST)
    if user is None:
        messages.error(request, "You cannot change your own role; ask another admin.")
    elif not form.is_valid():
        messages.error(request, "Pick a role: viewer, editor or admin.")
    else:
        role = Role(form.cleaned_data["role"])
        with transaction.atomic():
            before = audit.user_snapshot(user)
            set_role(user, role)
            _log(request.user, user, CHANGE, f"Role set to {role.label}.")
            audit.record(
                actor=request.user,
                action=AuditEvent.Action.UPDATE,
                obj=user,
                object_type="user",
                before=before,
                after=audit.user_snapshot(user),
            )
        messages.success(request, f"{user.username} is now {role.label.lower()}.")
    return redirect("team:list")


@require_POST
@require_role(Role.ADMIN)
def team_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate (or reactivate) a teammate: they can no longer log in, history stays."""
    user = _other_user(request, pk)
    if user is None:
        messages.error(request, "You cannot deactivate yourself.")
        return redirect("team:list")
    active = request.POST.get("active") == "1"
    with transaction.atomic():
        before = audit.user_snapshot(user)
        user.is_active = active
        user.save(update_fields=["is_active"])
        _log(request.user, user, CHANGE, "Reactivated." if active else "Deactivated.")
        audit.record(
            actor=request.user,
            action=AuditEvent.Action.UPDATE,
            obj=user,
            object_type="user",
            before=before,
            after=audit.user_snapshot(user),
        )
    word = "reactivated" if active else "deactivated"
    messages.success(request, f"{user.username} {word}.")
    return redirect("team:list")


app_name = "team"
urlpatterns = [
    path("", team_list, name="list"),
    path("add/", team_add, name="add"),
    path("<int:pk>/invite/", team_invite, name="invite"),
    path("<int:pk>/role/", team_role, name="role"),
    path("<int:pk>/active/", team_active, name="active"),
]
