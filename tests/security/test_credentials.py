"""Stored access keys: encrypted at rest, never shown back, never logged, never on a page."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from catchup import crypto
from inventory.models import Account

from .conftest import pages

pytestmark = pytest.mark.django_db

KEY_ID = "AKIACATCHUPTEST12345"
SECRET = "catchupSECRETcanary/0123456789+abcdefghijKLMN"


def _all_text_in_database() -> str:
    """Every value of every column of every table, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")  # noqa: S608 - table names from introspection
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_an_access_key_account_syncs_and_its_secret_is_nowhere(
    aws, make_user, run_sync, caplog, django_capture_on_commit_callbacks
):
    from catchup.roles import Role

    aws.client("ec2").create_vpc(CidrBlock="10.60.0.0/16")
    caplog.set_level(logging.DEBUG)  # every logger, botocore's request logging included
    for name in ("botocore", "boto3", "urllib3", "inventory", "findings", "django"):
        caplog.set_level(logging.DEBUG, logger=name)
    admin = make_user("keys-admin", Role.ADMIN, superuser=True)
    client = Client()
    client.force_login(admin)

    response = client.post(
        "/accounts/new/",
        {
            "name": "keyed",
            "auth_mode": "keys",
            "access_key_id": KEY_ID,
            "secret_access_key": SECRET,
            "regions_text": "ap-northeast-1",
            "sync_interval_hours": "0",
        },
    )
    assert response.status_code == 302
    account = Account.objects.get(name="keyed")
    assert account.access_keys() == (KEY_ID, SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        sync = run_sync(account)
    assert sync.status == "complete", sync.error
    assert sync.resources_collected > 0

    # The database holds ciphertext only.
    dump = _all_text_in_database()
    assert SECRET not in dump and KEY_ID not in dump
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    assert SECRET not in out.getvalue() and KEY_ID not in out.getvalue()
    # Exports do not carry it either.
    for kind in ("resources", "findings"):
        for fmt in ("json", "csv"):
            exported = io.StringIO()
            call_command("export", "keyed", "--kind", kind, "--format", fmt, stdout=exported)
            assert SECRET not in exported.getvalue()

    # No page shows it, the edit form included (blank = keep).
    urls = pages(client, limit=400)
    assert "/accounts/keyed/edit/" in urls
    for url in urls:
        body = client.get(url).content.decode()
        assert SECRET not in body, url
        assert KEY_ID not in body, url
    # Saving the form with the key fields blank keeps the keys.
    client.post(
        "/accounts/keyed/edit/",
        {
            "name": "keyed",
            "auth_mode": "keys",
            "regions_text": "ap-northeast-1",
            "sync_interval_hours": "3",
        },
    )
    account.refresh_from_db()
    assert account.sync_interval_hours == 3
    assert account.access_keys() == (KEY_ID, SECRET)

    assert caplog.records, "logging was not captured"
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert SECRET not in logged


def test_stored_keys_need_the_right_encryption_key(monkeypatch, make_account):
    monkeypatch.setenv(crypto.ENV_VAR, "first-key")
    account = make_account("rotated", auth_mode=Account.AuthMode.KEYS)
    account.set_access_keys(KEY_ID, SECRET)
    account.save()
    assert SECRET not in account.credentials_encrypted
    monkeypatch.setenv(crypto.ENV_VAR, "another-key")
    with pytest.raises(crypto.DecryptionError) as caught:
        Account.objects.get(pk=account.pk).access_keys()
    assert SECRET not in str(caught.value)


def test_a_role_can_be_assumed_from_stored_keys(aws, make_account, run_sync):
    account = make_account(
        "role-from-keys",
        auth_mode=Account.AuthMode.ROLE,
        role_arn="arn:aws:iam::123456789012:role/CatchupReadOnly",
        external_id="ext-123",
    )
    account.set_access_keys(KEY_ID, SECRET)
    account.save()
    from inventory import aws as aws_module

    base = aws_module.base_session(account)
    creds = base.get_credentials()
    assert (creds.access_key, creds.secret_key) == (KEY_ID, SECRET)
    sync = run_sync(account)
    assert sync.status == "complete", sync.error


def test_a_keys_account_without_keys_never_uses_the_machines_credentials(make_account):
    from botocore.exceptions import NoCredentialsError

    from inventory import aws as aws_module

    account = make_account("no-keys", auth_mode=Account.AuthMode.KEYS)
    with pytest.raises(NoCredentialsError):
        aws_module.base_session(account)
