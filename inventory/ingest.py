"""Apply a sync's collected records to the stored inventory, in one transaction.

Only scopes (collector × region) whose collection succeeded are compared: a
resource whose region or service failed to collect is never marked removed.
Rows are written only for what changed, in bulk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from .collectors import content_hash
from .models import Relationship, Resource, ResourceChange, Sync, SyncTask

BATCH = 1000
Identity = tuple[str, str, str]  # region, type, resource_id


@dataclass
class IngestStats:
    added: int = 0
    removed: int = 0
    changed: int = 0


def document(resource: Resource) -> dict[str, Any]:
    return {
        "arn": resource.arn,
        "name": resource.name,
        "tags": resource.tags,
        "config": resource.config,
        "relations": resource.relations,
    }


def diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Field-level difference: top-level keys of config, and the other fields whole."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key in ("name", "arn", "tags", "relations"):
        if old.get(key) != new.get(key):
            before[key] = old.get(key)
            after[key] = new.get(key)
    old_config = old.get("config") or {}
    new_config = new.get("config") or {}
    for key in sorted(set(old_config) | set(new_config)):
        if old_config.get(key) != new_config.get(key):
            before[f"config.{key}"] = old_config.get(key)
            after[f"config.{key}"] = new_config.get(key)
    return before, after


def _relationships(resource: Resource) -> list[Relationship]:
    return [
        Relationship(
            account_id=resource.account_id,
            source=resource,
            kind=rel["kind"],
            target_type=rel["type"],
            target_id=rel["id"],
        )
        for rel in resource.relations
    ]


def _chunks(items: list[Any], size: int = BATCH) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def apply(sync: Sync, tasks: list[SyncTask]) -> IngestStats:
    """Compare what the successful tasks collected with the stored state; write the difference."""
    assert transaction.get_connection().in_atomic_block, (
        "ingest runs inside the finalize transaction"
    )
    now = timezone.now()
    account_id = sync.account_id
    ok_scopes = {t.scope for t in tasks if t.status == SyncTask.Status.DONE}

    incoming: dict[Identity, tuple[dict[str, Any], str, str]] = {}
    for task in tasks:
        if task.status != SyncTask.Status.DONE:
            continue
        for doc in task.payload or []:
            identity = (doc["region"], doc["type"], doc["id"])
            incoming[identity] = (doc, task.scope, content_hash(doc))

    # Light rows for every resource of the account: identity, hash, scope, removal.
    existing: dict[Identity, tuple[int, str, str, Any]] = {
        (region, type_, rid): (pk, digest, scope, removed_at)
        for pk, region, type_, rid, digest, scope, removed_at in Resource.objects.filter(
            account_id=account_id
        ).values_list("pk", "region", "type", "resource_id", "content_hash", "scope", "removed_at")
    }

    to_create: list[Resource] = []
    changed_pks: dict[int, tuple[dict[str, Any], str, str]] = {}
    restored_pks: dict[int, tuple[dict[str, Any], str, str]] = {}
    for identity, (doc, scope, digest) in incoming.items():
        row = existing.get(identity)
        if row is None:
            to_create.append(
                Resource(
                    account_id=account_id,
                    region=doc["region"],
                    type=doc["type"],
                    resource_id=doc["id"],
                    scope=scope,
                    arn=doc["arn"],
                    name=doc["name"],
                    tags=doc["tags"],
                    config=doc["config"],
                    relations=doc["relations"],
                    content_hash=digest,
                    first_seen_at=now,
                    changed_at=now,
                    first_seen_sync=sync,
                    last_change_sync=sync,
                )
            )
        else:
            pk, old_digest, old_scope, removed_at = row
            if removed_at is not None:
                restored_pks[pk] = (doc, scope, digest)
            elif old_digest != digest or old_scope != scope:
                changed_pks[pk] = (doc, scope, digest)

    removed_pks = [
        pk
        for identity, (pk, _digest, scope, removed_at) in existing.items()
        if removed_at is None and scope in ok_scopes and identity not in incoming
    ]

    changes: list[ResourceChange] = []
    relationships: list[Relationship] = []
    stats = IngestStats()

    for batch in _chunks(to_create):
        created = Resource.objects.bulk_create(batch)
        for resource in created:
            changes.append(
                ResourceChange(
                    sync=sync,
                    resource=resource,
                    kind=ResourceChange.Kind.ADDED,
                    after=document(resource),
                    created_at=now,
                )
            )
            relationships += _relationships(resource)
    stats.added = len(to_create)

    updates = {**changed_pks, **restored_pks}
    update_pks = list(updates)
    fields = [
        "scope",
        "arn",
        "name",
        "tags",
        "config",
        "relations",
        "content_hash",
        "changed_at",
        "last_change_sync",
        "removed_at",
    ]
    for batch_pks in _chunks(update_pks):
        resources = Resource.objects.in_bulk(batch_pks)
        rewire: list[int] = []
        for pk in batch_pks:
            resource = resources[pk]
            doc, scope, digest = updates[pk]
            old_doc = document(resource)
            was_removed = resource.removed_at is not None
            resource.scope = scope
            resource.arn = doc["arn"]
            resource.name = doc["name"]
            resource.tags = doc["tags"]
            resource.config = doc["config"]
            resource.relations = doc["relations"]
            resource.content_hash = digest
            resource.removed_at = None
            if was_removed:
                # Re-created (or back after a removal): a new life of the same identity.
                resource.changed_at = now
                resource.last_change_sync = sync
                changes.append(
                    ResourceChange(
                        sync=sync,
                        resource=resource,
                        kind=ResourceChange.Kind.ADDED,
                        after=document(resource),
                        created_at=now,
                    )
                )
                stats.added += 1
            else:
                before, after = diff(old_doc, doc)
                if before or after:
                    resource.changed_at = now
                    resource.last_change_sync = sync
                    changes.append(
                        ResourceChange(
                            sync=sync,
                            resource=resource,
                            kind=ResourceChange.Kind.CHANGED,
                            before=before,
                            after=after,
                            created_at=now,
                        )
                    )
                    stats.changed += 1
            if was_removed or old_doc["relations"] != doc["relations"]:
                rewire.append(pk)
                relationships += _relationships(resource)
        Resource.objects.bulk_update([resources[pk] for pk in batch_pks], fields)
        Relationship.objects.filter(source_id__in=rewire).delete()

    for batch_pks in _chunks(removed_pks):
        resources = Resource.objects.in_bulk(batch_pks)
        for pk in batch_pks:
            changes.append(
                ResourceChange(
                    sync=sync,
                    resource_id=pk,
                    kind=ResourceChange.Kind.REMOVED,
                    before=document(resources[pk]),
                    created_at=now,
                )
            )
        Resource.objects.filter(pk__in=batch_pks).update(removed_at=now)
    stats.removed = len(removed_pks)

    for batch in _chunks(relationships):
        Relationship.objects.bulk_create(batch)
    for batch in _chunks(changes):
        ResourceChange.objects.bulk_create(batch)
    return stats
