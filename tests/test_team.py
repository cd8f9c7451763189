"""Teammates page: admins add, invite, re-role and deactivate users; nobody else can."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User

from catchup.roles import Role, role_of, set_role


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """A cheap hasher: these tests are about pages, not password storage."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_user(client, db) -> User:
    user = User.objects.create_user("boss", email="boss@example.com", password="pw-123456!")
    set_role(user, Role.ADMIN)
    client.force_login(user)
    return user


def make_user(username: str, role: Role = Role.VIEWER) -> User:
    user = User.objects.create_user(username, email=f"{username}@example.com", password="x-pw-987!")
    set_role(user, role)
    return user


def test_only_admins_reach_the_teammates_page(client, db):
    assert client.get("/team/").status_code == 302
    editor = make_user("ed", Role.EDITOR)
    client.force_login(editor)
    assert client.get("/team/").status_code == 403
    assert (
        client.post(
            "/team/add/", {"username": "x", "email": "x@example.com", "role": "admin"}
        ).status_code
        == 403
    )
    assert not User.objects.filter(username="x").exists()


def test_the_page_lists_teammates_with_their_roles(client, admin_user):
    make_user("alice", Role.EDITOR)
    make_user("bob")
    page = client.get("/team/").content.decode()
    assert "alice" in page and "bob" in page
    assert re.search(r'value="editor" selected', page)


def test_adding_a_teammate_emails_an_invite_that_sets_their_password(
    client, admin_user, mailoutbox
):
    response = client.post(
        "/team/add/",
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "role": "editor",
            "send_invite": "on",
        },
    )
    assert response.status_code == 302
    newbie = User.objects.get(username="newbie")
    assert role_of(newbie) == Role.EDITOR
    assert not newbie.has_usable_password()
    assert LogEntry.objects.filter(object_id=str(newbie.pk), user=admin_user).exists()

    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["newbie@example.com"]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mailoutbox[0].body).group(1)

    client.logout()
    form_page = client.get(link, follow=True)  # the view swaps the token for a session key
    assert b"Set your password" in form_page.content
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-Long-pass-phrase-42", "new_password2": "a-Long-pass-phrase-42"},
    )
    assert done.status_code == 302
    assert client.login(username="newbie", password="a-Long-pass-phrase-42")


def test_a_bad_teammate_form_comes_back_with_errors_and_adds_nobody(client, admin_user):
    make_user("taken")
    response = client.post("/team/add/", {"username": "taken", "email": "nope", "role": "god"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "already exists" in page
    assert "Enter a valid email address." in page
    assert User.objects.count() == 2


def test_an_admin_changes_a_role_and_deactivates_a_teammate(client, admin_user):
    alice = make_user("alice")

    client.post(f"/team/{alice.pk}/role/", {"role": "admin"})
    assert role_of(User.objects.get(pk=alice.pk)) == Role.ADMIN

    client.post(f"/team/{alice.pk}/active/")
    alice.refresh_from_db()
    assert not alice.is_active
    assert client.login(username="alice", password="x-pw-987!") is False

    client.post(f"/team/{alice.pk}/active/", {"active": "1"})
    alice.refresh_from_db()
    assert alice.is_active
    assert LogEntry.objects.filter(object_id=str(alice.pk)).count() == 3


def test_an_admin_cannot_lock_themselves_out(client, admin_user):
    client.post(f"/team/{admin_user.pk}/role/", {"role": "viewer"})
    client.post(f"/team/{admin_user.pk}/active/")
    admin_user.refresh_from_db()
    assert admin_user.is_active
    assert role_of(User.objects.get(pk=admin_user.pk)) == Role.ADMIN


def test_a_used_invite_link_no_longer_works(client, admin_user, mailoutbox):
    bob = make_user("bob")
    client.post(f"/team/{bob.pk}/invite/")
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mailoutbox[0].body).group(1)
    client.logout()
    form_page = client.get(link, follow=True)
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "another-Pass-77", "new_password2": "another-Pass-77"},
    )
    again = client.get(link, follow=True)
    assert b"no longer valid" in again.content
