"""Backends: `ai` (LLM providers, failover groups) and `mcp` (MCP multiplexer targets)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from fastgw.config.schema_aipolicy import AiPolicy, PromptGuard, Prompts
from fastgw.config.schema_base import HostPort, JsonObject, Port, Problems, RouteType, Spec
from fastgw.config.schema_policies import BackendAuth, BackendTls, TransportPolicies
from fastgw.config.schema_policysets import BackendPolicies


class ProviderSpec(Spec, frozen=True, kw_only=True):
    """Provider settings common to all kinds."""

    model: str | None = None
    """Model sent upstream, replacing the client's (so `"model": ""` works); unset = the client's model."""


class OpenAiSpec(ProviderSpec, frozen=True, kw_only=True):
    """OpenAI (`api.openai.com`); any OpenAI-compatible server via `hostOverride`."""

    NOT_SUPPORTED = frozenset({"moderation"})


class VertexSpec(ProviderSpec, frozen=True, kw_only=True):
    """Google Vertex AI."""

    region: str | None = None
    """Region, or `global`, `us`, `eu`."""
    project_id: str
    """Google Cloud project."""


class BedrockSpec(ProviderSpec, frozen=True, kw_only=True):
    """AWS Bedrock (Converse API)."""

    region: str
    """AWS region."""
    guardrail_identifier: str | None = None
    """Bedrock guardrail id."""
    guardrail_version: str | None = None
    """Bedrock guardrail version."""


class AzureSpec(ProviderSpec, frozen=True, kw_only=True):
    """Azure OpenAI / AI Foundry (current `azure` form)."""

    resource_name: str
    """Resource name; the host is derived from it."""
    resource_type: Literal["openAI", "foundry", "aiServices"]
    """Endpoint kind (host suffix)."""
    api_version: str | None = None
    """`api-version` query parameter."""
    project_name: str | None = None
    """Foundry project (required with resourceType foundry)."""

    def problems(self) -> Problems:
        if self.resource_type == "foundry" and not self.project_name:
            yield "projectName", "required when resourceType is foundry"


class AzureOpenAiSpec(ProviderSpec, frozen=True, kw_only=True):
    """Azure OpenAI, older `azureOpenAI` form with an explicit host."""

    host: str
    """Resource host, e.g. `myres.openai.azure.com`."""
    api_version: str | None = None
    """`api-version` query parameter."""


class AiProvider(Spec, frozen=True, kw_only=True):
    """Exactly one provider kind: `{openAI: {model: gpt-4o}}`, `{anthropic: {}}`..."""

    NOT_SUPPORTED = frozenset({"copilot", "custom"})
    NOT_SUPPORTED_CHECKED = frozenset({"vertex", "bedrock"})
    ONE_OF = (("openAI", "anthropic", "gemini", "vertex", "bedrock", "azure", "azureOpenAI", "copilot", "custom"),)
    open_ai: OpenAiSpec | None = msgspec.field(default=None, name="openAI")
    """OpenAI chat completions / responses / embeddings."""
    anthropic: ProviderSpec | None = None
    """Anthropic messages (key sent as `x-api-key`, `anthropic-version: 2023-06-01`)."""
    gemini: ProviderSpec | None = None
    """Google Gemini."""
    vertex: VertexSpec | None = None
    """Google Vertex AI."""
    bedrock: BedrockSpec | None = None
    """AWS Bedrock."""
    azure: AzureSpec | None = None
    """Azure OpenAI / Foundry."""
    azure_open_ai: AzureOpenAiSpec | None = msgspec.field(default=None, name="azureOpenAI")
    """Azure OpenAI (older spelling)."""

    @property
    def kind(self) -> str:
        """The YAML key of the configured provider ("openAI", "anthropic", ...)."""
        for name in self.ONE_OF[0]:
            attr = _PROVIDER_ATTRS.get(name)
            if attr is not None and getattr(self, attr) is not None:
                return name
        raise ValueError("no provider set")

    @property
    def spec(self) -> ProviderSpec:
        """The configured provider's settings."""
        attr = _PROVIDER_ATTRS[self.kind]
        value: ProviderSpec = getattr(self, attr)
        return value


