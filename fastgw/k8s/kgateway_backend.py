"""kgateway `Backend` (gateway.kgateway.dev/v1alpha1) -> the backends of a fastgw route.

`type: AI` with `ai.llm.<provider>` (the seeds' spelling: `authToken` with `kind: SecretRef`,
`Inline` or `Passthrough`, and `model`) or the later `ai.llm.provider.<provider>` with
`hostOverride`/`pathOverride`; `ai.multipool.priorities[].pool[]` becomes failover groups.
`type: Static` with `static.hosts`.
"""

from __future__ import annotations

from typing import Any

from fastgw.k8s.context import RenderContext, RouteBackends
from fastgw.k8s.fields import Fields
from fastgw.k8s.manifests import Resource
from fastgw.k8s.providers import PROVIDER_KEYS, find_provider, provider_spec


def convert(res: Resource, ctx: RenderContext, used_by: str) -> RouteBackends | None:
    errors = ctx.error_count()
    spec = Fields.spec(res, ctx.diags)
    kind = spec.string("type")
    out: RouteBackends = []
    if kind == "AI" or (kind is None and spec.has("ai")):
        ai = spec.mapping("ai")
        backend = _ai(ai, f"{res.namespace}/{res.name}", ctx, used_by) if ai is not None else None
        if ai is None:
            spec.error("ai", "a Backend of type AI needs an ai block")
        if backend is not None:
            out.append(backend)
    elif kind == "Static" or (kind is None and spec.has("static")):
        static = spec.mapping("static")
        for h in static.mappings("hosts") if static is not None else []:
            host, port = h.string("host"), h.integer("port")
            if not host or port is None:
                h.error("", "a static host needs host and port")
            else:
                out.append({"host": f"{host}:{port}"})
            h.finish()
        if static is not None:
            static.finish()
        if not out:
            spec.error("static", "no hosts")
    else:
        spec.error("type", f"Backend type {kind!r} is not supported by fastgw (AI or Static)")
    spec.finish()
    if not out or ctx.error_count() > errors:
        return None
    return out


def _ai(ai: Fields, name: str, ctx: RenderContext, used_by: str) -> dict[str, Any] | None:
    llm = ai.mapping("llm")
    pool = ai.mapping("multipool")
    if llm is not None:
        provider = _provider(llm, ctx, used_by)
        ai.finish()
        if provider is None:
            return None
        fields, policies = provider
        out = {"ai": {"name": name, **fields}}
        if policies:
            out["policies"] = policies
        return out
    if pool is not None:
        groups = []
        for pi, prio in enumerate(pool.mappings("priorities")):
            entries = []
            for ei, entry in enumerate(prio.mappings("pool")):
                provider = _provider(entry, ctx, used_by)
                if provider is None:
                    return None
                fields, policies = provider
                item = {"name": f"{name}/{pi}/{ei}", **fields}
                if policies:
                    item["policies"] = policies
                entries.append(item)
            prio.finish()
            groups.append({"providers": entries})
        pool.finish()
        ai.finish()
        return {"ai": {"name": name, "groups": groups}}
    ai.error("", "one of llm or multipool is required")
    return None


def _provider(llm: Fields, ctx: RenderContext, used_by: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """An LLMProvider, either spelling: provider fields and the backend policies (the key)."""
    holder = llm.mapping("provider") if "provider" in llm.data else llm
    if holder is None:
        return None
    found = find_provider(holder)
    if found is None:
        return None
    key, sub = found
    fields: dict[str, Any] = {"provider": provider_spec(key, sub)}
    policies: dict[str, Any] = {}
    token = sub.mapping("authToken")
    auth = sub.mapping("auth")  # bedrock's AWS credentials
    if token is not None:
        kind = token.string("kind") or "SecretRef"
        if kind == "SecretRef":
            ref = token.mapping("secretRef")
            name = ref.string("name") if ref is not None else None
            if ref is not None:
                ref.finish()
            if not name:
                token.error("secretRef", "kind SecretRef needs secretRef.name")
            else:
                secret = ctx.secrets.from_secret(token, "secretRef", name, None, used_by)
                if secret is not None:
                    policies["backendAuth"] = {"key": secret}
        elif kind == "Inline":
            value = token.string("inline")
            if value is None:
                token.error("inline", "kind Inline needs inline")
            else:
                policies["backendAuth"] = {"key": ctx.secrets.inline(token, "inline", value)}
        elif kind == "Passthrough":
            policies["backendAuth"] = {"passthrough": {}}
        else:
            token.error("kind", f"unknown kind {kind!r} (SecretRef, Inline or Passthrough)")
        token.finish()
    elif auth is not None:
        auth.finish("AWS credentials from the manifest are not supported by fastgw yet; ignored")
    elif key != "bedrock":
        sub.warn("", f"no authToken: requests reach {PROVIDER_KEYS[key]} without a key")
    version = sub.string("apiVersion")
    if key == "anthropic" and version and version != "2023-06-01":
        sub.warn("apiVersion", "fastgw always sends anthropic-version: 2023-06-01; ignored")
    sub.finish()
    if holder is not llm:
        holder.finish()
    host = llm.mapping("hostOverride")
    if host is not None:
        h, p = host.string("host"), host.integer("port")
        if h and p is not None:
            fields["hostOverride"] = f"{h}:{p}"
        else:
            host.error("", "hostOverride needs host and port")
        host.finish()
    path = llm.mapping("pathOverride")
    if path is not None:
        full = path.string("fullPath")
        if full:
            fields["pathOverride"] = full
        path.finish()
    llm.finish()
    return fields, policies
