"""The address classification the rules read: issue 4's (ips.classify), per account."""

from __future__ import annotations

from typing import Any

from ips.classify import Classifier, parse, vpc_cidrs

__all__ = ["WORLD", "AccountNetworks", "parse", "vpc_cidrs"]

WORLD = {"0.0.0.0/0", "::/0"}


class AccountNetworks:
    """`classify(cidr)` for one account: internet, own-vpc, known-network, annotated, aws or
    unknown, exactly as the unknown-IP queue shows it."""

    def __init__(self, classifier: Classifier, account_id: int) -> None:
        self.classifier = classifier
        self.account_id = account_id

    @classmethod
    def load(cls, account: Any) -> AccountNetworks:
        return cls(Classifier.load(), account.pk)

    def classify(self, cidr: str | None) -> str:
        if parse(cidr) is None:
            return "invalid"
        return self.classifier.classify(str(cidr), self.account_id).classification