_PROVIDER_ATTRS = {
    "openAI": "open_ai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "vertex": "vertex",
    "bedrock": "bedrock",
    "azure": "azure",
    "azureOpenAI": "azure_open_ai",
}


class _ProviderFields(Spec, frozen=True, kw_only=True):
    """Fields shared by a single-provider `ai` backend and a group entry, including older spellings."""

    NOT_SUPPORTED_CHECKED = frozenset({"promptGuard"})

    name: str | None = None
    """Provider name (telemetry, logs)."""
    provider: AiProvider | None = None
    """The provider."""
    host_override: HostPort | None = None
    """Send to this "host:port" instead of the provider's host; plain HTTP unless `backendTLS` is set."""
    path_override: str | None = None
    """Send to this full path instead of the provider's."""
    path_prefix: str | None = None
    """Replace the provider's base path prefix (e.g. `/v1`)."""
    tokenize: bool = False
    """Count prompt tokens locally before sending (accurate token rate limits, costs CPU)."""
    policies: BackendPolicies | None = None
    """Backend policies (current spelling for routes, backendAuth, backendTLS...)."""
    routes: dict[str, RouteType] | None = None
    """Older spelling of `policies.ai.routes`."""
    backend_auth: BackendAuth | None = None
    """Older spelling of `policies.backendAuth`."""
    backend_tls: BackendTls | None = msgspec.field(default=None, name="backendTLS")
    """Older spelling of `policies.backendTLS`."""
    prompt_guard: PromptGuard | None = None
    """Older spelling of `policies.ai.promptGuard`."""
    defaults: JsonObject | None = None
    """Older spelling of `policies.ai.defaults`."""
    overrides: JsonObject | None = None
    """Older spelling of `policies.ai.overrides`."""
    prompts: Prompts | None = None
    """Older spelling of `policies.ai.prompts`."""
    model_aliases: dict[str, str] | None = None
    """Older spelling of `policies.ai.modelAliases`."""

    def effective_policies(self) -> BackendPolicies:
        """`policies` with the older spellings folded in; a value under `policies` wins over an older one."""
        pol = self.policies or BackendPolicies()
        ai = pol.ai or AiPolicy()
        ai = msgspec.structs.replace(
            ai,
            routes=ai.routes or self.routes or {},
            prompt_guard=ai.prompt_guard or self.prompt_guard,
            defaults=ai.defaults if ai.defaults is not None else self.defaults,
            overrides=ai.overrides if ai.overrides is not None else self.overrides,
            prompts=ai.prompts or self.prompts,
            model_aliases=ai.model_aliases or self.model_aliases or {},
        )
        return msgspec.structs.replace(
            pol,
            ai=ai,
            backend_auth=pol.backend_auth or self.backend_auth,
            backend_tls=pol.backend_tls or self.backend_tls,
        )


class AiGroupProvider(_ProviderFields, frozen=True, kw_only=True):
    """One provider of a failover group."""

    def problems(self) -> Problems:
        if self.provider is None:
            yield "", "missing required field provider"


class AiGroup(Spec, frozen=True, kw_only=True):
    """A priority tier: its providers share load; the next group is used when none is healthy."""

    providers: list[AiGroupProvider]
    """Providers of this tier."""

    def problems(self) -> Problems:
        if not self.providers:
            yield "providers", "a group needs at least one provider"


