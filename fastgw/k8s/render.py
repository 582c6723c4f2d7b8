"""One Gateway and what attaches to it -> a fastgw config (a plain dict; output.py writes it).

    manifests = ManifestSet(); manifests.load_path("seed.yaml")
    rendered = render(manifests, RenderOptions(gateway="agentgateway"))
    rendered.diagnostics.errors, rendered.config, rendered.secrets

Listeners become binds (one per port) and their listeners; each HTTPRoute attached to a listener
adds its rules there, in Gateway API order (oldest route first, then namespace/name). The same
result carries what the Gateway's and the routes' status conditions must say (controller mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastgw.k8s import gateway as gw_mod
from fastgw.k8s import httproute, traffic_policy
from fastgw.k8s.context import RenderContext
from fastgw.k8s.diagnostics import Diagnostics
from fastgw.k8s.gateway import Listener, ParentResult
from fastgw.k8s.manifests import ManifestSet, Resource
from fastgw.k8s.providers import PROVIDER_KEYS
from fastgw.k8s.secrets import SecretUse


@dataclass(frozen=True)
class RenderOptions:
    gateway: str | None = None  # "name" or "namespace/name"; default: the only Gateway
    # provider key (as in the CRDs: anthropic, openai...; "" = every provider) -> "host:port"
    provider_hosts: dict[str, str] = field(default_factory=dict)
    port_map: dict[int, int] = field(default_factory=dict)  # listener port -> bind port


@dataclass
class RouteReport:
    route: Resource
    parents: list[ParentResult]
    resolved: tuple[bool, str, str]


@dataclass
class Rendered:
    gateway: Resource | None
    config: dict[str, Any] | None
    diagnostics: Diagnostics
    listeners: list[Listener] = field(default_factory=list)
    routes: list[RouteReport] = field(default_factory=list)
    secrets: list[SecretUse] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.diagnostics.errors


def select_gateway(manifests: ManifestSet, wanted: str | None, diags: Diagnostics) -> Resource | None:
    gateways = manifests.of_kind("Gateway")
    if wanted:
        ns, _, name = wanted.rpartition("/")
        found = [g for g in gateways if g.name == name and (not ns or g.namespace == ns)]
        if len(found) == 1:
            return found[0]
        have = ", ".join(g.ref for g in gateways) or "none"
        what = "no" if not found else "more than one"
        diags.error(
            "", "", f"{what} Gateway named {wanted} in the manifests (Gateways: {have}); use --gateway NAMESPACE/NAME"
        )
        return None
    if len(gateways) == 1:
        return gateways[0]
    if not gateways:
        parents = sorted(
            {
                f"{ref.get('namespace') or r.namespace}/{ref.get('name')}"
                for r in manifests.of_kind("HTTPRoute")
                for ref in r.spec.get("parentRefs") or []
                if isinstance(ref, dict)
            }
        )
        hint = f" (the HTTPRoutes name {', '.join(parents)}; add its Gateway manifest)" if parents else ""
        diags.error("", "", f"no Gateway in the manifests{hint}")
    else:
        names = ", ".join(g.ref for g in gateways)
        diags.error("", "", f"several Gateways ({names}); pick one with --gateway NAMESPACE/NAME")
    return None


def render(manifests: ManifestSet, options: RenderOptions | None = None, gateway: Resource | None = None) -> Rendered:
    options = options or RenderOptions()
    ctx = RenderContext.of(manifests)
    gw = gateway or select_gateway(manifests, options.gateway, ctx.diags)
    if gw is None:
        return Rendered(None, None, ctx.diags)
    listeners = gw_mod.read_listeners(gw, ctx.diags)
    traffic_policy.check_targets(ctx)
    reports = []
    routes = sorted(
        manifests.of_kind("HTTPRoute"),
        key=lambda r: (str(r.metadata.get("creationTimestamp") or ""), r.namespace, r.name),
    )
    for route in routes:
        parents = gw_mod.attach(route, gw, listeners, manifests)
        if not parents:
            others = ", ".join(gw_mod.other_parents(route, gw)) or "none"
            ctx.diags.warning(
                route.ref,
                "spec.parentRefs",
                f"not attached to Gateway {gw.namespace}/{gw.name} (its parents: {others}); not rendered",
                route.where(("spec", "parentRefs")),
            )
            continue
        attached = [p for p in parents if p.listeners]
        for p in parents:
            if not p.listeners:
                ctx.diags.warning(
                    route.ref,
                    "spec.parentRefs",
                    f"not accepted by {gw.ref}: {p.accepted[2]}",
                    route.where(("spec", "parentRefs")),
                )
        if not attached:
            reports.append(RouteReport(route, parents, (True, "ResolvedRefs", "")))
            continue
        converted = httproute.convert(route, ctx)
        reports.append(RouteReport(route, parents, converted.resolved))
        seen: set[str] = set()
        for p in attached:
            for lst, hosts in p.listeners:
                if lst.name in seen:
                    continue  # two parentRefs naming the same listener attach once
                seen.add(lst.name)
                lst.attached += 1
                for r in converted.routes:
                    lst.routes.append({"name": r["name"], **({"hostnames": hosts} if hosts else {}), **_rest(r)})
    _report_unused(ctx, gw)
    config = _config(listeners, options)
    _override_hosts(config, options.provider_hosts)
    secrets = sorted(ctx.secrets.uses.values(), key=lambda u: u.file_parts)
    return Rendered(gw, config, ctx.diags, listeners, reports, secrets)


def _report_unused(ctx: RenderContext, gw: Resource) -> None:
    """Backends and policies no rendered route uses are said so, not left out in silence."""
    for kind in ("AgentgatewayBackend", "Backend"):
        for res in ctx.manifests.of_kind(kind):
            if (kind, res.namespace, res.name) not in ctx.backends:
                ctx.diags.warning(
                    res.ref, "", f"no route of Gateway {gw.namespace}/{gw.name} uses it; not rendered", res.where()
                )
    for res in ctx.manifests.of_kind("TrafficPolicy"):
        if (res.namespace, res.name) not in ctx.policies:
            ctx.diags.warning(
                res.ref,
                "spec.targetRefs",
                f"targets no route of Gateway {gw.namespace}/{gw.name}; not rendered",
                res.where(),
            )


def _rest(route: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in route.items() if k != "name"}


def _config(listeners: list[Listener], options: RenderOptions) -> dict[str, Any]:
    binds: dict[int, list[dict[str, Any]]] = {}
    for lst in listeners:
        if not lst.usable:
            continue
        port = options.port_map.get(lst.port, lst.port)
        entry: dict[str, Any] = {"name": lst.name}
        if lst.hostname:
            entry["hostname"] = lst.hostname
        entry["routes"] = lst.routes
        binds.setdefault(port, []).append(entry)
    return {"binds": [{"port": port, "listeners": ls} for port, ls in binds.items()]}


def _override_hosts(config: dict[str, Any], hosts: dict[str, str]) -> None:
    """`--provider-host`: send each provider's traffic to a local server (plain HTTP)."""
    if not hosts:
        return
    fastgw_keys = {PROVIDER_KEYS.get(k, k): v for k, v in hosts.items()}
    for bind in config["binds"]:
        for lst in bind["listeners"]:
            for route in lst["routes"]:
                for backend in route.get("backends", []):
                    ai = backend.get("ai")
                    if ai is None:
                        continue
                    entries = [p for g in ai.get("groups", []) for p in g["providers"]] or [ai]
                    for entry in entries:
                        kind = next(iter(entry.get("provider") or {}), "")
                        host = fastgw_keys.get(kind, fastgw_keys.get(""))
                        if host:
                            entry["hostOverride"] = host
