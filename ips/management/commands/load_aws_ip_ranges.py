"""python manage.py load_aws_ip_ranges ip-ranges.json: refresh AWS's ranges from a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from ips import classify
from ips.aws_ranges import RangesError, load


class Command(BaseCommand):
    help = (
        "Load AWS's published IP ranges from a copy of "
        "https://ip-ranges.amazonaws.com/ip-ranges.json (Catchup never fetches it itself) "
        "and classify every observed address again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            range_set = load(options["file"])
        except RangesError as exc:
            raise CommandError(str(exc)) from exc
        with transaction.atomic():
            classify.serialize()
            changed = classify.reclassify()
        self.stdout.write(
            f"Loaded {range_set.prefix_count} AWS prefixes dated {range_set.create_date or '?'}; "
            f"{changed} observed CIDRs classified anew (class or detail changed)."
        )
