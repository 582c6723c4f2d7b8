"""docker-compose.yaml is a valid compose file and says what the README promises. The stack itself
is not started here (its third-party images cannot be pulled where the tests run): the compose
specification's JSON schema is the check, plus what a schema cannot see; the files it mounts
(Prometheus config, Grafana datasources, dashboard, alert rule) are checked against their formats,
their PromQL with promtool (the Debian package prometheus), their metric names against fastgw's."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("compose-spec.json")


def _compose() -> dict[str, object]:
    data = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(_compose()), key=str)
    assert errors == [], "\n".join(e.message for e in errors)


def test_the_validator_does_catch_mistakes() -> None:
    schema = json.loads(SCHEMA.read_text())
    broken = _compose()
    services = broken["services"]
    assert isinstance(services, dict)
    services["gateway"]["ports"] = "3000:3000"  # a string, not a list
    services["gateway"]["helthcheck"] = {}  # misspelt key
    messages = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(broken)]
    assert any("helthcheck" in m for m in messages) and any("is not of type 'array'" in m for m in messages)


def test_one_image_built_once_and_no_unused_services() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    built = [name for name, spec in services.items() if "build" in spec]
    assert built == ["gateway"], "exactly one service builds the image"
    assert services["gateway"]["image"] == "fastgw:local"
    # the fake provider runs the same image (another command), built once by the gateway service
    assert services["fake-provider"]["image"] == "fastgw:local" and "build" not in services["fake-provider"]
    others = [spec.get("image", "") for name, spec in services.items() if name not in ("gateway", "fake-provider")]
    assert not any("fastgw" in image for image in others)
    # no redis until something uses it
    assert set(services) == {"gateway", "fake-provider", "prometheus", "jaeger", "grafana"}


def test_ports_and_scrape_target_match_the_image() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    ports = {p.rsplit(":", 1)[-1] for p in services["gateway"]["ports"]}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert ports == {"3000", "15020", "15021"}
    assert re.search(r"^EXPOSE 3000 15020 15021$", dockerfile, re.M)
    assert 'CMD ["demo", "--host", "0.0.0.0"]' in dockerfile
    assert "COPY configs /etc/fastgw/configs" in dockerfile  # the gateway's config is in the image
    prometheus = yaml.safe_load((ROOT / "configs" / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["gateway:15020"] and job["metrics_path"] == "/metrics"


def _services() -> dict[str, dict[str, object]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def test_every_mounted_file_is_in_the_repository() -> None:
    mounts = 0
    for spec in _services().values():
        for volume in spec.get("volumes", []):  # type: ignore[attr-defined]
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
                mounts += 1
    assert mounts == 3
    command = _services()["gateway"]["command"]
    assert isinstance(command, list) and command[:2] == ["serve", "-f"]
    assert (ROOT / "configs" / Path(command[2]).name).exists()  # configs/ is copied to /etc/fastgw/configs


def test_gateway_config_sends_spans_and_traffic_to_the_stack() -> None:
    from fastgw.config.compile import load_runtime

    runtime = load_runtime(str(ROOT / "configs/observability.yaml"))
    assert runtime.tracing is not None and runtime.tracing.endpoint == "http://jaeger:4317"
    assert runtime.tracing.protocol == "grpc"
    jaeger = _services()["jaeger"]
    assert "COLLECTOR_OTLP_ENABLED=true" in jaeger["environment"]  # type: ignore[operator]
    assert runtime.metric_fields is not None and runtime.metric_fields.names == ("user_id", "user_name")
    fake = _services()["fake-provider"]["command"]
    assert isinstance(fake, list) and fake[fake.index("--port") + 1] == "4010"
    assert "fake-provider:4010" in (ROOT / "configs/observability.yaml").read_text()


GRAFANA = ROOT / "deploy/compose/grafana"


def _datasource_uids() -> dict[str, str]:
    doc = yaml.safe_load((GRAFANA / "provisioning/datasources/datasources.yaml").read_text())
    assert doc["apiVersion"] == 1
    services = _services()
    out = {}
    for ds in doc["datasources"]:
        assert {"name", "type", "uid", "access", "url"} <= set(ds)
        host = re.match(r"http://([a-z-]+):(\d+)$", ds["url"])
        assert host is not None and host.group(1) in services, ds["url"]
        out[ds["uid"]] = ds["type"]
    return out


def _exported_families() -> set[str]:
    """The family names fastgw/telemetry/metrics.py defines (prometheus-client adds _total to counters)."""
    source = (ROOT / "fastgw/telemetry/metrics.py").read_text()
    return set(re.findall(r'"((?:agentgateway|fastgw)_[a-z_]+)"', source))


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:agentgateway|fastgw)_[a-z_]+)", expr))


def _known(name: str, families: set[str]) -> bool:
    for suffix in ("_total", "_bucket", "_sum", "_count", ""):
        if name.endswith(suffix) and name[: len(name) - len(suffix)] in families:
            return True
    return False


def _dashboard_exprs() -> list[str]:
    dash = json.loads((GRAFANA / "dashboards/fastgw.json").read_text())
    assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int)
    uids = _datasource_uids()
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    exprs = []
    for panel in dash["panels"]:
        assert {"type", "title", "gridPos", "targets", "datasource"} <= set(panel)
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert uids[panel["datasource"]["uid"]] == panel["datasource"]["type"] == "prometheus"
        for target in panel["targets"]:
            assert target["refId"] and target["expr"]
            exprs.append(target["expr"])
    return exprs


def _alert() -> dict[str, object]:
    doc = yaml.safe_load((GRAFANA / "provisioning/alerting/token-usage.yaml").read_text())
    assert doc["apiVersion"] == 1
    (group,) = doc["groups"]
    assert {"orgId", "name", "folder", "interval", "rules"} <= set(group)
    (rule,) = group["rules"]
    assert {"uid", "title", "condition", "data"} <= set(rule)
    refs = {d["refId"]: d for d in rule["data"]}
    assert rule["condition"] in refs
    uids = _datasource_uids()
    for d in rule["data"]:
        assert d["datasourceUid"] in uids or d["datasourceUid"] == "__expr__"
        assert d["model"]["refId"] == d["refId"]
    threshold = refs[rule["condition"]]["model"]
    assert threshold["type"] == "threshold" and threshold["expression"] in refs
    assert threshold["conditions"][0]["evaluator"] == {"type": "gt", "params": [1]}  # the seed's "more than 1 token"
    query = refs[threshold["expression"]]
    assert isinstance(query, dict)
    return query


def test_dashboard_and_alert_read_metrics_fastgw_exports() -> None:
    families = _exported_families()
    assert "agentgateway_gen_ai_client_token_usage" in families
    exprs = _dashboard_exprs()
    names = set().union(*(_metric_names(e) for e in exprs))
    assert names and all(_known(n, families) for n in names), sorted(n for n in names if not _known(n, families))
    panels = " ".join(exprs)
    for wanted in ("user_id", 'reason="RateLimit"', "histogram_quantile(0.99", 'status=~"5.."'):
        assert wanted in panels, wanted
    query = _alert()["model"]
    assert isinstance(query, dict)
    assert _metric_names(query["expr"]) == {"agentgateway_gen_ai_client_token_usage_sum"}


def _promtool() -> str | None:
    path = shutil.which("promtool")
    if path is None and os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail("promtool is missing (Debian package prometheus; tests/run.sh installs it in CI)")
    return path


def test_promtool_accepts_the_prometheus_config_and_every_query(tmp_path: Path) -> None:
    promtool = _promtool()
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    done = subprocess.run([promtool, "check", "config", str(ROOT / "configs/prometheus.yml")], capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr
    query = _alert()["model"]
    assert isinstance(query, dict)
    exprs = [*_dashboard_exprs(), query["expr"]]
    # each query as a recording rule: promtool parses its PromQL (Grafana's $__rate_interval -> 5m)
    rules = {
        "groups": [
            {
                "name": "q",
                "rules": [
                    {"record": f"q:{i}", "expr": e.replace("$__rate_interval", "5m")} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    path.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": [{"record": "bad", "expr": "sum(rate(x[5m]"}]}]}))
    assert subprocess.run([promtool, "check", "rules", str(path)], capture_output=True).returncode != 0
