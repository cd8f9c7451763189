"""Ports as people read them: labels, well-known-port hints and how much a rule exposes."""

from __future__ import annotations

from collections.abc import Iterable

# What a port usually is: a hint for whoever asks about an address, not a verdict.
WELL_KNOWN = {
    20: "ftp-data",
    21: "ftp",
    22: "ssh",
    23: "telnet",
    25: "smtp",
    53: "dns",
    80: "http",
    110: "pop3",
    123: "ntp",
    135: "msrpc",
    139: "netbios",
    143: "imap",
    161: "snmp",
    389: "ldap",
    443: "https",
    445: "smb",
    500: "ipsec-ike",
    514: "syslog",
    636: "ldaps",
    1433: "mssql",
    1521: "oracle",
    2049: "nfs",
    2375: "docker",
    3306: "mysql",
    3389: "rdp",
    5432: "postgres",
    5439: "redshift",
    5601: "kibana",
    5672: "amqp",
    5900: "vnc",
    6379: "redis",
    8080: "http-alt",
    8443: "https-alt",
    9092: "kafka",
    9200: "elasticsearch",
    9300: "elasticsearch-transport",
    10050: "zabbix-agent",
    10051: "zabbix",
    11211: "memcached",
    24224: "fluentd",
    27017: "mongodb",
}
ALL_PORTS = 65536
# A range wider than this is "many ports", not a list of every service in it.
HINT_SPAN = 1024


# ICMP has no ports: AWS puts the ICMP type and code where ports would be.
PORTLESS = ("icmp", "icmpv6", "1", "58")


def _span(protocol: str, from_port: int | None, to_port: int | None) -> tuple[int, int] | None:
    """The port range a rule covers; None when ports do not apply (icmp) or it is all.
    A range as AWS reports it, clamped to 0–65535 and put in order."""
    if protocol in ("-1", "all", "", *PORTLESS) or from_port is None:
        return None
    to = to_port if to_port is not None else from_port
    low, high = sorted((min(max(from_port, 0), 65535), min(max(to, 0), 65535)))
    return low, high


def ports_label(protocol: str, from_port: int | None, to_port: int | None) -> str:
    if protocol in ("-1", "all"):
        return "all traffic"
    if protocol in PORTLESS:
        return protocol
    if protocol == "" and from_port is None:
        return "—"
    if from_port is None:
        return f"{protocol} all ports"
    to = to_port if to_port is not None else from_port
    if from_port == 0 and to == 65535:
        return f"{protocol} all ports"
    return f"{protocol}/{from_port}" if from_port == to else f"{protocol}/{from_port}-{to}"


def hints(protocol: str, from_port: int | None, to_port: int | None) -> list[str]:
    """Well-known services a rule lets through: ["ssh"], ["all traffic"], []."""
    if protocol in ("-1", "all"):
        return ["all traffic"]
    span = _span(protocol, from_port, to_port)
    if span is None:
        return []
    low, high = span
    if high - low >= HINT_SPAN:
        return [f"{high - low + 1} ports"]
    return [f"{WELL_KNOWN[p]} {p}" for p in sorted(WELL_KNOWN) if low <= p <= high]


def port_count(rules: Iterable[tuple[str, int | None, int | None]]) -> int:
    """How many distinct ports a set of (protocol, from, to) opens; ALL_PORTS for all traffic.

    tcp/22 and udp/22 count once: exposure is about how much of a host is reachable.
    """
    spans: list[tuple[int, int]] = []
    for protocol, from_port, to_port in rules:
        if protocol in ("-1", "all"):
            return ALL_PORTS
        span = _span(protocol, from_port, to_port)
        if span is None:
            if protocol not in (*PORTLESS, ""):
                return ALL_PORTS  # a protocol's every port
            continue
        spans.append(span)
    total, end = 0, -1
    for low, high in sorted(spans):
        if high <= end:
            continue
        total += high - max(low, end + 1) + 1
        end = high
    return total
