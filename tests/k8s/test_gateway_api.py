"""Gateway API attachment rules (listeners, allowedRoutes, hostnames, sectionName, ReferenceGrant)
and the status objects built from them."""

from __future__ import annotations

import pytest

from fastgw.k8s.gateway import intersect_hostnames, selector_matches
from fastgw.k8s.manifests import ManifestSet
from fastgw.k8s.render import render
from fastgw.k8s.status import condition, gateway_status, route_parents

GW = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra, generation: 3}
spec:
  gatewayClassName: fastgw
  listeners:
  - {name: http, port: 8080, protocol: HTTP, hostname: "*.example.com", allowedRoutes: {namespaces: {from: All}}}
  - {name: same-ns, port: 8081, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}}
  - name: team
    port: 8082
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: blue}}}}
  - {name: tls, port: 8443, protocol: HTTPS}
---
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {team: blue}}
"""


def route(name: str, ns: str = "apps", parent: str = "{name: gw, namespace: infra}", hostnames: str = "[]") -> str:
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: {ns}}}
spec:
  parentRefs: [{parent}]
  hostnames: {hostnames}
  rules: [{{backendRefs: [{{name: svc, port: 80}}]}}]
"""


def rendered(*docs: str):  # type: ignore[no-untyped-def]
    m = ManifestSet()
    m.load_text("---\n".join([GW, *docs]), "m.yaml")
    return render(m)


def listener_routes(r, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    for bind in r.config["binds"]:
        for lst in bind["listeners"]:
            if lst["name"] == name:
                return [x["name"] for x in lst["routes"]]
    return []


@pytest.mark.parametrize(
    ("listener", "route", "expected"),
    [
        (None, ["a.com"], ["a.com"]),
        ("*.example.com", [], []),
        ("*.example.com", ["api.example.com", "other.org"], ["api.example.com"]),
        ("*.example.com", ["*.api.example.com"], ["*.api.example.com"]),
        ("api.example.com", ["*.example.com"], ["api.example.com"]),
        ("*.example.com", ["example.com"], None),  # a wildcard never matches the bare domain
        ("a.example.com", ["b.example.com"], None),
    ],
)
def test_hostname_intersection(listener: str | None, route: list[str], expected: list[str] | None) -> None:
    assert intersect_hostnames(listener, route) == expected


def test_label_selector() -> None:
    labels = {"team": "blue", "env": "prod"}
    assert selector_matches({"matchLabels": {"team": "blue"}}, labels)
    assert not selector_matches({"matchLabels": {"team": "red"}}, labels)
    assert selector_matches({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}, labels)


def test_attachment_rules_and_listener_status() -> None:
    r = rendered(
        route("all"),  # from apps: http (host-limited) and team (selector); not same-ns
        route("infra-only", ns="infra", parent="{name: gw, sectionName: same-ns}"),
        route("wrong-host", hostnames="[other.org]", parent="{name: gw, namespace: infra, sectionName: http}"),
        route("no-such", parent="{name: gw, namespace: infra, sectionName: nope}"),
    )
    assert listener_routes(r, "http") == ["apps/all"]
    assert listener_routes(r, "same-ns") == ["infra/infra-only"]
    assert listener_routes(r, "team") == ["apps/all"]
    assert listener_routes(r, "tls") == []  # not rendered: HTTPS is not supported yet
    reports = {rep.route.name: rep for rep in r.routes}
    assert reports["wrong-host"].parents[0].accepted[:2] == (False, "NoMatchingListenerHostname")
    assert reports["no-such"].parents[0].accepted[:2] == (False, "NoMatchingParent")
    gw = next(x for x in r.diagnostics.items if "HTTPS" in x.message)
    assert gw.field == "spec.listeners[3].protocol"
    status = gateway_status(r.gateway, r, (True, "Programmed", ""), "2025-01-01T00:00:00Z")
    assert [c["reason"] for c in status["conditions"]] == ["ListenersNotValid", "Programmed"]
    tls = next(x for x in status["listeners"] if x["name"] == "tls")
    assert tls["conditions"][0]["status"] == "False" and tls["conditions"][0]["reason"] == "UnsupportedProtocol"
    assert {x["name"]: x["attachedRoutes"] for x in status["listeners"]} == {
        "http": 1,
        "same-ns": 1,
        "team": 1,
        "tls": 0,
    }
    assert all(c["observedGeneration"] == 3 for x in status["listeners"] for c in x["conditions"])


def test_cross_namespace_backend_needs_a_reference_grant() -> None:
    backend_ref = "{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm, namespace: ai}"
    rt = route("x", ns="infra", parent="{name: gw, sectionName: same-ns}").replace("{name: svc, port: 80}", backend_ref)
    backend = """
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: llm, namespace: ai}
spec: {ai: {provider: {openai: {}}}}
"""
    r = rendered(rt, backend)
    assert any("is in another namespace and no ReferenceGrant there allows it" in str(d) for d in r.diagnostics.errors)
    grant = """
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: ai}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: infra}]
  to: [{group: agentgateway.dev, kind: AgentgatewayBackend}]
"""
    r = rendered(rt, backend, grant)
    assert not r.diagnostics.errors


def test_condition_keeps_its_transition_time_while_unchanged() -> None:
    prev = [{"type": "Accepted", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]
    same = condition("Accepted", (True, "Accepted", ""), 2, prev, "2025-06-01T00:00:00Z")
    assert same["lastTransitionTime"] == "2025-01-01T00:00:00Z" and same["observedGeneration"] == 2
    flipped = condition("Accepted", (False, "NotAllowedByListeners", "x"), 2, prev, "2025-06-01T00:00:00Z")
    assert flipped["lastTransitionTime"] == "2025-06-01T00:00:00Z"


def test_route_parents_drop_ours_when_the_route_leaves_the_gateway() -> None:
    r = rendered(route("all"))
    res = r.routes[0].route
    res.obj["status"] = {
        "parents": [
            {"parentRef": {"name": "gw", "namespace": "infra"}, "controllerName": "fastgw.dev/gateway-controller"},
            {"parentRef": {"name": "mesh"}, "controllerName": "example.com/mesh"},
        ]
    }
    assert route_parents(res, None, "fastgw.dev/gateway-controller", "now") == [
        {"parentRef": {"name": "mesh"}, "controllerName": "example.com/mesh"}
    ]
