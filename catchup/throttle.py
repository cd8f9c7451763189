"""Login throttling: too many failed logins for a username or from an address → cool-down.

Counters live in Django's cache (locmem in the embedded default; Redis when a
cache or broker URL is configured, so every web process shares them). A failed
login bumps both counters; a successful one clears the username's. While
either counter is at its limit, the login page answers 429 without checking
the password, so guessing costs the attacker the whole window.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _key(kind: str, value: str) -> str:
    # Hashed: usernames are attacker-chosen text, and cache keys have a charset.
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"login-fail:{kind}:{digest}"


def client_ip(request: HttpRequest) -> str:
    """The client's address; behind N trusted proxies, the Nth address from the right
    of X-Forwarded-For (the left part is whatever the client chose to send)."""
    proxies = _setting("CATCHUP_TRUSTED_PROXIES", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def _keys(username: str, ip: str) -> list[tuple[str, int]]:
    keys = [(_key("ip", ip), _setting("CATCHUP_LOGIN_MAX_FAILURES_PER_IP", 20))]
    if username:
        keys.append((_key("user", username), _setting("CATCHUP_LOGIN_MAX_FAILURES", 5)))
    return keys


def is_locked(username: str, ip: str) -> bool:
    return any((cache.get(key) or 0) >= limit for key, limit in _keys(username, ip))


def record_failure(username: str, ip: str) -> None:
    window = _setting("CATCHUP_LOGIN_LOCKOUT_SECONDS", 900)
    for key, _limit in _keys(username, ip):
        # add() then incr(): atomic on Redis, and the window starts at the first failure.
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)


def clear(username: str) -> None:
    """A successful login forgets the username's failures (not the address's)."""
    if username:
        cache.delete(_key("user", username))


def lockout_message() -> str:
    minutes = max(1, _setting("CATCHUP_LOGIN_LOCKOUT_SECONDS", 900) // 60)
    return (
        "Too many failed logins for this username or from this address. "
        f"Wait {minutes} minutes and try again, or ask an admin to send you a new invite."
    )


@sensitive_post_parameters()
@csrf_protect
@never_cache
def login(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Django's LoginView, refusing attempts while the username or address is locked out."""
    view = auth_views.LoginView.as_view()
    if request.method != "POST":
        return view(request, *args, **kwargs)
    username = request.POST.get("username", "")[:150]
    ip = client_ip(request)
    if is_locked(username, ip):
        context = {
            "form": AuthenticationForm(request),
            "throttled": lockout_message(),
            "next": request.POST.get("next", ""),
        }
        return render(request, "registration/login.html", context, status=429)
    response = view(request, *args, **kwargs)
    if request.user.is_authenticated and response.status_code in (301, 302, 303):
        clear(username)
    else:
        record_failure(username, ip)
    return response
