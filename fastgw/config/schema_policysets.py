"""Where policies attach: routes, backends, listeners, the whole gateway (`frontendPolicies`)."""

from __future__ import annotations

from typing import Literal

import msgspec

from fastgw.config.schema_aipolicy import AiPolicy, PromptGuard
from fastgw.config.schema_base import Duration, HeaderModifier, Spec
from fastgw.config.schema_policies import (
    A2aPolicy,
    ApiKeys,
    BackendAuth,
    BackendHttp,
    BackendTcp,
    BackendTls,
    BasicAuth,
    Buffer,
    Cors,
    Csrf,
    Delay,
    DirectResponse,
    ExtAuthz,
    Health,
    JwtAuth,
    LocalRateLimit,
    McpAuthentication,
    RemoteRateLimit,
    RequestMirror,
    RequestRedirect,
    Retry,
    RuleSet,
    SessionAffinity,
    Timeout,
    Transformations,
    TransportPolicies,
    UrlRewrite,
)

__all__ = ["BackendPolicies", "FrontendPolicies", "ListenerPolicies", "LlmPolicies", "RoutePolicies"]


class RoutePolicies(Spec, frozen=True, kw_only=True):
    """Route-level `policies:` (agentgateway `FilterOrPolicy`). The pipeline fixes the order they run in."""

    NOT_SUPPORTED = frozenset({"oidc", "extProc", "mcpGuardrails", "backendTunnel"})
    NOT_SUPPORTED_CHECKED = frozenset(
        {
            "requestRedirect",
            "requestMirror",
            "mcpAuthentication",
            "a2a",
            "csrf",
            "buffer",
            "delay",
        }
    )
    PARTLY_SUPPORTED = {
        "extAuthz": "the HTTP protocol (gRPC ext_authz is not supported yet)",
        "transformations": (
            "request headers, body and metadata, response headers"
            " (`replace`, response body and metadata are not supported yet)"
        ),
        "apiKey": ("keys with metadata, fastgw's budgets and virtual keys (`allowedModels` is not supported yet)"),
        "remoteRateLimit": (
            "limits kept in one Redis server (`redis:`); the Envoy RLS client (`host:`, `backend:`),"
            " Redis Cluster/Sentinel and `limitOverride` are not supported yet"
        ),
    }
    request_header_modifier: HeaderModifier | None = None
    """Edit request headers before forwarding."""
    response_header_modifier: HeaderModifier | None = None
    """Edit response headers before answering."""
    request_redirect: RequestRedirect | None = None
    """Answer with a redirect."""
    url_rewrite: UrlRewrite | None = None
    """Rewrite path/authority before forwarding."""
    request_mirror: RequestMirror | None = None
    """Mirror a fraction of requests to another backend."""
    direct_response: DirectResponse | None = None
    """Answer with a fixed response."""
    cors: Cors | None = None
    """CORS handling (runs first, so even errors carry CORS headers)."""
    mcp_authorization: RuleSet | None = None
    """CEL rules over MCP tool/prompt/resource names."""
    authorization: RuleSet | None = None
    """CEL authorization rules (403 on deny)."""
    mcp_authentication: McpAuthentication | None = None
    """MCP OAuth resource server."""
    a2a: A2aPolicy | None = None
    """Mark A2A traffic."""
    ai: AiPolicy | None = None
    """LLM request handling."""
    backend_tls: BackendTls | None = msgspec.field(default=None, name="backendTLS")
    """TLS to the backend."""
    backend_auth: BackendAuth | None = None
    """Credential sent to the backend."""
    local_rate_limit: list[LocalRateLimit] | None = None
    """Token buckets; every bucket must allow the request."""
    remote_rate_limit: RemoteRateLimit | None = None
    """Global rate limiting service."""
    jwt_auth: JwtAuth | None = None
    """JWT authentication."""
    basic_auth: BasicAuth | None = None
    """Basic authentication."""
    api_key: ApiKeys | None = None
    """API-key authentication."""
    ext_authz: ExtAuthz | None = None
    """External authorization."""
    transformations: Transformations | None = None
    """CEL transformations."""
    csrf: Csrf | None = None
    """CSRF protection."""
    buffer: Buffer | None = None
    """Body buffering."""
    timeout: Timeout | None = None
    """Request deadlines."""
    retry: Retry | None = None
    """Retries."""
    delay: Delay | None = None
    """Injected latency."""


