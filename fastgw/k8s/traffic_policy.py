"""kgateway TrafficPolicy (gateway.kgateway.dev/v1alpha1) -> route policies.

`targetRefs` to HTTPRoutes (a `sectionName` picks a rule by name); `rateLimit.local.tokenBucket`
becomes `localRateLimit` (one request = one token, as kgateway counts), and `cors`,
`headerModifiers`, `timeouts.request`, `retry` and `ai` (prompt enrichment, defaults) become their
fastgw policies. Authentication and authorization fields fastgw cannot enforce are errors: a route
rendered without them would be open.
"""

from __future__ import annotations

from typing import Any

from fastgw.k8s.context import RenderContext
from fastgw.k8s.fields import Fields
from fastgw.k8s.manifests import GATEWAY_API, KGATEWAY, Resource
from fastgw.k8s.providers import AUTH_ERROR, field_values, prompts

_SECURITY = ("extAuth", "rbac", "jwt", "jwtAuth", "basicAuth", "apiKeyAuth", "oauth2", "extProc")
# retryOn conditions that are HTTP statuses (Envoy's x-envoy-retry-on meanings)
_RETRY_ON_CODES = {
    "5xx": list(range(500, 600)),
    "gateway-error": [502, 503, 504],
    "retriable-4xx": [409],
    "envoy-ratelimited": [429],
    "unavailable": [503],
    "resource-exhausted": [429],
}


def attached(route: Resource, ctx: RenderContext) -> dict[str | None, list[Resource]]:
    """TrafficPolicies targeting `route`, by rule name (None: the whole route), oldest first."""
    out: dict[str | None, list[Resource]] = {}
    for tp in ctx.manifests.of_kind("TrafficPolicy"):
        if tp.namespace != route.namespace:
            continue
        for ref in tp.spec.get("targetRefs") or []:
            if not isinstance(ref, dict):
                continue
            group = ref.get("group") or GATEWAY_API
            if group == GATEWAY_API and ref.get("kind") == "HTTPRoute" and ref.get("name") == route.name:
                out.setdefault(ref.get("sectionName"), []).append(tp)
    for items in out.values():
        items.sort(key=lambda r: (str(r.metadata.get("creationTimestamp") or ""), r.name))
    return out


def check_targets(ctx: RenderContext) -> None:
    """Report what no route picks up: targets fastgw does not attach to, and selectors."""
    for tp in ctx.manifests.of_kind("TrafficPolicy"):
        spec = Fields.spec(tp, ctx.diags)
        for i, ref in enumerate(spec.mappings("targetRefs")):
            group = ref.string("group") or GATEWAY_API
            kind = ref.string("kind")
            if not (group == GATEWAY_API and kind == "HTTPRoute"):
                where = f"targetRefs[{i}]"
                if any(spec.has(k) for k in _SECURITY):
                    spec.error(where, f"targeting a {kind} is not supported by fastgw yet; {AUTH_ERROR}")
                else:
                    spec.warn(where, f"targeting a {kind} ({group}) is not supported by fastgw yet; ignored")
        if spec.has("targetSelectors"):
            spec.get("targetSelectors")
            spec.warn("targetSelectors", "not supported by fastgw yet; ignored")


