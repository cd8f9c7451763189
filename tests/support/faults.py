"""AWS fault injection for tests and benchmarks, in front of moto.

A `FaultInjector` registers on a botocore session's event system:

- `before-parameter-build` (once per API call): records the call's service,
  region, operation and parameters, so a test can assert that every AssumeRole
  carried the account's ExternalId or that no call went to a region that is not
  enabled;
- `before-send` (once per HTTP attempt), registered *first*: it runs before
  moto's own `before-send` handler and, when a fault matches, answers with a
  crafted `AWSResponse` (right HTTP status, error body in the service's
  protocol). botocore parses that response and runs its retry logic on it, so
  adaptive retries really see the throttling; botocore's Stubber answers
  before the retry logic and cannot test that.

Attach it to the sessions Catchup creates with `injector.install()` (a context
manager adding it to `inventory.aws.session_hooks`), or to any boto3 Session
with `injector.attach(session)`. For a separate worker process, where no hook
can reach, use `tests/support/proxy.py` (an HTTP proxy in front of a moto server).
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from botocore.awsrequest import AWSResponse, HeadersDict

_CALL_KEY = "catchup_fault_call"
# botocore's prepared request carries no context: a header links an HTTP attempt
# (before-send) to its API call. Harmless to moto and never seen by AWS.
_CALL_HEADER = "x-catchup-fault-call"

# Per protocol: (error code, HTTP status) for each fault kind, as AWS answers.
_ERRORS: dict[str, dict[str, tuple[str, int]]] = {
    "ec2": {
        "throttle": ("RequestLimitExceeded", 503),
        "access_denied": ("UnauthorizedOperation", 403),
        "expired": ("RequestExpired", 400),
        "server_error": ("InternalError", 500),
    },
    "query": {
        "throttle": ("Throttling", 400),
        "access_denied": ("AccessDenied", 403),
        "expired": ("ExpiredToken", 400),
        "server_error": ("InternalFailure", 500),
    },
    "json": {
        "throttle": ("ThrottlingException", 400),
        "access_denied": ("AccessDeniedException", 400),
        "expired": ("ExpiredTokenException", 400),
        "server_error": ("InternalServerError", 500),
    },
    "rest-json": {
        "throttle": ("ThrottlingException", 429),
        "access_denied": ("AccessDeniedException", 403),
        "expired": ("ExpiredTokenException", 403),
        "server_error": ("InternalServerError", 500),
    },
    "rest-xml": {
        "throttle": ("SlowDown", 503),
        "access_denied": ("AccessDenied", 403),
        "expired": ("ExpiredToken", 400),
        "server_error": ("InternalError", 500),
    },
}
KINDS = ("throttle", "access_denied", "expired", "server_error", "error", "slow", "respond")


@dataclass
class Call:
    """One API call as the SDK made it (parameters before serialization)."""

    service: str  # botocore service name: "ec2", "sts", "s3"
    region: str
    operation: str  # "DescribeInstances"
    params: dict[str, Any]
    ok: bool | None = None  # answered successfully (after retries); None: no answer yet


@dataclass
class Fault:
    """What to inject, and on which calls.

    Matching: `service`/`region`/`operation` (None matches any), then `when`
    (a predicate on the Call). Among matching attempts it fires with
    probability `rate` (seeded random), only on the first `first` of them when
    set, and only until `duration` seconds after it was added when set.
    `kind` "error" uses `code`/`status`; "respond" answers `status` with
    `body` verbatim (a malformed or crafted response); "slow" sleeps `delay`
    seconds and lets the call through.
    """

    kind: str
    service: str | None = None
    region: str | None = None
    operation: str | None = None
    rate: float = 1.0
    first: int | None = None
    duration: float | None = None
    delay: float = 0.0
    code: str | None = None
    status: int | None = None
    message: str = ""
    body: str | bytes | None = None
    when: Callable[[Call], bool] | None = None
    matched: int = 0  # attempts that matched (before rate/first)
    fired: int = 0  # attempts answered by this fault
    added_at: float = field(default_factory=time.monotonic)

    def matches(self, call: Call) -> bool:
        if self.service is not None and self.service != call.service:
            return False
        if self.region is not None and self.region != call.region:
            return False
        if self.operation is not None and self.operation != call.operation:
            return False
        return self.when is None or bool(self.when(call))

    def active(self) -> bool:
        if self.first is not None and self.fired >= self.first:
            return False
        return self.duration is None or time.monotonic() - self.added_at < self.duration


class _RawBody:
    """The `raw` botocore reads an AWSResponse's body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_args: Any, **_kwargs: Any) -> bytes:
        body, self._body = self._body, b""
        return body


