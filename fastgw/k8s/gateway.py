"""Gateway (gateway.networking.k8s.io/v1): its listeners, and which HTTPRoutes attach to which of
them (parentRefs with sectionName/port, allowedRoutes namespaces and kinds, hostname intersection),
as the Gateway API specifies. The results are what the Gateway's and the routes' status report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastgw.k8s.diagnostics import Diagnostics
from fastgw.k8s.fields import Fields
from fastgw.k8s.manifests import GATEWAY_API, ManifestSet, Resource

Condition = tuple[bool, str, str]  # (status, reason, message)


@dataclass
class Listener:
    name: str
    port: int
    protocol: str
    hostname: str | None
    namespaces_from: str = "Same"
    selector: dict[str, Any] | None = None
    kinds_ok: bool = True
    accepted: Condition = (True, "Accepted", "")
    attached: int = 0  # routes attached (for status.listeners[].attachedRoutes)
    routes: list[dict[str, Any]] = field(default_factory=list)  # rendered fastgw routes

    @property
    def usable(self) -> bool:
        return self.accepted[0]


@dataclass
class ParentResult:
    """One parentRef of a route that names the rendered Gateway."""

    parent_ref: dict[str, Any]
    listeners: list[tuple[Listener, list[str]]]  # attached listeners and the route's hostnames there
    accepted: Condition


def read_listeners(gw: Resource, diags: Diagnostics) -> list[Listener]:
    spec = Fields.spec(gw, diags)
    spec.ignore("gatewayClassName")
    for key in ("addresses", "infrastructure", "backendTLS", "allowedListeners", "tls"):
        if spec.has(key):
            spec.get(key)
            spec.warn(key, "not supported by fastgw; ignored")
    listeners: list[Listener] = []
    seen: dict[tuple[int, str | None], str] = {}
    for lf in spec.mappings("listeners"):
        name = lf.string("name") or f"listener{len(listeners)}"
        port = lf.integer("port")
        protocol = lf.string("protocol") or "HTTP"
        hostname = lf.string("hostname")
        if port is None or not 1 <= port <= 65535:
            lf.error("port", "a listener needs a port from 1 to 65535")
            continue
        lst = Listener(name=name, port=port, protocol=protocol, hostname=hostname)
        if protocol != "HTTP":
            lst.accepted = (False, "UnsupportedProtocol", f"protocol {protocol} is not supported by fastgw yet")
            lf.warn("protocol", f"{protocol} is not supported by fastgw yet (only HTTP); listener {name} not rendered")
        if lf.has("tls"):
            lf.get("tls")
            lf.warn("tls", "TLS termination is not supported by fastgw yet; ignored")
        allowed = lf.mapping("allowedRoutes")
        if allowed is not None:
            ns = allowed.mapping("namespaces")
            if ns is not None:
                lst.namespaces_from = ns.string("from") or "Same"
                sel = ns.get("selector")
                lst.selector = sel if isinstance(sel, dict) else None
                if lst.namespaces_from not in ("All", "Same", "Selector"):
                    ns.error("from", f"unknown value {lst.namespaces_from!r} (All, Same or Selector)")
                ns.finish()
            kinds = allowed.mappings("kinds")
            if kinds:
                lst.kinds_ok = False
                for k in kinds:
                    if (k.string("group") or GATEWAY_API) == GATEWAY_API and k.string("kind") == "HTTPRoute":
                        lst.kinds_ok = True
                    k.finish()
                if not lst.kinds_ok:
                    lst.accepted = (False, "InvalidRouteKinds", "fastgw serves HTTPRoute only")
                    allowed.warn("kinds", "no kind fastgw serves (HTTPRoute); no route attaches")
            allowed.finish()
        lf.finish()
        clash = seen.get((port, hostname))
        if clash is not None and lst.usable:
            lst.accepted = (False, "HostnameConflict", f"listener {clash} has the same port and hostname")
            lf.warn("hostname", f"same port and hostname as listener {clash}; listener {name} not rendered")
        seen.setdefault((port, hostname), name)
        listeners.append(lst)
    spec.finish()
    return listeners


def attach(route: Resource, gw: Resource, listeners: list[Listener], manifests: ManifestSet) -> list[ParentResult]:
    """The route's parentRefs that name `gw`, each with the listeners it attaches to."""
    results = []
    for ref in route.spec.get("parentRefs") or []:
        if not isinstance(ref, dict):
            continue
        group = ref.get("group") or GATEWAY_API
        kind = ref.get("kind") or "Gateway"
        ns = ref.get("namespace") or route.namespace
        if group != GATEWAY_API or kind != "Gateway" or ns != gw.namespace or ref.get("name") != gw.name:
            continue
        section, port = ref.get("sectionName"), ref.get("port")
        candidates = [
            lst for lst in listeners if (section is None or lst.name == section) and (port is None or lst.port == port)
        ]
        if not candidates:
            what = f"listener {section}" if section else f"port {port}"
            results.append(ParentResult(ref, [], (False, "NoMatchingParent", f"Gateway {gw.name} has no {what}")))
            continue
        attached: list[tuple[Listener, list[str]]] = []
        reason = "NotAllowedByListeners"
        message = "no listener allows this route"
        for lst in candidates:
            if not lst.usable or not _namespace_allowed(lst, route.namespace, gw.namespace, manifests):
                continue
            hosts = intersect_hostnames(
                lst.hostname, [h for h in route.spec.get("hostnames") or [] if isinstance(h, str)]
            )
            if hosts is None:
                reason, message = "NoMatchingListenerHostname", "no hostname of the route matches a listener's"
                continue
            attached.append((lst, hosts))
        if attached:
            results.append(ParentResult(ref, attached, (True, "Accepted", "")))
        else:
            results.append(ParentResult(ref, [], (False, reason, message)))
    return results


