"""Nobody gets in without logging in, and a viewer changes nothing: every URL pattern."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from findings.models import Finding

from .conftest import all_patterns, db_counts, db_state, is_public, one_url, urls_for

pytestmark = pytest.mark.django_db


def test_the_sweep_sees_every_page_of_the_app(estate):
    routes = {p.route for p in all_patterns()}
    # A sanity floor: if discovery broke, the other sweeps would pass vacuously.
    for expected in ("", "accounts/<slug:name>/", "resources/<int:pk>/", "findings/<int:pk>/"):
        assert expected in routes
    assert len(routes) > 40  # the Django admin's patterns included


def test_anonymous_requests_to_every_pattern_go_to_the_login_page(estate):
    client = Client()
    login = reverse(settings.LOGIN_URL)
    checked = 0
    for pattern in all_patterns():
        url = one_url(pattern)
        if is_public(url) or "logout/" in pattern.route:
            continue  # logging out when not logged in only sends you somewhere harmless
        for method in (client.get, client.post):
            response = method(url)
            checked += 1
            if pattern.is_admin:
                # The admin has its own login page.
                assert response.status_code == 302, (url, response.status_code)
                assert urlsplit(response["Location"]).path == reverse("admin:login"), url
            else:
                assert response.status_code in (302, 401, 403), (url, response.status_code)
                if response.status_code == 302:
                    assert urlsplit(response["Location"]).path == login, url
    assert checked > 80


def test_public_pages_answer_anonymous_users_without_revealing_data(estate):
    client = Client()
    for pattern in all_patterns():
        url = one_url(pattern)
        if not is_public(url):
            continue
        response = client.get(url)
        assert response.status_code < 500, url
        assert estate["account"].name.encode() not in response.content or url == "/healthz"


def _junk_for(estate) -> dict[str, object]:
    """Form data that would change something if a view forgot to check the role."""
    return {
        "name": "hijacked",
        "auth_mode": "default",
        "regions_text": "ap-northeast-1",
        "sync_interval_hours": "1",
        "action": "acknowledge",
        "scope": "filter",
        "ids": [str(pk) for pk in Finding.objects.values_list("pk", flat=True)],
        "reason": "because",
        "body": "a comment",
        "note": "a note",
        "role": "admin",
        "active": "0",
        "username": "intruder",
        "email": "intruder@example.com",
        "min_backup_retention_days": "1",
        "business_hours_start": "00:00",
        "business_hours_end": "23:00",
        "time_zone": "UTC",
    }


def test_a_viewer_cannot_change_anything(estate):
    client = Client()
    client.force_login(estate["viewer"])
    data = _junk_for(estate)
    before_counts, before = db_counts(), db_state()
    checked = 0
    for pattern in all_patterns():
        if "logout/" in pattern.route:
            continue  # logging yourself out is allowed, and changes only your session
        refused = []
        for url in urls_for(pattern, limit=12):
            response = client.post(url, data)
            checked += 1
            if is_public(url):
                assert response.status_code < 500, url
            elif pattern.is_admin:
                # Not staff: the admin sends a viewer to its login page.
                assert response.status_code == 302, (url, response.status_code)
            else:
                # 404: that argument is no real row of this page; the others must refuse.
                assert response.status_code in (403, 404, 405), (url, response.status_code)
                refused.append(response.status_code)
        if refused:
            assert {403, 405} & set(refused), f"{pattern.route}: no real row was tried"
    assert checked > 40
    assert db_counts() == before_counts
    assert db_state() == before