class AiBackend(_ProviderFields, frozen=True, kw_only=True):
    """An LLM backend: one `provider`, or failover `groups` (tried in order)."""

    PARTLY_SUPPORTED = {"groups": "one group with one provider; failover between providers is not supported yet"}
    ONE_OF = (("provider", "groups"),)
    groups: list[AiGroup] | None = None
    """Failover tiers; with groups, the other fields go on each provider entry."""

    def problems(self) -> Problems:
        if self.groups is None:
            return
        if not self.groups:
            yield "groups", "at least one group is required"
        for key, value in (
            ("name", self.name),
            ("hostOverride", self.host_override),
            ("pathOverride", self.path_override),
            ("pathPrefix", self.path_prefix),
            ("policies", self.policies),
            ("routes", self.routes),
            ("backendAuth", self.backend_auth),
        ):
            if value is not None:
                yield key, "not allowed next to groups: set it on each provider in groups[].providers[]"


class StdioTarget(Spec, frozen=True, kw_only=True):
    """An MCP server started as a child process speaking stdio."""

    cmd: str
    """Executable."""
    args: list[str] = []
    """Arguments."""
    env: dict[str, str] = {}
    """Extra environment variables."""
    clear_env: bool = msgspec.field(default=False, name="clear_env")
    """Start from an empty environment."""


class RemoteTarget(Spec, frozen=True, kw_only=True):
    """A remote MCP server: a URL in `host`, or host + port + path, or a named backend + path."""

    ONE_OF = (("host", "backend"),)
    host: str | None = None
    """URL (`https://mcp.example.com/mcp`) or host name."""
    port: Port | None = None
    """Port, with a bare host."""
    path: str | None = None
    """Path, with a bare host or a backend."""
    backend: str | None = None
    """Name of a top-level backend."""


class OpenApiTarget(RemoteTarget, frozen=True, kw_only=True):
    """A REST API exposed as MCP tools from its OpenAPI document."""

    schema: Any
    """The OpenAPI document: inline, `{file}` or `{url}`."""


class ToolFilter(Spec, frozen=True, kw_only=True):
    """fastgw: which of a target's tools clients see and may call (names as the target gives them)."""

    include: list[str] | None = None
    """Only these tools (absent: all)."""
    exclude: list[str] = []
    """Never these tools."""


class McpTarget(Spec, frozen=True, kw_only=True):
    """One MCP server behind the multiplexer; its tools are exposed as `<name>_<tool>`."""

    ONE_OF = (("stdio", "sse", "mcp", "openapi"),)
    NOT_SUPPORTED_CHECKED = frozenset({"openapi"})
    PARTLY_SUPPORTED = {"policies": "backendAuth (a key string) and backendTLS, on mcp and sse targets"}
    name: str
    """Target name (tool-name prefix)."""
    stdio: StdioTarget | None = None
    """Local process over stdio."""
    sse: RemoteTarget | None = None
    """Remote server, legacy HTTP+SSE transport."""
    mcp: RemoteTarget | None = None
    """Remote server, streamable HTTP transport."""
    openapi: OpenApiTarget | None = None
    """REST API via OpenAPI."""
    policies: TransportPolicies | None = None
    """TLS/auth/headers towards a remote target (not for stdio)."""
    tools: ToolFilter | None = None
    """fastgw: tool include/exclude lists."""

    def problems(self) -> Problems:
        if self.stdio is not None and self.policies is not None:
            yield "policies", "not allowed on a stdio target"


class McpBackend(Spec, frozen=True, kw_only=True):
    """An MCP multiplexer over several targets."""

    targets: list[McpTarget]
    """The servers."""
    stateful_mode: Literal["stateful", "stateless"] | None = None
    """Sessions kept (stateful, default) or one throw-away upstream session per request."""
    prefix_mode: Literal["conditional", "always", "never"] | None = None
    """Tool-name prefixing: only with several targets (conditional, default), always, never."""
    failure_mode: Literal["failClosed", "failOpen"] | None = None
    """A failing target fails the session (failClosed, default) or is skipped (failOpen)."""
    dns_rebinding_protection: bool = False
    """Require localhost Host/Origin."""

    def problems(self) -> Problems:
        names = [t.name for t in self.targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            yield "targets", f"duplicate target names: {', '.join(dupes)}"
