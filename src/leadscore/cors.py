"""Who may call the HTTP API from a page on another origin (CORS), per route family.

The HTTP API has no CorsConfiguration (it would be one policy for every route):
each function answers CORS itself with powertools' `CORSConfig`, and the
template routes each browser-facing path's OPTIONS (preflight) to its function.

- Ingest (`/v1/*`, `/beacon/v1/batch`): any origin, and every request header the
  browser SDKs send (read from their npm packages; docs/ingest.md, CORS).
- The leads API (`/leads...`): only the origins in `CONSOLE_ORIGINS`; none by default.
"""

from __future__ import annotations


from aws_lambda_powertools.event_handler import CORSConfig

#: Request headers the browser SDKs send that a preflight must allow, beyond the
#: CORS-safelisted ones. analytics.js (@segment/analytics-next 1.84,
#: dist/pkg/plugins/segmentio/{fetch,batched}-dispatcher.js): Content-Type
#: text/plain, Authorization Basic, X-Retry-Count on retries. RudderStack
#: (@rudderstack/analytics-js 3.34, XhrQueue and HttpClient): Content-Type
#: application/json, Accept, Authorization Basic, AnonymousId, SentAt,
#: Rsa-Recovered (an event reclaimed from storage) and Rsa-Retry-Attempt,
#: Rsa-Since-Last-Attempt, Rsa-Since-First-Attempt, Rsa-Retry-Reason on retries.
#: Content-Encoding: gzip from any client that compresses.
SDK_REQUEST_HEADERS = (
    "Accept",
    "Authorization",
    "Content-Type",
    "Content-Encoding",
    "X-Retry-Count",
    "AnonymousId",
    "SentAt",
    "Rsa-Recovered",
    "Rsa-Retry-Attempt",
    "Rsa-Since-Last-Attempt",
    "Rsa-Since-First-Attempt",
    "Rsa-Retry-Reason",
)
#: How long a browser may cache a preflight answer (Chromium caps it at 2 h).
PREFLIGHT_MAX_AGE_S = 600


def ingest_cors() -> CORSConfig:
    """Any origin, the SDKs' headers. `*` as well, for browsers that support the wildcard
    (all current ones; it never covers Authorization, which is listed): a header a future
    SDK version adds does not lose events there, while the names keep older browsers working."""
    return CORSConfig(allow_origin="*", allow_headers=["*", *SDK_REQUEST_HEADERS], max_age=PREFLIGHT_MAX_AGE_S)


def console_origins() -> tuple[str, ...]:
    """`CONSOLE_ORIGINS` (leadscore.settings; template parameter ConsoleOrigins): the origins
    whose pages may read the leads API; `*` is refused, an empty value allows none."""
    from .settings import settings

    origins = (origin.rstrip("/") for origin in settings().console_origins)
    return tuple(origin for origin in origins if origin and origin != "*")


class ConsoleCORS(CORSConfig):
    """CORS for the leads API: an origin is allowed only when it is one of `origins()`,
    which is called per request (so the setting is read when a request first needs it,
    not at import). No Origin, or another origin, gets no CORS headers at all, so a
    browser refuses to hand the answer to that page."""

    def __init__(self, origins=console_origins, allow_headers: list[str] | None = None):
        super().__init__(allow_origin="", allow_headers=allow_headers, max_age=PREFLIGHT_MAX_AGE_S)
        self._origins = origins
        self._extra_headers = allow_headers

    def _config(self) -> CORSConfig | None:
        allowed = self._origins()
        if not allowed:
            return None
        return CORSConfig(allow_origin=allowed[0], extra_origins=list(allowed[1:]),
                          allow_headers=self._extra_headers, max_age=self.max_age)

    def allowed_origin(self, extracted_origin: str) -> str | None:
        config = self._config()
        return config.allowed_origin(extracted_origin) if config else None

    def to_dict(self, origin: str | None) -> dict[str, str]:
        config = self._config()
        return config.to_dict(origin) if config else {}
