"""The Helm chart (deploy/helm/fastgw), rendered by fastgw.k8s.chart (no helm binary here): every
object valid against the Kubernetes OpenAPI schemas (and the vendored CRD schemas), the deployment
properties an operator relies on, the controller's RBAC matching what it watches, the config it
carries accepted by fastgw, and the generated plain manifests current. Also the seeds' own
manifests against the same schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from fastgw.k8s import CONTROLLER_NAME
from fastgw.k8s.chart import as_manifest, objects, render_chart
from fastgw.k8s.gotemplate import TemplateError
from fastgw.k8s.kubeapi import WATCHED
from tests.k8s.schema_check import K8S_VERSIONS, validate
from tests.k8s.util import GOLDEN, SEEDS, UPDATE

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "fastgw"
MANIFESTS = ROOT / "deploy" / "manifests"
FULL = {
    "mode": "controller",
    "controller": {"gateway": "gloo-system/agentgateway", "namespaces": ["gloo-system"]},
    "autoscaling": {"enabled": True},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
    "redis": {"enabled": True},
    "otlp": {"endpoint": "http://otel-collector.telemetry:4317"},
    "secretEnv": [{"name": "ANTHROPIC_API_KEY", "secretName": "anthropic-secret", "key": "Authorization"}],
    "podAnnotations": {"team": "ai"},
    "nodeSelector": {"pool": "gateways"},
}
# the generated plain manifests: file -> values
GENERATED = {"fastgw-config-mode.yaml": {}, "fastgw-controller-mode.yaml": {"mode": "controller"}}


def rendered(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return objects(render_chart(CHART, values or {}, release="fastgw", namespace="fastgw"))


def one(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, [(o["kind"], o["metadata"]["name"]) for o in objs]
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("case", ["defaults", "full", "external-redis"])
def test_every_rendered_object_is_valid(case: str, version: str) -> None:
    values = {"defaults": {}, "full": FULL, "external-redis": {"redis": {"url": "redis://redis.shared:6379/2"}}}[case]
    objs = rendered(values)
    assert objs
    for obj in objs:
        validate(obj, version)


def test_deployment_is_what_an_operator_needs() -> None:
    objs = rendered()
    dep = one(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (gw,) = pod["containers"]
    assert gw["readinessProbe"]["httpGet"] == {"path": "/healthz/ready", "port": "readiness"}
    assert {"name": "readiness", "containerPort": 15021} in gw["ports"]
    assert gw["livenessProbe"]["tcpSocket"] == {"port": "readiness"}
    assert gw["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}
    # -w from the CPU limit: the downward API gives the limit in whole cores, rounded up
    assert gw["args"][-2:] == ["-w", "$(FASTGW_WORKERS)"]
    ref = env_of(gw)["FASTGW_WORKERS"]["valueFrom"]["resourceFieldRef"]
    assert ref == {"containerName": "gateway", "resource": "limits.cpu", "divisor": "1"}
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert gw["securityContext"]["readOnlyRootFilesystem"] is True
    assert gw["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"name": "tmp", "mountPath": "/tmp"} in gw["volumeMounts"]  # the only writable path
    # the grace period outlasts the drain the config asks for
    config = yaml.safe_load(one(objs, "ConfigMap")["data"]["config.yaml"])
    assert config["config"]["http"]["drainTimeout"] == "30s"
    assert pod["terminationGracePeriodSeconds"] == 45
    assert one(objs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    svc = one(objs, "Service")
    assert {p["name"] for p in svc["spec"]["ports"]} == {"http", "metrics"}
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert not [o for o in objs if o["kind"] in ("ClusterRole", "GatewayClass", "HorizontalPodAutoscaler")]


def test_workers_explicit_and_autoscaling() -> None:
    objs = rendered({"workers": 4, "autoscaling": {"enabled": True}, "drainTimeoutSeconds": 120})
    dep = one(objs, "Deployment")
    gw = dep["spec"]["template"]["spec"]["containers"][0]
    assert env_of(gw)["FASTGW_WORKERS"]["value"] == "4"
    assert "replicas" not in dep["spec"]  # the HPA owns it
    hpa = one(objs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 135


def test_config_mode_carries_a_rendered_seed_config_fastgw_accepts() -> None:
    from fastgw.config.compile import compile_config
    from fastgw.config.load import load

    seed = yaml.safe_load((GOLDEN / "000.yaml").read_text())
    values = {
        "config": seed,
        "secretEnv": [{"name": "ANTHROPIC_API_KEY", "secretName": "anthropic-secret", "key": "Authorization"}],
        "processConfig": {"http": {"maxPipelined": 8}, "readinessAddr": "127.0.0.1:1"},
    }
    objs = rendered(values)
    text = one(objs, "ConfigMap")["data"]["config.yaml"]
    loaded = load("config.yaml", text=text, env={"ANTHROPIC_API_KEY": "sk-test"})
    compile_config(loaded.config)
    cfg = yaml.safe_load(text)
    assert cfg["config"]["readinessAddr"] == "0.0.0.0:15021"  # the chart's probe port wins
    assert cfg["config"]["http"] == {"drainTimeout": "30s", "maxPipelined": 8}
    assert cfg["binds"] == seed["binds"]
    gw = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    key = env_of(gw)["ANTHROPIC_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert key == {"name": "anthropic-secret", "key": "Authorization"}
    assert "sk-" not in as_manifest(render_chart(CHART, values))


def test_config_given_as_text_as_helm_set_file_gives_it() -> None:
    from fastgw.config.compile import compile_config
    from fastgw.config.load import load

    text = (GOLDEN / "000.yaml").read_text()  # `fastgw k8s render -o config.yaml`, then --set-file config=...
    cm = one(rendered({"config": text}), "ConfigMap")["data"]["config.yaml"]
    assert "# fastgw config rendered by `fastgw k8s render`" in cm
    loaded = load("config.yaml", text=cm, env={"ANTHROPIC_API_KEY": "sk-test"})
    compile_config(loaded.config)
    assert yaml.safe_load(cm)["config"]["readinessAddr"] == "0.0.0.0:15021"


def test_controller_mode_sidecar_rbac_and_gateway_class() -> None:
    objs = rendered(FULL)
    pod = one(objs, "Deployment", "fastgw")["spec"]["template"]["spec"]
    (ctl,) = pod["initContainers"]
    assert ctl["restartPolicy"] == "Always"  # a native sidecar: up before the gateway starts
    assert ctl["startupProbe"]["httpGet"] == {"path": "/healthz/ready", "port": "controller"}
    assert "--gateway=gloo-system/agentgateway" in ctl["args"] and "--namespace=gloo-system" in ctl["args"]
    assert ctl["securityContext"]["readOnlyRootFilesystem"] is True
    (gw,) = pod["containers"]
    assert gw["args"][:4] == ["serve", "-f", "/run/fastgw/config.yaml", "--watch"]
    assert {"name": "run", "mountPath": "/run/fastgw", "readOnly": True} in gw["volumeMounts"]
    run = next(v for v in pod["volumes"] if v["name"] == "run")
    assert run["emptyDir"]["medium"] == "Memory"  # secrets stay off disk
    assert pod["automountServiceAccountToken"] is True
    # RBAC: list/watch every kind the controller watches, patch the status it writes
    role = one(objs, "ClusterRole")
    allowed = {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }
    for kind in WATCHED:
        for verb in ("list", "watch"):
            assert (kind.group, kind.plural, verb) in allowed, (kind, verb)
    for plural in ("gatewayclasses", "gateways", "httproutes"):
        assert ("gateway.networking.k8s.io", f"{plural}/status", "patch") in allowed
    assert not any(v in ("create", "delete", "*") for (_, _, v) in allowed)
    binding = one(objs, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "fastgw", "namespace": "fastgw"}]
    assert one(objs, "GatewayClass")["spec"]["controllerName"] == CONTROLLER_NAME
    base = yaml.safe_load(one(objs, "ConfigMap")["data"]["base.yaml"])
    assert set(base) == {"config"}
    env = env_of(gw)
    assert env["FASTGW_REDIS_URL"]["value"] == "redis://fastgw-redis:6379/0"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://otel-collector.telemetry:4317"
    sm = one(objs, "ServiceMonitor")
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]
    assert sm["metadata"]["labels"]["release"] == "prom"
    redis = one(objs, "Deployment", "fastgw-redis")
    # the gateway's Service and PDB never select the Redis pods
    gw_selector = one(objs, "Service", "fastgw")["spec"]["selector"]
    redis_labels = redis["spec"]["template"]["metadata"]["labels"]
    assert not all(redis_labels.get(k) == v for k, v in gw_selector.items())


def test_bad_mode_is_a_clear_error() -> None:
    with pytest.raises(TemplateError, match="mode must be config or controller"):
        render_chart(CHART, {"mode": "sidecar"})


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_manifests_are_current(name: str) -> None:
    """deploy/manifests/ is the chart rendered with its defaults (UPDATE_GOLDEN=1 rewrites it)."""
    text = as_manifest(render_chart(CHART, GENERATED[name], release="fastgw", namespace="fastgw"))
    path = MANIFESTS / name
    if UPDATE:
        path.write_text(text)
    assert path.read_text() == text, f"{path} is stale: run with UPDATE_GOLDEN=1"
    for obj in yaml.safe_load_all(text):
        validate(obj)


SEED_FILES = sorted(p.name for p in SEEDS.glob("*.yaml") if p.name != "001-verbatim.yaml")


@pytest.mark.parametrize("name", SEED_FILES)
def test_seed_manifests_are_valid_kubernetes_objects(name: str) -> None:
    """The seeds' Kubernetes kinds, Gateways, HTTPRoutes and AgentgatewayBackends against their
    schemas (kgateway's Backend/TrafficPolicy CRDs are not vendored: see schemas/README.md)."""
    checked = 0
    for obj in yaml.safe_load_all((SEEDS / name).read_text()):
        if not obj or obj["apiVersion"].startswith("gateway.kgateway.dev/"):
            continue
        if obj["kind"] == "AgentgatewayBackend" and "type" in obj["spec"]:
            # seed 003's MCP backend says `type: MCP`, a field of an older AgentgatewayBackend that
            # the current CRD does not have (strict validation refuses it; fastgw ignores it)
            with pytest.raises(jsonschema.ValidationError, match="'type' was unexpected"):
                validate(obj)
            obj = {**obj, "spec": {k: v for k, v in obj["spec"].items() if k != "type"}}
        validate(obj)
        checked += 1
    assert checked


def test_the_validation_catches_bad_objects() -> None:
    """The schema checks above are not vacuous: a wrong type or an unknown field fails them."""
    dep = one(rendered(), "Deployment")
    dep["spec"]["replicas"] = "two"
    with pytest.raises(Exception, match="'two' is not of type 'integer'"):
        validate(dep)
    gwc = one(rendered({"mode": "controller"}), "GatewayClass")
    gwc["spec"]["controlerName"] = "typo"
    with pytest.raises(jsonschema.ValidationError, match="'controlerName' was unexpected"):
        validate(gwc)
