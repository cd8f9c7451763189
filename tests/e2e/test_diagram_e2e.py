"""The diagram in a real browser: account -> diagram -> node -> side panel -> exports."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from catchup.roles import Role, set_role
from inventory import demo

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_newcomer_opens_the_diagram_clicks_a_node_and_exports_it(
    live_server, aws, make_account, run_sync, page, shot, settings, tmp_path: Path
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    demo.build_legacy_estate(aws)
    account = make_account("legacy-demo", regions=demo.REGIONS)
    run_sync(account)
    user = User.objects.create_user("newcomer", password="pw-e2e-12345")
    set_role(user, Role.VIEWER)
    url = live_server.url

    page.goto(f"{url}/accounts/legacy-demo/")
    page.fill("#id_username", "newcomer")
    page.fill("#id_password", "pw-e2e-12345")
    page.click("button[type=submit]")
    page.click("a.btn:has-text('Diagram')")
    page.wait_for_selector("#diagram-canvas svg .node")
    shot("diagram-01-account")

    # Click the collapsed web servers: the panel lists them, the page stays.
    diagram_url = page.url
    page.evaluate("window.__still_here = true")
    page.click("svg .node:has-text('3 × m5.large web')")
    page.wait_for_selector("#diagram-panel #panel-title:has-text('3 alike resources')")
    page.click("#diagram-panel a:has-text('honban-web01')")
    page.wait_for_selector("#diagram-panel #panel-title:has-text('honban-web01')")
    assert "Who may reach it" in page.inner_text("#diagram-panel")
    assert page.url == diagram_url and page.evaluate("window.__still_here") is True
    shot("diagram-02-panel")

    # Click the database itself.
    page.click("svg .node:has-text('honban-db')")
    page.wait_for_selector("#diagram-panel #panel-title:has-text('honban-db')")
    assert page.evaluate("window.__still_here") is True

    # Both exports download and parse.
    for selector, suffix in (("#export-svg", ".svg"), ("#export-drawio", ".drawio")):
        with page.expect_download() as info:
            page.click(selector)
        download = info.value
        assert download.suggested_filename.endswith(suffix)
        path = tmp_path / download.suggested_filename
        download.save_as(path)
        ET.parse(path)

    # One VPC only.
    page.click(".vpc-filter a:has-text('honban-vpc')")
    page.wait_for_selector("#diagram-canvas svg .node")
    shot("diagram-03-vpc")
    assert page.errors == []
