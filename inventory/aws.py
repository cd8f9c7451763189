"""Sessions and clients for reaching an account, read-only.

Catchup only ever calls Describe/List/Get APIs. Credentials are never stored by
Catchup for roles and profiles: the role is assumed with the account's
ExternalId from the credentials of the machine (or a named profile), and
botocore refreshes the assumed-role credentials before they expire, so a long
sync never fails half-way on an expired token.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

if TYPE_CHECKING:
    from .models import Account

# Adaptive retries back off on throttling and rate-limit the client itself, so
# a sync shares the account's API token bucket with its owners instead of
# starving their console and scripts.
AWS_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=10,
    read_timeout=60,
    max_pool_connections=32,
    user_agent_extra="catchup",
)

ROLE_SESSION_NAME = "catchup-readonly"

# Called with every boto3 Session Catchup creates (the base session that
# assumes roles, and the assumed-role session), before any client exists:
# tests and benchmarks attach fault injection and call recording here
# (tests/support/faults.py). Empty in production.
session_hooks: list[Callable[[boto3.Session], None]] = []


def _new_session(**kwargs: Any) -> boto3.Session:
    session = boto3.Session(**kwargs)
    for hook in session_hooks:
        hook(session)
    return session


# Fallback region for global services and for identity calls.
HOME_REGION = "us-east-1"


class AwsSession:
    """A boto3 session for one account that hands out cached, thread-safe clients.

    boto3 sessions are not safe to create clients from in several threads at
    once; clients are. Client creation is serialised and each (service, region)
    client is made once, which also lets adaptive retries share one rate limiter
    per service and region.
    """

    def __init__(self, session: boto3.Session, endpoint_url: str | None = None) -> None:
        self.boto_session = session
        self.endpoint_url = endpoint_url
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        # Every HTTP request (retries included) made through this session, from
        # any thread: collectors fan out per-bucket and per-user calls in pools.
        self.calls = 0
        self.events.register("before-send", self._count_call)

    def _count_call(self, **_kwargs: Any) -> None:
        with self._lock:
            self.calls += 1

    def client(self, service: str, region_name: str | None = None, config: Config | None = None):
        region = region_name or self.boto_session.region_name or HOME_REGION
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self.boto_session.client(
                    service,
                    region_name=region,
                    endpoint_url=self.endpoint_url,
                    config=AWS_CONFIG.merge(config) if config else AWS_CONFIG,
                )
            return self._clients[key]

    @property
    def events(self):
        """botocore's event system, for counting calls and injecting faults."""
        return self.boto_session._session.get_component("event_emitter")


def base_session(account: Account) -> boto3.Session:
    """Credentials Catchup itself holds: stored access keys, a named profile or the default chain.

    Stored keys serve KEYS mode directly and, in ROLE mode, are the source
    credentials that assume the role.
    """
    keys = account.access_keys() if account.has_access_keys else None
    if keys and account.auth_mode in (account.AuthMode.KEYS, account.AuthMode.ROLE):
        return _new_session(
            aws_access_key_id=keys[0], aws_secret_access_key=keys[1], region_name=HOME_REGION
        )
    if account.auth_mode == account.AuthMode.KEYS:
        # Never fall back to the machine's own credentials for a keys account.
        from botocore.exceptions import NoCredentialsError

        raise NoCredentialsError()
    if account.profile and account.auth_mode in (account.AuthMode.PROFILE, account.AuthMode.ROLE):
        return _new_session(profile_name=account.profile, region_name=HOME_REGION)
    return _new_session(region_name=HOME_REGION)


def session_for(account: Account) -> AwsSession:
    """A session that acts as the account (assuming its role when it has one)."""
    endpoint = account.effective_endpoint_url
    base = base_session(account)
    if account.auth_mode != account.AuthMode.ROLE:
        return AwsSession(base, endpoint)

    def sts_client(service_name: str, **kwargs: Any):
        return base.client(
            service_name,
            region_name=HOME_REGION,
            endpoint_url=endpoint,
            config=AWS_CONFIG,
            **kwargs,
        )

    source = base.get_credentials()
    if source is None:
        from botocore.exceptions import NoCredentialsError

        raise NoCredentialsError()
    extra_args: dict[str, Any] = {"RoleSessionName": ROLE_SESSION_NAME}
    if account.external_id:
        extra_args["ExternalId"] = account.external_id
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=sts_client,
        source_credentials=source,
        role_arn=account.role_arn,
        extra_args=extra_args,
    )
    credentials = DeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials, method="assume-role"
    )
    assumed = _new_session(region_name=HOME_REGION)
    # boto3 has no public way to hand a Session refreshable credentials; this is
    # the documented-by-use pattern (botocore's own assume-role provider does it).
    assumed._session._credentials = credentials
    return AwsSession(assumed, endpoint)


def caller_identity(session: AwsSession) -> dict[str, str]:
    response = session.client("sts", HOME_REGION).get_caller_identity()
    return {"account": response["Account"], "arn": response["Arn"]}


# Opt-in regions that an account has not enabled report "not-opted-in"; moto
# ignores the filter, so the status is checked here as well.
ENABLED_OPT_IN = {"opt-in-not-required", "opted-in"}


def enabled_regions(session: AwsSession) -> list[str]:
    response = session.client("ec2", HOME_REGION).describe_regions(
        AllRegions=False,
        Filters=[{"Name": "opt-in-status", "Values": sorted(ENABLED_OPT_IN)}],
    )
    return sorted(
        r["RegionName"]
        for r in response["Regions"]
        if r.get("OptInStatus", "opt-in-not-required") in ENABLED_OPT_IN
    )
