"""Schema properties: pure data, defaults, helpers, JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys

import msgspec

from fastgw.config.load import load_config
from fastgw.config.schema import AiBackend, Config, HttpLimits, ProcessConfig, config_json_schema


def test_schema_and_loader_import_nothing_heavy() -> None:
    code = (
        "import sys, fastgw.config.load, fastgw.config.schema\n"
        "names = ('uvloop', 'redis', 'opentelemetry', 'aiohttp', 'httptools')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_process_defaults() -> None:
    config = load_config("c.yaml", text="config: {}\n", env={})
    assert config.config == ProcessConfig()
    process = config.config
    assert (process.admin_addr, process.stats_addr, process.readiness_addr) == (
        "127.0.0.1:15000",
        "0.0.0.0:15020",
        "0.0.0.0:15021",
    )
    assert process.http == HttpLimits()
    assert process.http.max_body_bytes == 32 * 1024 * 1024 and process.http.max_headers == 100


def test_llm_and_mcp_default_ports() -> None:
    text = "llm: {models: [{name: '*', provider: openai}]}\nmcp: {targets: [{name: t, stdio: {cmd: x}}]}\n"
    config = load_config("c.yaml", text=text, env={})
    assert config.llm is not None and config.llm.port == 4000
    assert config.mcp is not None and config.mcp.port == 3000


def test_effective_policies_prefer_current_spelling() -> None:
    ai = msgspec.convert(
        {
            "name": "a",
            "provider": {"anthropic": {}},
            "routes": {"*": "passthrough"},
            "backendAuth": {"key": "old"},
            "policies": {"backendAuth": {"key": "new"}, "ai": {"modelAliases": {"fast": "claude-haiku"}}},
        },
        AiBackend,
    )
    policies = ai.effective_policies()
    assert policies.backend_auth is not None and policies.backend_auth.key == "new"
    assert policies.ai is not None
    assert policies.ai.routes == {"*": "passthrough"} and policies.ai.model_aliases == {"fast": "claude-haiku"}


def test_empty_provider_kind_means_defaults() -> None:
    backend = "{ai: {name: a, provider: {anthropic: }}}"
    text = f"binds: [{{port: 1, listeners: [{{routes: [{{backends: [{backend}]}}]}}]}}]\n"
    config = load_config("c.yaml", text=text, env={})
    ai = config.binds[0].listeners[0].routes[0].backends[0].ai
    assert ai is not None and ai.provider is not None and ai.provider.kind == "anthropic"
    assert ai.provider.spec.model is None


def test_json_schema_documents_fields() -> None:
    schema = config_json_schema()
    json.dumps(schema)
    defs = schema["$defs"]
    rate = defs["LocalRateLimit"]["properties"]
    assert rate["fillInterval"]["type"] == "string"
    assert "Refill" in rate["fillInterval"]["description"]
    assert defs["HttpLimits"]["properties"]["idleTimeout"]["default"] == "1m"
    assert "openAI" in defs["AiProvider"]["properties"]
    assert defs["Config"]["additionalProperties"] is False
    assert schema["$ref"].endswith("/Config")
    assert Config.__name__ in defs


def test_http_limits_take_agentgateway_knobs() -> None:
    base = load_config("c.yaml", text="config: {http: {maxBodyBytes: 1000, idleTimeout: 5s}}\n", env={})
    limits = base.http_limits()
    assert (limits.max_body_bytes, limits.idle_timeout, limits.max_headers) == (1000, 5.0, 100)
    text = """\
config:
  connectionTerminationDeadline: 2m
  http: {maxBodyBytes: 1000}
frontendPolicies:
  http: {maxBufferSize: 20971520, http1MaxHeaders: 50, http1IdleTimeout: 10m}
"""
    limits = load_config("c.yaml", text=text, env={}).http_limits()
    assert (limits.max_body_bytes, limits.max_headers, limits.idle_timeout, limits.drain_timeout) == (
        20971520,
        50,
        600.0,
        120.0,
    )
    assert Config().http_limits() == HttpLimits()
