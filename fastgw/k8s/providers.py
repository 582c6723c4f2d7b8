"""LLM provider blocks shared by AgentgatewayBackend (agentgateway.dev) and the kgateway Backend:
their per-provider fields in fastgw's spelling, and the backend policies that go with them."""

from __future__ import annotations

from typing import Any

from fastgw.k8s.fields import Fields
from fastgw.k8s.secrets import SecretBook

# CRD provider key -> fastgw `provider:` key
PROVIDER_KEYS = {
    "openai": "openAI",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "vertexai": "vertex",
    "bedrock": "bedrock",
    "azureopenai": "azureOpenAI",
    "azure": "azure",
}
# AgentgatewayBackend `policies.ai.routes` values -> fastgw route types
ROUTE_TYPES = {
    "Completions": "completions",
    "Messages": "messages",
    "Models": "models",
    "Passthrough": "passthrough",
    "Detect": "detect",
    "Responses": "responses",
    "AnthropicTokenCount": "anthropicTokenCount",
    "Embeddings": "embeddings",
    "Realtime": "realtime",
}
_AZURE_TYPES = {"OpenAI": "openAI", "Foundry": "foundry"}
AUTH_ERROR = "fastgw cannot enforce this yet; refusing to render the route without it"


def find_provider(f: Fields) -> tuple[str, Fields] | None:
    """The one provider block of `f` (`{anthropic: {...}}`), read and checked."""
    found = [k for k in (*PROVIDER_KEYS, "custom") if k in f.data]
    if len(found) != 1:
        f.error("", f"expected exactly one provider ({', '.join(PROVIDER_KEYS)}), found {len(found)}")
        return None
    key = found[0]
    sub = f.mapping(key) or Fields(f.res, {}, (*f.path, key), f.diags)
    if key == "custom":
        sub.error("", "custom providers are not supported by fastgw yet")
        return None
    return key, sub


def provider_spec(key: str, f: Fields) -> dict[str, Any]:
    """`{anthropic: {model: x}}` in fastgw's spelling; fields with no fastgw equivalent are left
    unread for the caller's finish()."""
    spec: dict[str, Any] = {}
    model = f.string("model")
    if key == "vertexai":
        spec["projectId"] = f.string("projectId")
        region = f.string("region") or f.string("location")
        if region:
            spec["region"] = region
    elif key == "bedrock":
        spec["region"] = f.string("region") or "us-east-1"
        guard = f.mapping("guardrail")
        if guard is not None:
            spec["guardrailIdentifier"] = guard.string("identifier")
            spec["guardrailVersion"] = guard.string("version")
            guard.finish()
    elif key == "azureopenai":
        endpoint = f.string("endpoint") or ""
        spec["host"] = endpoint.removeprefix("https://").removeprefix("http://").rstrip("/")
        model = f.string("deploymentName") or model
        version = f.string("apiVersion")
        if version:
            spec["apiVersion"] = version
    elif key == "azure":
        spec["resourceName"] = f.string("resourceName")
        rtype = f.string("resourceType") or "OpenAI"
        if rtype not in _AZURE_TYPES:
            f.error("resourceType", f"unknown resource type {rtype!r} (OpenAI or Foundry)")
        spec["resourceType"] = _AZURE_TYPES.get(rtype, "openAI")
        for name in ("apiVersion", "projectName"):
            value = f.string(name)
            if value:
                spec[name] = value
    if model:
        spec["model"] = model
    return {PROVIDER_KEYS[key]: spec}


def backend_policies(pol: Fields | None, book: SecretBook, used_by: str) -> dict[str, Any]:
    """AgentgatewayBackend `policies` (BackendFull / BackendWithAI) -> fastgw backend `policies`."""
    out: dict[str, Any] = {}
    if pol is None:
        return out
    auth = pol.mapping("auth")
    if auth is not None:
        backend_auth = _auth(auth, book, used_by)
        if backend_auth is not None:
            out["backendAuth"] = backend_auth
    ai = pol.mapping("ai")
    if ai is not None:
        out["ai"] = ai_policy(ai)
    tls = pol.mapping("tls")
    if tls is not None:
        out["backendTLS"] = _tls(tls)
    pol.reject(("extAuth",), AUTH_ERROR)
    pol.finish()
    return out


def _auth(auth: Fields, book: SecretBook, used_by: str) -> dict[str, Any] | None:
    result: dict[str, Any] | None = None
    inline = auth.string("key")
    ref = auth.mapping("secretRef")
    if inline is not None:
        result = {"key": book.inline(auth, "key", inline)}
    elif ref is not None:
        name = ref.string("name")
        if not name:
            ref.error("name", "missing")
        else:
            secret = book.from_secret(auth, "secretRef", name, ref.string("key"), used_by)
            result = {"key": secret} if secret is not None else None
        ref.finish()
    elif auth.get("passthrough") is not None:
        result = {"passthrough": {}}
    if auth.has("location"):
        auth.get("location")
        auth.warn("location", "not supported by fastgw yet; the provider's own header is used")
    auth.finish()
    return result


def ai_policy(ai: Fields) -> dict[str, Any]:
    out: dict[str, Any] = {}
    routes = ai.get("routes")
    if isinstance(routes, dict):
        table = {}
        for suffix, kind in routes.items():
            value = ROUTE_TYPES.get(str(kind))
            if value is None:
                ai.error("routes", f"unknown route type {kind!r} for {suffix!r} ({', '.join(ROUTE_TYPES)})")
            else:
                table[str(suffix)] = value
        out["routes"] = table
    elif routes is not None:
        ai.error("routes", "expected a mapping of path suffix to route type")
    prompt = ai.mapping("prompt")
    if prompt is not None:
        out["prompts"] = prompts(prompt)
    for name in ("defaults", "overrides"):
        fields = field_values(ai, name)
        if fields:
            out[name] = fields
    aliases = ai.get("modelAliases")
    if isinstance(aliases, dict) and aliases:
        out["modelAliases"] = {str(k): str(v) for k, v in aliases.items()}
    ai.reject(
        ("promptGuard",), "prompt guards are not converted by fastgw yet; refusing to render the route without them"
    )
    ai.finish()
    return out


def prompts(f: Fields) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side in ("prepend", "append"):
        messages = []
        for m in f.mappings(side):
            messages.append({"role": (m.string("role") or "user").lower(), "content": m.string("content") or ""})
            m.finish()
        if messages:
            out[side] = messages
    f.finish()
    return out


def field_values(f: Fields, key: str) -> dict[str, Any]:
    """`[{field: temperature, value: 0.5}]` -> `{temperature: 0.5}`."""
    out: dict[str, Any] = {}
    for item in f.mappings(key):
        name = item.string("field")
        if name:
            out[name] = item.get("value")
        item.finish()
    return out


def _tls(tls: Fields) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sni = tls.string("sni")
    if sni:
        out["hostname"] = sni
    skip = tls.string("insecureSkipVerify")
    if skip == "All":
        out["insecure"] = True
    elif skip == "Hostname":
        out["insecureHost"] = True
    sans = tls.strings("verifySubjectAltNames")
    if sans:
        out["subjectAltNames"] = sans
    alpn = tls.strings("alpnProtocols")
    if alpn:
        out["alpn"] = alpn
    tls.finish("not supported by fastgw yet (certificates from Secrets or ConfigMaps); ignored")
    return out