def error_body(protocol: str, code: str, message: str) -> tuple[bytes, dict[str, str]]:
    """An AWS error response body and headers in `protocol`'s wire format."""
    rid = str(uuid.uuid4())
    code_x, message_x = escape(code), escape(message)
    if protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code_x}</Code><Message>{message_x}</Message></Error></Errors>"
            f"<RequestID>{rid}</RequestID></Response>"
        )
        return body.encode(), {"Content-Type": "text/xml;charset=UTF-8"}
    if protocol == "query":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code_x}</Code><Message>{message_x}</Message></Error>"
            f"<RequestId>{rid}</RequestId></ErrorResponse>"
        )
        return body.encode(), {"Content-Type": "text/xml", "x-amzn-RequestId": rid}
    if protocol == "rest-xml":
        body = (
            f"<Error><Code>{code_x}</Code><Message>{message_x}</Message>"
            f"<RequestId>{rid}</RequestId></Error>"
        )
        return body.encode(), {"Content-Type": "application/xml", "x-amz-request-id": rid}
    if protocol == "rest-json":
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": code,
            "x-amzn-RequestId": rid,
        }
        return json.dumps({"message": message}).encode(), headers
    if protocol == "json":
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid}
        return json.dumps({"__type": code, "message": message}).encode(), headers
    raise NotImplementedError(f"no error body for protocol {protocol!r}")


def ec2_describe_regions_body(regions: dict[str, str]) -> str:
    """A DescribeRegions answer: {region: OptInStatus}. moto ignores opt-in; AWS does not."""
    items = "".join(
        f"<item><regionName>{escape(name)}</regionName>"
        f"<regionEndpoint>ec2.{escape(name)}.amazonaws.com</regionEndpoint>"
        f"<optInStatus>{escape(status)}</optInStatus></item>"
        for name, status in regions.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        f"<requestId>{uuid.uuid4()}</requestId><regionInfo>{items}</regionInfo>"
        "</DescribeRegionsResponse>"
    )


