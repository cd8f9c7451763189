from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, reverse_lazy

from catchup import throttle
from ips import link_views as ips_link_views


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for docker-compose: the process answers and the database does too."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    # Django's login view behind the failed-login throttle (catchup/throttle.py).
    path("accounts/login/", throttle.login, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Invites (catchup/team.py) are password-reset links: public, like the login page.
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="team/password_set.html",
            success_url=reverse_lazy("password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="team/password_set_done.html"),
        name="password_reset_complete",
    ),
    path("team/", include("catchup.team")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("findings/", include("findings.urls")),
    path("ips/", include("ips.urls")),
    # A question link for someone without an account (issue 4): public, like the login
    # page; the signed token is all it opens (ips/links.py).
    path("ask/<str:token>/", ips_link_views.link_answer_public, name="question-link"),
    path("", include("inventory.urls")),
]
