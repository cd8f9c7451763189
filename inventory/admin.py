from django.contrib import admin

from .models import Account, Resource, Sync, SyncTask


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
