"""AgentgatewayBackend (agentgateway.dev/v1alpha1) -> the backends of a fastgw route.

`ai.provider` (model, host/port/path/pathPrefix overrides) or `ai.groups`; `policies.auth`
(`secretRef`, inline `key`, `passthrough`), `policies.ai` (routes with the CRD's `Messages` /
`Completions` / `Passthrough` spellings, prompts, defaults, overrides, model aliases),
`policies.tls`; `mcp.targets` with `static` host/port/protocol; `static` host/port.
"""

from __future__ import annotations

from typing import Any

from fastgw.k8s.context import RenderContext, RouteBackends
from fastgw.k8s.fields import Fields
from fastgw.k8s.manifests import Resource
from fastgw.k8s.providers import backend_policies, find_provider, provider_spec


def convert(res: Resource, ctx: RenderContext, used_by: str) -> RouteBackends | None:
    errors = ctx.error_count()
    spec = Fields.spec(res, ctx.diags)
    spec.ignore("type")  # an older spelling's discriminator; the block present decides
    policies = backend_policies(spec.mapping("policies"), ctx.secrets, used_by)
    out: dict[str, Any] | None = None
    if spec.has("ai"):
        ai = _ai(spec.mapping("ai"), f"{res.namespace}/{res.name}", ctx, used_by)
        if ai is not None:
            out = {"ai": ai}
    elif spec.has("static"):
        static = spec.mapping("static")
        assert static is not None
        host, port = static.string("host"), static.integer("port")
        if not host or port is None:
            static.error("", "a static backend needs host and port (unixPath is not supported by fastgw)")
        else:
            out = {"host": f"{host}:{port}"}
        static.finish()
    elif spec.has("mcp"):
        mcp = _mcp(spec.mapping("mcp"), res)
        if mcp is not None:
            out = {"mcp": mcp}
    else:
        kinds = [k for k in ("a2a", "aws", "dynamicForwardProxy") if spec.has(k)]
        for k in kinds:
            spec.get(k)
            spec.error(k, f"{k} backends are not supported by fastgw yet")
        if not kinds:
            spec.error("", "one of ai, static or mcp is required")
    spec.finish()
    if out is None or ctx.error_count() > errors:
        return None
    if policies:
        if "mcp" in out and "ai" in policies:
            policies.pop("ai")
        out["policies"] = policies
    return [out]


def _ai(ai: Fields | None, name: str, ctx: RenderContext, used_by: str) -> dict[str, Any] | None:
    if ai is None:
        return None
    out: dict[str, Any] = {"name": name}
    provider = ai.mapping("provider")
    groups = ai.mappings("groups")
    if provider is not None:
        fields = _llm(provider)
        if fields is None:
            return None
        out.update(fields)
    elif groups:
        out["groups"] = []
        for g in groups:
            entries = []
            for p in g.mappings("providers"):
                entry: dict[str, Any] = {"name": p.string("name")}
                pol = backend_policies(p.mapping("policies"), ctx.secrets, used_by)
                fields = _llm(p)
                if fields is None:
                    return None
                entry.update(fields)
                if pol:
                    entry["policies"] = pol
                entries.append(entry)
            out["groups"].append({"providers": entries})
            g.finish()
    else:
        ai.error("", "one of provider or groups is required")
        return None
    ai.finish()
    return out


def _llm(f: Fields) -> dict[str, Any] | None:
    """An LLMProvider: one provider block plus the host/port/path overrides."""
    found = find_provider(f)
    if found is None:
        return None
    key, sub = found
    out: dict[str, Any] = {"provider": provider_spec(key, sub)}
    sub.finish()
    host, port = f.string("host"), f.integer("port")
    if host or port is not None:
        if not host or port is None:
            f.error("host", "host and port must be set together")
        else:
            out["hostOverride"] = f"{host}:{port}"
    path = f.string("path")
    if path:
        out["pathOverride"] = path
    prefix = f.string("pathPrefix")
    if prefix:
        out["pathPrefix"] = prefix
    f.finish()
    return out


def _mcp(mcp: Fields | None, res: Resource) -> dict[str, Any] | None:
    if mcp is None:
        return None
    targets = []
    for t in mcp.mappings("targets"):
        name = t.string("name")
        static = t.mapping("static")
        if static is None:
            t.finish("not supported by fastgw yet (only static targets); target not rendered")
            continue
        host = static.string("host")
        svc = static.mapping("backendRef")
        if svc is not None:
            host = f"{svc.string('name')}.{res.namespace}.svc.cluster.local"
            svc.finish()
        port = static.integer("port")
        protocol = static.string("protocol") or "StreamableHTTP"
        if protocol not in ("SSE", "StreamableHTTP"):
            static.error("protocol", f"unknown protocol {protocol!r} (SSE or StreamableHTTP)")
        remote: dict[str, Any] = {"host": host, "port": port}
        path = static.string("path")
        if path:
            remote["path"] = path
        static.finish()
        targets.append({"name": name, "sse" if protocol == "SSE" else "mcp": remote})
        t.finish()
    out: dict[str, Any] = {"targets": targets}
    routing = mcp.string("sessionRouting")
    if routing:
        out["statefulMode"] = "stateless" if routing == "Stateless" else "stateful"
    failure = mcp.string("failureMode")
    if failure:
        out["failureMode"] = "failOpen" if failure == "FailOpen" else "failClosed"
    mcp.finish()
    return out if targets else None
