"""Bad and partly supported manifests: errors name the resource, the field and what it refers to;
what fastgw does not render is a warning naming the field; nothing crashes, nothing leaks."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
import yaml

from fastgw.k8s.manifests import ManifestSet
from fastgw.k8s.output import to_yaml, validation_errors
from fastgw.k8s.render import Rendered, RenderOptions, render
from tests.k8s.util import SEEDS, render_cli

GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns}
spec:
  gatewayClassName: fastgw
  listeners:
  - {name: http, port: 8080, protocol: HTTP}
"""
SECRET = """
apiVersion: v1
kind: Secret
metadata: {name: key, namespace: ns}
stringData: {Authorization: sk-from-manifest}
"""
BACKEND = """
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: llm, namespace: ns}
spec:
  ai: {provider: {openai: {model: gpt-4o-mini}}}
  policies: {auth: {secretRef: {name: key}}}
"""


def route(rules: str = "  - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]\n") -> str:
    return (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: ns}\n"
        "spec:\n  parentRefs: [{name: gw}]\n  rules:\n" + rules
    )


def run(*docs: str, options: RenderOptions | None = None) -> Rendered:
    manifests = ManifestSet()
    manifests.load_text("---\n".join(docs), "m.yaml")
    return render(manifests, options)


def messages(r: Rendered, level: str = "error") -> list[str]:
    return [str(d) for d in r.diagnostics.items if d.level == level]


def routes(r: Rendered) -> list[dict[str, object]]:
    assert r.config is not None
    return list(r.config["binds"][0]["listeners"][0]["routes"])


def test_a_good_set_renders_and_validates() -> None:
    r = run(GATEWAY, SECRET, BACKEND, route())
    assert r.ok, messages(r)
    assert validation_errors(r.config or {}) == []
    assert messages(r, "warning") == []


def test_missing_secret_names_backend_secret_and_route() -> None:
    r = run(GATEWAY, BACKEND, route())
    assert not r.ok
    (err,) = messages(r)
    assert err.startswith("m.yaml:")
    assert (
        "AgentgatewayBackend ns/llm: spec.policies.auth.secretRef: Secret ns/key not found (used by HTTPRoute ns/r)"
    ) in err


def test_missing_secret_key_lists_the_keys_not_the_values() -> None:
    secret = SECRET.replace("Authorization", "token")
    r = run(GATEWAY, secret, BACKEND, route())
    (err,) = messages(r)
    assert "Secret ns/key has no key Authorization (its keys: token)" in err
    assert "sk-from-manifest" not in err


def test_missing_backend_names_route_and_backend() -> None:
    r = run(GATEWAY, SECRET, route())
    (err,) = messages(r)
    assert "HTTPRoute ns/r: spec.rules[0].backendRefs[0]: AgentgatewayBackend ns/llm not found" in err
    # the controller keeps serving the route: a rule with no usable backend answers 500 (Gateway API)
    (rt,) = routes(r)
    assert rt["policies"] == {"directResponse": {"status": 500, "body": "no usable backend for this route"}}
    assert r.routes[0].resolved == (False, "BackendNotFound", "AgentgatewayBackend ns/llm not found")


def test_unknown_kind_is_a_warning_naming_it() -> None:
    other = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: ns}\n"
    r = run(GATEWAY, SECRET, BACKEND, route(), other)
    assert r.ok
    assert messages(r, "warning") == [
        "m.yaml:32: warning: Widget w: kind Widget (example.com/v1) is not one fastgw renders; ignored"
    ]


def test_wrong_api_version_is_an_error_naming_the_versions() -> None:
    bad = route().replace("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v2")
    r = run(GATEWAY, SECRET, BACKEND, bad)
    (err,) = messages(r)
    assert "HTTPRoute r: apiVersion: gateway.networking.k8s.io/v2 is not a version fastgw reads for HTTPRoute" in err
    assert "(use gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1)" in err


def test_route_to_another_gateway_is_not_rendered_and_says_so() -> None:
    other = route().replace("parentRefs: [{name: gw}]", "parentRefs: [{name: other-gw}]")
    r = run(GATEWAY, SECRET, BACKEND, other)
    assert r.ok
    assert routes(r) == []
    (warn, unused) = messages(r, "warning")
    assert "HTTPRoute ns/r: spec.parentRefs: not attached to Gateway ns/gw (its parents: Gateway ns/other-gw)" in warn
    assert "AgentgatewayBackend ns/llm: no route of Gateway ns/gw uses it; not rendered" in unused


