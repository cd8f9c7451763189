from django.urls import path, register_converter

from . import link_views, views
from .converters import CidrConverter

register_converter(CidrConverter, "cidr")

app_name = "ips"
urlpatterns = [
    # The queue: every observed CIDR, unknown first; ?account=NAME for one account.
    path("", views.queue, name="queue"),
    path("cidr/<cidr:cidr>/", views.cidr_detail, name="cidr"),
    path("cidr/<cidr:cidr>/annotate/", views.annotate, name="annotate"),
    path("bulk/", views.bulk, name="bulk"),
    path("ask/", views.ask_message, name="ask-message"),
    # CSV import of answers and question links (link_views.py); the outsider's page
    # itself is /ask/<token>/, outside the login wall (catchup/urls.py).
    path("import/", link_views.import_answers, name="import"),
    path("import/template.csv", link_views.import_template, name="import-template"),
    path("import/annotations.csv", link_views.annotations_csv, name="annotations-csv"),
    path("links/", link_views.link_list, name="links"),
    path("links/new/", link_views.link_create, name="link-create"),
    path("links/<int:pk>/revoke/", link_views.link_revoke, name="link-revoke"),
    path("links/answers/<int:pk>/", link_views.link_answer_review, name="link-answer-review"),
]
