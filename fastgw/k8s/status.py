"""Status the Gateway API asks a controller to write: GatewayClass Accepted; Gateway Accepted and
Programmed, with each listener's conditions and attached route count; each HTTPRoute's
`status.parents` entry for our Gateway (Accepted, ResolvedRefs), next to other controllers' entries.

A condition keeps its lastTransitionTime while its status is unchanged, so recomputing the same
state gives the same object and the controller writes nothing.
"""

from __future__ import annotations

from typing import Any

from fastgw.k8s.gateway import Condition
from fastgw.k8s.manifests import GATEWAY_API, Resource
from fastgw.k8s.render import Rendered, RouteReport


def condition(
    ctype: str, cond: Condition, generation: int, previous: list[dict[str, Any]] | None, now: str
) -> dict[str, Any]:
    ok, reason, message = cond
    status = "True" if ok else "False"
    since = now
    for old in previous or []:
        if old.get("type") == ctype and old.get("status") == status and old.get("lastTransitionTime"):
            since = old["lastTransitionTime"]
    return {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message[:32768],  # the API's limit for a condition message
        "observedGeneration": generation,
        "lastTransitionTime": since,
    }


def class_status(gwc: Resource, now: str) -> dict[str, Any]:
    prev = (gwc.obj.get("status") or {}).get("conditions")
    cond = (True, "Accepted", "handled by fastgw")
    return {"conditions": [condition("Accepted", cond, gwc.generation, prev, now)]}


def gateway_status(gw: Resource, rendered: Rendered, programmed: Condition, now: str) -> dict[str, Any]:
    old = gw.obj.get("status") or {}
    gen = gw.generation
    bad = [lst.name for lst in rendered.listeners if not lst.usable]
    accepted: Condition = (True, "Accepted", "")
    if bad and len(bad) == len(rendered.listeners):
        accepted = (False, "ListenersNotValid", f"no listener fastgw can serve: {', '.join(bad)}")
    elif bad:
        accepted = (True, "ListenersNotValid", f"not served: {', '.join(bad)}")
    old_listeners = {entry.get("name"): entry.get("conditions") for entry in old.get("listeners") or []}
    listeners = []
    for lst in rendered.listeners:
        prev = old_listeners.get(lst.name)
        conflict = lst.accepted[1] == "HostnameConflict"
        listeners.append(
            {
                "name": lst.name,
                "supportedKinds": [{"group": GATEWAY_API, "kind": "HTTPRoute"}] if lst.kinds_ok else [],
                "attachedRoutes": lst.attached,
                "conditions": [
                    condition("Accepted", lst.accepted, gen, prev, now),
                    condition(
                        "Programmed",
                        (programmed[0] and lst.usable, programmed[1] if lst.usable else "Invalid", programmed[2]),
                        gen,
                        prev,
                        now,
                    ),
                    condition(
                        "ResolvedRefs",
                        (True, "ResolvedRefs", "") if lst.kinds_ok else (False, "InvalidRouteKinds", lst.accepted[2]),
                        gen,
                        prev,
                        now,
                    ),
                    condition(
                        "Conflicted",
                        (True, "HostnameConflict", lst.accepted[2]) if conflict else (False, "NoConflicts", ""),
                        gen,
                        prev,
                        now,
                    ),
                ],
            }
        )
    prev_conditions = old.get("conditions")
    return {
        "conditions": [
            condition("Accepted", accepted, gen, prev_conditions, now),
            condition("Programmed", programmed, gen, prev_conditions, now),
        ],
        "listeners": listeners,
    }


def route_parents(route: Resource, report: RouteReport | None, controller: str, now: str) -> list[dict[str, Any]]:
    """The route's whole `status.parents`: other controllers' entries kept, ours recomputed."""
    old = (route.obj.get("status") or {}).get("parents") or []
    others = [p for p in old if p.get("controllerName") != controller]
    ours_old = {_ref_key(p.get("parentRef") or {}, route): p.get("conditions") for p in old if p not in others}
    ours = []
    for parent in report.parents if report is not None else []:
        prev = ours_old.get(_ref_key(parent.parent_ref, route))
        ours.append(
            {
                "parentRef": parent.parent_ref,
                "controllerName": controller,
                "conditions": [
                    condition("Accepted", parent.accepted, route.generation, prev, now),
                    condition(
                        "ResolvedRefs",
                        report.resolved if report else (True, "ResolvedRefs", ""),
                        route.generation,
                        prev,
                        now,
                    ),
                ],
            }
        )
    return others + ours


def _ref_key(ref: dict[str, Any], route: Resource) -> tuple[Any, ...]:
    return (
        ref.get("group") or GATEWAY_API,
        ref.get("kind") or "Gateway",
        ref.get("namespace") or route.namespace,
        ref.get("name"),
        ref.get("sectionName"),
        ref.get("port"),
    )