class BackendPolicies(Spec, frozen=True, kw_only=True):
    """Backend-level `policies:` (on a route backend, an `ai` backend, a provider, a named backend)."""

    NOT_SUPPORTED = frozenset({"backendTunnel", "mcpGuardrails", "inferenceRouting"})
    # on an ai backend; a host backend takes only backendTLS (compile.py)
    NOT_SUPPORTED_CHECKED = frozenset(
        {
            "requestHeaderModifier",
            "responseHeaderModifier",
            "requestRedirect",
            "transformations",
            "http",
            "tcp",
            "health",
            "extAuthz",
            "authorization",
            "mcpAuthorization",
            "a2a",
            "sessionAffinity",
        }
    )
    PARTLY_SUPPORTED = {
        "backendAuth": "on ai backends; on a host backend set it in the route's policies",
        "ai": "on ai backends",
    }
    request_header_modifier: HeaderModifier | None = None
    """Edit request headers for this backend."""
    response_header_modifier: HeaderModifier | None = None
    """Edit response headers from this backend."""
    request_redirect: RequestRedirect | None = None
    """Answer with a redirect."""
    transformations: Transformations | None = None
    """CEL transformations."""
    backend_tls: BackendTls | None = msgspec.field(default=None, name="backendTLS")
    """TLS to the backend."""
    backend_auth: BackendAuth | None = None
    """Credential sent to the backend."""
    http: BackendHttp | None = None
    """HTTP settings."""
    tcp: BackendTcp | None = None
    """TCP settings."""
    health: Health | None = None
    """Outlier detection / eviction (needed for failover to skip a provider)."""
    ext_authz: ExtAuthz | None = None
    """External authorization after backend selection."""
    authorization: RuleSet | None = None
    """CEL authorization after backend selection."""
    mcp_authorization: RuleSet | None = None
    """MCP CEL rules."""
    a2a: A2aPolicy | None = None
    """Mark A2A traffic."""
    session_affinity: SessionAffinity | None = None
    """Stickiness."""
    ai: AiPolicy | None = None
    """LLM request handling."""


class ListenerPolicies(Spec, frozen=True, kw_only=True):
    """Policies for every route of a listener (a route's own policy of the same kind wins).

    `authorization` rules accumulate with the route's."""

    NOT_SUPPORTED = frozenset({"oidc", "extProc"})
    jwt_auth: JwtAuth | None = None
    """JWT authentication."""
    authorization: RuleSet | None = None
    """CEL authorization."""
    ext_authz: ExtAuthz | None = None
    """External authorization."""
    cors: Cors | None = None
    """CORS."""
    transformations: Transformations | None = None
    """CEL transformations."""
    basic_auth: BasicAuth | None = None
    """Basic authentication."""
    api_key: ApiKeys | None = None
    """API-key authentication."""


class LlmPolicies(ListenerPolicies, frozen=True, kw_only=True):
    """`llm.policies`: applied to every request of the `llm:` gateway before a model is selected
    (the listener policies, plus guards and rate limits)."""

    guardrails: PromptGuard | None = None
    """Guards merged into every model."""
    local_rate_limit: list[LocalRateLimit] | None = None
    """Token buckets."""
    remote_rate_limit: RemoteRateLimit | None = None
    """Global rate limiting."""


class FrontendHttp(Spec, frozen=True, kw_only=True):
    """Downstream HTTP settings (agentgateway names); they override `config.http` limits when set."""

    NOT_SUPPORTED = frozenset(
        {
            "http1HeaderCase",
            "http2WindowSize",
            "http2ConnectionWindowSize",
            "http2FrameSize",
            "http2MaxHeaderSize",
            "http2KeepaliveInterval",
            "http2KeepaliveTimeout",
        }
    )
    NOT_SUPPORTED_CHECKED = frozenset({"maxConnectionDuration"})
    max_buffer_size: int | None = None
    """Largest request body accepted/buffered, in bytes (feeds `config.http.maxBodyBytes`)."""
    http1_max_headers: int | None = None
    """Most request headers accepted (feeds `config.http.maxHeaders`)."""
    http1_idle_timeout: Duration | None = None
    """Keep-alive idle timeout (feeds `config.http.idleTimeout`)."""
    max_connection_duration: Duration | None = None
    """Close a connection after this long, once its current request is done."""


class AccessLog(Spec, frozen=True, kw_only=True):
    """Access log shaping."""

    NOT_SUPPORTED = frozenset({"otlp", "database"})
    filter: str | None = None
    """CEL; only matching requests are logged."""
    add: dict[str, str] = {}
    """Fields added (CEL values)."""
    remove: list[str] = []
    """Fields removed."""


class FrontendTracing(Spec, frozen=True, kw_only=True):
    """OTLP tracing export (the current home of `config.tracing`)."""

    NOT_SUPPORTED = frozenset({"service"})
    host: str | None = None
    """Collector address "host:port"."""
    backend: str | None = None
    """Name of a top-level backend."""
    policies: TransportPolicies | None = None
    """TLS/auth towards the collector."""
    attributes: dict[str, str] = {}
    """Span attributes (CEL values)."""
    resources: dict[str, str] = {}
    """Resource attributes (CEL values)."""
    remove: list[str] = []
    """Default attributes removed."""
    random_sampling: bool | float | str | None = None
    """Sampling of requests without a trace context (true/false/ratio/CEL)."""
    client_sampling: bool | float | str | None = None
    """Sampling of requests with a client trace context."""
    filter: str | None = None
    """CEL; only matching spans are exported."""
    path: str = "/v1/traces"
    """OTLP/HTTP path."""
    protocol: Literal["grpc", "http"] = "http"
    """OTLP transport."""


class FrontendPolicies(Spec, frozen=True, kw_only=True):
    """`frontendPolicies`: settings for all downstream traffic."""

    NOT_SUPPORTED = frozenset(
        {"tls", "tcp", "networkAuthorization", "networkExtAuthz", "proxy", "proxyProtocol", "connect"}
    )
    NOT_SUPPORTED_CHECKED = frozenset({"accessLog", "logging", "tracing"})
    http: FrontendHttp | None = None
    """HTTP limits."""
    access_log: AccessLog | None = None
    """Access log shaping."""
    logging: AccessLog | None = None
    """Alias of accessLog."""
    tracing: FrontendTracing | None = None
    """Tracing export."""
