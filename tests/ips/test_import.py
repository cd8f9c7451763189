"""CSV import of answers: every row checked first, all rows or none, a preview before saving,
and a spreadsheet exported from Catchup imports back unchanged."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catchup.roles import Role
from inventory import demo
from ips import actions
from ips.imports import COLUMNS, EXAMPLE
from ips.models import Annotation, AnnotationEvent, ObservedCidr

pytestmark = pytest.mark.django_db

HEADER = ",".join(COLUMNS)


@pytest.fixture
def editor(client, make_user):
    user = make_user("editor")
    client.force_login(user)
    return user


def upload(client, text: str | None = None, *, data: bytes | None = None):
    if data is not None:
        payload = {"file": SimpleUploadedFile("answers.csv", data, content_type="text/csv")}
    else:
        payload = {"text": text}
    return client.post("/ips/import/", payload)


def payload_of(response) -> str:
    match = re.search(r'name="payload" value="([^"]+)"', response.content.decode())
    assert match, "no Confirm form on the page"
    return match.group(1)


def counts(response) -> str:
    html = re.search(r'id="import-counts">(.*?)</p>', response.content.decode(), re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", "", html).split()).removesuffix(
        " Nothing is saved until you confirm."
    )


def error_rows(response) -> list[tuple[str, str, str]]:
    """(row, column, reason) of the error table, as shown."""
    html = response.content.decode()
    rows = re.findall(
        r'<tr class="import-error"><td class="num">(.*?)</td><td class="mono">(.*?)</td>'
        r'<td class="wrap">(.*?)</td></tr>',
        html,
    )
    return rows


def test_it_imports_nothing_when_one_row_of_fifty_is_bad(client, editor):
    lines = [HEADER]
    for n in range(1, 51):
        cidr = "198.18.0.300/32" if n == 37 else f"198.18.0.{n}/32"
        lines.append(f"{cidr},,Vendor {n},monitoring,Sato,,keep,,")
    response = upload(client, "\n".join(lines))

    assert response.status_code == 400
    assert Annotation.objects.count() == 0
    assert AnnotationEvent.objects.count() == 0
    # Data row 37 is spreadsheet row 38 (the header is row 1).
    assert [(row, column) for row, column, _ in error_rows(response)] == [("38", "cidr")]
    assert "198.18.0.300/32" in error_rows(response)[0][2]
    assert "is not an IP address or CIDR" in error_rows(response)[0][2]
    assert "Nothing was imported" in response.content.decode()


def test_it_lists_every_bad_row_with_its_column_and_reason(client, editor, make_account):
    make_account("legacy")
    text = "\n".join(
        [
            HEADER,
            "203.0.113.45/32,legacy,Vendor A,,,,keep,,",  # fine
            "203.0.113.46/32,nosuch,Vendor B,,,,,,",  # unknown account
            "203.0.113.47/32,,Vendor C,,,,maybe,,",  # bad decision
            "203.0.113.48/32,,Vendor D,,,,review,,",  # review without a date
            "203.0.113.49/32,,Vendor E,,,,review,31/01/2027,",  # date format
            "203.0.113.50/32,,,a purpose but no owner,,,,,",  # owner missing
            "203.0.113.45,legacy,Vendor A again,,,,,,",  # duplicate of row 2
            "203.0.113.51/32,,Vendor F,,,,keep,2027-01-31,",  # a date without review
            "203.0.113.52/32,," + "x" * 201 + ",,,,,,",  # too long
        ]
    )
    response = upload(client, text)

    assert response.status_code == 400
    assert Annotation.objects.count() == 0
    found = {(row, column): reason for row, column, reason in error_rows(response)}
    assert set(found) == {
        ("3", "account"),
        ("4", "decision"),
        ("5", "review_on"),
        ("6", "review_on"),
        ("7", "owner"),
        ("8", "cidr"),
        ("9", "review_on"),
        ("10", "owner"),
    }
    assert "nosuch" in found[("3", "account")]
    assert "already in row 2" in found[("8", "cidr")]
    assert "At most 200 characters" in found[("10", "owner")]


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("", "", "Choose a CSV file or paste its text."),
        ("cidr,owner\n", "", "no rows"),
        ("owner,purpose\nVendor,x\n", "cidr", "no “cidr” column"),
        ("cidr,owner,colour\n203.0.113.45/32,Vendor,red\n", "colour", "Unknown column"),
        ("cidr,owner,owner\n203.0.113.45/32,A,B\n", "owner", "appears twice"),
        ("cidr,owner\n203.0.113.45/32,Vendor,extra\n", "", "More cells than the header"),
    ],
)
def test_it_refuses_malformed_files(client, editor, text, column, reason):
    response = upload(client, text)
    assert response.status_code == 400
    errors = error_rows(response)
    assert len(errors) == 1
    assert errors[0][1] == (column or "—")
    assert reason in errors[0][2]
    assert Annotation.objects.count() == 0


def test_it_says_clearly_when_the_file_is_not_utf8(client, editor):
    data = "cidr,owner\n203.0.113.45/32,株式会社サンプル\n".encode("cp932")
    response = upload(client, data=data)
    assert response.status_code == 400
    (error,) = error_rows(response)
    assert "not UTF-8" in error[2] and "CSV UTF-8" in error[2]
    assert Annotation.objects.count() == 0

    # Excel's "CSV UTF-8" (with a byte-order mark) is fine.
    data = "\ufeffcidr,owner\n203.0.113.45/32,株式会社サンプル\n".encode()
    response = upload(client, data=data)
    assert response.status_code == 200
    client.post("/ips/import/", {"payload": payload_of(response)})
    assert Annotation.objects.get().owner == "株式会社サンプル"


def test_it_previews_then_applies_every_row_and_the_queue_sees_them_annotated(
    client, editor, aws, make_account, run_sync, django_capture_on_commit_callbacks
):
    demo.build_legacy_estate(aws)
    account = make_account("demo", regions=demo.REGIONS)
    with django_capture_on_commit_callbacks(execute=True):
        run_sync(account)
    actions.answer(actions.Target("203.0.113.45/32"), owner="Old owner", actor=editor)
    events_before = AnnotationEvent.objects.count()
    text = "\n".join(
        [
            HEADER,
            "203.0.113.45/32,,New owner,,,,,,",  # changes the owner
            "198.51.100.0/24,demo,Old office (closed 2019),VPN,Suzuki,TICKET-9,remove,,",
            "192.0.2.10/32,,,,,,,,Tanaka",  # only whom we asked
        ]
    )

    preview = upload(client, text)

    assert preview.status_code == 200
    html = preview.content.decode()
    assert counts(preview) == "3 rows: 2 new, 1 changed, 0 unchanged."
    row2 = re.search(r'id="preview-row-2">(.*?)</tr>', html, re.S).group(1)
    assert "Old owner" in row2 and "New owner" in row2 and "changed" in row2
    # Nothing is saved by the preview.
    assert AnnotationEvent.objects.count() == events_before
    assert Annotation.objects.get(cidr="203.0.113.45/32").owner == "Old owner"

    done = client.post("/ips/import/", {"payload": payload_of(preview)})

    assert done.status_code == 302
    events = AnnotationEvent.objects.filter(source=AnnotationEvent.Source.CSV)
    assert events.count() == 3
    assert {e.actor_label for e in events} == {"editor"}
    assert Annotation.objects.get(cidr="203.0.113.45/32").owner == "New owner"
    office = Annotation.objects.get(cidr="198.51.100.0/24")
    assert (office.account, office.answered_by, office.decision) == (account, "Suzuki", "remove")
    observed = {o.cidr: o for o in ObservedCidr.objects.filter(account=account)}
    assert observed["198.51.100.0/24"].classification == "annotated"
    assert observed["198.51.100.0/24"].annotation == office
    assert observed["203.0.113.45/32"].classification == "annotated"
    assert observed["192.0.2.10/32"].classification == "unknown"  # asked, not answered
    assert Annotation.objects.get(cidr="192.0.2.10/32").status == "asked"

    # The same file again changes nothing.
    again = upload(client, text)
    assert counts(again) == "3 rows: 0 new, 0 changed, 3 unchanged."
    client.post("/ips/import/", {"payload": payload_of(again)})
    assert AnnotationEvent.objects.filter(source=AnnotationEvent.Source.CSV).count() == 3


def test_formula_cells_are_plain_text_and_the_export_round_trips(client, editor):
    formula = '=HYPERLINK("http://198.51.100.9/x","click")'
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["cidr", "owner", "purpose", "evidence"])
    writer.writerow(["203.0.113.45/32", formula, "+81 3 1234", "@vendor-chat"])
    response = upload(client, out.getvalue())
    client.post("/ips/import/", {"payload": payload_of(response)})

    annotation = Annotation.objects.get()
    assert (annotation.owner, annotation.purpose, annotation.evidence) == (
        formula,
        "+81 3 1234",
        "@vendor-chat",
    )

    exported = client.get("/ips/import/annotations.csv")
    assert exported["Content-Type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert list(row) == list(COLUMNS)
    # A spreadsheet opening the export sees text, not formulas …
    assert row["owner"] == "'" + formula
    assert row["purpose"] == "'+81 3 1234"
    # … and the export imports back as it was: nothing changes.
    again = upload(client, exported.content.decode())
    assert again.status_code == 200
    assert counts(again) == "1 row: 0 new, 0 changed, 1 unchanged."
    client.post("/ips/import/", {"payload": payload_of(again)})
    assert AnnotationEvent.objects.count() == 1
    assert Annotation.objects.get().owner == formula


def test_the_template_download_imports_as_its_example_row(client, editor):
    template = client.get("/ips/import/template.csv")
    assert template.status_code == 200
    assert "attachment" in template["Content-Disposition"]
    body = template.content

    preview = upload(client, data=body)
    assert preview.status_code == 200
    client.post("/ips/import/", {"payload": payload_of(preview)})

    annotation = Annotation.objects.get()
    assert annotation.cidr == EXAMPLE["cidr"]
    assert annotation.owner == EXAMPLE["owner"]
    assert annotation.answered_by == EXAMPLE["answered_by"]
    assert annotation.decision == "review"
    assert annotation.review_on.isoformat() == EXAMPLE["review_on"]
    assert annotation.asked_whom == EXAMPLE["asked_whom"]
    assert annotation.events.get().source == AnnotationEvent.Source.CSV


def test_a_confirm_applies_nothing_if_annotations_changed_since_the_preview(client, editor):
    preview = upload(client, "cidr,owner\n203.0.113.45/32,Vendor A\n")
    actions.answer(actions.Target("203.0.113.45/32"), owner="Someone else", actor=editor)

    response = client.post("/ips/import/", {"payload": payload_of(preview)})

    assert response.status_code == 409
    assert "changed since this preview" in response.content.decode()
    assert Annotation.objects.get().owner == "Someone else"
    assert AnnotationEvent.objects.filter(source="csv").count() == 0


def test_a_tampered_or_foreign_preview_is_refused(client, editor, make_user):
    preview = upload(client, "cidr,owner\n203.0.113.45/32,Vendor A\n")
    payload = payload_of(preview)
    response = client.post("/ips/import/", {"payload": payload[:-2] + "xx"})
    assert response.status_code == 400
    assert "expired or was altered" in response.content.decode()

    client.force_login(make_user("other"))
    response = client.post("/ips/import/", {"payload": payload})
    assert response.status_code == 400
    assert Annotation.objects.count() == 0


def test_a_viewer_cannot_import(client, make_user):
    client.force_login(make_user("viewer", Role.VIEWER))
    assert client.get("/ips/import/").status_code == 403
    response = client.post("/ips/import/", {"text": "cidr,owner\n203.0.113.45/32,Vendor\n"})
    assert response.status_code == 403
    assert Annotation.objects.count() == 0


def test_short_rows_are_read_with_empty_cells(client, editor, make_account):
    make_account("legacy")
    response = upload(client, "cidr,owner,account\n203.0.113.45/32,Vendor\n")
    assert response.status_code == 200
    assert counts(response) == "1 row: 1 new, 0 changed, 0 unchanged."