def test_cli_bad_manifests_exit_1_without_output(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("---\n".join([GATEWAY, BACKEND, route()]))
    out = tmp_path / "config.yaml"
    res = render_cli(monkeypatch, tmp_path, "-f", "m.yaml", "-o", str(out))
    assert res.code == 1
    assert "Secret ns/key not found" in res.stderr and "not rendered (errors above)" in res.stderr
    assert not out.exists()


def test_no_gateway_and_several_gateways(monkeypatch: pytest.MonkeyPatch) -> None:
    res = render_cli(monkeypatch, SEEDS, "-f", "002.yaml")
    assert res.code == 1
    assert "no Gateway in the manifests (the HTTPRoutes name agentgateway-system/agentgateway-proxy" in res.stderr
    r = run(GATEWAY, GATEWAY.replace("name: gw", "name: gw2"), SECRET, BACKEND, route())
    assert "several Gateways (Gateway ns/gw, Gateway ns/gw2); pick one with --gateway" in messages(r)[0]
    r = run(GATEWAY, GATEWAY.replace("name: gw", "name: gw2"), SECRET, BACKEND, route(), options=RenderOptions("ns/gw"))
    assert r.ok


def test_unsupported_fields_are_warnings_naming_the_field() -> None:
    rules = """\
  - matches: [{path: {type: PathPrefix, value: /a}}]
    sessionPersistence: {type: Cookie}
    filters:
    - {type: RequestMirror, requestMirror: {backendRef: {name: x, port: 80}}}
    backendRefs:
    - {group: agentgateway.dev, kind: AgentgatewayBackend, name: llm, filters: []}
"""
    backend = BACKEND.replace("policies: {", "policies: {tcp: {connectTimeout: 1s}, ")
    r = run(GATEWAY, SECRET, backend, route(rules))
    assert r.ok, messages(r)
    warns = messages(r, "warning")
    assert any(
        "HTTPRoute ns/r: spec.rules[0].sessionPersistence: not supported by fastgw yet; ignored" in w for w in warns
    )
    assert any("spec.rules[0].filters[0].requestMirror: not supported by fastgw yet" in w for w in warns)
    assert any("spec.rules[0].backendRefs[0].filters: per-backend filters" in w for w in warns)
    assert any("AgentgatewayBackend ns/llm: spec.policies.tcp: not supported by fastgw; ignored" in w for w in warns)


def test_auth_policies_fastgw_cannot_enforce_keep_the_route_out() -> None:
    tp = """
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: tp, namespace: ns}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  extAuth: {extensionRef: {name: authz}}
  rateLimit: {local: {tokenBucket: {maxTokens: 5, fillInterval: 1s}}}
"""
    r = run(GATEWAY, SECRET, BACKEND, route(), tp)
    assert not r.ok
    assert any("TrafficPolicy ns/tp: spec.extAuth: fastgw cannot enforce this yet" in e for e in messages(r))
    assert routes(r) == []  # never served open (a controller keeps it out too)


def test_dollar_signs_in_manifests_are_escaped_and_secrets_are_references() -> None:
    rules = """\
  - matches: [{path: {type: RegularExpression, value: "^/v1/.*$"}, headers: [{name: x-cost, value: "$5"}]}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
"""
    r = run(GATEWAY, SECRET, BACKEND, route(rules))
    text = to_yaml(r.config or {}, "env")
    assert "^/v1/.*$$" in text and "$$5" in text
    assert "key: $NS_KEY_AUTHORIZATION" in text and "sk-from-manifest" not in text
    assert validation_errors(r.config or {}) == []
    from fastgw.config.load import load_config

    cfg = load_config("c.yaml", text=text, env={"NS_KEY_AUTHORIZATION": "k"})
    match = cfg.binds[0].listeners[0].routes[0].matches[0]
    assert match.path is not None and match.path.regex == "^/v1/.*$"
    assert match.headers is not None and match.headers[0].value.exact == "$5"


def test_secrets_dir_writes_0600_files_and_references_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = base64.b64encode(b"Bearer sk-b64\n").decode()
    secret = SECRET.replace("stringData: {Authorization: sk-from-manifest}", f"data: {{Authorization: {data}}}")
    (tmp_path / "m.yaml").write_text("---\n".join([GATEWAY, secret, BACKEND, route()]))
    res = render_cli(monkeypatch, tmp_path, "-f", "m.yaml", "--secrets-dir", "secrets")
    assert res.code == 0, res.stderr
    path = tmp_path / "secrets" / "ns" / "key" / "Authorization"
    assert path.read_text() == "sk-b64"  # "Bearer " stripped from the default key, as agentgateway does
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    cfg = yaml.safe_load(res.stdout)
    key = cfg["binds"][0]["listeners"][0]["routes"][0]["backends"][0]["policies"]["backendAuth"]["key"]
    assert key == {"file": str(path)}
    assert f"needs file {path} <- Secret ns/key, key Authorization" in res.stderr
    assert "sk-b64" not in res.stdout + res.stderr


def test_secrets_dir_expands_an_unexpanded_shell_reference(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    res = render_cli(monkeypatch, SEEDS, "-f", "000.yaml", "--secrets-dir", str(tmp_path))
    assert res.code == 1
    assert "Secret gloo-system/anthropic-secret, key Authorization holds the shell reference $ANTHROPIC_API_KEY" in (
        res.stderr
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-env")
    res = render_cli(monkeypatch, SEEDS, "-f", "000.yaml", "--secrets-dir", str(tmp_path))
    assert res.code == 0, res.stderr
    assert (tmp_path / "gloo-system/anthropic-secret/Authorization").read_text() == "sk-from-env"


def test_bad_base64_is_an_error() -> None:
    secret = SECRET.replace("stringData: {Authorization: sk-from-manifest}", "data: {Authorization: '%%%'}")
    r = run(GATEWAY, secret, BACKEND, route())
    assert "Secret ns/key key Authorization: not valid base64-encoded UTF-8 text" in messages(r)[0]


def test_invalid_yaml_is_an_error_with_its_line() -> None:
    manifests = ManifestSet()
    manifests.load_text("kind: Gateway\nmetadata: {name: [\n", "bad.yaml")
    (err,) = [str(d) for d in manifests.diagnostics.errors]
    assert err.startswith("bad.yaml:3: error: invalid YAML")


def test_stdin_and_bad_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from fastgw.cli import main

    text = (SEEDS / "000.yaml").read_text()
    res = CliRunner().invoke(main, ["k8s", "render", "-f", "-"], input=text)
    assert res.exit_code == 0, res.stderr
    assert "pathPrefix: /anthropic" in res.stdout
    res = CliRunner().invoke(main, ["k8s", "render", "-f", "-", "--port-map", "http=80"], input=text)
    assert res.exit_code == 2 and "expected PORT=LOCALPORT" in res.stderr
