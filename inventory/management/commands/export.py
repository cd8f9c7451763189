from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory import exports
from inventory.models import Account


class Command(BaseCommand):
    help = "Print the latest complete state of an account as JSON (default) or CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--kind", required=True, choices=sorted(exports.EXPORTERS))
        parser.add_argument("--format", default="json", choices=["json", "csv"])

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(name=options["name"]).first()
        if account is None:
            raise CommandError(f"No account named {options['name']!r}.")
        rows = exports.EXPORTERS[options["kind"]](account)
        if options["format"] == "csv":
            flatten = exports.CSV_ROWS.get(options["kind"])
            self.stdout.write(exports.to_csv(flatten(rows) if flatten else rows), ending="")
        else:
            self.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False))
