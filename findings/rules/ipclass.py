"""A conservative, local classification of security-group sources.

Issue 4 will replace this with the full IP classification (annotations, AWS
ranges, known networks). Until then `KnownNetworks.classify` is the one place
that says whether a CIDR is explained: everything that is not the whole
internet, not inside a VPC or subnet of any synced account and not one of their
Elastic IPs is "unknown" — someone must be asked about it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

WORLD = {"0.0.0.0/0", "::/0"}


def parse(cidr: str | None) -> Network | None:
    if not cidr:
        return None
    try:
        return ipaddress.ip_network(str(cidr).strip(), strict=False)
    except ValueError:
        return None


def vpc_cidrs(config: dict[str, Any]) -> list[str]:
    """Every CIDR of a VPC or subnet description (IPv4 and IPv6 associations)."""
    cidrs = [config.get("CidrBlock")]
    cidrs += [a.get("CidrBlock") for a in config.get("CidrBlockAssociationSet") or []]
    cidrs += [a.get("Ipv6CidrBlock") for a in config.get("Ipv6CidrBlockAssociationSet") or []]
    return [c for c in cidrs if c]


@dataclass
class KnownNetworks:
    """Networks of every synced account: VPC/subnet CIDRs and Elastic IPs."""

    vpc_networks: list[Network] = field(default_factory=list)
    eips: set[Network] = field(default_factory=set)

    @classmethod
    def from_configs(
        cls, networks: Iterable[dict[str, Any]], eips: Iterable[dict[str, Any]]
    ) -> KnownNetworks:
        known = cls()
        for config in networks:
            known.vpc_networks += [n for n in map(parse, vpc_cidrs(config)) if n]
        for config in eips:
            ip = parse(config.get("PublicIp"))
            if ip:
                known.eips.add(ip)
        return known

    @classmethod
    def load(cls) -> KnownNetworks:
        """Across all accounts: an IP of a sibling account is explained too (seed 003)."""
        from inventory.models import Resource

        current = Resource.objects.current()
        networks = current.of_type("AWS::EC2::VPC", "AWS::EC2::Subnet").values_list(
            "config", flat=True
        )
        eips = current.of_type("AWS::EC2::EIP").values_list("config", flat=True)
        return cls.from_configs(networks.iterator(), eips.iterator())

    def classify(self, cidr: str | None) -> str:
        """internet | own-vpc | own-eip | unknown | invalid."""
        if cidr in WORLD:
            return "internet"
        net = parse(cidr)
        if net is None:
            return "invalid"
        if net.prefixlen == 0:
            return "internet"
        if net in self.eips:
            return "own-eip"
        for known in self.vpc_networks:
            if known.version == net.version and net.subnet_of(known):
                return "own-vpc"
        return "unknown"
