"""The security sweep's tools: every URL pattern, real arguments, database snapshots.

Patterns are read from the resolver and their arguments built from rows that
exist when the test runs, so pages added later (issues 3 and 4) are swept
without editing these tests.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from catchup.roles import Role, set_role

REGION = "ap-northeast-1"
PASSWORD = "pw-security-12345"
# Paths anyone may open: catchup/middleware.py PUBLIC_PREFIXES, and the admin's login.
PUBLIC = ("/accounts/login/", "/accounts/reset/", "/static/", "/healthz", "/ask/", "/admin/login/")
# At most this many argument combinations per pattern are tried.
MAX_VARIANTS = 40
UNKNOWN_IP = "203.0.113.45/32"
ANSWERED_IP = "198.51.100.0/24"
PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>|\(\?P<(?P<rname>\w+)>[^)]*\)")


@dataclass(frozen=True)
class Pattern:
    """One URL pattern: its route text (prefixes joined), parameter names and view."""

    route: str
    params: tuple[str, ...]
    callback: Any
    name: str

    @property
    def is_admin(self) -> bool:
        return self.route.startswith("admin/")

    def build(self, values: dict[str, str]) -> str | None:
        """The path with `values` filled in, or None when it does not resolve back here."""

        def fill(match: re.Match) -> str:
            return values[match.group("name") or match.group("rname")]

        path = "/" + PARAM.sub(fill, self.route).replace("^", "").replace("$", "")
        path = path.replace("\\", "")
        try:
            found = resolve(path)
        except Resolver404:
            return None
        return path if found.func is self.callback else None


def _walk(resolver: URLResolver, prefix: str = "") -> Iterator[Pattern]:
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, route)
        elif isinstance(entry, URLPattern):
            names = tuple(m.group("name") or m.group("rname") for m in PARAM.finditer(route))
            yield Pattern(route, names, entry.callback, entry.name or "")


def all_patterns() -> list[Pattern]:
    return list(_walk(get_resolver()))


def _candidates(param: str) -> list[str]:
    """Real values for a URL parameter, from the rows in the database now."""
    User = get_user_model()
    if param == "name":
        from inventory.models import Account

        return list(Account.objects.order_by("pk").values_list("name", flat=True)) or ["none"]
    if param in ("pk", "object_id", "id"):
        # Round-robin over models, so the first few values include a real row of each.
        # Apps in this order, whatever INSTALLED_APPS says: the first values tried are real
        # rows of the models whose pages look a row up before they check the role.
        order = ("inventory", "findings", "auth", "ips")
        models = sorted(
            (m for m in apps.get_models() if m._meta.app_label in order),
            key=lambda m: order.index(m._meta.app_label),
        )
        per_model = [
            list(model.objects.order_by("pk").values_list("pk", flat=True)[:200])
            for model in models
        ]
        pks: list[str] = []
        for row in itertools.zip_longest(*per_model):
            pks.extend(str(pk) for pk in row if pk is not None and str(pk) not in pks)
        return pks or ["1"]
    if param == "cidr":
        from ips.models import Annotation, ObservedCidr

        cidrs = list(ObservedCidr.objects.order_by("pk").values_list("cidr", flat=True)[:20])
        cidrs += list(Annotation.objects.order_by("pk").values_list("cidr", flat=True)[:20])
        return list(dict.fromkeys(cidrs)) or ["203.0.113.45/32"]
    if param == "app_label":
        return [config.label for config in apps.get_app_configs()]
    if param == "content_type_id":
        return [str(pk) for pk in ContentType.objects.values_list("pk", flat=True)[:5]]
    user = User.objects.order_by("pk").first()
    if param == "uidb64":
        return [urlsafe_base64_encode(force_bytes(user.pk if user else 1))]
    if param == "token":
        return [default_token_generator.make_token(user) if user else "x-y"]
    return ["1", "x"]


def urls_for(pattern: Pattern, limit: int = MAX_VARIANTS) -> list[str]:
    """Paths for the pattern built from real values; at least one when any resolves."""
    pools = [_candidates(p) for p in pattern.params]
    found: list[str] = []
    for combo in itertools.islice(itertools.product(*pools), 5000):
        path = pattern.build(dict(zip(pattern.params, combo, strict=True)))
        if path and path not in found:
            found.append(path)
            if len(found) >= limit:
                break
    return found


def one_url(pattern: Pattern) -> str:
    urls = urls_for(pattern, limit=1)
    assert urls, f"no real arguments resolve {pattern.route!r}: teach _candidates its params"
    return urls[0]


def pages(client: Client, limit: int = MAX_VARIANTS, admin_limit: int = 2) -> list[str]:
    """Every GET-able page for `client`: each pattern with every real argument that the
    view answers 200 for (so the details of each real row are included)."""
    out = []
    for pattern in all_patterns():
        if "logout/" in pattern.route:
            continue
        for url in urls_for(pattern, admin_limit if pattern.is_admin else limit):
            response = client.get(url)
            # Pages only: a download (a CSV attachment) is no page for a browser to open.
            if response.status_code == 200 and not response.has_header("Content-Disposition"):
                out.append(url)
    return out


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC)


def db_state() -> dict[str, list[tuple]]:
    """Every row of every model (sessions aside: logging in writes one), to compare."""
    state = {}
    for model in apps.get_models():
        if model._meta.label in ("sessions.Session",):
            continue
        state[model._meta.label] = list(model.objects.order_by("pk").values_list())
    return state


def db_counts() -> dict[str, int]:
    return {label: len(rows) for label, rows in db_state().items()}


# --- Fixtures --------------------------------------------------------------------


@pytest.fixture
def make_user(db, settings):
    """A teammate with a role and a known password (fast hasher)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    User = get_user_model()

    def make(username: str, role: Role | None = Role.VIEWER, superuser: bool = False) -> Any:
        user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
        if superuser:
            user.is_superuser = user.is_staff = True
            user.save()
        if role is not None:
            set_role(user, role)
        return user

    return make


