"""What each supported manifest field becomes in the config, and the features fastgw does not serve
yet rendered faithfully so that validation names them (never dropped, never invented)."""

from __future__ import annotations

from typing import Any

from fastgw.k8s.output import to_yaml, validation_errors
from fastgw.k8s.render import RenderOptions
from tests.k8s.test_render_errors import BACKEND, GATEWAY, SECRET, messages, route, routes, run

AGW = "{group: agentgateway.dev, kind: AgentgatewayBackend, name: %s}"


def backend(name: str, spec: str) -> str:
    head = "apiVersion: agentgateway.dev/v1alpha1\nkind: AgentgatewayBackend\n"
    return head + f"metadata: {{name: {name}, namespace: ns}}\nspec:\n{spec}"


def only_route(*docs: str, options: RenderOptions | None = None) -> dict[str, Any]:
    r = run(GATEWAY, SECRET, *docs, options=options)
    assert r.ok, messages(r)
    (rt,) = routes(r)
    return rt


def test_filters_matches_timeouts_and_weights() -> None:
    rules = """\
  - matches:
    - path: {type: PathPrefix, value: /openai}
      method: POST
      headers: [{name: x-team, value: blue}, {type: RegularExpression, name: x-env, value: "prod|stage"}]
      queryParams: [{name: debug, value: "1"}]
    filters:
    - type: URLRewrite
      urlRewrite: {hostname: api.internal, path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-a, value: "1"}], add: [{name: x-b, value: "2"}], remove: [x-c]}
    - {type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-served-by, value: fastgw}]}}
    timeouts: {request: 30s, backendRequest: 10s}
    retry: {attempts: 2, codes: [503], backoff: 100ms}
    backendRefs:
    - {group: agentgateway.dev, kind: AgentgatewayBackend, name: llm, weight: 3}
    - {group: agentgateway.dev, kind: AgentgatewayBackend, name: llm2, weight: 1}
    - {group: agentgateway.dev, kind: AgentgatewayBackend, name: llm3, weight: 0}
"""
    other = BACKEND.replace("name: llm,", "name: llm2,")
    third = BACKEND.replace("name: llm,", "name: llm3,")
    rt = only_route(BACKEND, other, third, route(rules))
    assert rt["matches"] == [
        {
            "path": {"pathPrefix": "/openai"},
            "headers": [
                {"name": "x-team", "value": {"exact": "blue"}},
                {"name": "x-env", "value": {"regex": "prod|stage"}},
            ],
            "query": [{"name": "debug", "value": {"exact": "1"}}],
            "method": "POST",
        }
    ]
    assert rt["policies"] == {
        "urlRewrite": {"authority": {"full": "api.internal"}, "path": {"prefix": ""}},
        "requestHeaderModifier": {"set": {"x-a": "1"}, "add": {"x-b": "2"}, "remove": ["x-c"]},
        "responseHeaderModifier": {"set": {"x-served-by": "fastgw"}},
        "timeout": {"requestTimeout": "30s", "backendRequestTimeout": "10s"},
        "retry": {"attempts": 2, "codes": [503], "backoff": "100ms"},
    }
    assert [(b["ai"]["name"], b.get("weight", 1)) for b in rt["backends"]] == [("ns/llm", 3), ("ns/llm2", 1)]


def test_agentgateway_backend_overrides_routes_and_policies() -> None:
    spec = """\
  ai:
    provider:
      openai: {model: gpt-4o}
      host: vllm.models.svc
      port: 8000
      pathPrefix: /v2
  policies:
    auth: {secretRef: {name: key}}
    tls: {sni: vllm.models.svc, insecureSkipVerify: Hostname}
    ai:
      routes: {/v1/chat/completions: Completions, /v1/models: Models, "*": Passthrough}
      prompt: {prepend: [{role: SYSTEM, content: Be terse.}]}
      defaults: [{field: temperature, value: 0.2}]
      overrides: [{field: max_tokens, value: 64}]
      modelAliases: {fast: gpt-4o-mini}
"""
    rt = only_route(backend("llm", spec), route())
    (b,) = rt["backends"]
    assert b["ai"] == {
        "name": "ns/llm",
        "provider": {"openAI": {"model": "gpt-4o"}},
        "hostOverride": "vllm.models.svc:8000",
        "pathPrefix": "/v2",
    }
    assert b["policies"]["backendTLS"] == {"hostname": "vllm.models.svc", "insecureHost": True}
    assert b["policies"]["ai"] == {
        "routes": {"/v1/chat/completions": "completions", "/v1/models": "models", "*": "passthrough"},
        "prompts": {"prepend": [{"role": "system", "content": "Be terse."}]},
        "defaults": {"temperature": 0.2},
        "overrides": {"max_tokens": 64},
        "modelAliases": {"fast": "gpt-4o-mini"},
    }


