"""AWS and network errors turned into words a person can act on."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "PriorRequestNotComplete",
}
ACCESS_DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
    "Forbidden",
}
EXPIRED_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
BAD_CREDENTIAL_CODES = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "AuthFailure",
}
# Raised by a service that is not available in a region (or not subscribed).
NOT_AVAILABLE_CODES = {"OptInRequired", "SubscriptionRequiredException", "UnsupportedOperation"}


def describe(exc: BaseException, *, operation_hint: str = "") -> tuple[str, str]:
    """(code, message) for a collection error; the message says what to do."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "ClientError")
        aws_message = str(error.get("Message") or "").strip()
        operation = exc.operation_name or operation_hint
        if code in ACCESS_DENIED_CODES:
            advice = (
                f"The identity Catchup uses may not call {operation}. Add the read-only "
                "policy from docs/iam (SecurityAudit + ViewOnlyAccess) to the role, "
                "then sync again."
            )
        elif code in THROTTLING_CODES:
            advice = (
                f"AWS kept throttling {operation} after every retry. Other tools share "
                "this API rate; sync again later or at a quieter hour."
            )
        elif code in EXPIRED_CODES:
            advice = (
                "The credentials have expired. Refresh them (or the base profile) and sync again."
            )
        elif code in BAD_CREDENTIAL_CODES:
            advice = (
                "AWS does not recognise these credentials. Check the access key, "
                "profile or role configuration."
            )
        elif code == "AccessDeniedForAssumeRole" or operation == "AssumeRole":
            advice = (
                "Catchup could not assume the role. Check the role ARN, that its trust "
                "policy allows this identity, and that the ExternalId matches."
            )
        else:
            advice = f"AWS answered {operation} with an error."
        return code, f"{advice} (AWS said: {aws_message or code})"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return "NoCredentials", (
            "No AWS credentials were found. Configure the default credential chain "
            "(environment, ~/.aws, instance role) or pick a named profile."
        )
    if isinstance(exc, ProfileNotFound):
        return "ProfileNotFound", f"{exc}. Add the profile to ~/.aws/config or pick another."
    if isinstance(exc, NoRegionError):
        return "NoRegion", "No region is configured. List the regions to collect on the account."
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return "EndpointUnreachable", (
            f"Could not connect to the AWS endpoint ({exc}). Check the endpoint URL and network."
        )
    if isinstance(exc, ReadTimeoutError):
        return "ReadTimeout", f"AWS did not answer in time ({exc}). Sync again later."
    if isinstance(exc, BotoCoreError):
        return type(exc).__name__, f"The AWS SDK failed: {exc}"
    if isinstance(exc, KeyError | TypeError | ValueError | AttributeError):
        return "MalformedResponse", (
            f"AWS returned a response Catchup could not read ({type(exc).__name__}: {exc}). "
            "The previous state of this service is kept."
        )
    return type(exc).__name__, f"Unexpected error: {exc}"


def assume_role_error(exc: BaseException, role_arn: str) -> tuple[str, str]:
    """Errors while assuming the account's role, with the role named."""
    code, message = describe(exc, operation_hint="AssumeRole")
    if isinstance(exc, ClientError) and code in ACCESS_DENIED_CODES | {"ValidationError"}:
        message = (
            f"Could not assume {role_arn}: check the role ARN, that its trust policy "
            f"allows this identity, and that the ExternalId matches. {message}"
        )
    return code, message
