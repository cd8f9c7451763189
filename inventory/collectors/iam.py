"""IAM (global): users with MFA and access keys, roles, the password policy.

Every record is in region "global"; the API is called in the collector's home
region (us-east-1). Details are one call per user or role, so they are fetched
in a small thread pool: IAM's per-account rate is shared with the owner's own
tools, and eight calls in flight stay well inside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from .base import Record, tag_dict

GLOBAL = "global"
WORKERS = 8
# IAM's "it is not there" answer: no login profile, no password policy, or a
# user/role deleted between the list and the detail call.
NO_SUCH_ENTITY = "NoSuchEntity"


def _is_no_such_entity(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == NO_SUCH_ENTITY


def _all(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items += page.get(key, [])
    return items


def _in_pool(fn: Callable[[dict[str, Any]], Record | None], items: list[Any]) -> Iterator[Record]:
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="iam") as pool:
        for record in pool.map(fn, items):
            if record is not None:
                yield record


def decode_policy(document: Any) -> Any:
    """A policy document as JSON: the raw API returns it URL-encoded in a string.

    botocore usually decodes it already; other endpoints may not.
    """
    if isinstance(document, str):
        text = unquote(document)
        try:
            return json.loads(text)
        except ValueError:
            return text  # kept as AWS sent it rather than dropped
    return document


# --- Users --------------------------------------------------------------------


def _access_keys(client: Any, user_name: str) -> list[dict[str, Any]]:
    """Each key with its creation and last use. No age in days: it would change
    every day and make an unchanged account look changed at each sync; rules
    compute the age from CreateDate."""
    keys = []
    for key in _all(client, "list_access_keys", "AccessKeyMetadata", UserName=user_name):
        try:
            response = client.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
        except ClientError as exc:
            if _is_no_such_entity(exc):
                continue  # the key was deleted while the sync ran; the user still exists
            raise
        last_used = response.get("AccessKeyLastUsed", {})
        keys.append(
            {
                "AccessKeyId": key["AccessKeyId"],
                "Status": key.get("Status"),
                "CreateDate": key.get("CreateDate"),
                # Absent when the key was never used.
                "LastUsedDate": last_used.get("LastUsedDate"),
                "LastUsedService": last_used.get("ServiceName"),
                "LastUsedRegion": last_used.get("Region"),
            }
        )
    return keys


def _has_console_password(client: Any, user_name: str) -> bool:
    try:
        client.get_login_profile(UserName=user_name)
    except ClientError as exc:
        if _is_no_such_entity(exc):
            return False
        raise
    return True


def _user_record(client: Any, user: dict[str, Any]) -> Record | None:
    name = user["UserName"]
    try:
        config = {
            **user,
            "MfaDevices": _all(client, "list_mfa_devices", "MFADevices", UserName=name),
            "AccessKeys": _access_keys(client, name),
            "HasConsolePassword": _has_console_password(client, name),
            "AttachedPolicies": [
                p["PolicyName"]
                for p in _all(
                    client, "list_attached_user_policies", "AttachedPolicies", UserName=name
                )
            ],
            "InlinePolicies": _all(client, "list_user_policies", "PolicyNames", UserName=name),
            "Groups": [
                g["GroupName"]
                for g in _all(client, "list_groups_for_user", "Groups", UserName=name)
            ],
        }
        tags = _all(client, "list_user_tags", "Tags", UserName=name)
    except ClientError as exc:
        if _is_no_such_entity(exc):
            return None  # deleted while the sync ran: it is gone, not a failure
        raise
    record = Record(
        type="AWS::IAM::User",
        id=user["Arn"],
        region=GLOBAL,
        arn=user["Arn"],
        name=name,
        tags=tag_dict(tags),
        config=config,
    )
    for group in config["Groups"]:
        record.relate("member-of", "AWS::IAM::Group", group)
    return record


def collect_users(session: Any, region: str) -> Iterator[Record]:
    client = session.client("iam", region_name=region)
    users = _all(client, "list_users", "Users")
    yield from _in_pool(lambda user: _user_record(client, user), users)


# --- Roles --------------------------------------------------------------------


def _role_record(client: Any, listed: dict[str, Any]) -> Record | None:
    name = listed["RoleName"]
    try:
        # ListRoles omits RoleLastUsed and tags; GetRole has both.
        role = client.get_role(RoleName=name)["Role"]
        attached = _all(client, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
        inline = _all(client, "list_role_policies", "PolicyNames", RoleName=name)
    except ClientError as exc:
        if _is_no_such_entity(exc):
            return None  # deleted while the sync ran
        raise
    config = {
        **role,
        "AssumeRolePolicyDocument": decode_policy(role.get("AssumeRolePolicyDocument")),
        "RoleLastUsed": role.get("RoleLastUsed", {}),
        "AttachedPolicies": [p["PolicyName"] for p in attached],
        "InlinePolicies": inline,
    }
    return Record(
        type="AWS::IAM::Role",
        id=role["Arn"],
        region=GLOBAL,
        arn=role["Arn"],
        name=name,
        tags=tag_dict(role.get("Tags")),
        config=config,
    )


def collect_roles(session: Any, region: str) -> Iterator[Record]:
    client = session.client("iam", region_name=region)
    roles = _all(client, "list_roles", "Roles")
    yield from _in_pool(lambda role: _role_record(client, role), roles)


# --- Password policy ------------------------------------------------------------


def collect_password_policy(session: Any, region: str) -> Iterator[Record]:
    client = session.client("iam", region_name=region)
    try:
        policy = client.get_account_password_policy()["PasswordPolicy"]
        config = {"Exists": True, **policy}
    except ClientError as exc:
        if not _is_no_such_entity(exc):
            raise
        # No policy set: AWS's defaults apply. Still a resource, so a rule can
        # say so and a later change shows up in history.
        config = {"Exists": False}
    yield Record(
        type="AWS::IAM::AccountPasswordPolicy",
        id="password-policy",
        region=GLOBAL,
        name="Account password policy",
        config=config,
    )
