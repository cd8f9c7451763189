"""Direct Connect: dedicated lines from a data centre into AWS (layer 1, external connections).

Direct Connect is regional: connections and virtual interfaces are listed per region. Its API
has nextToken paging but no botocore paginator, hence the small loop below.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from .base import Record, tag_dict

logger = logging.getLogger(__name__)

# States in which a connection or interface no longer carries traffic and will disappear.
_GONE = {"deleted", "deleting", "rejected"}

# BGP MD5 keys: readable through Describe calls, but a secret Catchup must not keep a copy of.
_SECRET_KEYS = {"authKey", "customerRouterConfig"}


def _client(session: Any, region: str) -> Any:
    # AwsSession adds the adaptive-retry config (see the registry's session contract).
    return session.client("directconnect", region_name=region)


def _pages(client: Any, operation: str, key: str) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        response = getattr(client, operation)(**({"nextToken": token} if token else {}))
        yield from response.get(key) or []
        token = response.get("nextToken")
        if not token:
            return


def _arn(region: str, owner: str | None, kind: str, ident: str) -> str:
    if ident.startswith("arn:"):
        return ident  # moto 5.2.5 answers with the ARN as the connection id
    return f"arn:aws:directconnect:{region}:{owner}:{kind}/{ident}" if owner else ""


def _is_aws_endpoint(client: Any) -> bool:
    host = urlparse(client.meta.endpoint_url or "").hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))


def collect_connections(session: Any, region: str) -> Iterator[Record]:
    dx = _client(session, region)
    for connection in _pages(dx, "describe_connections", "connections"):
        if connection.get("connectionState") in _GONE:
            continue
        tags = tag_dict(connection.get("tags"))
        ident = connection["connectionId"]
        record = Record(
            type="AWS::DirectConnect::Connection",
            id=ident,
            region=region,
            arn=_arn(region, connection.get("ownerAccount"), "dxcon", ident),
            name=tags.get("Name") or connection.get("connectionName", ""),
            tags=tags,
            config={k: v for k, v in connection.items() if k != "macSecKeys"},
        )
        record.relate("in-lag", "AWS::DirectConnect::Lag", connection.get("lagId"))
        yield record


def collect_virtual_interfaces(session: Any, region: str) -> Iterator[Record]:
    """Virtual interfaces, without their BGP keys (in authKey and the router config)."""
    dx = _client(session, region)
    if not _is_aws_endpoint(dx) and not dx.describe_connections().get("connections"):
        # An emulator (a moto server, which lacks this API and answers HTTP 500 that botocore
        # retries for about a minute) cannot hold interfaces without a connection; in AWS a
        # partner's hosted interface can exist without one of ours, so AWS is always asked.
        return
    try:
        vifs = list(_pages(dx, "describe_virtual_interfaces", "virtualInterfaces"))
    except NotImplementedError:
        # Only an in-process emulator (moto's mock_aws) raises this, never botocore against
        # AWS: that emulator has no virtual interfaces to report, which is not a failure.
        logger.info("DescribeVirtualInterfaces is not emulated in %s; none collected", region)
        return
    for vif in vifs:
        if vif.get("virtualInterfaceState") in _GONE:
            continue
        tags = tag_dict(vif.get("tags"))
        ident = vif["virtualInterfaceId"]
        config = {k: v for k, v in vif.items() if k not in _SECRET_KEYS}
        config["bgpPeers"] = [
            {k: v for k, v in peer.items() if k != "authKey"}
            for peer in vif.get("bgpPeers") or []
            if isinstance(peer, dict)
        ]
        record = Record(
            type="AWS::DirectConnect::VirtualInterface",
            id=ident,
            region=region,
            arn=_arn(region, vif.get("ownerAccount"), "dxvif", ident),
            name=tags.get("Name") or vif.get("virtualInterfaceName", ""),
            tags=tags,
            config=config,
        )
        record.relate("on-connection", "AWS::DirectConnect::Connection", vif.get("connectionId"))
        record.relate(
            "attached-to-vpn-gateway", "AWS::EC2::VPNGateway", vif.get("virtualGatewayId")
        )
        record.relate(
            "attached-to-dx-gateway",
            "AWS::DirectConnect::DirectConnectGateway",
            vif.get("directConnectGatewayId"),
        )
        yield record