def other_parents(route: Resource, gw: Resource) -> list[str]:
    """The parents a route names that are not `gw` (for the warning when it attaches nowhere)."""
    out = []
    for ref in route.spec.get("parentRefs") or []:
        if not isinstance(ref, dict):
            continue
        ns = ref.get("namespace") or route.namespace
        kind = ref.get("kind") or "Gateway"
        if (ns, ref.get("name"), kind) != (gw.namespace, gw.name, "Gateway"):
            out.append(f"{kind} {ns}/{ref.get('name')}")
    return out


def _namespace_allowed(lst: Listener, route_ns: str, gw_ns: str, manifests: ManifestSet) -> bool:
    if lst.namespaces_from == "All":
        return True
    if lst.namespaces_from == "Same":
        return route_ns == gw_ns
    if lst.namespaces_from == "Selector":
        labels = {"kubernetes.io/metadata.name": route_ns}
        ns_res = manifests.get("Namespace", "", route_ns)
        if ns_res is not None:
            labels.update({k: str(v) for k, v in (ns_res.metadata.get("labels") or {}).items()})
        return selector_matches(lst.selector or {}, labels)
    return False


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist)."""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != str(v):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key"), expr.get("operator")
        values = [str(v) for v in expr.get("values") or []]
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def intersect_hostnames(listener: str | None, route: list[str]) -> list[str] | None:
    """The hostnames a route serves on a listener (Gateway API: the intersection; a wildcard
    matches one or more labels). [] means any host; None means no hostname in common."""
    if not route:
        return []  # the listener's hostname (if any) already restricts the host
    if listener is None:
        return list(route)
    out = []
    for h in route:
        if _covers(listener, h):
            out.append(h)  # the route's name is as specific or more
        elif _covers(h, listener):
            out.append(listener)
    return out or None


def _covers(pattern: str, host: str) -> bool:
    """Whether `pattern` (exact or `*.suffix`) matches every host `host` (exact or wildcard) does."""
    if pattern == host:
        return True
    if pattern.startswith("*."):
        suffix = pattern[1:]  # ".example.com"
        name = host[2:] if host.startswith("*.") else host
        return name.endswith(suffix) and len(name) > len(suffix)
    return False
