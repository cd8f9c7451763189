"""Glacier vaults: the long-term backups at the end of the ops path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Record


def collect_vaults(session: Any, region: str) -> Iterator[Record]:
    client = session.client("glacier", region_name=region)
    # Tags (ListTagsForVault) are not fetched: moto does not implement that
    # call, so collecting them would fail every demo sync with a vault; the
    # vault's name and size are what a newcomer looks at.
    for page in client.get_paginator("list_vaults").paginate(accountId="-"):
        for vault in page.get("VaultList", []):
            yield Record(
                type="AWS::Glacier::Vault",
                id=vault["VaultName"],
                region=region,
                arn=vault.get("VaultARN", ""),
                name=vault["VaultName"],
                config=vault,
            )
