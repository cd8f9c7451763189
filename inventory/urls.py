from django.urls import path

from . import changes_views, diagram_views, views

app_name = "inventory"
urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", views.account_list, name="accounts"),
    path("accounts/new/", views.account_create, name="account-create"),
    # Test connection of an account not saved yet (an account named "new" is
    # already shadowed by the create page above).
    path("accounts/new/test/", views.account_test, name="account-test-new"),
    path("accounts/<slug:name>/", views.account_detail, name="account"),
    path("accounts/<slug:name>/edit/", views.account_edit, name="account-edit"),
    path("accounts/<slug:name>/delete/", views.account_delete, name="account-delete"),
    path("accounts/<slug:name>/test/", views.account_test, name="account-test"),
    path("accounts/<slug:name>/sync/", views.account_sync, name="account-sync"),
    path("accounts/<slug:name>/syncs/", views.sync_list, name="syncs"),
    path("accounts/<slug:name>/resources/", views.resource_list, name="resources"),
    path("accounts/<slug:name>/diagram/", diagram_views.account_diagram, name="diagram"),
    path(
        "accounts/<slug:name>/diagram/export.<str:fmt>",
        diagram_views.diagram_export,
        name="diagram-export",
    ),
    path("accounts/<slug:name>/diagram/panel/", diagram_views.diagram_panel, name="diagram-panel"),
    path("accounts/<slug:name>/changes/", changes_views.changes, name="changes"),
    path("accounts/<slug:name>/since/", changes_views.since, name="since"),
    path("syncs/<int:pk>/", views.sync_detail, name="sync"),
    path("syncs/<int:pk>/status/", views.sync_status, name="sync-status"),
    path("resources/<int:pk>/", views.resource_detail, name="resource"),
    path("resources/<int:pk>/timeline/", changes_views.resource_timeline, name="resource-timeline"),
    path("search/", views.search, name="search"),
]
