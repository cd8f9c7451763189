"""What a second reading of the unknown-IP code found: ICMP rules, questions over answers,
answers that would blank what was known, zone ids, stale forms, revoked links, negated
policy conditions, and the time asked from a spreadsheet."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from catchup.roles import Role
from ips import actions, links
from ips.actions import Target
from ips.extract import normalize, policy_addresses
from ips.models import Annotation, AnnotationEvent, IpReference, LinkAnswer
from ips.ports import hints, port_count
from tests.ips.test_classify import group, refresh, rule, seen

pytestmark = pytest.mark.django_db


def test_an_icmp_rule_counts_no_ports_and_the_refresh_still_classifies(make_account: Any) -> None:
    """AWS stores an ICMP type and code where ports go: type 11 code 0 is no port range."""
    account = make_account()
    group(
        account,
        "sg-icmp",
        rule("203.0.113.9/32", 11, 0, protocol="icmp"),
        rule("203.0.113.9/32", 22),
        rule("203.0.113.10/32", 3, 22, protocol="icmp"),
    )
    refresh(account)
    assert seen(account, "203.0.113.9/32").port_count == 1  # tcp/22 only
    unreachable = seen(account, "203.0.113.10/32")
    assert unreachable.port_count == 0
    assert unreachable.hints == []  # type 3 code 22 is not ssh
    assert hints("icmp", 3, 22) == [] and port_count([("icmpv6", 128, 0)]) == 0
    assert port_count([("tcp", 90, 80)]) == 11  # a range written backwards still counts


def test_a_question_on_an_address_does_not_hide_the_answer_on_its_range(
    make_account: Any,
) -> None:
    account = make_account()
    group(account, "sg-a", rule("198.51.100.7/32"))
    refresh(account)
    actions.answer(Target("198.51.100.0/24"), owner="old office", actor=None)
    actions.ask([Target("198.51.100.7/32", account)], "network team", actor=None)
    row = seen(account, "198.51.100.7/32")
    assert row.classification == "annotated"
    assert row.annotation.cidr == "198.51.100.0/24"

    # The other order: a scoped question first, then an answer for every account on the
    # same address (what accepting a question link writes).
    group(account, "sg-b", rule("203.0.113.77/32"))
    refresh(account)
    actions.ask([Target("203.0.113.77/32", account)], "vendor desk", actor=None)
    actions.answer(Target("203.0.113.77/32"), owner="vendor", actor=None)
    row = seen(account, "203.0.113.77/32")
    assert row.classification == "annotated"
    assert row.annotation.account_id is None and row.annotation.owner == "vendor"


def test_accepting_an_answer_without_purpose_keeps_the_purpose_already_known(
    make_account: Any, make_user: Any
) -> None:
    editor = make_user("editor")
    actions.answer(
        Target("203.0.113.45/32"), owner="old", purpose="SSH", evidence="T-1", actor=editor
    )
    link = links.create(["203.0.113.45/32"], recipient="Sato", by=editor)
    answer = links.submit(link, "203.0.113.45/32", owner="Acme", purpose="", evidence="")
    links.accept(answer, by=editor)
    note = Annotation.objects.get(cidr="203.0.113.45/32")
    assert (note.owner, note.purpose, note.evidence, note.answered_by) == (
        "Acme",
        "SSH",
        "T-1",
        "Sato",
    )


def test_an_ipv6_zone_id_is_no_cidr_anywhere(make_user: Any) -> None:
    assert normalize("fe80::1%eth0") is None
    with pytest.raises(Exception, match="not an IP address"):
        actions.canonical("fe80::1%eth0")
    client = Client()
    client.force_login(make_user("editor"))
    response = client.get("/ips/", {"range": "fe80::1%eth0"})
    assert response.status_code == 400
    assert "is not an IP address or CIDR" in response.content.decode()


def test_saving_a_stale_form_over_a_newer_answer_is_refused(make_user: Any) -> None:
    first, second = make_user("first"), make_user("second")
    url = "/ips/cidr/203.0.113.45/32/"
    alice, bob = Client(), Client()
    alice.force_login(first)
    bob.force_login(second)
    # Both open the page before anything is recorded.
    version = alice.get(url).context["form"]["version"].value()
    assert bob.get(url).context["form"]["version"].value() == version
    saved = alice.post(url + "annotate/", {"version": version, "owner": "Acme", "scope": ""})
    assert saved.status_code == 302
    stale = bob.post(url + "annotate/", {"version": version, "asked_whom": "Tanaka", "scope": ""})
    assert stale.status_code == 409
    assert "Someone changed this answer" in stale.content.decode()
    note = Annotation.objects.get(cidr="203.0.113.45/32")
    assert (note.owner, note.asked_whom) == ("Acme", "")
    assert AnnotationEvent.objects.count() == 1


def test_revoking_a_link_rejects_its_answers_still_awaiting_review(make_user: Any) -> None:
    editor = make_user("editor")
    link = links.create(["203.0.113.45/32"], recipient="wrong person", by=editor)
    links.submit(link, "203.0.113.45/32", owner="made up", purpose="", evidence="")
    links.revoke(link, by=editor)
    assert list(LinkAnswer.objects.values_list("status", flat=True)) == ["rejected"]
    assert not Annotation.objects.exists()


def test_for_any_value_not_ip_address_in_a_deny_is_an_allow() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Deny",
                "Condition": {"ForAnyValue:NotIpAddress": {"aws:SourceIp": ["192.0.2.5"]}},
            }
        ]
    }
    ((cidr, action, _),) = policy_addresses(policy)
    assert (cidr, action) == ("192.0.2.5/32", "allow")


def test_asked_whom_from_a_spreadsheet_records_when(make_user: Any) -> None:
    client = Client()
    client.force_login(make_user("editor", Role.EDITOR))
    response = client.post("/ips/import/", {"text": "cidr,asked_whom\n203.0.113.45,Tanaka\n"})
    payload = response.context["payload"]
    client.post("/ips/import/", {"payload": payload})
    note = Annotation.objects.get(cidr="203.0.113.45/32")
    assert note.status == "asked" and note.asked_whom == "Tanaka"
    assert note.asked_at is not None
    assert IpReference.objects.count() == 0  # nothing observed is needed to record a question


def test_a_queue_row_shows_three_places_and_counts_the_rest(make_account: Any, make_user) -> None:
    account = make_account()
    group(account, "sg-many", *(rule("198.51.100.9/32", 8000 + n) for n in range(10)))
    refresh(account)
    client = Client()
    client.force_login(make_user("viewer", Role.VIEWER))
    page = client.get("/ips/").content.decode()
    assert page.count("ingress tcp/800") == 3  # the first three rules
    assert "+7 more" in page
