"""Generated junk posted to every form and endpoint, and in every page's query string:
0 server errors, and a rejected post leaves the database as it was."""

from __future__ import annotations

import pytest
from django.contrib.messages import constants, get_messages
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import all_patterns, db_state, urls_for

pytestmark = pytest.mark.django_db

# Field names the forms read, so junk reaches their validation, plus random ones.
FIELDS = [
    "name", "auth_mode", "role_arn", "external_id", "profile", "endpoint_url", "regions_text",
    "sync_interval_hours", "access_key_id", "secret_access_key", "username", "email", "role",
    "send_invite", "active", "action", "assignee", "due_date", "reason", "expires", "expires_at",
    "note", "body", "row", "next", "scope", "ids", "page", "q", "type", "region", "tag",
    "removed", "status", "severity", "rule", "account", "layer", "business_hours_start",
    "business_hours_end", "business_days", "time_zone", "home_regions",
    "min_backup_retention_days",
    # unknown IPs: queue, bulk, answer form, CSV import, question links
    "cidr", "cidrs", "classification", "kind", "hint", "sort", "asked_whom", "owner",
    "purpose", "answered_by", "evidence", "decision", "review_on", "only_account", "range",
    "text", "payload", "recipient", "contact", "message", "expiry_days",
]  # fmt: skip
MEANINGFUL = [
    "", "0", "1", "-1", "999999999999999999999", "role", "keys", "default", "profile", "admin",
    "viewer", "editor", "acknowledge", "assign", "assign_me", "accept", "false_positive",
    "reopen", "comment", "set_due_date", "filter", "2030-01-01", "1999-13-45", "NaN", "None",
    "arn:aws:iam::123456789012:role/x", "ap-northeast-1", "all", "legacy", "AKIA" + "X" * 16,
    "\x00", "\ud7ff", "<script>", "%", "'; DROP TABLE x; --",
    "ask", "decide", "message", "link", "keep", "remove", "review", "reject", "203.0.113.45/32",
    "10.0.0.300/8", "::/0", "2001:db8::/129", "cidr,owner\n1.2.3.4,x\n",
]  # fmt: skip
junk = st.one_of(st.sampled_from(MEANINGFUL), st.text(max_size=60))
form_data = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), st.text(min_size=1, max_size=12)),
    st.one_of(junk, st.lists(junk, max_size=4)),
    max_size=10,
)
FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _safe(data: dict) -> dict:
    """No network target but loopback: a junk endpoint URL would send the connection
    test out; NUL characters are refused by the test client before any view."""
    clean = {}
    for key, value in data.items():
        values = value if isinstance(value, list) else [value]
        values = [v.replace("\x00", "") for v in values]
        if key == "endpoint_url":
            values = [v if "://" not in v else "http://127.0.0.1:9" for v in values]
        clean[key.replace("\x00", "")] = values if isinstance(value, list) else values[0]
    return clean


def _targets() -> list[str]:
    """Every non-admin URL with real arguments; deleting and logging out would only end
    the fuzzing early (they take no input to fuzz)."""
    urls = []
    for pattern in all_patterns():
        if pattern.is_admin or "logout/" in pattern.route or "delete/" in pattern.route:
            continue
        urls.extend(urls_for(pattern, limit=2))
    return urls


def _rejected(response) -> bool:
    if response.status_code >= 400:
        return True
    context = getattr(response, "context", None)
    form = context.get("form") if context else None
    if response.status_code == 200 and form is not None and getattr(form, "errors", None):
        return True
    # Only the messages this request added (unread ones from earlier requests linger).
    added = getattr(get_messages(response.wsgi_request), "_queued_messages", [])
    return any(m.level == constants.ERROR for m in added)


@pytest.mark.parametrize("role", ["admin", "editor"])
def test_junk_posts_never_cause_a_server_error_nor_half_writes(estate, role):
    client = Client(raise_request_exception=False)
    client.force_login(estate[role])
    targets = _targets()
    assert len(targets) > 15

    @FUZZ
    @given(url=st.sampled_from(targets), data=form_data, htmx=st.booleans())
    def post(url: str, data: dict, htmx: bool) -> None:
        headers = {"HX-Request": "true"} if htmx else {}
        before = db_state()
        response = client.post(url, _safe(data), headers=headers)
        assert response.status_code < 500, (url, data)
        if _rejected(response):
            assert db_state() == before, (url, data)

    post()


def test_junk_query_strings_never_cause_a_server_error(estate):
    client = Client(raise_request_exception=False)
    client.force_login(estate["viewer"])
    targets = _targets()

    @FUZZ
    @given(url=st.sampled_from(targets), params=form_data, htmx=st.booleans())
    def get(url: str, params: dict, htmx: bool) -> None:
        headers = {"HX-Request": "true"} if htmx else {}
        response = client.get(url, _safe(params), headers=headers)
        assert response.status_code < 500, (url, params)

    get()