class FaultInjector:
    """Injects faults and records calls on every session it is attached to.

    Thread-safe: a sync calls AWS from a thread pool.
    """

    def __init__(self, seed: int = 0) -> None:
        self.faults: list[Fault] = []
        self.calls: list[Call] = []  # one per API call
        self.attempts: Counter[tuple[str, str, str]] = Counter()  # per HTTP attempt
        self.injected: Counter[tuple[str, str, str, str]] = Counter()  # + fault kind
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._by_header: dict[str, tuple[Call, str]] = {}

    # --- Configuring ------------------------------------------------------------

    def add(self, kind: str, **options: Any) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {KINDS}")
        fault = Fault(kind=kind, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        with self._lock:
            self.faults.remove(fault)

    def clear(self) -> None:
        """Remove every fault (the recorded calls stay)."""
        with self._lock:
            self.faults.clear()

    def reset_records(self) -> None:
        with self._lock:
            self.calls.clear()
            self.attempts.clear()
            self.injected.clear()

    # --- Attaching ----------------------------------------------------------------

    def attach(self, session: Any) -> None:
        """Attach to a boto3 Session, a botocore Session or an inventory.aws.AwsSession.

        Must happen before the session makes clients: clients copy the
        session's handlers when they are created.
        """
        if hasattr(session, "boto_session"):  # inventory.aws.AwsSession
            session = session.boto_session
        botocore_session = getattr(session, "_session", session)
        events = botocore_session.get_component("event_emitter")
        events.register("before-parameter-build", self._on_call)
        events.register("before-call", self._on_before_call)
        events.register("after-call", self._on_after_call)
        events.register("after-call-error", self._on_after_call_error)
        # First, so that it answers before moto's own before-send handler.
        events.register_first("before-send", self._on_send)

    @contextlib.contextmanager
    def install(self) -> Iterator[FaultInjector]:
        """Attach to every session inventory.aws creates while the block runs."""
        from inventory import aws

        aws.session_hooks.append(self.attach)
        try:
            yield self
        finally:
            aws.session_hooks.remove(self.attach)

    # --- Reading what happened --------------------------------------------------

    def calls_to(
        self, *, service: str | None = None, region: str | None = None, operation: str | None = None
    ) -> list[Call]:
        with self._lock:
            calls = list(self.calls)
        return [
            c
            for c in calls
            if (service is None or c.service == service)
            and (region is None or c.region == region)
            and (operation is None or c.operation == operation)
        ]

    def regions_called(self) -> set[str]:
        with self._lock:
            return {c.region for c in self.calls}

    # --- botocore handlers ------------------------------------------------------

    def _on_call(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        service_model = model.service_model
        call = Call(
            service=service_model.service_name,
            region=str(context.get("client_region") or ""),
            operation=model.name,
            params=_copy_params(params),
        )
        # The same context dict reaches before-call, which tags the request.
        context[_CALL_KEY] = (call, service_model.protocol)
        with self._lock:
            self.calls.append(call)

    def _on_before_call(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        recorded = context.get(_CALL_KEY)
        if recorded is None:
            return
        tag = uuid.uuid4().hex
        params.setdefault("headers", {})[_CALL_HEADER] = tag
        with self._lock:
            self._by_header[tag] = recorded

    def _on_after_call(self, context: dict[str, Any], **_: Any) -> None:
        recorded = context.get(_CALL_KEY)
        if recorded is not None:
            recorded[0].ok = True

    def _on_after_call_error(self, context: dict[str, Any], **_: Any) -> None:
        recorded = context.get(_CALL_KEY)
        if recorded is not None:
            recorded[0].ok = False

    def _on_send(self, request: Any, **_: Any) -> AWSResponse | None:
        tag = request.headers.get(_CALL_HEADER)
        if isinstance(tag, bytes):
            tag = tag.decode()
        with self._lock:
            recorded = self._by_header.get(tag) if tag else None
        if recorded is None:
            return None  # a call made before the injector was attached
        call, protocol = recorded
        key = (call.service, call.region, call.operation)
        with self._lock:
            self.attempts[key] += 1
            fault = self._pick(call)
            if fault is not None:
                self.injected[(*key, fault.kind)] += 1
        if fault is None:
            return None
        if fault.kind == "slow":
            time.sleep(fault.delay)
            return None  # then let moto (or the endpoint) answer
        if fault.delay:
            time.sleep(fault.delay)
        return self._response(request, fault, call, protocol)

    def _pick(self, call: Call) -> Fault | None:
        for fault in self.faults:
            if not fault.active() or not fault.matches(call):
                continue
            fault.matched += 1
            if fault.rate < 1.0 and self._random.random() >= fault.rate:
                continue
            fault.fired += 1
            return fault
        return None

    def _response(self, request: Any, fault: Fault, call: Call, protocol: str) -> AWSResponse:
        if fault.kind == "respond":
            body = fault.body or b""
            if isinstance(body, str):
                body = body.encode()
            headers = {"Content-Type": "text/xml" if body[:1] == b"<" else "application/json"}
            status = fault.status or 200
        else:
            if fault.kind == "error":
                code, status = fault.code or "InternalError", fault.status or 400
            else:
                code, status = _ERRORS.get(protocol, _ERRORS["query"])[fault.kind]
                code, status = fault.code or code, fault.status or status
            where = f"{call.operation} in {call.region}"
            message = fault.message or f"Injected {fault.kind} on {where}."
            body, headers = error_body(protocol, code, message)
        return AWSResponse(request.url, status, HeadersDict(headers), _RawBody(body))


def _copy_params(params: dict[str, Any]) -> dict[str, Any]:
    """A shallow-enough copy that later SDK mutation does not change the record."""
    try:
        return json.loads(json.dumps(params, default=str))
    except (TypeError, ValueError):
        return dict(params)


@contextlib.contextmanager
def fast_retries(scale: float = 0.01) -> Iterator[None]:
    """Make botocore's retry waits `scale` times as long, for clients created meanwhile.

    Retries still happen, as many as the retry budget allows, in the same
    order, and adaptive mode still rate-limits after throttling; only the
    waiting is shorter: the jittered exponential backoff is scaled, and the
    adaptive token bucket's floor (0.5 requests/s) is raised by 1/scale. So a
    test of "throttled past the retry budget" takes a second, not a minute.
    """
    from botocore.retries import adaptive, bucket, standard

    original_delay = standard.ExponentialBackoff.delay_amount
    original_register = adaptive.register_retry_handler

    def delay_amount(self: Any, context: Any) -> float:
        return original_delay(self, context) * scale

    def register_retry_handler(client: Any) -> Any:
        limiter = original_register(client)
        limiter._token_bucket._min_rate = bucket.TokenBucket._MIN_RATE / scale
        return limiter

    standard.ExponentialBackoff.delay_amount = delay_amount  # type: ignore[method-assign]
    adaptive.register_retry_handler = register_retry_handler
    try:
        yield
    finally:
        standard.ExponentialBackoff.delay_amount = original_delay  # type: ignore[method-assign]
        adaptive.register_retry_handler = original_register
