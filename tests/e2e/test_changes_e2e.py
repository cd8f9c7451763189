"""Changes in a real browser: account → changes → a diff → its timeline → detail → Copy."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from catchup.roles import Role, set_role
from inventory.models import Resource
from tests.inventory.test_changes import build_estate, change_estate

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_newcomer_follows_a_change_from_the_diff_to_the_support_block(
    live_server, aws, page, shot, settings, make_account, run_sync
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    account = make_account()
    estate = build_estate(aws)
    run_sync(account)
    estate.update(change_estate(aws, estate))
    run_sync(account)
    user = User.objects.create_user("newcomer", password="pw-e2e-12345")
    set_role(user, Role.VIEWER)
    kept = Resource.objects.get(resource_id=estate["kept"])
    url = live_server.url

    page.goto(f"{url}/accounts/{account.name}/")
    page.fill("#id_username", "newcomer")
    page.fill("#id_password", "pw-e2e-12345")
    page.click("button[type=submit]")
    page.wait_for_selector("#account-changes")

    # Changes: the default range is the last step, the resize shown field by field.
    page.click("#account-changes")
    page.wait_for_selector("#change-list")
    item = page.locator(f"#change-{kept.pk}")
    assert "config.InstanceType" in item.inner_text()
    assert "t3.large" in item.inner_text()
    group = Resource.objects.get(resource_id=estate["group"])
    assert "ingress tcp 22 from 0.0.0.0/0" in page.inner_text(f"#change-{group.pk}")
    assert page.evaluate("window.__xss") is None
    shot("changes-01-diff")

    # Its timeline: both syncs, the resize in the latest.
    item.locator("a:has-text('timeline')").click()
    page.wait_for_selector("#timeline")
    timeline = page.inner_text("#timeline")
    assert "Added" in timeline and "Changed" in timeline and "t2.micro" in timeline
    shot("changes-02-timeline")

    # The resource detail: where it sits, exposure (SSH open to the world), support block.
    page.click("a:has-text('Resource detail')")
    page.wait_for_selector("#support-text")
    assert estate["vpc"] in page.inner_text("#topology")
    assert "0.0.0.0/0" in page.inner_text("#exposure .exposure-world")
    support = page.inner_text("#support-text")
    assert f"Resource id:   {estate['kept']}" in support
    assert "Identity used: default credential chain" in support
    page.click("#copy-support")
    # A CSS wait: a polled JS predicate would need eval, which the CSP forbids.
    page.wait_for_selector("#copy-support-status:not(:empty)")
    shot("changes-03-resource-detail")

    # Since I arrived (today): what opened up first.
    page.goto(f"{url}/accounts/{account.name}/")
    page.click("#account-since")
    page.wait_for_selector("#since-form")
    page.fill("#since-date", "2026-01-01")
    page.click("#since-form button[type=submit]")
    page.wait_for_selector("#since-form")
    shot("changes-04-since")
    assert page.evaluate("window.__xss") is None
    assert page.errors == []
