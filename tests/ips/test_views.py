"""The unknown-IP pages as a teammate uses them: the queue, a CIDR's page with its answer
form and history, bulk actions, and the ask helper's message."""

from __future__ import annotations

import itertools
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catchup.roles import Role
from inventory import demo
from inventory.collectors.base import content_hash
from inventory.models import Account, Resource
from ips import actions, classify, extract
from ips.models import Annotation, AnnotationEvent, ObservedCidr
from ips.views import md_escape

pytestmark = pytest.mark.django_db

REGION = "ap-northeast-1"
QUEUE = reverse("ips:queue")
BULK = reverse("ips:bulk")
_ids = itertools.count(1)


def cidr_url(cidr: str) -> str:
    return reverse("ips:cidr", args=[cidr])


def annotate_url(cidr: str) -> str:
    return reverse("ips:annotate", args=[cidr])


def security_group(account: Account, name: str, rules: list[dict]) -> Resource:
    """A stored security group whose rules are given as the collector stores them."""
    now = timezone.now()
    ident = f"sg-{next(_ids):08x}"
    config = {"GroupId": ident, "GroupName": name, "Rules": rules}
    return Resource.objects.create(
        account=account,
        region=REGION,
        type="AWS::EC2::SecurityGroup",
        resource_id=ident,
        scope=f"test:{REGION}",
        name=name,
        config=config,
        content_hash=content_hash({"id": ident, "config": config}),
        first_seen_at=now,
        changed_at=now,
    )


def rule(cidr: str, port: int | None = 22, description: str = "", **extra) -> dict:
    return {
        "direction": "ingress",
        "protocol": "tcp" if port is not None else "-1",
        "from_port": port,
        "to_port": port,
        "cidr": cidr,
        "description": description,
        **extra,
    }


def refresh(*accounts: Account) -> None:
    """What a sync does after collecting: extract the references, classify every CIDR."""
    for account in accounts:
        extract.store(account, extract.extract(account))
    classify.rebuild()


@pytest.fixture
def editor(client, make_user):
    user = make_user("editor", Role.EDITOR)
    client.force_login(user)
    return user


@pytest.fixture
def viewer_client(client, make_user):
    client.force_login(make_user("viewer", Role.VIEWER))
    return client


@pytest.fixture
def estate(make_account):
    """Two accounts: 203.0.113.45 SSH with no description in both, an old-office /24 and a
    reports address inside it, a fluentd source."""
    prod = make_account("prod")
    staging = make_account("staging")
    security_group(
        prod,
        "honban-web-sg",
        [
            rule("203.0.113.45/32"),
            rule("198.51.100.0/24", description="old office?"),
            rule("192.0.2.10/32", 24224, "fluentd"),
        ],
    )
    security_group(prod, "reports-sg", [rule("198.51.100.77/32", 443, "reports")])
    security_group(staging, "bastion-sg", [rule("203.0.113.45/32", None, "")])
    refresh(prod, staging)
    return {"prod": prod, "staging": staging}


def rows(html: str) -> list[str]:
    """The CIDRs of the queue's rows, in order."""
    return re.findall(r'<tr class="ips-row" data-cidr="([^"]+)"', html)


# --- The demo estate, end to end ---------------------------------------------------------


