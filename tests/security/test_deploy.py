"""Production settings pass Django's deploy checks; every page sends a strict CSP."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from .conftest import pages

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_"))}
    env.update(
        SECRET_KEY=secrets.token_urlsafe(64),
        DEBUG="0",
        HTTPS="1",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        SECURE_HSTS_PRELOAD="1",
        BEHIND_PROXY="1",
        ALLOWED_HOSTS="catchup.example.com",
        CATCHUP_ENCRYPTION_KEY=secrets.token_urlsafe(32),
        CATCHUP_DATA_DIR=str(tmp_path),
    )
    env.update(extra)
    return env


def test_check_deploy_gives_no_warnings_with_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_an_encryption_key_the_deploy_check_warns(tmp_path):
    env = production_env(tmp_path)
    del env["CATCHUP_ENCRYPTION_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "catchup.W001" in result.stdout + result.stderr


SETTINGS_PROBE = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({k: getattr(s, k, None) for k in (
    "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
    "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER", "CATCHUP_TRUSTED_PROXIES")}))
"""


def _settings_with(env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SETTINGS_PROBE],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "catchup.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_settings_make_cookies_secure_and_https_strict(tmp_path):
    prod = _settings_with(production_env(tmp_path))
    assert prod["DEBUG"] is False
    assert prod["SESSION_COOKIE_SECURE"] is True
    assert prod["CSRF_COOKIE_SECURE"] is True
    assert prod["SESSION_COOKIE_HTTPONLY"] is True
    assert prod["SECURE_SSL_REDIRECT"] is True
    assert prod["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert prod["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert prod["SECURE_HSTS_PRELOAD"] is True
    assert prod["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert prod["CATCHUP_TRUSTED_PROXIES"] == 1
    # The embedded default (plain http on a laptop) keeps cookies usable over http.
    plain = {k: v for k, v in production_env(tmp_path).items() if k not in ("HTTPS",)}
    plain.pop("BEHIND_PROXY")
    default = _settings_with(plain)
    assert default["SESSION_COOKIE_SECURE"] is False
    assert default["SECURE_SSL_REDIRECT"] is False
    assert default["SECURE_PROXY_SSL_HEADER"] is None


def test_secure_cookies_are_sent_as_secure_under_https_settings(settings, make_user):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    make_user("cookie-user")
    client = Client(REMOTE_ADDR="198.51.100.77")
    response = client.post(
        "/accounts/login/", {"username": "cookie-user", "password": "pw-security-12345"}
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"]
    assert session["samesite"] == "Lax"
    login_page = Client().get("/accounts/login/")
    assert login_page.cookies["csrftoken"]["secure"]


def _script_src(header: str) -> str:
    directives = dict(
        (part.strip().split(" ", 1) + [""])[:2] for part in header.split(";") if part.strip()
    )
    return directives.get("script-src") or directives.get("default-src", "")


@pytest.mark.django_db
def test_every_page_sends_a_csp_without_inline_or_eval_scripts(estate, admin_client):
    urls = pages(admin_client, limit=3)
    assert len(urls) > 20
    for url in [*urls, "/accounts/login/"]:
        response = admin_client.get(url) if url != "/accounts/login/" else Client().get(url)
        header = response.get("Content-Security-Policy")
        assert header, f"{url} has no Content-Security-Policy"
        script_src = _script_src(header)
        assert "'unsafe-inline'" not in script_src, url
        assert "'unsafe-eval'" not in script_src, url
        assert "object-src 'none'" in header
        assert "frame-ancestors 'none'" in header
        if response["Content-Type"].startswith("text/html") and not url.startswith("/admin/"):
            # No inline script (it would be blocked: the CSP has no nonce for it).
            for tag in re.findall(rb"<script\b[^>]*>", response.content):
                assert b"src=" in tag, (url, tag)


@pytest.mark.django_db
def test_htmx_runs_without_eval(admin_client):
    response = admin_client.get("/")
    meta = re.search(rb'<meta name="htmx-config" content=\'([^\']*)\'', response.content)
    assert meta, "base.html has no htmx-config meta"
    config = json.loads(meta.group(1))
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["includeIndicatorStyles"] is False
