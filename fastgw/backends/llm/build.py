"""Config -> ``Target``: binds-mode ``ai`` providers (both spellings) and ``llm.models[]`` entries.

Runs at config compile time (supervisor), never per request. Problems are appended to ``errors`` as
``key.path: message``; anything parsed but not enforced here is a "not supported yet" error, never
silently ignored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec

from fastgw.backends.llm.providers import (
    AZURE_OPENAI,
    PROVIDERS,
    ProviderSpec,
    auth_header,
)
from fastgw.backends.llm.routes import RouteTable, compile_routes, llm_mode_routes
from fastgw.backends.llm.target import NO_SHAPING, Shaping, Target
from fastgw.backends.llm.translate.edits import ModelAliases
from fastgw.config.support import reject_unsupported
from fastgw.upstream.pool import Origin

# Backend-policy keys an ai backend enforces; any other one set is a compile error.
_SUPPORTED_BACKEND_POLICIES: Final = frozenset({"backend_auth", "backend_tls", "ai", "health"})
_UNSUPPORTED_AI_POLICY: Final = ("transformations", "final_transformations", "prompt_guard", "prompt_caching")

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
# Where `llm:` models without params.apiKey take their key from.
_KEY_ENV: Final[Mapping[str, str]] = MappingProxyType(
    {"openAI": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}
)


def secret_text(value: Any, path: str, errors: list[str]) -> str:
    """An inline secret, or the stripped content of a `{file: path}` reference."""
    if isinstance(value, str):
        return value
    file = getattr(value, "file", None)
    if file is None:
        errors.append(f"{path}: unsupported secret form")
        return ""
    return _read_key_file(file, path, errors)


def _read_key_file(file: str, path: str, errors: list[str]) -> str:
    try:
        with open(file, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as exc:
        errors.append(f"{path}: cannot read key file: {exc.strerror}")
        return ""


def auth_from_policy(spec: ProviderSpec, auth: Any, path: str, errors: list[str]) -> tuple[bytes, bytes] | None:
    """``backendAuth`` as the header the provider expects (a plain key goes in the provider's style)."""
    if auth is None:
        return None
    if auth.key is None:
        errors.append(f"{path}: not supported yet: backendAuth other than `key` on ai backends")
        return None
    key = auth.key
    if isinstance(key, str):
        return auth_header(spec, key)
    if key.value is not None:
        text = secret_text(key.value, f"{path}.key.value", errors)
    else:
        text = _read_key_file(key.file, f"{path}.key.file", errors)
    header = getattr(getattr(key, "location", None), "header", None)
    if header is None:
        return auth_header(spec, text)
    return header.name.lower().encode(), (header.prefix or "").encode() + text.encode()


def _tls_fields(tls: Any) -> dict[str, Any]:
    """Origin TLS settings from a backendTLS spec (the system CAs and full checks by default)."""
    return {
        "sni": getattr(tls, "hostname", None),
        "verify": not getattr(tls, "insecure", False),
        "verify_host": not getattr(tls, "insecure_host", False),
        "ca": getattr(tls, "root", None),
        "cert": getattr(tls, "cert", None),
        "key": getattr(tls, "key", None),
    }


def origin_for(spec: ProviderSpec, host: str | None, host_override: str | None, tls: Any) -> Origin | None:
    """hostOverride ("host:port") is plain HTTP unless backendTLS is set; provider hosts use TLS."""
    if host_override is not None:
        name, _, port = host_override.rpartition(":")
        if tls is None:
            return Origin(host=name.strip("[]"), port=int(port))
        return Origin(host=name.strip("[]"), port=int(port), tls=True, **_tls_fields(tls))
    default = host or spec.host
    if default is None:
        return None
    return Origin(host=default, port=spec.port, tls=spec.tls, **_tls_fields(tls))


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


def _shaping(aliases: Mapping[str, str] | None, defaults: Any, overrides: Any, prompts: Any) -> Shaping:
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


def _spec_and_host(provider: Any, path: str, errors: list[str]) -> tuple[ProviderSpec, str | None] | None:
    kind = provider.kind
    spec = PROVIDERS.get(kind)
    if kind == "azure":
        az = provider.azure
        if az.resource_type == "foundry":
            errors.append(f"{path}.azure.resourceType: not supported yet: foundry")
            return None
        suffix = "openai.azure.com" if az.resource_type == "openAI" else "services.ai.azure.com"
        return AZURE_OPENAI, f"{az.resource_name}.{suffix}"
    if kind == "azureOpenAI":
        return AZURE_OPENAI, provider.azure_open_ai.host
    if spec is None:
        errors.append(f"{path}.{kind}: not supported yet: {kind} provider")
        return None
    return spec, None


def check_backend_policies(pol: Any, path: str, errors: list[str]) -> None:
    """Backend-level policies an ai backend cannot enforce are errors, never silently dropped."""
    reject_unsupported(pol, _SUPPORTED_BACKEND_POLICIES, path, errors, " on ai backends")


def binds_target(entry: Any, layers: Sequence[Any], path: str, errors: list[str]) -> Target | None:
    """A binds-mode provider (an ``ai`` backend or a group entry).

    ``layers`` are the outer policy blocks, most specific first (the route backend's ``policies``,
    then the route's); the entry's own ``policies`` and older spellings win over them.
    """
    pol = entry.effective_policies()
    check_backend_policies(pol, f"{path}.policies", errors)
    ai_layers = [pol.ai, *(getattr(layer, "ai", None) for layer in layers)]
    for ai in ai_layers:
        for name in _UNSUPPORTED_AI_POLICY:
            if ai is not None and getattr(ai, name) is not None:
                errors.append(f"{path}: not supported yet: policies.ai.{name}")
    if entry.provider is None:
        errors.append(f"{path}: missing required field provider")
        return None
    found = _spec_and_host(entry.provider, f"{path}.provider", errors)
    if found is None:
        return None
    spec, host = found
    auth = _first(pol.backend_auth, *(getattr(layer, "backend_auth", None) for layer in layers))
    tls = _first(pol.backend_tls, *(getattr(layer, "backend_tls", None) for layer in layers))
    origin = origin_for(spec, host, entry.host_override, tls)
    if origin is None:
        errors.append(f"{path}: {spec.key} needs a host (hostOverride)")
        return None

    def pick(name: str) -> Any:
        for ai in ai_layers:
            value = getattr(ai, name, None) if ai is not None else None
            if value:
                return value
        return None

    try:
        routes = compile_routes(pick("routes"))
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
        shaping=_shaping(pick("model_aliases"), pick("defaults"), pick("overrides"), pick("prompts")),
        tokenize=bool(getattr(entry, "tokenize", False)),
    )