def test_the_demo_estate_queue_answer_and_wider_range(
    aws, make_account, run_sync, django_capture_on_commit_callbacks, client, make_user
):
    demo.build_legacy_estate(aws)
    account = make_account("demo", regions=demo.REGIONS)
    with django_capture_on_commit_callbacks(execute=True):
        assert run_sync(account).status == "complete"
    user = make_user("newcomer", Role.EDITOR)
    client.force_login(user)

    # The queue lists the unexplained SSH address with where it is allowed.
    page = client.get(QUEUE).content.decode()
    assert demo.UNEXPLAINED_IP in rows(page)
    row = page.split(f'data-cidr="{demo.UNEXPLAINED_IP}"')[1].split("</tr>")[0]
    assert "honban-web-sg" in row and "ssh 22" in row and "Nobody asked yet" in row
    assert "13.112.10.20/32" not in rows(page)  # an AWS range is not in the unknown queue
    aws_page = client.get(QUEUE, {"classification": "aws"}).content.decode()
    assert rows(aws_page) == ["13.112.10.20/32"]

    # The account page links to its queue with the count of unknown addresses.
    unknown = ObservedCidr.objects.filter(account=account, classification="unknown").count()
    detail = client.get(reverse("inventory:account", args=["demo"])).content.decode()
    assert f"Unknown IPs ({unknown} unknown)" in detail and unknown >= 7

    # Record the owner's answer in the form.
    response = client.post(
        annotate_url(demo.UNEXPLAINED_IP),
        {
            "scope": "",
            "asked_whom": "Sato",
            "owner": "Monitoring vendor <Acme>",
            "purpose": "SSH health checks",
            "answered_by": "Sato",
            "evidence": "https://chat.example/1",
        },
    )
    assert response.status_code == 302
    page = client.get(QUEUE, {"classification": "annotated"}).content.decode()
    assert demo.UNEXPLAINED_IP in rows(page)
    assert "Monitoring vendor &lt;Acme&gt;" in page  # escaped
    history = client.get(cidr_url(demo.UNEXPLAINED_IP)).content.decode()
    assert "newcomer" in history and "Form" in history
    assert re.search(r"owner</td><td[^>]*>—</td>.*?Monitoring vendor &lt;Acme&gt;", history, re.S)

    # An answer on the old office /24 covers the reports address inside it, and says so.
    client.post(annotate_url(demo.OLD_OFFICE_CIDR), {"scope": "", "owner": "Head office"})
    reports = ObservedCidr.objects.get(cidr=demo.REPORTS_IP)
    assert reports.classification == "annotated"
    page = client.get(QUEUE, {"classification": "annotated"}).content.decode()
    row = page.split(f'data-cidr="{demo.REPORTS_IP}"')[1].split("</tr>")[0]
    assert "from 198.51.100.0/24 (every account)" in row and "Head office" in row
    detail = client.get(cidr_url(demo.REPORTS_IP)).content.decode()
    assert "from 198.51.100.0/24 (every account)" in detail and "<strong>applies</strong>" in detail


# --- The queue ---------------------------------------------------------------------------


def test_one_row_per_cidr_across_accounts_sorted_by_exposure(client, editor, estate):
    page = client.get(QUEUE).content.decode()
    # 203.0.113.45 is allowed on every port in staging: the most exposed, and one row.
    assert rows(page)[0] == "203.0.113.45/32"
    assert rows(page).count("203.0.113.45/32") == 1
    row = page.split('data-cidr="203.0.113.45/32"')[1].split("</tr>")[0]
    assert "prod, staging" in row and "all ports" in row and "2 places" in row
    assert set(rows(page)) == {
        "203.0.113.45/32",
        "198.51.100.0/24",
        "192.0.2.10/32",
        "198.51.100.77/32",
    }
    # The class chips count CIDRs, not rows.
    assert re.search(r'data-class="unknown".*?ips-chip-n">4<', page, re.S)


def test_filters_by_account_port_search_and_sort(client, editor, estate):
    prod = client.get(QUEUE, {"account": "staging"}).content.decode()
    assert rows(prod) == ["203.0.113.45/32"]
    assert rows(client.get(QUEUE, {"hint": "fluentd"}).content.decode()) == ["192.0.2.10/32"]
    assert rows(client.get(QUEUE, {"q": "old office"}).content.decode()) == ["198.51.100.0/24"]
    assert rows(client.get(QUEUE, {"q": "reports-sg"}).content.decode()) == ["198.51.100.77/32"]
    by_cidr = rows(client.get(QUEUE, {"sort": "cidr"}).content.decode())
    assert by_cidr == sorted(by_cidr)
    # An htmx filter swaps only the results.
    fragment = client.get(QUEUE, {"hint": "ssh"}, headers={"HX-Request": "true"})
    assert fragment.content.decode().lstrip().startswith('<div id="results">')


def test_the_queue_reads_a_constant_number_of_queries(client, editor, make_account):
    account = make_account("big")

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(QUEUE).status_code == 200
        return len(queries)

    security_group(account, "a", [rule(f"203.0.113.{n}/32") for n in range(2)])
    refresh(account)
    small = count_queries()
    for n in range(30):
        security_group(account, f"g{n}", [rule(f"198.51.{n}.{m}/32", m) for m in range(1, 4)])
    refresh(account)
    assert ObservedCidr.objects.count() == 92  # two pages of 50
    assert count_queries() == small


def test_the_account_link_and_the_nav(client, editor, estate):
    page = client.get(reverse("inventory:account", args=["prod"])).content.decode()
    assert "Unknown IPs (4 unknown)" in page
    assert f'href="{QUEUE}?account=prod"' in page
    assert f'href="{QUEUE}">Unknown IPs</a>' in page


def test_annotate_a_range_opens_its_page_or_says_what_is_wrong(client, editor, estate):
    response = client.get(QUEUE, {"range": "10.9.0.0/16"})
    assert response.status_code == 302 and response.url == cidr_url("10.9.0.0/16")
    page = client.get(cidr_url("10.9.0.0/16")).content.decode()
    assert "No synced account refers to exactly this range" in page
    bad = client.get(QUEUE, {"range": "10.9.0.300/16"})
    assert bad.status_code == 400
    assert "is not an IP address or CIDR" in bad.content.decode()


