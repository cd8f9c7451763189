"""Unknown IPs in a real browser, on the demo estate: a newcomer finds the unexplained SSH
address, records the owner's answer, re-syncs and still sees it; then asks about others."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from catchup.roles import Role, set_role
from inventory import demo
from ips.models import AnnotationEvent, ObservedCidr

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

IP = demo.UNEXPLAINED_IP


def test_a_newcomer_records_an_owner_and_it_survives_a_resync(
    live_server, aws, page, shot, settings, make_account, run_sync
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    demo.build_legacy_estate(aws)
    account = make_account("demo", regions=demo.REGIONS)
    # A transactional test: the sync's on_commit receivers (the IP refresh) run at once.
    assert run_sync(account).status == "complete"
    user = User.objects.create_user("newcomer", password="pw-e2e-12345")
    set_role(user, Role.EDITOR)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    url = live_server.url

    page.goto(f"{url}/ips/")
    page.fill("#id_username", "newcomer")
    page.fill("#id_password", "pw-e2e-12345")
    page.click("button[type=submit]")

    # The queue: the unexplained address, where it is allowed, on which port.
    row = page.locator(f'tr[data-cidr="{IP}"]')
    row.wait_for()
    assert "honban-web-sg" in row.inner_text() and "ssh 22" in row.inner_text()
    assert "Nobody asked yet" in row.inner_text()
    shot("ips-01-queue")

    # Its page: record the owner's answer.
    row.locator(f"a:has-text('{IP}')").click()
    page.wait_for_selector("#annotation-form")
    page.fill("#id_asked_whom", "Sato (network team)")
    page.fill("#id_owner", "Acme monitoring")
    page.fill("#id_purpose", "SSH health checks from the vendor's probe")
    page.fill("#id_answered_by", "Sato")
    page.fill("#id_evidence", "https://chat.example/archives/123")
    page.click("#annotation-form button[type=submit]")
    page.wait_for_selector("text=Saved for")
    assert "Acme monitoring" in page.inner_text("#classification")
    assert "Sato (network team)" in page.inner_text("#history")
    shot("ips-02-answered")

    # Re-sync the account; the answer still applies.
    assert run_sync(account).status == "complete"
    assert ObservedCidr.objects.get(cidr=IP).classification == "annotated"
    page.goto(f"{url}/ips/?classification=annotated")
    row = page.locator(f'tr[data-cidr="{IP}"]')
    assert "Acme monitoring" in row.inner_text()
    page.goto(f"{url}/ips/")
    assert page.locator(f'tr[data-cidr="{IP}"]').count() == 0  # left the unknown queue

    # Bulk over htmx: mark two addresses as asked without leaving the page.
    first, second = demo.OLD_OFFICE_CIDR, demo.FLUENTD_SOURCE_IP
    page.check(f'input[name=cidrs][value="{first}"]')
    page.check(f'input[name=cidrs][value="{second}"]')
    page.fill("#bulk-asked-whom", "#infra channel")
    page.click("button[name=action][value=ask]")
    page.wait_for_selector("#bulk-notice")
    assert "marked as asked" in page.inner_text("#bulk-notice")
    assert page.url.rstrip("/").endswith("/ips")  # an htmx swap, not a page load
    assert "asked #infra channel" in page.locator(f'tr[data-cidr="{first}"]').inner_text()
    shot("ips-03-bulk-asked")

    # The ask helper: select every row, write the message, copy it.
    page.check("input[data-select-all]")
    checked = page.locator("input[name=cidrs]:checked").count()
    assert checked == page.locator("input[name=cidrs]").count() > 2
    page.click("button[name=action][value=message]")
    page.wait_for_selector("#ask-markdown")
    markdown = page.input_value("#ask-markdown")
    assert "| Account | Resource |" in markdown and demo.VENDOR_CIDR in markdown
    assert "Whose address is this, and what is it for?" in page.input_value("#ask-plain")
    page.click("#copy-plain")
    page.wait_for_selector("#copy-plain-status:not(:empty)")
    if "Copied" in page.inner_text("#copy-plain-status"):
        assert "Whose address is this" in page.evaluate("navigator.clipboard.readText()")
    shot("ips-04-ask-message")
    before = AnnotationEvent.objects.count()
    page.fill("#ask-whom", "Tanaka")
    page.click("#mark-asked button[type=submit]")
    page.wait_for_selector("text=marked as asked (Tanaka)")
    assert AnnotationEvent.objects.count() == before + checked

    assert page.errors == []
