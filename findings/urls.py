from django.urls import path

from . import views

app_name = "findings"
urlpatterns = [
    path("", views.finding_list, name="list"),
    path("bulk/", views.finding_bulk, name="bulk"),
    path("rules/", views.rule_list, name="rules"),
    path("<int:pk>/", views.finding_detail, name="detail"),
    path("settings/<slug:name>/", views.account_settings, name="settings"),
]
