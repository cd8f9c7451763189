"""Every change a person makes to accounts and teammates leaves one audit row; bulk triage
leaves one history row per finding."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from catchup.roles import Role
from findings import actions
from findings.models import Finding, FindingEvent
from inventory.models import Account, AuditEvent

pytestmark = pytest.mark.django_db

SECRET = "audit/SECRET/never+stored+in+the+trail"


@pytest.fixture
def admin(make_user):
    return make_user("audit-admin", Role.ADMIN)


@pytest.fixture
def client(admin) -> Client:
    client = Client()
    client.force_login(admin)
    return client


def _form(**fields: str) -> dict[str, str]:
    data = {
        "name": "audited",
        "auth_mode": "keys",
        "access_key_id": "AKIAAUDITEXAMPLE0001",
        "secret_access_key": SECRET,
        "regions_text": "ap-northeast-1",
        "sync_interval_hours": "0",
    }
    data.update(fields)
    return data


def test_creating_editing_and_deleting_an_account_each_write_one_row(client, admin):
    response = client.post("/accounts/new/", _form())
    assert response.status_code == 302
    account = Account.objects.get(name="audited")
    created = AuditEvent.objects.get()
    assert (created.action, created.object_type, created.actor) == ("create", "account", admin)
    assert created.before is None
    assert created.after["name"] == "audited"
    assert created.after["auth_mode"] == "keys"
    assert created.after["access_keys"] == "…0001"
    assert created.at <= timezone.now()

    # Edit: blank keys keep the stored ones; the region and interval change.
    response = client.post(
        "/accounts/audited/edit/",
        _form(
            access_key_id="",
            secret_access_key="",
            regions_text="us-east-1",
            sync_interval_hours="6",
        ),
    )
    assert response.status_code == 302
    assert AuditEvent.objects.count() == 2
    edited = AuditEvent.objects.filter(action="update").get()
    assert edited.before["regions"] == ["ap-northeast-1"]
    assert edited.after["regions"] == ["us-east-1"]
    assert (edited.before["sync_interval_hours"], edited.after["sync_interval_hours"]) == (0, 6)
    assert edited.after["access_keys"] == "…0001"
    account.refresh_from_db()
    assert account.access_keys() == ("AKIAAUDITEXAMPLE0001", SECRET)

    # A save that changes nothing writes nothing.
    client.post(
        "/accounts/audited/edit/",
        _form(
            access_key_id="",
            secret_access_key="",
            regions_text="us-east-1",
            sync_interval_hours="6",
        ),
    )
    assert AuditEvent.objects.count() == 2

    response = client.post("/accounts/audited/delete/")
    assert response.status_code == 302
    assert not Account.objects.filter(name="audited").exists()
    deleted = AuditEvent.objects.filter(action="delete").get()
    assert deleted.before["name"] == "audited" and deleted.after is None
    assert deleted.object_id == str(account.pk)
    assert AuditEvent.objects.count() == 3
    # Secrets never in the trail.
    for event in AuditEvent.objects.all():
        assert SECRET not in str(event.before) + str(event.after)


def test_a_rejected_form_writes_no_row(client):
    response = client.post("/accounts/new/", _form(name="Not A Slug!"))
    assert response.status_code == 200
    assert not AuditEvent.objects.exists()


def test_adding_and_changing_a_teammate_each_write_one_row(client, admin):
    response = client.post(
        "/team/add/", {"username": "newbie", "email": "newbie@example.com", "role": "viewer"}
    )
    assert response.status_code == 302
    newbie = get_user_model().objects.get(username="newbie")
    added = AuditEvent.objects.get()
    assert (added.action, added.object_type, added.object_id) == ("create", "user", str(newbie.pk))
    assert added.after == {
        "username": "newbie",
        "email": "newbie@example.com",
        "role": "viewer",
        "is_active": True,
    }
    assert added.actor == admin

    client.post(f"/team/{newbie.pk}/role/", {"role": "editor"})
    assert AuditEvent.objects.count() == 2
    role = AuditEvent.objects.order_by("pk").last()
    assert (role.before["role"], role.after["role"]) == ("viewer", "editor")

    client.post(f"/team/{newbie.pk}/active/", {"active": "0"})
    assert AuditEvent.objects.count() == 3
    active = AuditEvent.objects.order_by("pk").last()
    assert (active.before["is_active"], active.after["is_active"]) == (True, False)
    assert all("password" not in str(e.after) for e in AuditEvent.objects.all())


def test_a_bulk_action_on_100_findings_writes_100_history_rows(make_account, make_user):
    account = make_account("bulk")
    editor = make_user("bulk-editor", Role.EDITOR)
    now = timezone.now()
    findings = Finding.objects.bulk_create(
        Finding(
            account=account,
            rule="sg-ssh-open-to-world",
            fingerprint=f"k{n}",
            severity="high",
            layer=1,
            title=f"finding {n}",
            resource_type="AWS::EC2::SecurityGroup",
            resource_id=f"sg-{n}",
            region="ap-northeast-1",
            first_seen_at=now,
            last_seen_at=now,
        )
        for n in range(100)
    )
    before = FindingEvent.objects.count()
    changed, skipped = actions.bulk(findings, "acknowledge", by=editor)
    assert (changed, skipped) == (100, 0)
    events = FindingEvent.objects.all()[:1000]
    assert FindingEvent.objects.count() - before == 100
    assert {e.actor_id for e in events} == {editor.pk}
    assert all(
        e.before == {"status": "open"} and e.after == {"status": "acknowledged"} for e in events
    )
