"""Question links: an outsider answers for the link's CIDRs only; nothing counts until a
teammate accepts it; tampered, expired and revoked links open nothing, and neither does a
token anywhere else."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catchup.roles import Role
from inventory import demo
from ips import actions, links
from ips.models import Annotation, AnnotationEvent, LinkAnswer, ObservedCidr, QuestionLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(make_user):
    return make_user("lead")


@pytest.fixture
def editor_client(editor):
    client = Client()
    client.force_login(editor)
    return client


@pytest.fixture
def make_link(editor):
    def make(*cidrs: str, recipient: str = "Sato (Example Corp network team)", **kwargs):
        return links.create(
            list(cidrs) or ["203.0.113.45/32"], recipient=recipient, by=editor, **kwargs
        )

    return make


def url_of(link: QuestionLink) -> str:
    return f"/ask/{links.token_for(link)}/"


def answer(client, link, cidr, owner="Example Corp", **fields):
    return client.post(url_of(link), {"cidr": cidr, "owner": owner, **fields})


def test_an_outsiders_answer_counts_only_once_accepted_and_in_the_recipients_name(
    editor_client, editor, aws, make_account, run_sync, django_capture_on_commit_callbacks
):
    demo.build_legacy_estate(aws)
    account = make_account("demo", regions=demo.REGIONS)
    with django_capture_on_commit_callbacks(execute=True):
        run_sync(account)
    # The queue's bulk form posts the checked CIDRs; the editor fills in the recipient.
    form = editor_client.post("/ips/links/new/", {"cidr": ["203.0.113.45/32", "198.51.100.0/24"]})
    assert form.status_code == 200
    assert "203.0.113.45/32\n198.51.100.0/24" in form.content.decode()
    created = editor_client.post(
        "/ips/links/new/",
        {
            "cidrs": "203.0.113.45/32\n198.51.100.0/24",
            "recipient": "Sato (Example Corp)",
            "contact": "sato@example.test",
            "message": "Hello <b>Sato</b>",
            "expiry_days": "7",
        },
    )
    link = QuestionLink.objects.get()
    assert created.status_code == 302
    assert link.cidrs == ["203.0.113.45/32", "198.51.100.0/24"]
    assert link.expires_at - link.created_at == dt.timedelta(days=7)
    listing = editor_client.get(created["Location"]).content.decode()
    assert f"http://testserver{url_of(link)}" in listing  # shown, with a Copy button
    assert 'data-copy-target="created-link-url"' in listing

    outsider = Client()
    page = outsider.get(url_of(link))
    html = page.content.decode()
    assert page.status_code == 200
    # Only the link's CIDRs, each with where it is allowed (escaped), one form each.
    assert html.count('name="cidr"') == 2
    assert "honban-web-sg" in html and "batch-sg" in html and "old office?" in html
    assert "192.0.2.10/32" not in html
    assert "Hello &lt;b&gt;Sato&lt;/b&gt;" in html
    assert "tcp/22" in html
    assert page["Cache-Control"].startswith("max-age=0") or "no-cache" in page["Cache-Control"]
    assert page["Referrer-Policy"] == "same-origin"  # the token never leaves in a Referer

    sent = answer(
        outsider,
        link,
        "198.51.100.0/24",
        owner="Example Corp old office",
        purpose="Office VPN, closed in 2019",
        evidence="https://wiki.example.test/vpn",
    )
    assert sent.status_code == 302
    thanks = outsider.get(sent["Location"]).content.decode()
    assert "Thank you — a teammate will review your answer" in thanks

    # Nothing counts yet.
    pending = LinkAnswer.objects.get()
    assert pending.status == LinkAnswer.Status.PENDING
    assert not Annotation.objects.exists()
    assert ObservedCidr.objects.get(cidr="198.51.100.0/24").classification == "unknown"
    review = editor_client.get("/ips/links/").content.decode()
    assert f'id="answer-{pending.pk}"' in review and "Example Corp old office" in review

    accepted = editor_client.post(f"/ips/links/answers/{pending.pk}/", {"decision": "accept"})

    assert accepted.status_code == 302
    annotation = Annotation.objects.get(cidr="198.51.100.0/24", account=None)
    assert annotation.owner == "Example Corp old office"
    assert annotation.answered_by == "Sato (Example Corp)"
    assert annotation.evidence == "https://wiki.example.test/vpn"
    event = annotation.events.get()
    assert event.source == AnnotationEvent.Source.LINK
    assert event.actor == editor
    assert event.actor_label == "lead (accepted Sato (Example Corp)'s answer via question link)"
    pending.refresh_from_db()
    assert (pending.status, pending.reviewed_by) == (LinkAnswer.Status.ACCEPTED, editor)
    assert pending.reviewed_at is not None
    observed = ObservedCidr.objects.get(cidr="198.51.100.0/24")
    assert (observed.classification, observed.annotation) == ("annotated", annotation)
    # Accepting twice does not record it twice.
    editor_client.post(f"/ips/links/answers/{pending.pk}/", {"decision": "accept"})
    assert AnnotationEvent.objects.count() == 1


def test_a_rejected_answer_changes_nothing(editor_client, make_link):
    link = make_link("203.0.113.45/32")
    answer(Client(), link, "203.0.113.45/32", owner="A guess")
    pending = LinkAnswer.objects.get()

    editor_client.post(f"/ips/links/answers/{pending.pk}/", {"decision": "reject"})

    pending.refresh_from_db()
    assert pending.status == LinkAnswer.Status.REJECTED
    assert not Annotation.objects.exists()
    assert not AnnotationEvent.objects.exists()


def test_a_cidr_not_in_the_link_is_refused(make_link):
    link = make_link("203.0.113.45/32")
    response = answer(Client(), link, "198.51.100.0/24", owner="Me")
    assert response.status_code == 400
    assert "not part of this question" in response.content.decode()
    assert not LinkAnswer.objects.exists()


def test_the_answer_form_requires_an_owner_and_enforces_lengths(make_link):
    link = make_link("203.0.113.45/32")
    client = Client()
    assert answer(client, link, "203.0.113.45/32", owner="  ").status_code == 400
    response = answer(client, link, "203.0.113.45/32", owner="x" * 201)
    assert response.status_code == 400
    assert "At most 200 characters" in response.content.decode()
    assert not LinkAnswer.objects.exists()


def test_a_link_takes_a_bounded_number_of_answers(make_link, monkeypatch):
    monkeypatch.setattr(links, "MAX_ANSWERS", 2)
    link = make_link("203.0.113.45/32")
    client = Client()
    assert answer(client, link, "203.0.113.45/32").status_code == 302
    assert answer(client, link, "203.0.113.45/32").status_code == 302
    assert answer(client, link, "203.0.113.45/32").status_code == 429
    assert LinkAnswer.objects.count() == 2


def test_tampered_expired_and_revoked_links_open_nothing(editor_client, make_link, caplog):
    caplog.set_level(logging.DEBUG)
    link = make_link("203.0.113.45/32")
    token = links.token_for(link)
    outsider = Client()
    assert outsider.get(url_of(link)).status_code == 200

    # Tampered: another link's number, or another signature.
    payload, stamp, signature = token.split(":")
    forged = f"eyJsIjoyfQ:{stamp}:{signature}"  # {"l":2}
    for bad in (forged, token[:-1] + ("A" if token[-1] != "A" else "B"), "nothing"):
        response = outsider.get(f"/ask/{bad}/")
        assert response.status_code == 404
        assert "This link does not work" in response.content.decode()
    # A valid signature made at another time than the link's creation is not its token.
    resigned = links._Signer(link.created_at - dt.timedelta(seconds=10)).sign_object({"l": link.pk})
    assert outsider.get(f"/ask/{resigned}/").status_code == 404
    assert answer(outsider, link, "203.0.113.45/32").status_code == 302

    # Expired (the stored expiry is what counts).
    QuestionLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(1))
    response = outsider.get(url_of(link))
    assert response.status_code == 410
    assert "This link has expired" in response.content.decode()
    assert answer(outsider, link, "203.0.113.45/32").status_code == 410

    # Revoked: dead at once.
    other = make_link("198.51.100.0/24")
    assert outsider.get(url_of(other)).status_code == 200
    assert editor_client.post(f"/ips/links/{other.pk}/revoke/").status_code == 302
    response = outsider.get(url_of(other))
    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()
    assert answer(outsider, other, "198.51.100.0/24").status_code == 410
    assert LinkAnswer.objects.count() == 1
    # The token never reaches the logs.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in logged and links.token_for(other) not in logged


def test_the_token_opens_no_other_page_and_nobody_is_logged_in(make_link):
    link = make_link("203.0.113.45/32")
    outsider = Client()
    assert outsider.get(url_of(link)).status_code == 200
    assert answer(outsider, link, "203.0.113.45/32").status_code == 302

    assert "_auth_user_id" not in outsider.session
    for path in ("/ips/", "/ips/links/", "/ips/import/", "/", f"/ips/cidr/{link.cidrs[0]}/"):
        response = outsider.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/login/"), path
    # Nor with the token in the query string of another page.
    response = outsider.get(f"/ips/?token={links.token_for(link)}")
    assert response["Location"].startswith("/accounts/login/")


def test_the_public_form_is_csrf_protected_for_anonymous_people(make_link):
    link = make_link("203.0.113.45/32")
    outsider = Client(enforce_csrf_checks=True)
    page = outsider.get(url_of(link)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    without = outsider.post(url_of(link), {"cidr": "203.0.113.45/32", "owner": "X"})
    assert without.status_code == 403
    with_token = outsider.post(
        url_of(link),
        {"cidr": "203.0.113.45/32", "owner": "X", "csrfmiddlewaretoken": token},
    )
    assert with_token.status_code == 302
    assert LinkAnswer.objects.count() == 1


def test_a_viewer_cannot_create_revoke_or_accept(make_user, make_link):
    link = make_link("203.0.113.45/32")
    answer(Client(), link, "203.0.113.45/32")
    pending = LinkAnswer.objects.get()
    viewer = Client()
    viewer.force_login(make_user("newcomer", Role.VIEWER))

    created = viewer.post(
        "/ips/links/new/", {"cidrs": "198.51.100.0/24", "recipient": "Someone", "expiry_days": 7}
    )
    assert created.status_code == 403
    assert viewer.post(f"/ips/links/{link.pk}/revoke/").status_code == 403
    assert (
        viewer.post(f"/ips/links/answers/{pending.pk}/", {"decision": "accept"}).status_code == 403
    )

    assert QuestionLink.objects.count() == 1
    link.refresh_from_db()
    assert link.revoked_at is None
    pending.refresh_from_db()
    assert pending.status == LinkAnswer.Status.PENDING
    assert not Annotation.objects.exists()
    # The viewer sees the list, but no URL to copy and no buttons.
    listing = viewer.get("/ips/links/").content.decode()
    assert links.token_for(link) not in listing
    assert "Accept</button>" not in listing


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"cidrs": "203.0.113.300/32"}, "cidrs", "is not an IP address or CIDR"),
        ({"cidrs": ""}, "cidrs", "at least one CIDR"),
        ({"recipient": ""}, "recipient", "Say who the link is for"),
        ({"expiry_days": "31"}, "expiry_days", "Between 1 and 30 days"),
        ({"expiry_days": "0"}, "expiry_days", "Between 1 and 30 days"),
    ],
)
def test_creating_a_link_validates_its_fields(editor_client, fields, field, message):
    data = {"cidrs": "203.0.113.45/32", "recipient": "Sato", "expiry_days": "7", **fields}
    response = editor_client.post("/ips/links/new/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not QuestionLink.objects.exists()


def test_the_links_page_runs_the_same_queries_for_few_and_many_links(
    editor_client, make_link, editor
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert editor_client.get("/ips/links/").status_code == 200
        return len(ctx.captured_queries)

    def add(n: int) -> None:
        for i in range(n):
            link = make_link(f"198.18.{i}.0/24", recipient=f"Vendor {i}")
            answer(Client(), link, f"198.18.{i}.0/24", owner=f"Owner {i}")
            actions.answer(actions.Target(f"198.18.{i}.0/24"), owner="Known", actor=editor)

    add(2)
    few = queries()
    add(12)
    assert queries() == few
