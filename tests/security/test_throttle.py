"""Login throttling: password guessing stops after a few failures, for a username or an address."""

from __future__ import annotations

import itertools
import secrets

import pytest
from django.test import Client

from catchup import throttle

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db
# Each run uses its own addresses and usernames: the cache (Redis in CI) outlives tests.
RUN = secrets.token_hex(4)
_base = secrets.randbelow(200)
_addresses = (f"10.{_base}.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def _name(n: int) -> str:
    return f"throttled-{n}-{RUN}"


def _client() -> Client:
    return Client(REMOTE_ADDR=next(_addresses))


def _login(client: Client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_five_failures_lock_the_username_even_for_the_right_password(make_user, settings):
    settings.CATCHUP_LOGIN_MAX_FAILURES = 5
    make_user(_name(1))
    client = _client()
    for _ in range(5):
        assert _login(client, _name(1), "wrong").status_code == 200
    refused = _login(client, _name(1), PASSWORD)
    assert refused.status_code == 429
    assert b"Too many failed logins" in refused.content
    assert not refused.wsgi_request.user.is_authenticated
    # From another address too: the lock is on the username.
    assert _login(_client(), _name(1), PASSWORD).status_code == 429


def test_a_successful_login_clears_the_count(make_user):
    make_user(_name(2))
    client = _client()
    for _ in range(4):
        _login(client, _name(2), "wrong")
    assert _login(client, _name(2), PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert _login(client, _name(2), "wrong").status_code == 200
    assert _login(client, _name(2), PASSWORD).status_code == 302


def test_one_address_trying_many_usernames_is_locked(make_user, settings):
    settings.CATCHUP_LOGIN_MAX_FAILURES_PER_IP = 8
    make_user(_name(3))
    client = _client()
    for n in range(8):
        assert _login(client, f"nobody-{n}-{RUN}", "wrong").status_code == 200
    assert _login(client, _name(3), PASSWORD).status_code == 429
    # Another address is not affected.
    assert _login(_client(), _name(3), PASSWORD).status_code == 302


def test_the_lock_ends_with_its_window(make_user, settings):
    make_user(_name(4))
    client = _client()
    for _ in range(5):
        _login(client, _name(4), "wrong")
    assert _login(client, _name(4), PASSWORD).status_code == 429
    # The window passing is the cache entry expiring; delete it to stand for that.
    throttle.clear(_name(4))
    assert _login(client, _name(4), PASSWORD).status_code == 302


def test_behind_a_proxy_the_forwarded_address_counts_not_the_proxys(make_user, settings):
    settings.CATCHUP_TRUSTED_PROXIES = 1
    settings.CATCHUP_LOGIN_MAX_FAILURES_PER_IP = 3
    make_user(_name(5))
    proxy = Client(REMOTE_ADDR="10.0.0.1")
    for n in range(3):
        _login_via = proxy.post(
            "/accounts/login/",
            {"username": f"nobody-p{n}-{RUN}", "password": "x"},
            HTTP_X_FORWARDED_FOR=f"spoofed, 203.0.113.9-{RUN}",
        )
        assert _login_via.status_code == 200
    locked = proxy.post(
        "/accounts/login/",
        {"username": _name(5), "password": PASSWORD},
        HTTP_X_FORWARDED_FOR=f"203.0.113.9-{RUN}",
    )
    assert locked.status_code == 429
    other = proxy.post(
        "/accounts/login/",
        {"username": _name(5), "password": PASSWORD},
        HTTP_X_FORWARDED_FOR=f"203.0.113.10-{RUN}",
    )
    assert other.status_code == 302
