"""Config -> ``Target``: binds-mode ``ai`` providers (both spellings) and ``llm.models[]`` entries.

Runs at config compile time (supervisor), never per request. Problems are appended to ``errors`` as
``key.path: message``; anything parsed but not enforced here is a "not supported yet" error, never
silently ignored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final, TypeVar
from urllib.parse import urlsplit

import msgspec

from fastgw.backends.llm.providers import (
    AZURE_OPENAI,
    PROVIDERS,
    ProviderSpec,
    auth_header,
    custom_spec,
)
from fastgw.backends.llm.routes import RouteTable, compile_routes, llm_mode_routes
from fastgw.backends.llm.target import NO_SHAPING, Shaping, Target
from fastgw.backends.llm.translate.edits import ModelAliases
from fastgw.backends.llm.types import WireFormat
from fastgw.config.schema_aipolicy import Prompts
from fastgw.config.schema_backends import AiBackend, AiGroupProvider, AiProvider
from fastgw.config.schema_base import JsonObject
from fastgw.config.schema_llm import LlmModel, LlmParams, LlmProvider, LlmProviderDefaults
from fastgw.config.schema_policies import BackendAuth, BackendTls
from fastgw.config.schema_policysets import BackendPolicies, RoutePolicies
from fastgw.config.support import reject_unsupported
from fastgw.config.upstream import backend_key, secret_text, split_host_port
from fastgw.config.upstream import origin as upstream_origin
from fastgw.upstream.origin import Origin

# Backend-policy keys an ai backend enforces; any other one set is a compile error.
_SUPPORTED_BACKEND_POLICIES: Final = frozenset({"backend_auth", "backend_tls", "ai", "health"})

T = TypeVar("T")

# OpenAI-compatible `llm:` presets: fixed base URLs (agentgateway custom.rs ProviderPreset).
_PRESET_URLS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ollama": "http://localhost:11434/v1",
        "groq": "https://api.groq.com/openai/v1",
        "openrouter": "https://openrouter.ai/api/v1",
        "deepseek": "https://api.deepseek.com/v1",
        "mistral": "https://api.mistral.ai/v1",
        "togetherai": "https://api.together.xyz/v1",
        "xai": "https://api.x.ai/v1",
        "fireworks": "https://api.fireworks.ai/inference/v1",
        "cerebras": "https://api.cerebras.ai/v1",
        "deepinfra": "https://api.deepinfra.com/v1/openai",
        "huggingface": "https://router.huggingface.co/v1",
        "baseten": "https://inference.baseten.co/v1",
        "cohere": "https://api.cohere.ai/compatibility/v1",
    }
)
# What a preset's server is taken to accept: chat completions and embeddings, the OpenAI-compatible
# common ground (a Responses request is translated to chat for them).
_PRESET_SPEC: Final = custom_spec({WireFormat.COMPLETIONS: None, WireFormat.EMBEDDINGS: None}, "openai")
# Where `llm:` models without params.apiKey take their key from.
_KEY_ENV: Final[Mapping[str, str]] = MappingProxyType(
    {"openAI": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}
)


def auth_from_policy(
    spec: ProviderSpec, auth: BackendAuth | None, path: str, errors: list[str]
) -> tuple[bytes, bytes] | None:
    """``backendAuth`` as the header the provider expects (a plain key goes in the provider's style)."""
    if auth is None:
        return None
    key = backend_key(auth, path, errors)
    if key is None:
        errors.append(f"{path}: not supported yet: backendAuth other than `key` on ai backends")
        return None
    if key.header is None:
        return auth_header(spec, key.text)
    return key.header.name.lower().encode(), (key.header.prefix or "").encode() + key.text.encode()


def origin_for(
    spec: ProviderSpec, host: str | None, host_override: str | None, tls: BackendTls | None
) -> Origin | None:
    """hostOverride ("host:port") is plain HTTP unless backendTLS is set; provider hosts use TLS."""
    if host_override is not None:
        return upstream_origin(*split_host_port(host_override), tls)
    default = host or spec.host
    if default is None:
        return None
    return upstream_origin(default, spec.port, tls, secure=spec.tls)


def _first(*values: T | None) -> T | None:
    """The first set value (falsy ones too)."""
    for v in values:
        if v is not None:
            return v
    return None


def _pick(*values: T | None) -> T | None:
    """The first non-empty value (an empty map in a nearer layer does not hide an outer one)."""
    for v in values:
        if v:
            return v
    return None


def _shaping(
    aliases: Mapping[str, str] | None,
    defaults: JsonObject | None,
    overrides: JsonObject | None,
    prompts: Prompts | None,
) -> Shaping:
    prepend = tuple(msgspec.to_builtins(m) for m in prompts.prepend) if prompts is not None else ()
    append = tuple(msgspec.to_builtins(m) for m in prompts.append) if prompts is not None else ()
    shaping = Shaping(
        aliases=ModelAliases(aliases) if aliases else None,
        defaults=MappingProxyType(dict(defaults)) if defaults else None,
        overrides=MappingProxyType(dict(overrides)) if overrides else None,
        prepend=prepend,
        append=append,
    )
    return shaping if shaping.active else NO_SHAPING


def _spec_and_host(provider: AiProvider, path: str, errors: list[str]) -> tuple[ProviderSpec, str | None] | None:
    kind = provider.kind
    spec = PROVIDERS.get(kind)
    if kind == "azure":
        az = provider.azure
        assert az is not None  # `kind` is the one set
        if az.resource_type == "foundry":
            errors.append(f"{path}.azure.resourceType: not supported yet: foundry")
            return None
        suffix = "openai.azure.com" if az.resource_type == "openAI" else "services.ai.azure.com"
        return AZURE_OPENAI, f"{az.resource_name}.{suffix}"
    if kind == "azureOpenAI":
        assert provider.azure_open_ai is not None
        return AZURE_OPENAI, provider.azure_open_ai.host
    if kind == "custom":
        custom = provider.custom
        assert custom is not None
        formats = {WireFormat(f.type): f.path for f in custom.formats}
        return custom_spec(formats, custom.provider_override or "custom"), None
    if spec is None:
        errors.append(f"{path}.{kind}: not supported yet: {kind} provider")
        return None
    return spec, None


def check_backend_policies(pol: BackendPolicies | None, path: str, errors: list[str]) -> None:
    """Backend-level policies an ai backend cannot enforce are errors, never silently dropped."""
    reject_unsupported(pol, _SUPPORTED_BACKEND_POLICIES, path, errors, " on ai backends")


def binds_target(
    entry: AiBackend | AiGroupProvider,
    layers: Sequence[BackendPolicies | RoutePolicies | None],
    path: str,
    errors: list[str],
) -> Target | None:
    """A binds-mode provider (an ``ai`` backend or a group entry).

    ``layers`` are the outer policy blocks, most specific first (the route backend's ``policies``,
    then the route's); the entry's own ``policies`` and older spellings win over them.
    """
    pol = entry.effective_policies()
    check_backend_policies(pol, f"{path}.policies", errors)
    ai_layers = [ai for ai in (pol.ai, *(layer.ai for layer in layers if layer is not None)) if ai is not None]
    for ai in ai_layers:
        for name, value in (
            ("transformations", ai.transformations),
            ("final_transformations", ai.final_transformations),
            ("prompt_guard", ai.prompt_guard),
            ("prompt_caching", ai.prompt_caching),
        ):
            if value is not None:
                errors.append(f"{path}: not supported yet: policies.ai.{name}")
    if entry.provider is None:
        errors.append(f"{path}: missing required field provider")
        return None
    found = _spec_and_host(entry.provider, f"{path}.provider", errors)
    if found is None:
        return None
    spec, host = found
    outer = [layer for layer in layers if layer is not None]
    auth = _first(pol.backend_auth, *(layer.backend_auth for layer in outer))
    tls = _first(pol.backend_tls, *(layer.backend_tls for layer in outer))
    origin = origin_for(spec, host, entry.host_override, tls)
    if origin is None:
        errors.append(f"{path}: {spec.key} needs a host (hostOverride)")
        return None

    try:
        routes = compile_routes(_pick(*(ai.routes for ai in ai_layers)))
    except ValueError as exc:
        errors.append(f"{path}.routes: {exc}")
        routes = compile_routes(None)
    return Target(
        name=entry.name or spec.telemetry_name,
        spec=spec,
        origin=origin,
        host_header=origin.authority.encode(),
        model=entry.provider.spec.model or None,
        auth=auth_from_policy(spec, auth, f"{path}.backendAuth", errors),
        routes=routes,
        path_override=entry.path_override.encode() if entry.path_override else None,
        path_prefix=entry.path_prefix,
        shaping=_shaping(
            _pick(*(ai.model_aliases for ai in ai_layers)),
            _pick(*(ai.defaults for ai in ai_layers)),
            _pick(*(ai.overrides for ai in ai_layers)),
            _pick(*(ai.prompts for ai in ai_layers)),
        ),
        tokenize=entry.tokenize,
    )


# -- llm: block ---------------------------------------------------------------------------------
def llm_target(model: LlmModel, shared: Mapping[str, LlmProvider], path: str, errors: list[str]) -> Target | None:
    """One ``llm.models[]`` entry (with its referenced ``llm.providers[]`` entry folded in)."""
    for name, value in (
        ("transformation", model.transformation),
        ("request_headers", model.request_headers),
        ("response_headers", model.response_headers),
        ("prompt_caching", model.prompt_caching),
        ("authorization", model.authorization),
        ("final_transformation", model.final_transformation),
        ("guardrails", model.guardrails),
        ("passthrough", model.passthrough),
    ):
        if value is not None:
            errors.append(f"{path}: not supported yet: llm.models[].{name}")
    if model.matches:
        errors.append(f"{path}: not supported yet: llm.models[].matches")
    params = model.params
    base: LlmProvider | None = None
    if isinstance(model.provider, str):
        kind = model.provider
    else:
        ref = model.provider.reference
        base = shared.get(ref) if ref is not None else None
        if base is None:
            errors.append(f"{path}.provider.reference: unknown provider {ref!r}")
            return None
        if not isinstance(base.provider, str):
            errors.append(f"{path}.provider: not supported yet: chained provider references")
            return None
        kind = base.provider
    # a model's own value, else its shared provider's
    shared_params = base.params if base is not None else LlmParams()
    defaults = (base.defaults if base is not None else None) or LlmProviderDefaults()

    kind = "openAI" if kind in ("openai", "openAI") or kind in _PRESET_URLS else kind
    spec = PROVIDERS.get(kind)
    provider_name = model.provider if isinstance(model.provider, str) else kind
    if spec is None:
        errors.append(f"{path}.provider: not supported yet: {kind} provider")
        return None
    if provider_name in _PRESET_URLS:
        spec = _PRESET_SPEC
    base_url = _first(params.base_url, shared_params.base_url) or _PRESET_URLS.get(str(provider_name))
    tls = _first(model.backend_tls, defaults.backend_tls) or _first(model.tls, defaults.tls)
    host_override = _first(params.host_override, shared_params.host_override)
    prefix = _first(params.path_prefix, shared_params.path_prefix)
    origin: Origin | None
    if base_url is not None:
        url = urlsplit(base_url)
        secure = url.scheme == "https"
        origin = upstream_origin(url.hostname or "", url.port or (443 if secure else 80), tls, secure=secure)
        prefix = prefix or (url.path.rstrip("/") or None)
    else:
        host = None
        if kind == "azure":
            resource = _first(params.azure_resource_name, shared_params.azure_resource_name)
            if not resource:
                errors.append(f"{path}.params.azureResourceName: required for azure")
                return None
            host = f"{resource}.openai.azure.com"
        origin = origin_for(spec, host, host_override, tls)
    if origin is None:
        errors.append(f"{path}: {kind} needs a host (params.baseUrl or hostOverride)")
        return None
    auth_policy = _first(model.auth, defaults.auth)
    if auth_policy is not None:
        auth = auth_from_policy(spec, auth_policy, f"{path}.auth", errors)
    else:
        key_value = params.api_key if params.api_key is not None else shared_params.api_key
        key = secret_text(key_value, f"{path}.params.apiKey", errors) if key_value is not None else None
        if key is None and provider_name not in _PRESET_URLS:
            key = os.environ.get(_KEY_ENV.get(spec.key, ""), "") or None
        auth = auth_header(spec, key) if key else None
    path_override = _first(params.path_override, shared_params.path_override)
    return Target(
        name=model.name,
        spec=spec,
        origin=origin,
        host_header=origin.authority.encode(),
        model=_first(params.model, shared_params.model),
        auth=auth,
        routes=_LLM_ROUTES,
        path_override=path_override.encode() if path_override else None,
        path_prefix=prefix,
        shaping=_shaping(
            None, _first(model.defaults, defaults.defaults), _first(model.overrides, defaults.overrides), None
        ),
        tokenize=params.tokenize,
    )


_LLM_ROUTES: Final[RouteTable] = llm_mode_routes()
