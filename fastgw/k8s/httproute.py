"""HTTPRoute (gateway.networking.k8s.io/v1) rules -> fastgw routes.

Matches (PathPrefix/Exact/RegularExpression, headers, queryParams, method), filters (URLRewrite
ReplaceFullPath/ReplacePrefixMatch and hostname, Request/ResponseHeaderModifier, RequestRedirect,
CORS, ExtensionRef to a TrafficPolicy), timeouts and retry, and backendRefs with weights to
AgentgatewayBackends, kgateway Backends and Services. A backendRef that cannot be resolved is an
error; the rest of the route still renders (a rule left without a backend answers 500, as the
Gateway API asks), so a controller can keep serving the other routes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastgw.k8s import agentgateway_backend, kgateway_backend, traffic_policy
from fastgw.k8s.context import RenderContext, RouteBackends
from fastgw.k8s.fields import Fields
from fastgw.k8s.manifests import AGENTGATEWAY, GATEWAY_API, KGATEWAY, Resource

_PATH_KINDS = {"PathPrefix": "pathPrefix", "Exact": "exact", "RegularExpression": "regex"}
_VALUE_KINDS = {"Exact": "exact", "RegularExpression": "regex"}


@dataclass
class RouteResult:
    """An HTTPRoute's rules as fastgw routes, and what its status must say about its references."""

    routes: list[dict[str, Any]] = field(default_factory=list)
    resolved: tuple[bool, str, str] = (True, "ResolvedRefs", "")


def convert(route: Resource, ctx: RenderContext) -> RouteResult:
    result = RouteResult()
    spec = Fields.spec(route, ctx.diags)
    spec.ignore("parentRefs", "hostnames")
    by_rule = traffic_policy.attached(route, ctx)
    rules = spec.mappings("rules")
    if not rules:
        spec.warn("rules", "no rules; the route matches nothing")
    for i, rule in enumerate(rules):
        rule_name = rule.string("name")
        name = f"{route.namespace}/{route.name}"
        if len(rules) > 1:
            name += f"/{rule_name or i}"
        out: dict[str, Any] = {"name": name}
        path_kinds: set[str] = set()
        matches = [_match(m, path_kinds) for m in rule.mappings("matches")]
        if matches and matches != [{}]:
            out["matches"] = [m if m else {"path": {"pathPrefix": "/"}} for m in matches]
        pol: dict[str, Any] = {}
        servable = _filters(rule, pol, path_kinds, ctx)
        _timeouts(rule, pol)
        for tp in [*by_rule.get(None, []), *(by_rule.get(rule_name, []) if rule_name else [])]:
            converted = traffic_policy.policies(tp, ctx)
            if converted is None:
                servable = False
                continue
            _merge(pol, converted, tp, rule)
        backends = _backends(rule, route, ctx, result)
        if rule.has("sessionPersistence"):
            rule.get("sessionPersistence")
            rule.warn("sessionPersistence", "not supported by fastgw yet; ignored")
        rule.finish()
        if not servable:
            rule.warn("", "not rendered: a policy it needs cannot be enforced (see the errors above)")
            continue
        if not backends and "requestRedirect" not in pol and "directResponse" not in pol:
            # Gateway API: a rule whose backends are all invalid (or weight 0) answers 500
            pol["directResponse"] = {"status": 500, "body": "no usable backend for this route"}
        if pol:
            out["policies"] = pol
        if backends:
            out["backends"] = backends
        result.routes.append(out)
    spec.finish()
    return result


