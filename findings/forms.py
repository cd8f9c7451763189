from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from inventory.models import Account

from .models import AccountSettings, Finding, Layer, Severity
from .rules import RULES

STATUS_CHOICES = [
    ("active", "Open or acknowledged"),
    *Finding.Status.choices,
    ("all", "Any status"),
]


def _users() -> QuerySet:
    return get_user_model().objects.filter(is_active=True).order_by("username")


class FilterForm(forms.Form):
    """The finding list's filters; every field optional, unknown values ignored."""

    account = forms.ModelChoiceField(
        queryset=Account.objects.all(),
        to_field_name="name",
        required=False,
        empty_label="All accounts",
    )
    layer = forms.TypedChoiceField(
        choices=[("", "All layers"), *Layer.choices], coerce=int, required=False
    )
    rule = forms.ChoiceField(required=False)
    severity = forms.ChoiceField(choices=[("", "Any severity"), *Severity.choices], required=False)
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    assignee = forms.ChoiceField(required=False)
    q = forms.CharField(required=False, label="Search", max_length=200)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rule"].choices = [("", "All rules")] + [(r, r) for r in sorted(RULES)]
        self.fields["assignee"].choices = [
            ("", "Anyone"),
            ("me", "Assigned to me"),
            ("none", "Unassigned"),
            *[(str(u.pk), u.get_username()) for u in _users()],
        ]

    def filter(self, queryset: QuerySet, user: Any) -> QuerySet:
        if not self.is_valid():
            return queryset.filter(status__in=Finding.ACTIVE)
        data = self.cleaned_data
        if data.get("account"):
            queryset = queryset.filter(account=data["account"])
        if data.get("layer"):
            queryset = queryset.filter(layer=data["layer"])
        if data.get("rule"):
            queryset = queryset.filter(rule=data["rule"])
        if data.get("severity"):
            queryset = queryset.filter(severity=data["severity"])
        status = data.get("status") or "active"
        if status == "active":
            queryset = queryset.filter(status__in=Finding.ACTIVE)
        elif status != "all":
            queryset = queryset.filter(status=status)
        assignee = data.get("assignee")
        if assignee == "me":
            queryset = queryset.filter(assignee=user)
        elif assignee == "none":
            queryset = queryset.filter(assignee__isnull=True)
        elif assignee:
            queryset = queryset.filter(assignee_id=int(assignee))
        if data.get("q"):
            q = data["q"]
            queryset = queryset.filter(
                Q(title__icontains=q) | Q(resource_id__icontains=q) | Q(detail__icontains=q)
            )
        return queryset


ACTIONS = [
    ("acknowledge", "Acknowledge"),
    ("assign", "Assign"),
    ("assign_me", "Assign to me"),
    ("set_due_date", "Set due date"),
    ("accept", "Accept the risk"),
    ("false_positive", "Mark false positive"),
    ("reopen", "Reopen"),
    ("comment", "Comment"),
]


class ActionForm(forms.Form):
    """One change to one finding (or a selection): which, and its inputs."""

    action = forms.ChoiceField(choices=ACTIONS)
    assignee = forms.ModelChoiceField(queryset=_users(), required=False, empty_label="Nobody")
    due_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: it reopens on this day.",
    )
    note = forms.CharField(required=False, max_length=2000)
    body = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Comment (Markdown)"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = _users()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        action = data.get("action")
        if action in ("accept", "false_positive") and not (data.get("reason") or "").strip():
            self.add_error("reason", "A reason is required.")
        if action == "comment" and not (data.get("body") or "").strip():
            self.add_error("body", "The comment is empty.")
        expires = data.get("expires_on")
        if expires and expires <= timezone.localdate():
            self.add_error("expires_on", "The expiry must be after today.")
        return data

    @property
    def expires_at(self) -> dt.datetime | None:
        day = self.cleaned_data.get("expires_on")
        if not day:
            return None
        return dt.datetime.combine(day, dt.time(0, 0), tzinfo=timezone.get_current_timezone())


class AccountSettingsForm(forms.ModelForm):
    home_regions = forms.CharField(
        required=False, help_text="Comma-separated, e.g. ap-northeast-1,us-east-1."
    )

    class Meta:
        model = AccountSettings
        fields = [
            "business_hours_start",
            "business_hours_end",
            "time_zone",
            "home_regions",
            "min_backup_retention_days",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["home_regions"] = ",".join(self.instance.home_regions or [])

    def clean_home_regions(self) -> list[str]:
        raw = self.cleaned_data.get("home_regions") or ""
        return [r.strip() for r in raw.split(",") if r.strip()]

    def clean_time_zone(self) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        tz = self.cleaned_data["time_zone"]
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError("Unknown time zone.") from None
        return tz
