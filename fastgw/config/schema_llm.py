"""The simplified feature blocks: `llm:` (an OpenAI/Anthropic-compatible model gateway) and `mcp:`."""

from __future__ import annotations

from typing import Literal

import msgspec

from fastgw.config.schema_aipolicy import PromptCaching, PromptGuard
from fastgw.config.schema_backends import McpTarget
from fastgw.config.schema_base import (
    HeaderMatch,
    HeaderModifier,
    HostPort,
    JsonObject,
    Port,
    Problems,
    SecretOrFile,
    Spec,
)
from fastgw.config.schema_policies import BackendAuth, BackendTls, Health, RuleSet
from fastgw.config.schema_policysets import LlmPolicies, RoutePolicies

ProviderName = Literal[
    "openai",
    "openAI",
    "anthropic",
    "gemini",
    "vertex",
    "bedrock",
    "azure",
    "copilot",
    # Presets: OpenAI-compatible services with a fixed base URL.
    "cohere",
    "ollama",
    "baseten",
    "cerebras",
    "deepinfra",
    "deepseek",
    "groq",
    "huggingface",
    "mistral",
    "openrouter",
    "togetherai",
    "xai",
    "fireworks",
]
"""Provider kinds accepted by `llm.models[].provider` and `llm.providers[].provider`."""


class ProviderRef(Spec, frozen=True, kw_only=True):
    """`{reference: <llm.providers[].name>}`: inherit a shared provider's params and defaults."""

    NOT_SUPPORTED = frozenset({"custom"})
    ONE_OF = (("reference", "custom"),)
    reference: str | None = None
    """Name of an entry of `llm.providers`."""


class LlmParams(Spec, frozen=True, kw_only=True):
    """Outgoing request parameters of a model or shared provider."""

    model: str | None = None
    """Model sent upstream; unset = the requested model."""
    api_key: SecretOrFile | None = None
    """Provider key (inline or `{file}`); unset = taken from the provider's usual env var."""
    base_url: str | None = None
    """Provider base URL (`http://127.0.0.1:11434/v1`): host, path prefix and TLS in one."""
    host_override: HostPort | None = None
    """Send to this "host:port"."""
    path_override: str | None = None
    """Send to this full path."""
    path_prefix: str | None = None
    """Replace the base path prefix."""
    tokenize: bool = False
    """Count prompt tokens locally before sending."""
    aws_region: str | None = None
    """Bedrock region."""
    vertex_region: str | None = None
    """Vertex region."""
    vertex_project: str | None = None
    """Vertex project."""
    azure_resource_name: str | None = None
    """Azure resource name."""
    azure_resource_type: Literal["openAI", "foundry", "aiServices"] | None = None
    """Azure endpoint kind."""
    azure_api_version: str | None = None
    """Azure api-version."""
    azure_project_name: str | None = None
    """Azure Foundry project."""

    def problems(self) -> Problems:
        if self.base_url is not None:
            if not self.base_url.startswith(("http://", "https://")):
                yield "baseUrl", "must start with http:// or https://"
            if self.host_override is not None or self.path_prefix is not None:
                yield "baseUrl", "give either baseUrl or hostOverride/pathPrefix, not both"


class _ModelPolicyFields(Spec, frozen=True, kw_only=True):
    """Per-model/provider request shaping and backend settings."""

    NOT_SUPPORTED = frozenset({"backendTunnel"})
    NOT_SUPPORTED_CHECKED = frozenset({"transformation", "requestHeaders", "responseHeaders", "promptCaching"})
    defaults: JsonObject | None = None
    """Body fields set when absent."""
    overrides: JsonObject | None = None
    """Body fields always set."""
    transformation: dict[str, str] | None = None
    """Body fields from CEL, before translation."""
    request_headers: HeaderModifier | None = None
    """Header edits on requests to the provider."""
    response_headers: HeaderModifier | None = None
    """Header edits on provider responses."""
    backend_tls: BackendTls | None = msgspec.field(default=None, name="backendTLS")
    """TLS to the provider."""
    tls: BackendTls | None = None
    """Alias of backendTLS."""
    auth: BackendAuth | None = None
    """Credential sent to the provider (instead of params.apiKey)."""
    health: Health | None = None
    """Outlier detection for this model as a target of virtual models (see the backend `health`)."""
    prompt_caching: PromptCaching | None = None
    """Provider cache markers."""


class LlmProviderDefaults(_ModelPolicyFields, frozen=True, kw_only=True):
    """Defaults a shared provider gives every model that references it."""


class LlmProvider(Spec, frozen=True, kw_only=True):
    """A reusable provider definition (`llm.providers[]`)."""

    name: str
    """Referenced as `provider: {reference: <name>}`."""
    provider: ProviderName | ProviderRef
    """Provider kind."""
    params: LlmParams = msgspec.field(default_factory=LlmParams)
    """Outgoing request parameters."""
    defaults: LlmProviderDefaults | None = None
    """Defaults for referencing models."""


class LlmRouteMatch(Spec, frozen=True, kw_only=True):
    """Extra conditions for a model entry to apply."""

    headers: list[HeaderMatch] = []
    """Request headers that must match."""


