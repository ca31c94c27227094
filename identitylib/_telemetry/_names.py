"""Names of the signals identitylib emits: OpenTelemetry's semantic conventions where one
exists, else an ``identitylib.`` prefix. See docs/telemetry.md."""

from __future__ import annotations

#: Instrumentation scope of the tracer and the meter.
SCOPE = "identitylib"

# --- attributes: OpenTelemetry semantic conventions
ERROR_TYPE = "error.type"
HTTP_METHOD = "http.request.method"
HTTP_STATUS = "http.response.status_code"
HTTP_RESEND_COUNT = "http.request.resend_count"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
URL_FULL = "url.full"
USER_NAME = "user.name"  # personal: only with enable_pii_log=True

# --- attributes: identitylib's own
API = "identitylib.api"
TOKEN_SOURCE = "identitylib.token.source"
OUTCOME = "identitylib.outcome"
REFRESH_REASON = "identitylib.cache.refresh_reason"
MANAGED_IDENTITY_SOURCE = "identitylib.managed_identity.source"
HTTP_REQUEST_COUNT = "identitylib.http.request_count"
THROTTLED_BY = "identitylib.throttled_by"
#: True on the span of a background refresh.
BACKGROUND = "identitylib.background"

# --- attribute values
SOURCE_CACHE = "cache"
SOURCE_IDENTITY_PROVIDER = "identity_provider"
SOURCE_MANAGED_IDENTITY = "managed_identity"
SOURCE_NONE = "none"
OUTCOME_SUCCESS = "success"
OUTCOME_FAILURE = "failure"
#: ``acquire_token_silent`` found nothing to return (None).
OUTCOME_EMPTY = "empty"
#: MSAL.NET's CacheRefreshReason.NotApplicable: a cache hit, or an API without a cache.
NOT_APPLICABLE = "not_applicable"
#: The refresh reason of every background refresh, and the suffix of its span's name.
PROACTIVE_REFRESH = "proactive_refresh"
BACKGROUND_REFRESH = "background_refresh"
#: ``error.type`` of an OAuth error code that does not look like one.
OTHER_ERROR = "_OTHER"

# --- instruments
ACQUISITIONS = "identitylib.acquisitions"
ACQUISITION_DURATION = "identitylib.acquisition.duration"
ACQUISITION_HTTP_DURATION = "identitylib.acquisition.http.duration"
ACQUISITION_LIBRARY_DURATION = "identitylib.acquisition.library.duration"
HTTP_CLIENT_DURATION = "http.client.request.duration"  # semantic conventions' own
HTTP_RETRIES = "identitylib.http.retries"
HTTP_THROTTLED = "identitylib.http.throttled"

#: Seconds: from a cache hit (tens of µs) to a slow identity provider.
ACQUISITION_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
#: Seconds: the semantic conventions' advice for ``http.client.request.duration``.
HTTP_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
