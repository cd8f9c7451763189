from __future__ import annotations

import re
from typing import Any

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
        data = AccountForm.initial_data(account) if account else {"name": options["name"]}
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
            data["regions_text"] = options["regions"]
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


def _form_errors(form: AccountForm) -> str:
    lines = []
    for field, errors in form.errors.items():
        label = "" if field == "__all__" else f"{re.sub('_text$', '', field)}: "
        lines += [f"{label}{error}" for error in errors]
    return "\n".join(lines)
