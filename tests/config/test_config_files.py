"""Every config shipped in configs/ loads; the seed configs mean what the seeds say."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import pytest

from fastgw.config.compile import load_runtime
from fastgw.config.load import ConfigError, load_config
from fastgw.config.schema import Config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))
DATA = Path(__file__).parent / "data"
ENV = {"OPENAI_API_KEY": "sk-test-openai", "ANTHROPIC_API_KEY": "sk-ant-test"}


# Shipped configs that fastgw refuses, and why: each names a feature that is not implemented yet,
# at its line. Every other config must compile (a config that starts must do what it says).
_SEED_ROUTE = "binds[0].listeners[0].routes[0]"
REFUSED = {
    "seeds/004-model-failover.yaml": [
        f"33: {_SEED_ROUTE}.backends[0].ai.groups[0].providers[1]: not supported yet: failover "
        "(more than one group or provider); give one provider",
    ],
    "seeds/004-metrics-testing.yaml": [
        "3: config.tracing: not supported yet: tracing",
        "16: config.metrics.fields: not supported yet: fields",
        "21: config.logging.fields: not supported yet: fields",
    ],
}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_shipped_config_compiles_or_is_refused_for_what_it_lacks(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    name = path.relative_to(ROOT / "configs").as_posix()
    if name not in REFUSED:
        assert load_runtime(str(path)).binds
        return
    with pytest.raises(ConfigError) as info:
        load_runtime(str(path))
    assert str(info.value).splitlines() == [f"{path}:{line}" for line in REFUSED[name]]


def test_configs_present() -> None:
    names = {p.relative_to(ROOT / "configs").as_posix() for p in CONFIGS}
    assert {"demo.yaml", "minimal.yaml"} <= names
    assert len([n for n in names if n.startswith("seeds/")]) == 5


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_config_loads_and_round_trips(path: Path) -> None:
    config = load_config(str(path), env=ENV)
    assert config.binds or config.llm or config.mcp
    # The built Structs agree with msgspec's own view of the schema.
    assert msgspec.convert(msgspec.to_builtins(config), Config) == config


def test_seed_openai_rate_limit() -> None:
    config = load_config(str(ROOT / "configs/seeds/004-local-rate-limit-openai.yaml"), env=ENV)
    route = config.binds[0].listeners[0].routes[0]
    ai = route.backends[0].ai
    assert ai is not None and ai.provider is not None
    assert ai.provider.kind == "openAI" and ai.provider.spec.model == "gpt-3.5-turbo"
    assert ai.routes == {
        "/v1/chat/completions": "completions",
        "/v1/models": "passthrough",
        "*": "passthrough",
    }
    assert route.policies is not None and route.policies.backend_auth is not None
    assert route.policies.backend_auth.key == "sk-test-openai"
    (limit,) = route.policies.local_rate_limit or []
    assert (limit.max_tokens, limit.tokens_per_fill, limit.fill_interval, limit.type) == (
        1,
        1,
        100.0,
        "tokens",
    )
    assert route.policies.cors is not None and route.policies.cors.allow_origins == ["*"]


def test_seed_failover_groups_use_older_spellings() -> None:
    config = load_config(str(ROOT / "configs/seeds/004-model-failover.yaml"), env=ENV)
    route = config.binds[0].listeners[0].routes[0]
    assert route.name == "failover-ai"
    assert route.matches[0].path is not None and route.matches[0].path.path_prefix == "/failover/ai"
    assert route.policies is not None and route.policies.retry is not None
    assert route.policies.retry.attempts == 2 and 429 in route.policies.retry.codes
    assert route.policies.url_rewrite is not None and route.policies.url_rewrite.path is not None
    assert route.policies.url_rewrite.path.prefix == ""
    ai = route.backends[0].ai
    assert ai is not None and ai.groups is not None
    primary, second = ai.groups[0].providers
    assert primary.provider is not None and primary.provider.kind == "anthropic"
    assert second.provider is not None and second.provider.kind == "openAI"
    policies = primary.effective_policies()
    assert policies.backend_auth is not None and policies.backend_auth.key == "sk-ant-test"
    assert policies.ai is not None and policies.ai.routes == {"/v1/chat/completions": "completions"}


def test_seed_metrics_testing_process_block() -> None:
    config = load_config(str(ROOT / "configs/seeds/004-metrics-testing.yaml"), env=ENV)
    assert config.config is not None and config.config.tracing is not None
    assert config.config.tracing.random_sampling == "true"
    assert config.config.tracing.otlp_endpoint == "http://127.0.0.1:4317"
    assert config.config.logging is not None and config.config.logging.fields is not None
    assert config.config.logging.fields.add["model"] == "llm.requestModel"
    assert config.config.admin_addr == "127.0.0.1:15000"
    assert config.config.readiness_addr == "0.0.0.0:15021"


def test_seed_mcp_endpoint() -> None:
    config = load_config(str(ROOT / "configs/seeds/004-mcp-endpoint.yaml"), env={})
    mcp = config.binds[0].listeners[0].routes[0].backends[0].mcp
    assert mcp is not None
    target = mcp.targets[0]
    assert target.name == "kubernetes" and target.stdio is not None
    assert target.stdio.cmd == "uvx" and target.stdio.args == ["cloud-native-architecture-mcp@latest"]


def test_demo_key_default_and_override() -> None:
    demo = str(ROOT / "configs/demo.yaml")
    for env, expected in (({}, "demo-key"), ({"FAKE_KEY": "k-123"}, "k-123")):
        config = load_config(demo, env=env)
        routes = {r.name: r for r in config.binds[0].listeners[0].routes}
        assert set(routes) == {"openai", "anthropic", "plain"}
        for name in ("openai", "anthropic"):
            backend = routes[name].backends[0]
            assert backend.ai is not None and backend.ai.host_override == "127.0.0.1:4010"
            assert backend.policies is not None and backend.policies.backend_auth is not None
            assert backend.policies.backend_auth.key == expected
        assert routes["plain"].backends[0].host == "127.0.0.1:4010"


def test_seed_misindented_anthropic_reports_its_line() -> None:
    path = DATA / "seed004_anthropic_misindented.yaml"
    lines = path.read_text().splitlines()
    bad_line = next(i for i, text in enumerate(lines, start=1) if text.startswith("        localRateLimit:"))
    with pytest.raises(ConfigError) as info:
        load_config(str(path), env=ENV)
    (issue,) = info.value.errors
    assert issue.line == bad_line == 19
    assert "invalid YAML" in issue.message and "indentation" in issue.message
    assert str(issue).startswith(f"{path}:19: invalid YAML")


def test_json_and_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = '{"host": "${H:-127.0.0.1:9}"}'
    route = '{"routes": [{"backends": [' + backend + "]}]}"
    text = '{"binds": [{"port": 3000, "listeners": [' + route + "]}]}"
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    config = load_config("-", env={})
    assert config.binds[0].listeners[0].routes[0].backends[0].host == "127.0.0.1:9"
    with pytest.raises(ConfigError) as info:
        load_config("-", text=text.replace("3000", '"x"'), env={})
    assert str(info.value) == "<stdin>:1: binds[0].port: expected an integer, got a string"


def test_anchors_and_merge_keys() -> None:
    text = """\