@pytest.fixture
def admin_client(make_user) -> Client:
    """A superuser (so the Django admin's pages are swept too)."""
    client = Client()
    client.force_login(make_user("sweep-admin", Role.ADMIN, superuser=True))
    return client


def build_small_estate(aws: Any) -> dict[str, str]:
    """A VPC, a group with SSH open to the world (a finding) and an instance."""
    ec2 = aws.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="ssh", Description="ssh", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [
                    {"CidrIp": "0.0.0.0/0", "Description": "ssh"},
                    {"CidrIp": UNKNOWN_IP},  # an address nobody explained (issue 4's queue)
                ],
            }
        ],
    )
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[group]
    )["Instances"][0]["InstanceId"]
    return {"vpc": vpc, "group": group, "instance": instance}


@pytest.fixture
def estate(
    aws, make_account, run_sync, make_user, django_capture_on_commit_callbacks
) -> dict[str, Any]:
    """A synced account with findings, and one teammate of each role."""
    ids = build_small_estate(aws)
    account = make_account("legacy")
    # Findings are evaluated once the sync has committed.
    with django_capture_on_commit_callbacks(execute=True):
        sync = run_sync(account)
    assert sync.status == "complete", sync.error
    from findings.models import Finding

    assert Finding.objects.exists()
    from ips import actions as ip_actions

    admin = make_user("estate-admin", Role.ADMIN)
    # Something people know about addresses, for the sweeps to find and try to change.
    ip_actions.answer(ip_actions.Target(ANSWERED_IP), owner="old office", actor=admin)
    ip_actions.ask([ip_actions.Target(UNKNOWN_IP, account)], "network team", actor=admin)
    return {
        "account": account,
        "sync": sync,
        "ids": ids,
        "admin": admin,
        "editor": make_user("estate-editor", Role.EDITOR),
        "viewer": make_user("estate-viewer", Role.VIEWER),
    }
