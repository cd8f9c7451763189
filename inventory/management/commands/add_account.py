from __future__ import annotations

import difflib
import re
from typing import Any
from urllib.parse import urlsplit

import boto3
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory.forms import AccountForm
from inventory.models import Account


class Command(BaseCommand):
    help = "Create or update an AWS account that Catchup reads."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--role-arn", default=None, help="Role to assume in the account.")
        parser.add_argument(
            "--external-id", default=None, help="ExternalId the role's trust requires."
        )
        parser.add_argument("--profile", default=None, help="Named profile (or the role's source).")
        parser.add_argument(
            "--regions",
            default=None,
            help="Comma-separated regions, or 'all' for every enabled one.",
        )
        parser.add_argument(
            "--endpoint-url", default=None, help="Send every AWS call here (moto…)."
        )
        parser.add_argument(
            "--sync-interval-hours",
            type=int,
            default=None,
            help="Scheduled sync interval (0: off).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(name=options["name"]).first()
        # A new account starts from the model's defaults (no scheduled sync), so only
        # the options given need saying.
        data = (
            AccountForm.initial_data(account)
            if account
            else {"name": options["name"], "sync_interval_hours": 0}
        )
        if options["role_arn"] is not None:
            data["auth_mode"] = Account.AuthMode.ROLE
            data["role_arn"] = options["role_arn"]
        elif options["profile"] is not None and data.get("auth_mode") != Account.AuthMode.ROLE:
            data["auth_mode"] = Account.AuthMode.PROFILE
        data.setdefault("auth_mode", Account.AuthMode.DEFAULT)
        for option, field in (
            ("external_id", "external_id"),
            ("profile", "profile"),
            ("endpoint_url", "endpoint_url"),
            ("sync_interval_hours", "sync_interval_hours"),
        ):
            if options[option] is not None:
                data[field] = options[option]
        if options["regions"] is not None:
            _check_regions(options["regions"])
            data["regions_text"] = options["regions"]
        if options["endpoint_url"]:
            _check_endpoint(options["endpoint_url"])
        form = AccountForm(data, instance=account)
        if not form.is_valid():
            raise CommandError(_form_errors(form))
        try:
            saved = form.save()
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        verb = "Updated" if account else "Created"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} account {saved.name} ({saved.identity_label}).")
        )


def known_regions() -> set[str]:
    """Every region botocore knows, in every partition (from its bundled data, offline)."""
    session = boto3.session.Session()
    return {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    }


def _check_regions(text: str) -> None:
    """A typo (ap-nrotheast-1) would otherwise be saved and only warned about at sync time.

    Checked here, not in the form, because the command line is where names are typed
    by hand; a region newer than botocore's data needs an updated botocore anyway.
    """
    if text.strip().lower() == "all":
        return
    known = known_regions()
    for region in (r.strip() for r in text.split(",") if r.strip()):
        if region not in known:
            close = difflib.get_close_matches(region, sorted(known), n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise CommandError(f"regions: unknown region {region!r}.{hint}")


def _check_endpoint(url: str) -> None:
    """Catch what the form's shape check lets through (a port that is not a number)."""
    parts = urlsplit(url.strip())
    try:
        parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError:
        raise CommandError(
            f"endpoint_url: {url!r} has an invalid port; "
            "enter an http(s) URL such as http://127.0.0.1:5000."
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommandError(
            f"endpoint_url: {url!r} is not an http(s) URL; enter one such as http://127.0.0.1:5000."
        )


def _form_errors(form: AccountForm) -> str:
    lines = []
    for field, errors in form.errors.items():
        label = "" if field == "__all__" else f"{re.sub('_text$', '', field)}: "
        lines += [f"{label}{error}" for error in errors]
    return "\n".join(lines)