# --- Bulk actions ------------------------------------------------------------------------


def test_bulk_mark_asked_writes_one_event_per_cidr(client, editor, estate):
    cidrs = ["203.0.113.45/32", "198.51.100.0/24", "192.0.2.10/32"]
    response = client.post(
        BULK, {"action": "ask", "asked_whom": "Sato", "cidrs": cidrs, "next": QUEUE}
    )
    assert response.status_code == 302
    assert AnnotationEvent.objects.filter(source="bulk").count() == 3
    assert set(Annotation.objects.values_list("cidr", "account", "status")) == {
        (c, None, "asked") for c in cidrs
    }
    page = client.get(QUEUE, {"status": "asked"}).content.decode()
    # The question on the /24 covers the address inside it too, and the row says so.
    assert set(rows(page)) == {*cidrs, "198.51.100.77/32"} and "asked Sato" in page
    row = page.split('data-cidr="198.51.100.77/32"')[1].split("</tr>")[0]
    assert "from 198.51.100.0/24 (every account)" in row
    assert "3 CIDRs marked as asked (Sato)." in page


def test_bulk_many_cidrs_over_htmx(client, editor, make_account):
    account = make_account("wide")
    security_group(account, "wide", [rule(f"198.18.{n // 250}.{n % 250}/32") for n in range(100)])
    refresh(account)
    cidrs = list(ObservedCidr.objects.values_list("cidr", flat=True))
    response = client.post(
        BULK,
        {"action": "decide", "decision": "remove", "cidrs": cidrs, "next": QUEUE},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "100 CIDRs decided: remove." in response.content.decode()
    assert AnnotationEvent.objects.count() == 100


def test_bulk_only_for_the_filtered_account(client, editor, estate):
    client.post(
        BULK,
        {
            "action": "decide",
            "decision": "review",
            "review_on": "2020-01-01",
            "cidrs": ["203.0.113.45/32"],
            "account": "staging",
            "only_account": "on",
            "next": f"{QUEUE}?account=staging",
        },
    )
    annotation = Annotation.objects.get()
    assert annotation.account.name == "staging" and annotation.review_due
    page = client.get(QUEUE, {"account": "staging", "status": "review-due"}).content.decode()
    assert rows(page) == ["203.0.113.45/32"] and "review due" in page
    # In the cross-account queue, the row says the decision is staging's only.
    page = client.get(QUEUE, {"classification": "all"}).content.decode()
    assert "recorded for staging" in page


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({"action": "ask", "asked_whom": ""}, "Say whom you asked."),
        ({"action": "decide", "decision": "review", "review_on": "2024-13-45"}, "valid date"),
        ({"action": "decide", "decision": "review"}, "Review again needs a date."),
        ({"action": "ask", "asked_whom": "x", "cidrs": ["10.0.0.300"]}, "not an IP address"),
        ({"action": "ask", "asked_whom": "x", "cidrs": []}, "Check at least one CIDR."),
    ],
)
def test_bad_bulk_input_says_why_and_writes_nothing(client, editor, estate, post, message):
    data = {"cidrs": ["203.0.113.45/32"], "next": QUEUE, **post}
    response = client.post(BULK, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Annotation.objects.exists() and not AnnotationEvent.objects.exists()


# --- A CIDR's page -----------------------------------------------------------------------


def test_the_answer_form_validates_each_field_and_writes_nothing_on_error(client, editor, estate):
    response = client.post(
        annotate_url("203.0.113.45/32"),
        {"scope": "", "purpose": "backups", "decision": "review", "review_on": "31/31/2024"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "An answer needs the owner." in page and "Enter a valid date." in page
    assert "Nothing was saved" in page
    assert not Annotation.objects.exists()
    response = client.post(
        annotate_url("203.0.113.45/32"), {"scope": "", "owner": "Ops", "review_on": "2030-01-01"}
    )
    assert response.status_code == 400
    assert "goes with the decision" in response.content.decode()
    assert not AnnotationEvent.objects.exists()


def test_account_answer_beats_global_at_the_same_range_and_the_page_explains(
    client, editor, estate
):
    client.post(annotate_url("203.0.113.45/32"), {"scope": "", "owner": "Vendor A"})
    response = client.post(
        annotate_url("203.0.113.45/32"), {"scope": "staging", "owner": "Staging bastion"}
    )
    assert response.status_code == 302 and response.url.endswith("?scope=staging")
    observed = dict(
        ObservedCidr.objects.filter(cidr="203.0.113.45/32").values_list(
            "account__name", "annotation__owner"
        )
    )
    assert observed == {"prod": "Vendor A", "staging": "Staging bastion"}
    page = client.get(cidr_url("203.0.113.45/32")).content.decode()
    assert "<strong>applies</strong> in prod" in page
    assert "<strong>applies</strong> in staging" in page
    # The scoped form shows what was recorded for that scope.
    scoped = client.get(cidr_url("203.0.113.45/32"), {"scope": "staging"}).content.decode()
    assert 'value="Staging bastion"' in scoped


def test_history_is_shown_and_never_editable(client, editor, estate):
    target = actions.Target("192.0.2.10/32")
    actions.ask([target], "Suzuki", actor=editor)
    actions.answer(target, owner="Log team", actor=editor)
    page = client.get(cidr_url("192.0.2.10/32")).content.decode()
    history = page.split('id="history"')[1]
    assert history.index("Log team") < history.index("Suzuki")  # newest first
    assert "<form" not in history.split("</section>")[0]


# --- Roles -------------------------------------------------------------------------------


def test_a_viewer_sees_no_forms_and_cannot_post(viewer_client, estate):
    page = viewer_client.get(QUEUE).content.decode()
    assert "203.0.113.45/32" in rows(page)
    assert 'name="cidrs"' not in page and 'id="bulk"' not in page
    detail = viewer_client.get(cidr_url("203.0.113.45/32")).content.decode()
    assert 'id="annotation-form"' not in detail
    post = {"action": "ask", "asked_whom": "x", "cidrs": ["203.0.113.45/32"]}
    assert viewer_client.post(BULK, post).status_code == 403
    response = viewer_client.post(annotate_url("203.0.113.45/32"), {"scope": "", "owner": "x"})
    assert response.status_code == 403
    assert not Annotation.objects.exists()


# --- The ask helper ----------------------------------------------------------------------

HOSTILE = "ops | *bold* [x](javascript:alert(1)) `code` <b>hi</b>"


def test_md_escape_makes_hostile_text_inert():
    escaped = md_escape(HOSTILE + "\nnext line")
    assert "\n" not in escaped
    assert re.search(r"(?<!\\)[|*`\[\]()<>]", escaped) is None  # every special escaped
    assert escaped.replace("\\", "") == HOSTILE + " next line"


def test_the_ask_message_lists_places_and_escapes_hostile_descriptions(
    client, editor, make_account
):
    account = make_account("legacy")
    security_group(account, "honban-web-sg", [rule("203.0.113.45/32", 22, HOSTILE)])
    security_group(account, "db-sg", [rule("198.51.100.9/32", 3306, "")])
    refresh(account)
    response = client.get(
        reverse("ips:ask-message"),
        {"cidr": ["203.0.113.45", "198.51.100.9/32"], "account": "legacy"},
    )
    assert response.status_code == 200
    context = response.context
    plain, markdown = context["plain"], context["markdown"]
    assert "203.0.113.45/32" in plain and "honban-web-sg" in plain and "tcp/22" in plain
    assert "Whose address is this, and what is it for?" in plain
    assert HOSTILE in plain  # plain text keeps the description as it is
    # In Markdown each table row keeps its five cells whatever the description holds.
    table_rows = [line for line in markdown.splitlines() if line.startswith("| legacy")]
    assert len(table_rows) == 2
    for line in table_rows:
        assert len(re.findall(r"(?<!\\)\|", line)) == 6
    assert "](javascript" not in markdown and "`code`" not in markdown
    assert r"\[x\]\(javascript:alert\(1\)\)" in markdown
    # The page escapes it in HTML too, and offers to mark both as asked.
    html = response.content.decode()
    assert "<b>hi</b>" not in html and "&lt;b&gt;hi&lt;/b&gt;" in html
    assert html.count('name="cidrs"') == 2 and "Mark 2 as asked" in html
    assert 'data-copy-target="ask-markdown"' in html


def test_the_ask_message_reports_bad_cidrs(client, editor, estate):
    response = client.get(reverse("ips:ask-message"), {"cidr": ["nope"]})
    assert response.status_code == 400
    assert "“nope” is not an IP address or CIDR" in response.content.decode()


def test_write_ask_message_from_the_queue_redirects_with_the_selection(client, editor, estate):
    response = client.post(
        BULK, {"action": "message", "cidrs": ["203.0.113.45/32", "192.0.2.10/32"]}
    )
    assert response.status_code == 302
    assert response.url == (
        reverse("ips:ask-message") + "?cidr=203.0.113.45%2F32&cidr=192.0.2.10%2F32"
    )
    htmx = client.post(
        BULK,
        {"action": "message", "cidrs": ["203.0.113.45/32"]},
        headers={"HX-Request": "true"},
    )
    assert htmx.headers["HX-Redirect"].startswith(reverse("ips:ask-message"))
