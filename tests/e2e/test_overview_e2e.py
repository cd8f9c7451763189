"""Home -> account overview -> a number -> the list behind it; the search box (issue 3)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from catchup.roles import Role, set_role
from findings.models import AccountSettings
from inventory import demo
from inventory.models import Resource

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

XSS = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">'


def test_a_newcomer_reads_the_estate_by_layer_and_searches_it(
    live_server, aws, page, shot, settings, make_account, run_sync
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    ids = demo.build_legacy_estate(aws)
    aws.client("ec2").create_tags(
        Resources=[ids["unassociated_eip"]], Tags=[{"Key": "Name", "Value": XSS}]
    )
    account = make_account("legacy", regions=demo.REGIONS)
    AccountSettings.objects.create(
        account=account, home_regions=[demo.HOME_REGION, demo.GLOBAL_REGION]
    )
    run_sync(account)
    user = User.objects.create_user("newcomer", password="pw-e2e-12345")
    set_role(user, Role.VIEWER)
    url = live_server.url

    page.goto(f"{url}/")
    page.fill("#id_username", "newcomer")
    page.fill("#id_password", "pw-e2e-12345")
    page.click("button[type=submit]")
    page.wait_for_selector("#overview-home")
    assert "All 1 account" in page.text_content("#overview-home tfoot")
    shot("overview-01-home")

    # Home -> the account's overview.
    page.click("#overview-home a[href='/accounts/legacy/']")
    page.wait_for_selector("#band-4")
    shot("overview-02-account")

    # A number -> exactly the resources behind it.
    link = page.locator("#attention a[href='/accounts/legacy/resources/?attention=world-open']")
    assert link.inner_text() == "3"
    link.click()
    page.wait_for_selector("#overview-filter")
    rows = page.locator("#results tbody tr")
    assert rows.count() == 3
    sgs = ids["security_groups"]
    listed = page.inner_text("#results")
    assert all(sgs[k] in listed for k in ("alb", "web", "db"))
    shot("overview-03-world-open")

    # Filtering further keeps the overview's filter (an htmx swap, URL updated).
    page.select_option("#filter-type", "AWS::EC2::SecurityGroup")
    page.wait_for_url("**attention=world-open**")
    page.wait_for_function("document.querySelectorAll('#results tbody tr').length === 3")

    # Layer 1 from the overview: its count is the list's count.
    page.goto(f"{url}/accounts/legacy/")
    layer1 = page.locator("#band-1 a.ov-total")
    shown = int(layer1.inner_text())
    layer1.click()
    page.wait_for_selector("#overview-filter")
    assert page.inner_text(".result-count").startswith(f"{shown} resource")

    # The search box in the top bar: whose IP is this?
    page.fill("#topbar-search", demo.UNEXPLAINED_IP.split("/")[0])
    page.press("#topbar-search", "Enter")
    page.wait_for_selector("#search-results")
    assert page.locator("#search-results tbody tr").count() == 1
    assert sgs["web"] in page.inner_text("#search-results")
    shot("overview-04-search-ip")

    # Filters combine and land in the URL; the hostile Name renders as text.
    page.fill("#search-q", "eip")
    page.select_option("#search-layer", "1")
    page.wait_for_url("**layer=1**")
    page.wait_for_selector(f"#search-results >> text={ids['unassociated_eip']}")
    assert "<script>" in page.inner_text("#search-results")
    assert page.evaluate("window.__xss") is None
    shot("overview-05-search-filters")

    assert Resource.objects.filter(account=account).exists()
    assert page.errors == []