def _match(m: Fields, path_kinds: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    path = m.mapping("path")
    if path is not None:
        kind = path.string("type") or "PathPrefix"
        value = path.string("value") or "/"
        if kind not in _PATH_KINDS:
            path.error("type", f"unknown path match type {kind!r} ({', '.join(_PATH_KINDS)})")
        else:
            path_kinds.add(kind)
            out["path"] = {_PATH_KINDS[kind]: value}
        path.finish()
    else:
        path_kinds.add("PathPrefix")
    for src, dst in (("headers", "headers"), ("queryParams", "query")):
        items = []
        for h in m.mappings(src):
            kind = h.string("type") or "Exact"
            if kind not in _VALUE_KINDS:
                h.error("type", f"unknown match type {kind!r} (Exact or RegularExpression)")
                continue
            items.append({"name": h.string("name"), "value": {_VALUE_KINDS[kind]: h.string("value", "")}})
            h.finish()
        if items:
            out[dst] = items
    method = m.string("method")
    if method:
        out["method"] = method
    m.finish()
    return out


def _filters(rule: Fields, pol: dict[str, Any], path_kinds: set[str], ctx: RenderContext) -> bool:
    servable = True
    for f in rule.mappings("filters"):
        kind = f.string("type")
        if kind == "URLRewrite":
            _set(pol, "urlRewrite", _url_rewrite(f.mapping("urlRewrite"), path_kinds), f)
        elif kind in ("RequestHeaderModifier", "ResponseHeaderModifier"):
            key = kind[0].lower() + kind[1:]
            body = f.mapping(key)
            if body is not None:
                _set(pol, key, traffic_policy.header_modifier(body), f)
        elif kind == "RequestRedirect":
            _set(pol, "requestRedirect", _redirect(f.mapping("requestRedirect"), path_kinds), f)
        elif kind == "CORS":
            body = f.mapping("cors")
            if body is not None:
                _set(pol, "cors", traffic_policy.cors_policy(body), f)
        elif kind == "ExtensionRef":
            ref = f.mapping("extensionRef")
            group = ref.string("group") if ref is not None else None
            ext_kind = ref.string("kind") if ref is not None else None
            name = ref.string("name") if ref is not None else None
            if ref is not None:
                ref.finish()
            tp = (
                ctx.manifests.get("TrafficPolicy", f.res.namespace, name or "") if ext_kind == "TrafficPolicy" else None
            )
            if group == KGATEWAY and ext_kind == "TrafficPolicy" and tp is not None:
                converted = traffic_policy.policies(tp, ctx)
                if converted is None:
                    servable = False
                else:
                    _merge(pol, converted, tp, f)
            elif group == KGATEWAY and ext_kind == "TrafficPolicy":
                f.error("extensionRef", f"TrafficPolicy {f.res.namespace}/{name} not found")
                servable = False
            else:
                f.warn("extensionRef", f"extension {group}/{ext_kind} is not supported by fastgw; ignored")
        elif kind == "RequestMirror":
            f.get("requestMirror")
            f.warn("requestMirror", "not supported by fastgw yet; requests are not mirrored")
        else:
            f.error("type", f"filter type {kind!r} is not supported by fastgw")
            servable = False
        f.finish()
    return servable


def _set(pol: dict[str, Any], key: str, value: dict[str, Any] | None, at: Fields) -> None:
    if value is None:
        return
    if key in pol:
        at.warn("type", f"a second {key} filter; fastgw keeps the first")
        return
    pol[key] = value


def _merge(pol: dict[str, Any], extra: dict[str, Any], tp: Resource, at: Fields) -> None:
    """A TrafficPolicy's fields fill what the route's own filters (or an older policy) left unset."""
    for key, value in extra.items():
        if key in pol and pol[key] != value:
            at.warn(
                "", f"{key} from TrafficPolicy {tp.namespace}/{tp.name} conflicts with one already set; kept the first"
            )
        else:
            pol.setdefault(key, value)


def _url_rewrite(f: Fields | None, path_kinds: set[str]) -> dict[str, Any] | None:
    if f is None:
        return None
    out: dict[str, Any] = {}
    host = f.string("hostname")
    if host:
        out["authority"] = {"full": host}
    path = _path_modifier(f.mapping("path"), path_kinds)
    if path is not None:
        out["path"] = path
    f.finish()
    return out or None


def _redirect(f: Fields | None, path_kinds: set[str]) -> dict[str, Any] | None:
    if f is None:
        return None
    out: dict[str, Any] = {}
    scheme = f.string("scheme")
    if scheme:
        out["scheme"] = scheme
    host, port = f.string("hostname"), f.integer("port")
    if host and port is not None:
        out["authority"] = {"full": f"{host}:{port}"}
    elif host:
        out["authority"] = {"host": host}
    elif port is not None:
        out["authority"] = {"port": port}
    path = _path_modifier(f.mapping("path"), path_kinds)
    if path is not None:
        out["path"] = path
    status = f.integer("statusCode")
    if status is not None:
        out["status"] = status
    f.finish()
    return out


def _path_modifier(p: Fields | None, path_kinds: set[str]) -> dict[str, Any] | None:
    if p is None:
        return None
    kind = p.string("type")
    out: dict[str, Any] | None = None
    if kind == "ReplaceFullPath":
        out = {"full": p.string("replaceFullPath") or "/"}
    elif kind == "ReplacePrefixMatch":
        if path_kinds - {"PathPrefix"}:
            p.error("type", "ReplacePrefixMatch needs every match of the rule to be a PathPrefix")
        value = p.string("replacePrefixMatch") or "/"
        out = {"prefix": "" if value == "/" else value}  # replacing "/anthropic" by "/" strips it
    else:
        p.error("type", f"unknown path modifier {kind!r} (ReplaceFullPath or ReplacePrefixMatch)")
    p.finish()
    return out


def _timeouts(rule: Fields, pol: dict[str, Any]) -> None:
    t = rule.mapping("timeouts")
    out: dict[str, Any] = {}
    if t is not None:
        for src, dst in (("request", "requestTimeout"), ("backendRequest", "backendRequestTimeout")):
            value = t.string(src)
            if value and value not in ("0", "0s"):  # Gateway API: zero disables the timeout
                out[dst] = value
        t.finish()
    if out:
        pol["timeout"] = out
    r = rule.mapping("retry")
    if r is not None:
        codes = [c for c in r.sequence("codes") if isinstance(c, int)]
        attempts = r.integer("attempts", 1)
        backoff = r.string("backoff")
        if codes and attempts:
            pol["retry"] = {"attempts": attempts, "codes": codes, **({"backoff": backoff} if backoff else {})}
        else:
            r.warn("", "fastgw retries on listed status codes only; without codes nothing is retried")
        r.finish()


def _backends(rule: Fields, route: Resource, ctx: RenderContext, result: RouteResult) -> RouteBackends:
    out: RouteBackends = []
    for b in rule.mappings("backendRefs"):
        group = b.string("group") or ""
        kind = b.string("kind") or "Service"
        name = b.string("name") or ""
        ns = b.string("namespace") or route.namespace
        weight = b.integer("weight", 1)
        port = b.integer("port")
        if b.has("filters"):
            b.get("filters")
            b.warn("filters", "per-backend filters are not supported by fastgw yet; ignored")
        b.finish()
        target = f"{kind} {ns}/{name}"
        if ns != route.namespace and not _granted(route, group, kind, ns, name, ctx):
            b.error("", f"{target} is in another namespace and no ReferenceGrant there allows it")
            result.resolved = (False, "RefNotPermitted", f"{target} needs a ReferenceGrant")
            continue
        found: RouteBackends | None
        if (group, kind) == ("", "Service"):
            if port is None:
                b.error("port", f"a backendRef to {target} needs a port")
                result.resolved = (False, "UnsupportedValue", f"{target} has no port")
                continue
            found = [{"host": f"{name}.{ns}.svc.cluster.local:{port}"}]
        elif (group, kind) in ((AGENTGATEWAY, "AgentgatewayBackend"), (KGATEWAY, "Backend")):
            res = ctx.manifests.get(kind, ns, name)
            if res is None:
                b.error("", f"{target} not found")
                result.resolved = (False, "BackendNotFound", f"{target} not found")
                continue
            found = _convert_backend(res, ctx, route.ref)
            if found is None:
                result.resolved = (False, "BackendNotFound", f"{target} cannot be used (see its errors)")
                continue
        else:
            b.error("", f"backendRef kind {group}/{kind} is not supported by fastgw")
            result.resolved = (False, "InvalidKind", f"{group}/{kind} is not a kind fastgw routes to")
            continue
        if weight == 0:
            continue  # Gateway API: weight 0 receives no traffic
        for item in found:
            out.append({**item, "weight": weight} if weight not in (None, 1) else dict(item))
    return out


def _convert_backend(res: Resource, ctx: RenderContext, used_by: str) -> RouteBackends | None:
    key = (res.kind, res.namespace, res.name)
    if key not in ctx.backends:
        mod = agentgateway_backend if res.kind == "AgentgatewayBackend" else kgateway_backend
        ctx.backends[key] = mod.convert(res, ctx, used_by)
    return ctx.backends[key]


def _granted(route: Resource, group: str, kind: str, ns: str, name: str, ctx: RenderContext) -> bool:
    """A ReferenceGrant in the target namespace lets HTTPRoutes of the route's namespace refer to it."""
    for grant in ctx.manifests.of_kind("ReferenceGrant"):
        if grant.namespace != ns:
            continue
        froms = grant.spec.get("from") or []
        tos = grant.spec.get("to") or []
        from_ok = any(
            isinstance(f, dict)
            and f.get("group") == GATEWAY_API
            and f.get("kind") == "HTTPRoute"
            and f.get("namespace") == route.namespace
            for f in froms
        )
        to_ok = any(
            isinstance(t, dict)
            and (t.get("group") or "") == group
            and t.get("kind") == kind
            and t.get("name") in (None, "", name)
            for t in tos
        )
        if from_ok and to_ok:
            return True
    return False
