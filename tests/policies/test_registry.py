"""The policy registry against the schema: every registered kind is a key routes (and, when it
says so, listeners) accept, found where its `route`/`listener` accessors look, and a config
setting it compiles to that policy in the registry's order."""

from __future__ import annotations

import msgspec

from fastgw.config.compile import load_runtime
from fastgw.config.schema_policysets import ListenerPolicies, RoutePolicies
from fastgw.policies import REGISTRY


def _keys(struct: type[msgspec.Struct]) -> dict[str, str]:
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    return {f.encode_name: f.name for f in info.fields}


def test_every_kind_is_a_route_key_and_listener_keys_match() -> None:
    route_keys = _keys(RoutePolicies)
    listener_keys = _keys(ListenerPolicies)
    names = [kind.name for kind in REGISTRY]
    assert len(set(names)) == len(names)
    for kind in REGISTRY:
        assert kind.name in route_keys, kind.name
        assert (kind.listener is not None) == (kind.name in listener_keys), kind.name
        # the accessors read the field of that key
        sentinel = object()
        route = msgspec.structs.replace(RoutePolicies(), **{route_keys[kind.name]: sentinel})
        assert kind.route(route) is sentinel
        if kind.listener is not None:
            listener = msgspec.structs.replace(ListenerPolicies(), **{listener_keys[kind.name]: sentinel})
            assert kind.listener(listener) is sentinel


def test_a_route_runs_its_policies_in_registry_order_whatever_the_config_order() -> None:
    text = """
binds:
- port: 3000
  listeners:
  - policies:
      authorization: {rules: ["true"]}
    routes:
    - policies:
        directResponse: {body: "hi", status: 200}
        urlRewrite: {path: {full: /x}}
        localRateLimit: [{maxTokens: 5, tokensPerFill: 1, fillInterval: 1s}]
        authorization: {rules: ["false"]}
        cors: {allowOrigins: ["*"]}
"""
    runtime = load_runtime("registry.yaml", text)
    route = runtime.binds[0].routes.listeners[0].entries[0].route
    names = [p.name for p in route.policies]
    assert names == ["cors", "authorization", "localRateLimit", "urlRewrite", "directResponse"]
    order = [kind.name for kind in REGISTRY]
    assert names == sorted(names, key=order.index)
    # the listener's rules and the route's accumulate into one policy
    authz = route.policies[1]
    assert len(authz.rules.allow) == 2  # type: ignore[attr-defined]
