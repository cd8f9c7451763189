from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import AccountSettings, Comment, Finding, FindingEvent


@admin.register(AccountSettings)
class AccountSettingsAdmin(admin.ModelAdmin):
    list_display = ["account", "time_zone", "business_hours_start", "business_hours_end"]


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = ["rule", "severity", "status", "account", "resource_id", "region", "assignee"]
    list_filter = ["severity", "status", "rule", "account"]
    search_fields = ["resource_id", "title"]
    raw_id_fields = ["stored_resource", "first_seen_sync", "last_seen_sync", "resolved_sync"]


@admin.register(FindingEvent)
class FindingEventAdmin(admin.ModelAdmin):
    """Read-only: the history is immutable."""

    list_display = ["finding", "kind", "actor", "created_at"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


admin.site.register(Comment)
