"""AWS Config recorders: is configuration history being kept in this region?

A region with no recorder yields nothing; the findings rule learns that the
region was collected (with zero recorders) from the sync's task rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Record


def collect_recorders(session: Any, region: str) -> Iterator[Record]:
    client = session.client("config", region_name=region)
    # Neither call paginates: a region has at most one customer recorder (plus
    # service-linked ones), and both answer with every recorder at once.
    recorders = client.describe_configuration_recorders().get("ConfigurationRecorders", [])
    if not recorders:
        return
    statuses = {
        status["name"]: status
        for status in client.describe_configuration_recorder_status().get(
            "ConfigurationRecordersStatus", []
        )
    }
    for recorder in recorders:
        name = recorder["name"]
        record = Record(
            type="AWS::Config::ConfigurationRecorder",
            id=name,
            region=region,
            arn=recorder.get("arn", ""),
            name=name,
            config={**recorder, "Status": statuses.get(name, {})},
        )
        record.relate("uses-role", "AWS::IAM::Role", recorder.get("roleARN"))
        yield record