x-cors: &cors {allowOrigins: ["*"], allowHeaders: ["*"]}
"""
    with pytest.raises(ConfigError, match='unknown field "x-cors"'):
        load_config("c.yaml", text=text, env={})
    text = """\
binds:
- port: 3000
  listeners:
  - routes:
    - name: a
      policies: &common
        cors: {allowOrigins: ["*"]}
        timeout: {requestTimeout: 30s}
      backends: [{host: "a:1"}]
    - name: b
      policies:
        <<: *common
        timeout: {requestTimeout: 5s}
      backends: [{host: "b:1"}]
"""
    routes = load_config("c.yaml", text=text, env={}).binds[0].listeners[0].routes
    a, b = (r.policies for r in routes)
    assert a is not None and b is not None and a.cors == b.cors
    assert a.timeout is not None and a.timeout.request_timeout == 30.0
    assert b.timeout is not None and b.timeout.request_timeout == 5.0


def test_yaml_1_2_scalars_as_agentgateway_reads_them() -> None:
    text = "config:\n  adminAddr: off\n  statsAddr: 1:30\n  readinessAddr: yes\n  enableIpv6: true\n"
    process = load_config("c.yaml", text=text, env={}).config
    assert process is not None
    assert (process.admin_addr, process.stats_addr, process.readiness_addr) == ("off", "1:30", "yes")
    assert process.enable_ipv6 is True
