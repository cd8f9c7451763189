"""AWS's published IP ranges (ip-ranges.json): loaded from a file, never fetched at run time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.db import transaction

from .classify import parse
from .models import AwsIpRange, AwsIpRangeSet


class RangesError(ValueError):
    pass


def read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise RangesError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise RangesError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("prefixes"), list):
        raise RangesError(
            f'{path} is not AWS\'s ip-ranges.json: it has no "prefixes" list '
            "(download https://ip-ranges.amazonaws.com/ip-ranges.json)."
        )
    return data


def load(path: Path) -> AwsIpRangeSet:
    """Replace the current ranges with the file's, all or nothing."""
    data = read(path)
    rows = []
    for key, field in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
        for number, prefix in enumerate(data.get(key) or [], start=1):
            cidr = prefix.get(field) if isinstance(prefix, dict) else None
            network = parse(cidr)
            if network is None:
                raise RangesError(f"{key}[{number}]: {cidr!r} is not a CIDR; nothing was loaded.")
            rows.append(
                (
                    str(network),
                    str(prefix.get("region", ""))[:32],
                    str(prefix.get("service", ""))[:64],
                )
            )
    if not rows:
        raise RangesError(f"{path} lists no prefixes; nothing was loaded.")
    with transaction.atomic():
        range_set = AwsIpRangeSet.objects.create(
            create_date=str(data.get("createDate", ""))[:32],
            sync_token=str(data.get("syncToken", ""))[:32],
            source=str(path)[:512],
            prefix_count=len(rows),
        )
        AwsIpRange.objects.bulk_create(
            [
                AwsIpRange(range_set=range_set, cidr=cidr, region=region, service=service)
                for cidr, region, service in rows
            ],
            batch_size=5000,
        )
        AwsIpRangeSet.objects.exclude(pk=range_set.pk).delete()
    return range_set