# -- llm: block ---------------------------------------------------------------------------------
_LLM_MODEL_UNSUPPORTED: Final = (
    "transformation",
    "request_headers",
    "response_headers",
    "prompt_caching",
    "authorization",
    "final_transformation",
    "guardrails",
    "passthrough",
)


def llm_target(model: Any, shared: Mapping[str, Any], path: str, errors: list[str]) -> Target | None:
    """One ``llm.models[]`` entry (with its referenced ``llm.providers[]`` entry folded in)."""
    for name in _LLM_MODEL_UNSUPPORTED:
        if getattr(model, name, None) is not None:
            errors.append(f"{path}: not supported yet: llm.models[].{name}")
    if model.matches:
        errors.append(f"{path}: not supported yet: llm.models[].matches")
    kind = model.provider
    params = model.params
    base: Any = None
    if not isinstance(kind, str):
        base = shared.get(kind.reference)
        if base is None:
            errors.append(f"{path}.provider.reference: unknown provider {kind.reference!r}")
            return None
        kind = base.provider if isinstance(base.provider, str) else None
        if kind is None:
            errors.append(f"{path}.provider: not supported yet: chained provider references")
            return None
    defaults = base.defaults if base is not None else None

    def param(name: str) -> Any:
        value = getattr(params, name)
        return value if value is not None or base is None else getattr(base.params, name)

    def setting(name: str) -> Any:
        value = getattr(model, name, None)
        return value if value is not None or defaults is None else getattr(defaults, name, None)

    kind = "openAI" if kind in ("openai", "openAI") or kind in _PRESET_URLS else kind
    spec = PROVIDERS.get(kind)
    provider_name = model.provider if isinstance(model.provider, str) else kind
    if spec is None:
        errors.append(f"{path}.provider: not supported yet: {kind} provider")
        return None
    base_url = param("base_url") or _PRESET_URLS.get(str(provider_name))
    tls = setting("backend_tls") or setting("tls")
    host_override = param("host_override")
    prefix = param("path_prefix")
    origin: Origin | None
    if base_url is not None:
        url = urlsplit(base_url)
        secure = url.scheme == "https"
        origin = Origin(
            host=url.hostname or "", port=url.port or (443 if secure else 80), tls=secure, **_tls_fields(tls)
        )
        prefix = prefix or (url.path.rstrip("/") or None)
    else:
        host = None
        if kind == "azure":
            resource = param("azure_resource_name")
            if not resource:
                errors.append(f"{path}.params.azureResourceName: required for azure")
                return None
            host = f"{resource}.openai.azure.com"
        origin = origin_for(spec, host, host_override, tls)
    if origin is None:
        errors.append(f"{path}: {kind} needs a host (params.baseUrl or hostOverride)")
        return None
    auth_policy = setting("auth")
    if auth_policy is not None:
        auth = auth_from_policy(spec, auth_policy, f"{path}.auth", errors)
    else:
        key_value = param("api_key")
        key = secret_text(key_value, f"{path}.params.apiKey", errors) if key_value is not None else None
        if key is None and provider_name not in _PRESET_URLS:
            key = os.environ.get(_KEY_ENV.get(spec.key, ""), "") or None
        auth = auth_header(spec, key) if key else None
    return Target(
        name=model.name,
        spec=spec,
        origin=origin,
        host_header=origin.authority.encode(),
        model=param("model"),
        auth=auth,
        routes=_LLM_ROUTES,
        path_override=param("path_override").encode() if param("path_override") else None,
        path_prefix=prefix,
        shaping=_shaping(None, setting("defaults"), setting("overrides"), None),
        tokenize=bool(param("tokenize")),
    )


_LLM_ROUTES: Final[RouteTable] = llm_mode_routes()
