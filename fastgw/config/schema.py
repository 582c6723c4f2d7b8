"""The config schema: agentgateway's standalone format as msgspec Structs (pure data, no I/O).

`Config` is the root. Sections live in `schema_*.py` and are re-exported here, so callers import
everything from `fastgw.config.schema`. See `schema_base.py` for the conventions (snake_case
attributes for camelCase keys, `NOT_SUPPORTED`, `ONE_OF`, `problems()`, value kinds).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from fastgw.config.schema_aipolicy import (
    AiPolicy,
    PromptCaching,
    PromptGuard,
    PromptMessage,
    Prompts,
    RegexGuard,
    RegexRule,
    Rejection,
    RequestGuard,
    ResponseGuard,
    WebhookGuard,
)
from fastgw.config.schema_backends import (
    AiBackend,
    AiGroup,
    AiGroupProvider,
    AiProvider,
    AzureOpenAiSpec,
    AzureSpec,
    BedrockSpec,
    McpBackend,
    McpTarget,
    OpenAiSpec,
    OpenApiTarget,
    ProviderSpec,
    RemoteTarget,
    StdioTarget,
    VertexSpec,
)
from fastgw.config.schema_base import (
    BackendRef,
    Duration,
    FileOrUrl,
    FileRef,
    HeaderLocation,
    HeaderMatch,
    HeaderModifier,
    HostPort,
    HttpStatus,
    KeyLocation,
    Port,
    Problems,
    Regex,
    RouteType,
    Secret,
    Spec,
    StringMatch,
    ip_problem,
)
from fastgw.config.schema_llm import (
    LlmConfig,
    LlmModel,
    LlmParams,
    LlmProvider,
    McpConfig,
    ProviderRef,
    VirtualModel,
)
from fastgw.config.schema_policies import (
    A2aPolicy,
    ApiKey,
    ApiKeys,
    AuthorityRewrite,
    AuthzRule,
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
    FileRefOrSecretKey,
    Health,
    JwtAuth,
    LocalRateLimit,
    McpAuthentication,
    PathRewrite,
    RemoteRateLimit,
    RequestMirror,
    RequestRedirect,
    Retry,
    RuleSet,
    Timeout,
    Transformations,
    TransportPolicies,
    UrlRewrite,
)
from fastgw.config.schema_policysets import (
    BackendPolicies,
    FrontendHttp,
    FrontendPolicies,
    ListenerPolicies,
    LlmPolicies,
    RoutePolicies,
)
from fastgw.config.schema_process import HttpLimits, Logging, Metrics, ProcessConfig, Tracing


class PathMatch(Spec, frozen=True, kw_only=True):
    """Exactly one of `exact`, `pathPrefix`, `regex`. A route without a path match matches prefix "/"."""

    ONE_OF = (("exact", "pathPrefix", "regex"),)
    exact: str | None = None
    """The path (query excluded) equals this."""
    path_prefix: str | None = None
    """The path starts with this, on a segment boundary (`/v1` matches `/v1` and `/v1/x`, not `/v10`)."""
    regex: Regex | None = None
    """The whole path matches this regular expression."""

    def problems(self) -> Problems:
        for key, value in (("exact", self.exact), ("pathPrefix", self.path_prefix)):
            if value is not None and not value.startswith("/"):
                yield key, 'must start with "/"'


class QueryMatch(Spec, frozen=True, kw_only=True):
    """A query parameter condition."""

    name: str
    """Parameter name."""
    value: StringMatch
    """How its value must match."""


class RouteMatch(Spec, frozen=True, kw_only=True):
    """Conditions that all must hold (entries of `matches` are OR'ed)."""

    path: PathMatch | None = None
    """Path condition (default: prefix "/")."""
    method: str | None = None
    """HTTP method."""
    headers: list[HeaderMatch] = []
    """Header conditions."""
    query: list[QueryMatch] = []
    """Query parameter conditions."""


class RouteBackend(Spec, frozen=True, kw_only=True):
    """Where a route sends traffic: exactly one of host, ai, mcp, backend."""

    NOT_SUPPORTED = frozenset({"service", "dynamic", "aws", "internal", "routeGroup"})
    NOT_SUPPORTED_CHECKED = frozenset({"backend"})
    ONE_OF = (("host", "ai", "mcp", "backend", "service", "dynamic", "aws", "internal", "routeGroup"),)
    host: HostPort | None = None
    """A plain HTTP upstream "host:port" (TLS only with `policies.backendTLS`)."""
    ai: AiBackend | None = None
    """An LLM provider or failover groups."""
    mcp: McpBackend | None = None
    """An MCP multiplexer."""
    backend: str | None = None
    """Name of an entry of the top-level `backends`."""
    weight: int = 1
    """Relative share among the route's backends (0 = never picked)."""
    policies: BackendPolicies | None = None
    """Backend-level policies."""

    def problems(self) -> Problems:
        if self.weight < 0:
            yield "weight", "must be >= 0"


class Route(Spec, frozen=True, kw_only=True):
    """An HTTP route: matches, policies, backends."""

    NOT_SUPPORTED = frozenset({"namespace", "ruleName"})
    name: str | None = None
    """Route name (logs/metrics; default `route<N>`)."""
    hostnames: list[str] = []
    """Hosts served (`*.example.com` allowed); empty = any."""
    matches: list[RouteMatch] = []
    """Alternatives; empty = every request."""
    policies: RoutePolicies | None = None
    """Route policies."""
    backends: list[RouteBackend] = []
    """Backends; several are weighted. No backend = the policies must answer (e.g. directResponse)."""

    def problems(self) -> Problems:
        if self.backends and sum(b.weight for b in self.backends) == 0:
            yield "backends", "all weights are 0"


class ForwardedHeaders(Spec, frozen=True, kw_only=True):
    """fastgw: the `X-Forwarded-For/-Proto/-Host` and `Forwarded` fields of this listener's requests.

    Envoy's `use_remote_address` and trusted-hops rule in two switches."""

    add: bool = True
    """Append the client's address to `x-forwarded-for`, and set `x-forwarded-proto: http` and
    `x-forwarded-host` (the Host received) unless a trusted client already set them."""
    trust: bool = False
    """Keep the forwarding fields a client sends: only when every client of this listener is a
    proxy or load balancer you trust. false: a client's `forwarded` and `x-forwarded-*` fields are
    dropped (anyone can write them), so an upstream never sees a spoofed address."""


class Listener(Spec, frozen=True, kw_only=True):
    """A listener on a bind: a hostname and its routes."""

    NOT_SUPPORTED = frozenset({"namespace", "tls", "tcpRoutes"})
    name: str | None = None
    """Listener name (default `listener<N>`)."""
    hostname: str | None = None
    """Host served (wildcards allowed); unset = any."""
    protocol: Annotated[
        Literal["HTTP"], msgspec.Meta(extra={"not_supported_values": ("HTTPS", "TLS", "TCP", "HBONE")})
    ] = "HTTP"
    """Only HTTP for now (HTTPS, TLS, TCP, HBONE are not supported yet)."""
    routes: list[Route] = []
    """Routes, matched most-specific first."""
    policies: ListenerPolicies | None = None
    """Gateway-phase policies."""
    forwarded_headers: ForwardedHeaders | None = None
    """fastgw: X-Forwarded-* handling (default: the client's are dropped, the gateway's added)."""


class Bind(Spec, frozen=True, kw_only=True):
    """A listening port."""

    NOT_SUPPORTED = frozenset({"tunnelProtocol", "mode"})
    port: Port
    """TCP port."""
    listeners: list[Listener]
    """Listeners on this port."""
    address: str | None = None
    """fastgw: the IP address to listen on, e.g. `127.0.0.1` for this host only (default
    `0.0.0.0`, every IPv4 interface; `::` takes IPv6 and IPv4)."""

    def problems(self) -> Problems:
        if self.address is not None and (problem := ip_problem(self.address)):
            yield "address", problem


class NamedBackend(Spec, frozen=True, kw_only=True):
    """A reusable backend (`backends[]`), referenced by `backend: <name>`."""

    NOT_SUPPORTED = frozenset({"aws", "internal"})
    ONE_OF = (("host", "ai", "mcp", "aws", "internal"),)
    name: str
    """Name used in references."""
    host: HostPort | None = None
    """Plain HTTP upstream."""
    ai: AiBackend | None = None
    """LLM backend."""
    mcp: McpBackend | None = None
    """MCP backend."""
    policies: BackendPolicies | None = None
    """Backend policies."""


class ResourceName(Spec, frozen=True, kw_only=True):
    """A namespaced name."""

    name: str
    """Name."""
    namespace: str
    """Namespace."""


class PolicyTarget(Spec, frozen=True, kw_only=True):
    """What a detached policy attaches to (exactly one)."""

    ONE_OF = (("gateway", "route", "backend", "listenerSet"),)
    gateway: dict[str, Any] | None = None
    """A gateway/listener: {gatewayName, gatewayNamespace, listenerName?, port?}."""
    route: dict[str, Any] | None = None
    """A route: {name, namespace, ruleName?}."""
    backend: dict[str, Any] | None = None
    """A backend."""
    listener_set: dict[str, Any] | None = None
    """A listener set."""


class PolicyAttachment(Spec, frozen=True, kw_only=True):
    """A detached policy (`policies[]`)."""

    name: ResourceName
    """Policy name."""
    target: PolicyTarget
    """Attachment point."""
    phase: Literal["route", "gateway"] = "route"
    """Run before (gateway) or after (route) route selection."""
    policy: RoutePolicies
    """The policy."""


class Config(Spec, frozen=True, kw_only=True):
    """Root of a config file (agentgateway standalone format, generations A and B)."""

    NOT_SUPPORTED = frozenset({"workloads", "services", "routeGroups", "gateways", "routes", "tcpRoutes", "ui"})
    NOT_SUPPORTED_CHECKED = frozenset({"policies", "backends"})
    config: ProcessConfig | None = None
    """Process settings."""
    binds: list[Bind] = []
    """Ports and their listeners, routes and backends."""
    frontend_policies: FrontendPolicies | None = None
    """Settings for all downstream traffic."""
    policies: list[PolicyAttachment] = []
    """Detached policies."""
    backends: list[NamedBackend] = []
    """Reusable named backends."""
    llm: LlmConfig | None = None
    """Simplified LLM gateway (default port 4000)."""
    mcp: McpConfig | None = None
    """Simplified MCP gateway (default port 3000)."""

    def problems(self) -> Problems:
        ports = [b.port for b in self.binds]
        if self.llm is not None:
            ports.append(self.llm.port)
        if self.mcp is not None:
            ports.append(self.mcp.port)
        dupes = sorted({p for p in ports if ports.count(p) > 1})
        if dupes:
            yield "binds", f"port used more than once (binds, llm.port, mcp.port): {dupes}"
        names = [b.name for b in self.backends]
        dupe_names = sorted({n for n in names if names.count(n) > 1})
        if dupe_names:
            yield "backends", f"duplicate backend names: {', '.join(dupe_names)}"

    def http_limits(self) -> HttpLimits:
        """Downstream HTTP limits: `config.http`, overridden by agentgateway's own knobs when set
        (`frontendPolicies.http.maxBufferSize/http1MaxHeaders/http1IdleTimeout`,
        `config.connectionTerminationDeadline`)."""
        process = self.config or ProcessConfig()
        limits = process.http
        changes: dict[str, Any] = {}
        front = self.frontend_policies.http if self.frontend_policies is not None else None
        if front is not None:
            if front.max_buffer_size is not None:
                changes["max_body_bytes"] = front.max_buffer_size
            if front.http1_max_headers is not None:
                changes["max_headers"] = front.http1_max_headers
            if front.http1_idle_timeout is not None:
                changes["idle_timeout"] = front.http1_idle_timeout
        if process.connection_termination_deadline is not None:
            changes["drain_timeout"] = process.connection_termination_deadline
        return msgspec.structs.replace(limits, **changes) if changes else limits


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of `Config` (for `fastgw schema` and editors), with the field docstrings."""
    from fastgw.config.jsonschema import build_schema

    return build_schema(Config)


__all__ = [
    "A2aPolicy",
    "AiBackend",
    "AiGroup",
    "AiGroupProvider",
    "AiPolicy",
    "AiProvider",
    "ApiKey",
    "ApiKeys",
    "AuthorityRewrite",
    "AuthzRule",
    "AzureOpenAiSpec",
    "AzureSpec",
    "BackendAuth",
    "BackendHttp",
    "BackendPolicies",
    "BackendRef",
    "BackendTcp",
    "BackendTls",
    "BasicAuth",
    "BedrockSpec",
    "Bind",
    "Buffer",
    "Config",
    "Cors",
    "Csrf",
    "Delay",
    "DirectResponse",
    "Duration",
    "ExtAuthz",
    "FileOrUrl",
    "FileRef",
    "FileRefOrSecretKey",
    "ForwardedHeaders",
    "FrontendHttp",
    "FrontendPolicies",
    "HeaderLocation",
    "HeaderMatch",
    "HeaderModifier",
    "Health",
    "HostPort",
    "HttpLimits",
    "HttpStatus",
    "JwtAuth",
    "KeyLocation",
    "Listener",
    "ListenerPolicies",
    "LlmConfig",
    "LlmModel",
    "LlmParams",
    "LlmPolicies",
    "LlmProvider",
    "LocalRateLimit",
    "Logging",
    "McpAuthentication",
    "McpBackend",
    "McpConfig",
    "McpTarget",
    "Metrics",
    "NamedBackend",
    "OpenAiSpec",
    "OpenApiTarget",
    "PathMatch",
    "PathRewrite",
    "PolicyAttachment",
    "PolicyTarget",
    "Port",
    "ProcessConfig",
    "PromptCaching",
    "PromptGuard",
    "PromptMessage",
    "Prompts",
    "ProviderRef",
    "ProviderSpec",
    "QueryMatch",
    "Regex",
    "RegexGuard",
    "RegexRule",
    "Rejection",
    "RemoteRateLimit",
    "RemoteTarget",
    "RequestGuard",
    "RequestMirror",
    "RequestRedirect",
    "ResourceName",
    "ResponseGuard",
    "Retry",
    "Route",
    "RouteBackend",
    "RouteMatch",
    "RoutePolicies",
    "RouteType",
    "RuleSet",
    "Secret",
    "Spec",
    "StdioTarget",
    "StringMatch",
    "Timeout",
    "Tracing",
    "Transformations",
    "TransportPolicies",
    "UrlRewrite",
    "VertexSpec",
    "VirtualModel",
    "WebhookGuard",
    "config_json_schema",
]
