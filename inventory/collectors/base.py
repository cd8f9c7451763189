"""What a collector yields: normalized records of AWS resources."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item under `key` across the pages of a paginated list/describe call."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def jsonable(value: Any) -> Any:
    """AWS responses hold datetimes and bytes; make them JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def tag_dict(tags: Iterable[dict[str, Any]] | dict[str, Any] | None) -> dict[str, str]:
    """AWS's many tag shapes ([{Key, Value}], [{key, value}], {k: v}) as one dict."""
    if not tags:
        return {}
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    result = {}
    for tag in tags:
        key = tag.get("Key", tag.get("key"))
        if key is not None:
            result[str(key)] = str(tag.get("Value", tag.get("value", "")) or "")
    return result


@dataclass(frozen=True)
class Relation:
    """An edge to another resource: `kind` reads "this <kind> target"."""

    kind: str
    type: str
    id: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "type": self.type, "id": self.id}


@dataclass
class Record:
    """One resource as collected, before it is stored."""

    type: str  # CloudFormation type name: AWS::EC2::Instance
    id: str
    region: str  # the resource's region; "global" for global services
    arn: str = ""
    name: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)

    def relate(self, kind: str, type_: str, target_id: str | None) -> None:
        """Add an edge when the target id is known (AWS omits many)."""
        if target_id:
            relation = Relation(kind, type_, str(target_id))
            if relation not in self.relations:
                self.relations.append(relation)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "id": self.id,
            "region": self.region,
            "arn": self.arn or "",
            "name": self.name or self.tags.get("Name", ""),
            "tags": self.tags,
            "config": jsonable(self.config),
            "relations": [r.to_dict() for r in self.relations],
        }


def content_hash(doc: dict[str, Any]) -> str:
    """Hash of what a person could see change: arn, name, tags, config, relations."""
    material = {k: doc.get(k) for k in ("arn", "name", "tags", "config", "relations")}
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


CollectFn = Callable[[Any, str], Iterator[Record]]


@dataclass(frozen=True)
class Collector:
    """A registered collector: one kind of AWS resource, fetched in one region.

    `global_` collectors run once per account (region "global"); `home_region`
    is the region their API is called in.
    """

    key: str
    service: str  # the AWS API it calls (for IAM docs and error messages)
    collect: CollectFn
    layer: int = 1
    global_: bool = False
    home_region: str = "us-east-1"
