"""Listener-level policies (`listeners[].policies`) and how routes inherit them, as agentgateway
merges its levels (store/policy.rs merge_with_inheritance): for each policy kind the most specific
level wins (a route's own jwtAuth replaces the listener's), except the kinds with a `combine`
(`authorization`, whose rules accumulate: http/authorization.rs). The listener's policies are
compiled once and shared by its routes (one JWKS cache per listener, not per route); a variant is
kept per error dialect and per token passthrough, since those depend on the route.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from fastgw.policies import REGISTRY
from fastgw.policies.kind import Site

if TYPE_CHECKING:
    from fastgw.config.schema_policysets import ListenerPolicies, RoutePolicies
    from fastgw.policies.key_budgets import KeyServices
    from fastgw.runtime import RequestPolicy

__all__ = ["ListenerLayer", "request_policies"]


class ListenerLayer:
    __slots__ = ("_built", "_errors", "_keys", "_path", "_spec")

    def __init__(self, spec: ListenerPolicies, path: str, errors: list[str], keys: KeyServices | None = None) -> None:
        self._spec = spec
        self._keys = keys
        self._path = path
        self._errors = errors
        self._built: dict[tuple[bool, bool], dict[str, RequestPolicy]] = {}

    def policies(self, *, llm: bool, passthrough: bool) -> dict[str, RequestPolicy]:
        """The listener's policies by name for a route of this kind."""
        key = (llm, passthrough)
        built = self._built.get(key)
        if built is None:
            # compile errors are reported once, by the first variant built
            errors = self._errors if not self._built else []
            site = Site(self._path, errors, llm=llm, passthrough=passthrough, keys=self._keys)
            built = self._built[key] = _build(self._spec, site)
        return built


def _build(spec: ListenerPolicies, site: Site) -> dict[str, RequestPolicy]:
    out: dict[str, RequestPolicy] = {}
    for kind in REGISTRY:
        own = kind.listener(spec) if kind.listener is not None else None
        if own is not None:
            policy = kind.build(own, _at(site, kind.name))
            if policy is not None:
                out[kind.name] = policy
    return out


def request_policies(
    spec: RoutePolicies | None, site: Site, listener: ListenerLayer | None = None
) -> tuple[RequestPolicy, ...]:
    """A route's request policies in REGISTRY order: its own, and its listener's where it has
    none of the same kind (or combined with them). `site.path` is the route's `policies` key."""
    inherited = listener.policies(llm=site.llm, passthrough=site.passthrough) if listener is not None else {}
    out: list[RequestPolicy] = []
    for kind in REGISTRY:
        own_spec = kind.route(spec) if spec is not None else None
        own = kind.build(own_spec, _at(site, kind.name)) if own_spec is not None else None
        outer = inherited.get(kind.name)
        if own is None:
            policy = outer
        elif outer is not None and kind.combine is not None:
            policy = kind.combine(outer, own)
        else:
            policy = own
        if policy is not None:
            out.append(policy)
    return tuple(out)


def _at(site: Site, key: str) -> Site:
    return replace(site, path=f"{site.path}.{key}")
