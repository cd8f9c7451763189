"""A CIDR in a URL path: /ips/cidr/203.0.113.45/32/ (IPv4 or IPv6, always with its prefix)."""

from __future__ import annotations

from .extract import normalize


class CidrConverter:
    regex = r"[0-9a-fA-F:.]{2,39}/[0-9]{1,3}"

    def to_python(self, value: str) -> str:
        cidr = normalize(value)
        if cidr is None or cidr != value.lower():
            raise ValueError(value)  # 404: only the canonical form names a CIDR
        return cidr

    def to_url(self, value: str) -> str:
        return value
