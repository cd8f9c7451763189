from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

# URL prefixes anyone may reach: the login page itself, the set-password links
# of invites, static files, the health check used by docker-compose, and question
# links for people without an account (ips/links.py: the signed token is checked there).
PUBLIC_PREFIXES = ("/accounts/login/", "/accounts/reset/", "/static/", "/healthz", "/ask/")


class LoginRequiredMiddleware:
    """Every page needs a login, so a view cannot forget to ask for one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated and not request.path.startswith(PUBLIC_PREFIXES):
            if request.path.startswith("/admin/"):
                return self.get_response(request)  # the admin has its own login
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)