class LlmModel(_ModelPolicyFields, frozen=True, kw_only=True):
    """A servable model (`llm.models[]`): the client's `model` is matched against `name`."""

    NOT_SUPPORTED_CHECKED = _ModelPolicyFields.NOT_SUPPORTED_CHECKED | {
        "authorization",
        "finalTransformation",
        "guardrails",
        "passthrough",
        "matches",
    }

    id: str | None = None
    """Stable id of this entry."""
    name: str
    """Match pattern: exact, `prefix*`, `*suffix` or `*`."""
    provider: ProviderName | ProviderRef
    """Provider kind or `{reference: ...}`."""
    params: LlmParams = msgspec.field(default_factory=LlmParams)
    """Outgoing request parameters."""
    visibility: Literal["public", "internal"] = "public"
    """internal models are reachable only through virtual models (not listed, not served by name)."""
    passthrough: Literal["detect", "opaque"] | None = None
    """Forward bodies untranslated (detect: still read usage)."""
    authorization: RuleSet | None = None
    """Who may use this model."""
    final_transformation: dict[str, str] | None = None
    """Body fields from CEL, after translation."""
    guardrails: PromptGuard | None = None
    """Guards for this model."""
    matches: list[LlmRouteMatch] = []
    """Extra conditions (headers)."""


class WeightedTarget(Spec, frozen=True, kw_only=True):
    """A weighted choice."""

    model: str
    """Model name (matched like a client request)."""
    weight: int = 1
    """Relative share."""


class WeightedRouting(Spec, frozen=True, kw_only=True):
    """One tier with weights: power of two choices weighted draws (equal health and latency share
    the load by weight), failing over to the other targets."""

    targets: list[WeightedTarget]
    """Choices."""


class FailoverTarget(Spec, frozen=True, kw_only=True):
    """A failover tier member."""

    model: str
    """Model name."""
    priority: int
    """Lower is tried first."""


class FailoverRouting(Spec, frozen=True, kw_only=True):
    """Priority tiers: the lowest priority with a healthy target serves; a failed try (a 401,
    403, 429, 5xx or a failed connection) moves on to the next target within the request."""

    targets: list[FailoverTarget]
    """Tiers."""


class ConditionalTarget(Spec, frozen=True, kw_only=True):
    """A CEL-selected choice."""

    when: str | None = None
    """CEL over `llmRequest`; omit only on the last (fallback) target."""
    model: str
    """Model name."""


class ConditionalRouting(Spec, frozen=True, kw_only=True):
    """First target whose `when` is true (CEL over `llmRequest`, the request body); none: 400
    `virtual_model_no_matching_target`."""

    targets: list[ConditionalTarget]
    """Choices, in order."""


class VirtualRouting(Spec, frozen=True, kw_only=True):
    """Exactly one routing kind."""

    ONE_OF = (("weighted", "failover", "conditional"),)
    weighted: WeightedRouting | None = None
    """Weighted split."""
    failover: FailoverRouting | None = None
    """Priority failover."""
    conditional: ConditionalRouting | None = None
    """CEL conditions."""


class VirtualModel(Spec, frozen=True, kw_only=True):
    """A public model name routed to configured models."""

    name: str
    """Name clients request."""
    routing: VirtualRouting
    """How a target is chosen."""


class LlmConfig(Spec, frozen=True, kw_only=True):
    """`llm:`: serves /v1/chat/completions, /v1/messages(/count_tokens), /v1/embeddings, /v1/models."""

    NOT_SUPPORTED = frozenset({"gateways", "tls"})
    NOT_SUPPORTED_CHECKED = frozenset({"policies"})
    port: Port = 4000
    """Listening port."""
    models: list[LlmModel]
    """Models, matched in order against the requested model; `/v1/models` lists the names that
    are models (a wildcard name routes the models it matches but is not listed)."""
    providers: list[LlmProvider] = []
    """Shared provider definitions."""
    virtual_models: list[VirtualModel] = []
    """Virtual models."""
    policies: LlmPolicies | None = None
    """Policies applied before model selection."""

    def problems(self) -> Problems:
        known = {p.name for p in self.providers}
        for i, model in enumerate(self.models):
            ref = model.provider
            if isinstance(ref, ProviderRef) and ref.reference is not None and ref.reference not in known:
                yield (
                    ("models", i, "provider", "reference"),
                    f"no provider named {ref.reference!r} in llm.providers",
                )


class McpConfig(Spec, frozen=True, kw_only=True):
    """`mcp:`: an MCP multiplexer served at /mcp (streamable HTTP) and /sse."""

    NOT_SUPPORTED = frozenset({"gateways"})
    port: Port = 3000
    """Listening port."""
    targets: list[McpTarget]
    """MCP servers."""
    stateful_mode: Literal["stateful", "stateless"] | None = None
    """Session handling (default stateful)."""
    prefix_mode: Literal["conditional", "always", "never"] | None = None
    """Tool-name prefixing (default conditional)."""
    failure_mode: Literal["failClosed", "failOpen"] | None = None
    """Target failure handling (default failClosed)."""
    dns_rebinding_protection: bool = False
    """Require localhost Host/Origin."""
    policies: RoutePolicies | None = None
    """Policies for MCP requests."""
