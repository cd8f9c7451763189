"""Every state-changing request needs the CSRF token: every URL pattern, POSTed without it."""

from __future__ import annotations

import pytest
from django.test import Client

from .conftest import all_patterns, db_counts, one_url

pytestmark = pytest.mark.django_db


def test_every_post_without_a_csrf_token_is_refused(estate):
    client = Client(enforce_csrf_checks=True)
    client.force_login(estate["admin"])
    before = db_counts()
    checked = 0
    for pattern in all_patterns():
        url = one_url(pattern)
        response = client.post(url, {"name": "changed", "action": "acknowledge"})
        checked += 1
        assert response.status_code == 403, (url, response.status_code)
        assert b"CSRF" in response.content, url
    assert checked == len(all_patterns())
    assert db_counts() == before


def test_pages_carry_the_token_for_htmx_requests(estate):
    client = Client(enforce_csrf_checks=True)
    client.force_login(estate["admin"])
    response = client.get("/")
    token = response.context["csrf_token"]
    assert f'hx-headers=\'{{"x-csrftoken": "{token}"}}\''.encode() in response.content
    # And htmx's header is accepted in place of the form field.
    sync = client.post(f"/accounts/{estate['account'].name}/sync/", HTTP_X_CSRFTOKEN=str(token))
    assert sync.status_code == 302