def test_groups_render_and_provider_host_reaches_every_entry() -> None:
    spec = """\
  ai:
    groups:
    - providers:
      - {name: primary, anthropic: {model: claude-haiku-4-5}, policies: {auth: {secretRef: {name: key}}}}
      - {name: backup, openai: {model: gpt-4o-mini}}
"""
    rt = only_route(backend("llm", spec), route(), options=RenderOptions(provider_hosts={"": "127.0.0.1:4010"}))
    (group,) = rt["backends"][0]["ai"]["groups"]
    assert [(p["name"], p["hostOverride"]) for p in group["providers"]] == [
        ("primary", "127.0.0.1:4010"),
        ("backup", "127.0.0.1:4010"),
    ]
    assert "backendAuth" in group["providers"][0]["policies"]


def test_kgateway_backend_inline_token_stays_out_of_the_config_and_multipool_is_groups() -> None:
    kgw = """
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: pool, namespace: ns}
spec:
  type: AI
  ai:
    multipool:
      priorities:
      - pool:
        - {provider: {openai: {model: gpt-4o, authToken: {kind: Inline, inline: sk-inline-secret}}}}
      - pool:
        - provider: {anthropic: {authToken: {kind: SecretRef, secretRef: {name: key}}}}
          hostOverride: {host: 10.0.0.7, port: 8080}
"""
    rules = "  - backendRefs: [{group: gateway.kgateway.dev, kind: Backend, name: pool}]\n"
    r = run(GATEWAY, SECRET, kgw, route(rules))
    assert r.ok, messages(r)
    text = to_yaml(r.config or {}, "env")
    assert "sk-inline-secret" not in text
    assert "key: $NS_BACKEND_POOL_SPEC_AI_MULTIPOOL_PRIORITIES_0__POOL_0__PROVIDER_OPENAI_AUTHTOKEN_INLINE" in text
    groups = routes(r)[0]["backends"][0]["ai"]["groups"]
    assert groups[1]["providers"][0]["hostOverride"] == "10.0.0.7:8080"


def test_traffic_policy_fields() -> None:
    tp = """
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: tp, namespace: ns}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  cors: {allowOrigins: ["https://app.example.com"], allowMethods: [POST], maxAge: 600}
  headerModifiers: {request: {set: [{name: x-gw, value: fastgw}]}}
  timeouts: {request: 60s}
  retry: {attempts: 3, retryOn: [gateway-error], perTryTimeout: 20s}
  ai:
    promptEnrichment: {append: [{role: USER, content: Answer in French.}]}
    defaults: [{field: temperature, value: 0.1}, {field: max_tokens, value: 100, override: true}]
  rateLimit: {local: {tokenBucket: {maxTokens: 10, fillInterval: 1s}}}
"""
    rt = only_route(BACKEND, route(), tp)
    assert rt["policies"] == {
        "localRateLimit": [{"maxTokens": 10, "tokensPerFill": 1, "fillInterval": "1s"}],
        "cors": {"allowOrigins": ["https://app.example.com"], "allowMethods": ["POST"], "maxAge": "600s"},
        "requestHeaderModifier": {"set": {"x-gw": "fastgw"}},
        "retry": {"attempts": 3, "codes": [502, 503, 504]},
        "timeout": {"requestTimeout": "60s", "backendRequestTimeout": "20s"},
        "ai": {
            "prompts": {"append": [{"role": "user", "content": "Answer in French."}]},
            "defaults": {"temperature": 0.1},
            "overrides": {"max_tokens": 100},
        },
    }


def test_extension_ref_filter_applies_a_traffic_policy_to_one_rule() -> None:
    tp = """
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: limit, namespace: ns}
spec:
  rateLimit: {local: {tokenBucket: {maxTokens: 1, fillInterval: 100s}}}
"""
    rules = f"""\
  - filters: [{{type: ExtensionRef, extensionRef: {{group: gateway.kgateway.dev, kind: TrafficPolicy, name: limit}}}}]
    backendRefs: [{AGW % "llm"}]
"""
    rt = only_route(BACKEND, route(rules), tp)
    assert rt["policies"]["localRateLimit"] == [{"maxTokens": 1, "tokensPerFill": 1, "fillInterval": "100s"}]


def test_features_fastgw_does_not_serve_yet_render_faithfully_and_validation_names_them() -> None:
    redirect = """\
  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
"""
    r = run(GATEWAY, route(redirect))
    assert r.ok, messages(r)
    assert routes(r)[0]["policies"] == {"requestRedirect": {"scheme": "https", "status": 301}}
    assert any("requestRedirect: not supported yet" in e for e in validation_errors(r.config or {}))
    mcp = backend(
        "tools",
        "  mcp:\n    targets:\n    - {name: fetch, static: {host: mcp.default.svc, port: 80, protocol: SSE}}\n",
    )
    r = run(GATEWAY, mcp, route(f"  - backendRefs: [{AGW % 'tools'}]\n"))
    assert r.ok, messages(r)
    assert routes(r)[0]["backends"] == [
        {"mcp": {"targets": [{"name": "fetch", "sse": {"host": "mcp.default.svc", "port": 80}}]}}
    ]
    assert not any("not supported yet" in e for e in validation_errors(r.config or {}))  # sse targets work
