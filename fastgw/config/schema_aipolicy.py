"""The `ai` policy (LLM request handling) and prompt guards."""

from __future__ import annotations

from typing import Literal

from fastgw.config.schema_base import (
    BackendRef,
    HeaderMatch,
    HeaderModifier,
    HttpStatus,
    JsonObject,
    Problems,
    Regex,
    RouteType,
    Spec,
)


class PromptMessage(Spec, frozen=True, kw_only=True):
    """A chat message added to every request: `{role: system, content: "Be terse."}`."""

    role: str
    """Message role: system, user or assistant (system messages become Anthropic `system`)."""
    content: str
    """Message text."""


class Prompts(Spec, frozen=True, kw_only=True):
    """Messages added around the client's messages."""

    prepend: list[PromptMessage] = []
    """Inserted before the client's messages."""
    append: list[PromptMessage] = []
    """Added after the client's messages."""


class RegexRule(Spec, frozen=True, kw_only=True):
    """One pattern: a builtin detector or a custom regex."""

    ONE_OF = (("builtin", "pattern"),)
    builtin: Literal["ssn", "creditCard", "phoneNumber", "email", "caSin"] | None = None
    """A built-in detector for sensitive data."""
    pattern: Regex | None = None
    """A custom regular expression."""


class RegexGuard(Spec, frozen=True, kw_only=True):
    """Mask or reject content matching any rule."""

    action: Literal["mask", "reject"] = "mask"
    """What to do on a match."""
    rules: list[RegexRule]
    """Patterns to look for."""


class WebhookGuard(Spec, frozen=True, kw_only=True):
    """Ask an HTTP service whether to pass, mask or reject (agentgateway's webhook guard protocol)."""

    target: BackendRef
    """The webhook service."""
    headers: dict[str, str] = {}
    """Headers set on the webhook request (values are CEL expressions)."""
    forward_header_matches: list[HeaderMatch] = []
    """Incoming request headers to forward to the webhook."""
    failure_mode: Literal["failClosed", "failOpen"] = "failClosed"
    """Behaviour when the webhook is unreachable."""


class Rejection(Spec, frozen=True, kw_only=True):
    """The response sent when a guard rejects."""

    status: HttpStatus = 403
    """HTTP status (agentgateway's default is 403)."""
    body: str = "The request was rejected due to inappropriate content"
    """Response body."""
    headers: HeaderModifier | None = None
    """Header edits on the rejection response."""


class RequestGuard(Spec, frozen=True, kw_only=True):
    """One guard applied to requests before they reach the provider."""

    NOT_SUPPORTED = frozenset({"openAIModeration", "bedrockGuardrails", "googleModelArmor", "azureContentSafety"})
    ONE_OF = (
        (
            "regex",
            "webhook",
            "openAIModeration",
            "bedrockGuardrails",
            "googleModelArmor",
            "azureContentSafety",
        ),
    )
    regex: RegexGuard | None = None
    """Regex masking or rejection."""
    webhook: WebhookGuard | None = None
    """External webhook decision."""
    rejection: Rejection | None = None
    """Custom rejection response."""
    scope: list[Literal["systemPrompt", "messages", "toolOutput", "toolInput"]] | None = None
    """Which parts of the request this guard inspects (default: all)."""


class ResponseGuard(Spec, frozen=True, kw_only=True):
    """One guard applied to provider responses."""

    NOT_SUPPORTED = frozenset({"bedrockGuardrails", "googleModelArmor", "azureContentSafety"})
    ONE_OF = (("regex", "webhook", "bedrockGuardrails", "googleModelArmor", "azureContentSafety"),)
    regex: RegexGuard | None = None
    """Regex masking or rejection."""
    webhook: WebhookGuard | None = None
    """External webhook decision."""
    rejection: Rejection | None = None
    """Custom rejection response."""


class PromptGuard(Spec, frozen=True, kw_only=True):
    """Guards on requests and responses."""

    request: list[RequestGuard] = []
    """Guards run on the request, in order."""
    response: list[ResponseGuard] = []
    """Guards run on the response, in order."""
    streaming: Literal["Disabled", "Enabled", "disabled", "enabled"] | None = None
    """Whether response guards also apply to streamed responses."""


class PromptCaching(Spec, frozen=True, kw_only=True):
    """Where to add provider cache markers (Anthropic `cache_control`, Bedrock cache points)."""

    cache_system: bool = True
    """Mark the system prompt."""
    cache_messages: bool = True
    """Mark the conversation messages."""
    cache_tools: bool = False
    """Mark tool definitions."""
    min_tokens: int | None = 1024
    """Only add markers when the prompt is at least this many tokens."""
    cache_message_offset: int = 0
    """Offset from the end of the conversation for the message marker."""


class AiPolicy(Spec, frozen=True, kw_only=True):
    """LLM request handling (`policies.ai`): route types, model aliases, body defaults/overrides, prompts."""

    NOT_SUPPORTED_CHECKED = frozenset({"transformations", "finalTransformations", "promptGuard", "promptCaching"})
    routes: dict[str, RouteType] = {}
    """Path-suffix -> route type. Longest suffix wins, `*` is the fallback. With no map every path is
    treated as `completions` (agentgateway binds-mode behaviour) except the OpenAI Responses API:
    `/v1/responses` is `responses`, `/v1/responses/compact` `detect`, and what lies below
    `/v1/responses/` (stored responses: GET/DELETE, cancel) `passthrough`. A `responses` request to
    a provider without that API is translated: to Anthropic Messages or to chat completions."""
    model_aliases: dict[str, str] = {}
    """Requested model -> model sent upstream; keys may be wildcards (`claude-*`)."""
    defaults: JsonObject | None = None
    """Body fields set only when the client did not send them."""
    overrides: JsonObject | None = None
    """Body fields always set, replacing the client's."""
    transformations: dict[str, str] | None = None
    """Body fields computed by CEL expressions, before translation."""
    final_transformations: dict[str, str] | None = None
    """Body fields computed by CEL expressions, after translation to the provider format."""
    prompts: Prompts | None = None
    """Messages prepended/appended to every chat request."""
    prompt_guard: PromptGuard | None = None
    """Request/response guards."""
    prompt_caching: PromptCaching | None = None
    """Provider cache markers."""

    def problems(self) -> Problems:
        for suffix in self.routes:
            if suffix != "*" and not suffix:
                yield "routes", 'empty path suffix (use "*" for the fallback)'
