"""A question link in a real browser: the editor creates it, an outsider (a fresh, anonymous
browser context) answers, the editor accepts, and the address is annotated."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from catchup.roles import Role, set_role
from inventory import demo
from ips.models import Annotation, AnnotationEvent, LinkAnswer, ObservedCidr

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CIDR = "198.51.100.0/24"


def test_an_outsider_answers_through_a_link_and_the_editor_accepts_it(
    live_server, aws, browser, page, shot, settings, make_account, run_sync
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    demo.build_legacy_estate(aws)
    account = make_account("demo", regions=demo.REGIONS)
    run_sync(account)  # transaction=True: the on-commit IP refresh runs for real
    assert ObservedCidr.objects.get(cidr=CIDR).classification == "unknown"
    user = User.objects.create_user("lead", password="pw-e2e-12345")
    set_role(user, Role.EDITOR)
    url = live_server.url

    page.goto(f"{url}/ips/links/new/?cidr={CIDR}")
    page.fill("#id_username", "lead")
    page.fill("#id_password", "pw-e2e-12345")
    page.click("button[type=submit]")
    page.wait_for_selector("#link-form")
    assert page.input_value("#link-cidrs") == CIDR
    page.fill("#link-recipient", "Sato <Example Corp>")
    page.fill("#link-message", "Do you know this range? <script>window.__xss=1</script>")
    page.click("#link-form button[type=submit]")
    page.wait_for_selector("#created-link")
    link_url = page.inner_text("#created-link-url").strip()
    assert link_url.startswith(f"{url}/ask/")
    page.click("#copy-created-link")
    page.wait_for_selector("#copy-created-link-status:not(:empty)")
    shot("ips-links-01-created")

    # The outsider: no session, no account.
    outsider_context = browser.new_context(viewport={"width": 1100, "height": 900})
    outsider = outsider_context.new_page()
    outsider.errors = []
    outsider.on("pageerror", lambda exc: outsider.errors.append(str(exc)))
    try:
        outsider.goto(link_url)
        outsider.wait_for_selector(".ask-item")
        assert outsider.locator(".ask-item").count() == 1
        body = outsider.inner_text("main")
        assert CIDR in body and "batch-sg" in body and "old office?" in body
        assert "<script>window.__xss=1</script>" in body  # shown as text
        assert outsider.evaluate("window.__xss") is None
        assert outsider.locator("nav.mainnav").count() == 0
        outsider.fill("#owner-1", "Example Corp old office")
        outsider.fill("#purpose-1", "Office VPN, closed in 2019")
        outsider.fill("#evidence-1", "https://wiki.example.test/vpn")
        outsider.click(".ask-form button[type=submit]")
        outsider.wait_for_selector("#thanks")
        assert "a teammate will review your answer" in outsider.inner_text("#thanks")
        outsider.screenshot(path="/tmp/catchup-shots/ips-links-02-outsider.png", full_page=True)
        # The link opens nothing else.
        outsider.goto(f"{url}/ips/")
        assert "/accounts/login/" in outsider.url
        assert outsider.errors == []
    finally:
        outsider_context.close()

    assert LinkAnswer.objects.get().status == LinkAnswer.Status.PENDING
    assert not Annotation.objects.exists()

    page.goto(f"{url}/ips/links/")
    answer = LinkAnswer.objects.get()
    row = page.locator(f"#answer-{answer.pk}")
    assert "Example Corp old office" in row.inner_text()
    assert "Sato <Example Corp>" in row.inner_text()
    shot("ips-links-03-review")
    row.locator("button:has-text('Accept')").click()
    page.wait_for_selector(".msg-success")
    assert "Accepted" in page.inner_text(".msg-success")

    annotation = Annotation.objects.get(cidr=CIDR)
    assert annotation.answered_by == "Sato <Example Corp>"
    assert annotation.events.get().source == AnnotationEvent.Source.LINK
    page.goto(f"{url}/ips/cidr/{CIDR}/")
    detail = page.inner_text("main")
    assert "Example Corp old office" in detail
    assert ObservedCidr.objects.get(cidr=CIDR).classification == "annotated"
    shot("ips-links-04-annotated")
    assert page.evaluate("window.__xss") is None
    assert page.errors == []


def test_an_editor_imports_a_spreadsheet_after_fixing_its_bad_row(
    live_server, page, shot, settings, make_account
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    make_account("demo")
    user = User.objects.create_user("lead", password="pw-e2e-12345")
    set_role(user, Role.EDITOR)
    rows = [
        "cidr,account,owner,decision,review_on",
        "203.0.113.45/32,demo,Vendor <b>A</b>,keep,",
        "198.51.100.0/24,,Old office,review,2027-13-01",
    ]
    page.goto(f"{live_server.url}/ips/import/")
    page.fill("#id_username", "lead")
    page.fill("#id_password", "pw-e2e-12345")
    page.click("button[type=submit]")
    page.wait_for_selector("#import-form")

    page.fill("#import-text", "\n".join(rows))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-errors")
    assert page.inner_text("#import-errors .import-error").split("\t")[:2] == ["3", "review_on"]
    shot("ips-import-01-errors")
    assert not Annotation.objects.exists()

    rows[2] = "198.51.100.0/24,,Old office,review,2027-01-31"
    page.fill("#import-text", "\n".join(rows))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-preview")
    assert "2 new" in page.inner_text("#import-counts")
    assert "Vendor <b>A</b>" in page.inner_text("#preview-row-2")
    shot("ips-import-02-preview")
    page.click("#import-confirm button[type=submit]")
    page.wait_for_selector(".msg-success")
    assert "2 annotations changed" in page.inner_text(".msg-success")
    assert Annotation.objects.get(cidr="203.0.113.45/32").owner == "Vendor <b>A</b>"
    # The refused upload answers 400 on purpose; nothing else may fail.
    assert [e for e in page.errors if "status of 400" not in e] == []
