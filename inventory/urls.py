from django.urls import path

from . import views

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
    path("accounts/<slug:name>/test/", views.account_test, name="account-test"),
    path("accounts/<slug:name>/sync/", views.account_sync, name="account-sync"),
    path("accounts/<slug:name>/syncs/", views.sync_list, name="syncs"),
    path("accounts/<slug:name>/resources/", views.resource_list, name="resources"),
    path("syncs/<int:pk>/", views.sync_detail, name="sync"),
    path("syncs/<int:pk>/status/", views.sync_status, name="sync-status"),
    path("resources/<int:pk>/", views.resource_detail, name="resource"),
]
