"""Triage: actions with history, roles on every write, pages, notifications, export."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catchup.roles import Role
from findings import actions
from findings.evaluate import evaluate_sync
from findings.models import Finding, FindingEvent

REGION = "ap-northeast-1"
pytestmark = pytest.mark.django_db
HOSTILE = '<img src=x onerror=alert(1)>"prod'


def _rule(port: int, cidr: str = "0.0.0.0/0") -> dict:
    return {
        "direction": "ingress",
        "protocol": "tcp",
        "from_port": port,
        "to_port": port,
        "cidr": cidr,
        "description": "",
    }


@pytest.fixture
def findings(account, make_resource, make_sync):
    """Findings raised by a complete sync on a small hand-built estate."""

    def make(count: int = 3) -> list[Finding]:
        make_resource(
            "AWS::EC2::SecurityGroup",
            "sg-open",
            name=HOSTILE,
            config={
                "GroupName": HOSTILE,
                "Rules": [_rule(22)]
                + [_rule(1000 + i, f"198.51.100.{i}/32") for i in range(count)],
            },
        )
        evaluate_sync(make_sync())
        return list(Finding.objects.filter(rule="sg-rule-unexplained-source").order_by("pk"))

    return make


@pytest.fixture
def editor(make_user):
    return make_user("editor", Role.EDITOR)


@pytest.fixture
def viewer(make_user):
    return make_user("viewer", Role.VIEWER)


def test_each_action_writes_one_history_row(findings, editor, make_user):
    findings(1)
    finding = Finding.objects.get(rule="sg-ssh-open-to-world")
    mate = make_user("mate")
    actions.acknowledge(finding, by=editor, note="looking")
    actions.assign(finding, by=editor, assignee=mate)
    actions.set_due_date(finding, by=editor, due_date=finding.due_date)
    actions.comment(finding, by=editor, body="Asked the network team.")
    actions.reopen(finding, by=editor)
    kinds = list(finding.events.values_list("kind", flat=True))
    assert kinds == ["opened", "acknowledged", "assigned", "due_date", "commented", "reopened"]
    assigned = finding.events.get(kind="assigned")
    assert assigned.actor == editor and assigned.after == {"assignee": "mate"}


def test_history_is_immutable(findings):
    findings(1)
    event = FindingEvent.objects.first()
    event.note = "rewritten"
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()


def test_accepting_needs_a_reason(findings, editor):
    finding = findings(1)[0]
    with pytest.raises(ValidationError):
        actions.accept_risk(finding, by=editor, reason="  ")
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN


def test_a_viewer_cannot_change_anything(findings, viewer, client):
    finding = findings(1)[0]
    with pytest.raises(PermissionDenied):
        actions.acknowledge(finding, by=viewer)
    client.force_login(viewer)
    url = reverse("findings:detail", args=[finding.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"action": "acknowledge"}).status_code == 403
    response = client.post(reverse("findings:bulk"), {"action": "acknowledge", "ids": [finding.pk]})
    assert response.status_code == 403
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN
    page = client.get(reverse("findings:list")).content.decode()
    assert 'value="acknowledge"' not in page and 'id="bulk"' not in page


def test_a_row_action_over_htmx_returns_the_row(findings, editor, client):
    finding = findings(1)[0]
    client.force_login(editor)
    url = reverse("findings:detail", args=[finding.pk])
    response = client.post(url, {"action": "acknowledge", "row": "1"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.strip().startswith(f'<tr id="finding-{finding.pk}"')
    assert "Acknowledged" in body
    assert "<img src=x" not in body  # AWS names are escaped
    # Without htmx: a redirect.
    response = client.post(url, {"action": "assign_me", "row": "1"})
    assert response.status_code == 302
    finding.refresh_from_db()
    assert finding.status == Finding.Status.ACKNOWLEDGED and finding.assignee == editor


def test_assigning_mails_the_assignee_who_sees_it_under_assigned_to_me(
    findings, editor, make_user, client, django_capture_on_commit_callbacks
):
    finding = findings(1)[0]
    mate = make_user("mate", email="mate@example.test")
    client.force_login(editor)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("findings:detail", args=[finding.pk]), {"action": "assign", "assignee": mate.pk}
        )
    assert [m.to for m in mail.outbox] == [["mate@example.test"]]
    assert finding.title in mail.outbox[0].body
    client.force_login(mate)
    page = client.get(reverse("findings:list"), {"assignee": "me"}).content.decode()
    assert reverse("findings:detail", args=[finding.pk]) in page
    client.force_login(editor)
    page = client.get(reverse("findings:list"), {"assignee": "me"}).content.decode()
    assert reverse("findings:detail", args=[finding.pk]) not in page


def test_comments_render_markdown_but_no_markup(findings, editor, client):
    finding = findings(1)[0]
    client.force_login(editor)
    url = reverse("findings:detail", args=[finding.pk])
    client.post(
        url,
        {
            "action": "comment",
            "body": "**Owner**: vendor <script>alert(1)</script> [x](javascript:alert(1))",
        },
    )
    page = client.get(url).content.decode()
    assert "<strong>Owner</strong>" in page
    assert "<script>alert(1)" not in page
    assert "javascript:alert" not in page


def test_the_detail_page_shows_resource_evidence_and_history(findings, editor, client):
    finding = findings(1)[0]
    client.force_login(editor)
    page = client.get(reverse("findings:detail", args=[finding.pk])).content.decode()
    assert reverse("inventory:resource", args=[finding.stored_resource_id]) in page
    assert "198.51.100.0/32" in page  # the rule that triggered it
    assert "Opened" in page
    assert "<img src=x" not in page


def test_accept_without_reason_is_refused_on_the_page(findings, editor, client):
    finding = findings(1)[0]
    client.force_login(editor)
    response = client.post(reverse("findings:detail", args=[finding.pk]), {"action": "accept"})
    assert response.status_code == 400
    assert "A reason is required." in response.content.decode()
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN


def test_bulk_actions_on_checked_and_on_the_filter(findings, editor, client):
    selected = findings(4)
    client.force_login(editor)
    client.post(
        reverse("findings:bulk"), {"action": "acknowledge", "ids": [f.pk for f in selected[:2]]}
    )
    assert Finding.objects.filter(status="acknowledged").count() == 2
    response = client.post(
        reverse("findings:bulk"),
        {
            "action": "accept",
            "reason": "Vendor ranges, see ticket 12",
            "scope": "filter",
            "rule": "sg-rule-unexplained-source",
            "status": "all",
        },
    )
    assert response.status_code == 302
    accepted = Finding.objects.filter(status="accepted")
    assert accepted.count() == 4
    assert FindingEvent.objects.filter(kind="accepted").count() == 4
    assert Finding.objects.get(rule="sg-ssh-open-to-world").status == "open"


def test_list_filters(findings, editor, client):
    findings(2)
    client.force_login(editor)
    page = client.get(reverse("findings:list"), {"rule": "sg-ssh-open-to-world"}).content.decode()
    assert "sg-ssh-open-to-world" in page and "2 findings" not in page
    page = client.get(reverse("findings:list"), {"severity": "high", "layer": 1}).content.decode()
    assert "1 finding" in page
    fragment = client.get(reverse("findings:list"), HTTP_HX_REQUEST="true").content.decode()
    assert fragment.strip().startswith('<div id="results">')


def test_the_list_takes_the_same_queries_for_10_and_200_findings(
    account, make_resource, make_sync, editor, make_user, client, settings
):
    settings.CATCHUP_PAGE_SIZE = 500
    client.force_login(editor)
    mate = make_user("mate")

    def count_for(n: int) -> int:
        Finding.objects.all().delete()
        rules = [_rule(1000 + i, f"198.51.{i // 250}.{i % 250}/32") for i in range(n)]
        make_resource("AWS::EC2::SecurityGroup", f"sg-{n}", config={"Rules": rules})
        evaluate_sync(make_sync())
        Finding.objects.filter(pk__in=Finding.objects.values("pk")[: n // 2]).update(assignee=mate)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("findings:list"), {"status": "all"})
        assert response.status_code == 200
        assert response.content.decode().count('class="finding-row') >= n
        return len(ctx.captured_queries)

    assert count_for(10) == count_for(200)


def test_export_findings_as_json_and_csv(findings, account, editor):
    finding = findings(1)[0]
    actions.assign(finding, by=editor, assignee=editor)
    out = io.StringIO()
    call_command("export", account.name, "--kind", "findings", stdout=out)
    rows = json.loads(out.getvalue())
    assert {tuple(sorted(r)) for r in rows} == {
        (
            "assignee",
            "region",
            "resource_id",
            "resource_type",
            "rule",
            "severity",
            "status",
            "title",
        )
    }
    ssh = next(r for r in rows if r["rule"] == "sg-ssh-open-to-world")
    assert ssh["resource_type"] == "AWS::EC2::SecurityGroup" and ssh["region"] == REGION
    assert ssh["severity"] == "high" and ssh["status"] == "open"
    mine = next(r for r in rows if r["rule"] == "sg-rule-unexplained-source")
    assert mine["assignee"] == "editor"
    out = io.StringIO()
    call_command("export", account.name, "--kind", "findings", "--format", "csv", stdout=out)
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(table) == len(rows)
    assert table[0].keys() == rows[0].keys()


def test_account_settings_page_and_rules_page(account, editor, viewer, client):
    url = reverse("findings:settings", args=[account.name])
    client.force_login(viewer)
    assert client.get(url).status_code == 200
    assert client.post(url, {"time_zone": "UTC"}).status_code == 403
    client.force_login(editor)
    response = client.post(
        url,
        {
            "business_hours_start": "10:00",
            "business_hours_end": "19:00",
            "time_zone": "UTC",
            "home_regions": "ap-northeast-1, us-east-1",
            "min_backup_retention_days": 14,
        },
    )
    assert response.status_code == 302
    saved = account.finding_settings
    assert saved.home_regions == ["ap-northeast-1", "us-east-1"]
    assert saved.min_backup_retention_days == 14 and saved.time_zone == "UTC"
    bad = client.post(
        url,
        {
            "business_hours_start": "10:00",
            "business_hours_end": "19:00",
            "time_zone": "Mars/Olympus",
            "min_backup_retention_days": 7,
        },
    )
    assert "Unknown time zone." in bad.content.decode()
    page = client.get(reverse("findings:rules")).content.decode()
    assert page.count('class="mono" href=') == 25 and "seed 004" in page