def policies(tp: Resource, ctx: RenderContext) -> dict[str, Any] | None:
    """The fastgw route policies of one TrafficPolicy (converted once); None = must not be served."""
    key = (tp.namespace, tp.name)
    if key in ctx.policies:
        return ctx.policies[key]
    errors = ctx.error_count()
    spec = Fields.spec(tp, ctx.diags)
    spec.ignore("targetRefs", "targetSelectors")
    out: dict[str, Any] = {}
    rate = spec.mapping("rateLimit")
    if rate is not None:
        local = rate.mapping("local")
        if local is not None:
            bucket = local.mapping("tokenBucket")
            if bucket is not None:
                out["localRateLimit"] = [
                    {
                        "maxTokens": bucket.integer("maxTokens"),
                        "tokensPerFill": bucket.integer("tokensPerFill", 1),
                        "fillInterval": bucket.string("fillInterval"),
                    }
                ]
                bucket.finish()
            local.finish()
        rate.finish("not supported by fastgw yet (global limits need a rate-limit service); ignored")
    cors = spec.mapping("cors")
    if cors is not None:
        out["cors"] = cors_policy(cors)
    mods = spec.mapping("headerModifiers")
    if mods is not None:
        for side, name in (("request", "requestHeaderModifier"), ("response", "responseHeaderModifier")):
            f = mods.mapping(side)
            if f is not None:
                out[name] = header_modifier(f)
        mods.finish()
    timeout: dict[str, Any] = {}
    t = spec.mapping("timeouts")
    if t is not None:
        request = t.string("request")
        if request and request not in ("0", "0s"):
            timeout["requestTimeout"] = request
        t.finish()
    retry = spec.mapping("retry")
    if retry is not None:
        spec_retry, per_try = _retry(retry)
        if spec_retry is not None:
            out["retry"] = spec_retry
        if per_try:
            timeout["backendRequestTimeout"] = per_try
    if timeout:
        out["timeout"] = timeout
    ai = spec.mapping("ai")
    if ai is not None:
        ai_out: dict[str, Any] = {}
        enrich = ai.mapping("promptEnrichment")
        if enrich is not None:
            ai_out["prompts"] = prompts(enrich)
        defaults: dict[str, Any] = {}
        overrides: dict[str, Any] = {}
        for item in ai.mappings("defaults"):
            field = item.string("field")
            if field:
                (overrides if item.boolean("override") else defaults)[field] = item.get("value")
            item.finish()
        if defaults:
            ai_out["defaults"] = defaults
        if overrides:
            ai_out["overrides"] = overrides
        extra = field_values(ai, "overrides")
        if extra:
            ai_out.setdefault("overrides", {}).update(extra)
        ai.reject(
            ("promptGuard",), "prompt guards are not converted by fastgw yet; refusing to render the route without them"
        )
        ai.finish()
        if ai_out:
            out["ai"] = ai_out
    host = spec.boolean("autoHostRewrite")
    if host is False:
        spec.warn("autoHostRewrite", "fastgw always sends the backend's host; ignored")
    spec.reject(_SECURITY, AUTH_ERROR)
    spec.finish()
    result = out if ctx.error_count() == errors else None
    ctx.policies[key] = result
    return result


def _retry(retry: Fields) -> tuple[dict[str, Any] | None, str | None]:
    codes = [c for c in retry.sequence("statusCodes") if isinstance(c, int)]
    for cond in retry.strings("retryOn"):
        mapped = _RETRY_ON_CODES.get(cond)
        if mapped is None:
            if cond != "retriable-status-codes":
                retry.warn("retryOn", f"{cond!r} is not supported by fastgw (only status-code conditions); ignored")
            continue
        codes.extend(c for c in mapped if c not in codes)
    attempts = retry.integer("attempts", 1)
    backoff = retry.string("backoffBaseInterval")
    per_try = retry.string("perTryTimeout")
    retry.finish()
    if not codes or not attempts:
        return None, per_try
    out: dict[str, Any] = {"attempts": attempts, "codes": codes}
    if backoff:
        out["backoff"] = backoff
    return out, per_try


def cors_policy(f: Fields) -> dict[str, Any]:
    """A Gateway API HTTPCORSFilter (also inlined in TrafficPolicy.cors)."""
    out: dict[str, Any] = {}
    for src, dst in (
        ("allowOrigins", "allowOrigins"),
        ("allowMethods", "allowMethods"),
        ("allowHeaders", "allowHeaders"),
        ("exposeHeaders", "exposeHeaders"),
    ):
        values = f.strings(src)
        if values:
            out[dst] = values
    if f.boolean("allowCredentials"):
        out["allowCredentials"] = True
    max_age = f.integer("maxAge")
    if max_age is not None:
        out["maxAge"] = f"{max_age}s"
    if f.get("disable") is not None:
        f.warn("disable", "not supported by fastgw; ignored")
    f.finish()
    return out


def header_modifier(f: Fields) -> dict[str, Any]:
    """A Gateway API HTTPHeaderFilter: `set`/`add` lists of {name, value}, `remove` names."""
    out: dict[str, Any] = {}
    for op in ("set", "add"):
        values: dict[str, str] = {}
        for item in f.mappings(op):
            name, value = item.string("name"), item.string("value", "")
            if not name:
                item.error("name", "missing")
            elif name.lower() in {k.lower() for k in values}:
                item.warn("name", f"{name} given twice; fastgw keeps the first")
            else:
                values[name] = value or ""
            item.finish()
        if values:
            out[op] = values
    remove = f.strings("remove")
    if remove:
        out["remove"] = remove
    f.finish()
    return out


__all__ = ["KGATEWAY", "attached", "check_targets", "cors_policy", "header_modifier", "policies"]
