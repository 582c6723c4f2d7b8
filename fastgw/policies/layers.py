"""Listener-level policies (`listeners[].policies`) and how routes inherit them, as agentgateway
merges its levels (store/policy.rs merge_with_inheritance): for each policy kind the most specific
level wins (a route's own jwtAuth replaces the listener's), except `authorization`, whose rules
accumulate (http/authorization.rs). The listener's policies are compiled once and shared by its
routes (one JWKS cache per listener, not per route); a variant is kept per error dialect and per
token passthrough, since those depend on the route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastgw.policies import api_key, authorization, basic_auth, ext_authz, jwt_auth, transformations
from fastgw.policies.cors import Cors

if TYPE_CHECKING:
    from fastgw.config.schema_policysets import ListenerPolicies
    from fastgw.policies.key_budgets import KeyServices
    from fastgw.runtime import RequestPolicy

__all__ = ["ListenerLayer"]


class ListenerLayer:
    __slots__ = ("_built", "_errors", "_keys", "_path", "_spec", "rules")

    def __init__(
        self, spec: ListenerPolicies | None, path: str, errors: list[str], keys: KeyServices | None = None
    ) -> None:
        self._spec = spec
        self._keys = keys
        self._path = path
        self._errors = errors
        self._built: dict[tuple[bool, bool], dict[str, RequestPolicy]] = {}
        self.rules = authorization.compile_rules(
            spec.authorization if spec is not None else None, f"{path}.authorization", errors
        )

    def policies(self, *, llm: bool, passthrough: bool) -> dict[str, RequestPolicy]:
        """The listener's policies (by ORDER name) for a route of this kind; the route keeps
        its own where it has one of the same name."""
        key = (llm, passthrough)
        built = self._built.get(key)
        if built is None:
            # compile errors are reported once, by the first variant built
            errors = self._errors if not self._built else []
            built = self._built[key] = self._build(llm, passthrough, errors)
        return built

    def _build(self, llm: bool, passthrough: bool, errors: list[str]) -> dict[str, RequestPolicy]:
        spec = self._spec
        path = self._path
        out: dict[str, RequestPolicy] = {}
        if spec is None:
            return out
        if spec.jwt_auth is not None:
            jwt = jwt_auth.build(spec.jwt_auth, f"{path}.jwtAuth", errors, llm=llm, passthrough=passthrough)
            if jwt is not None:
                out["jwtAuth"] = jwt
        if spec.basic_auth is not None:
            basic = basic_auth.build(spec.basic_auth, f"{path}.basicAuth", errors, llm=llm)
            if basic is not None:
                out["basicAuth"] = basic
        if spec.api_key is not None:
            keys = api_key.build(spec.api_key, f"{path}.apiKey", errors, llm=llm, services=self._keys)
            if keys is not None:
                out["apiKey"] = keys
        if spec.ext_authz is not None:
            ext = ext_authz.build(spec.ext_authz, f"{path}.extAuthz", errors, llm=llm)
            if ext is not None:
                out["extAuthz"] = ext
        if spec.cors is not None:
            c = spec.cors
            out["cors"] = Cors.build(
                c.allow_origins, c.allow_methods, c.allow_headers, c.expose_headers, c.allow_credentials, c.max_age
            )
        if spec.transformations is not None:
            out["transformations"] = transformations.build(spec.transformations, f"{path}.transformations", errors)
        return out
