from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Account, AuditEvent, Resource, Sync, SyncTask


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "aws_account_id", "auth_mode", "all_regions", "updated_at"]
    search_fields = ["name", "aws_account_id", "role_arn"]
    readonly_fields = ["aws_account_id", "enabled_regions", "created_at", "updated_at"]


class SyncTaskInline(admin.TabularInline):
    model = SyncTask
    fields = ["collector", "region", "status", "resource_count", "error_code", "error_message"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Sync)
class SyncAdmin(admin.ModelAdmin):
    list_display = ["pk", "account", "status", "created_at", "finished_at", "resources_collected"]
    list_filter = ["status", "account"]
    readonly_fields = [f.name for f in Sync._meta.fields]
    inlines = [SyncTaskInline]


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ["type", "resource_id", "name", "region", "account", "removed_at"]
    list_filter = ["account", "type", "region"]
    search_fields = ["resource_id", "name", "arn"]
    readonly_fields = [f.name for f in Resource._meta.fields]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail, read-only: history that can be edited proves nothing."""

    list_display = ["at", "actor_label", "action", "object_type", "object_label"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "object_label", "object_id"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
