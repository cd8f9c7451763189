"""SSM managed instances: the servers reachable through Session Manager.

Which instances run the agent (and whether it is online) tells the newcomer
where `pstree` and `df -i` can be run when SSH is forbidden.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from .base import Record

# For a non-AWS endpoint (moto, the demo) only: see _endpoint_lacks_api.
FEW_RETRIES = Config(retries={"mode": "standard", "max_attempts": 2})


def _endpoint_lacks_api(session: Any, exc: BaseException) -> bool:
    """True when a stand-in endpoint does not implement DescribeInstanceInformation.

    moto (5.2.5) lacks this call: in process it raises NotImplementedError, as a
    server it answers a bare HTTP 500 page. AWS does neither, so on AWS every
    error still fails the unit; against moto the demo and the CLI's exit status
    stay "complete" with no managed instances, which is what moto holds.
    """
    if isinstance(exc, NotImplementedError):
        return True
    if not getattr(session, "endpoint_url", None) or not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error", {})
    return error.get("Code") == "500" and "<html" in str(error.get("Message", "")).lower()


def collect_managed_instances(session: Any, region: str) -> Iterator[Record]:
    stand_in = bool(getattr(session, "endpoint_url", None))
    # Against a stand-in endpoint, do not spend eight backed-off retries on a
    # call it cannot answer.
    client = session.client("ssm", region_name=region, config=FEW_RETRIES if stand_in else None)
    try:
        pages = list(client.get_paginator("describe_instance_information").paginate())
    except (ClientError, NotImplementedError) as exc:
        if _endpoint_lacks_api(session, exc):
            return
        raise
    for page in pages:
        for info in page.get("InstanceInformationList", []):
            instance_id = info["InstanceId"]
            record = Record(
                type="AWS::SSM::ManagedInstance",
                id=instance_id,
                region=region,
                name=info.get("Name") or info.get("ComputerName", ""),
                config=info,
            )
            if instance_id.startswith("i-"):
                record.relate("manages", "AWS::EC2::Instance", instance_id)
            yield record
