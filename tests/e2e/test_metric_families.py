"""The metric families agentgateway's dashboards and the seed's alert read, through the real
multi-worker gateway: an LLM stream (time to first token, time per output token, request
duration), retries, upstream call durations, downstream connections; /metrics parsed with
prometheus-client's parser and, where the prometheus package provides it, `promtool check
metrics`. The log level changed at runtime on the admin port."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.llm_util import FakeProvider
from tests.e2e.procs import Gateway, Upstream, bind_config, free_port, wait_until

GENAI = ("gen_ai_operation_name", "gen_ai_system", "gen_ai_request_model", "gen_ai_response_model", "route")


def scrape(g: Gateway) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{g.stats_port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def families(text: str) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for fam in text_string_to_metric_families(text):
        out.setdefault(fam.name, []).extend(fam.samples)
    return out


def total(text: str, sample: str, **labels: str) -> float:
    return sum(
        s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_dashboard_families_and_runtime_log_level(tmp_path: Path) -> None:
    fake = FakeProvider(tmp_path)
    up = Upstream(tmp_path)
    port = free_port()
    routes = [
        {
            "name": "llm",
            "matches": [{"path": {"pathPrefix": "/v1"}}],
            "backends": [
                {"ai": {"name": "oai", "provider": {"openAI": {"model": "gpt-4o"}}, "hostOverride": fake.authority}}
            ],
            "policies": {"backendAuth": {"key": "sk-test"}},
        },
        {
            "name": "flaky",
            "matches": [{"path": {"pathPrefix": "/flaky"}}],
            "policies": {"retry": {"attempts": 2, "codes": [503]}},
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
    ]
    g = Gateway(tmp_path, bind_config(port, routes), workers=2)
    try:
        for stream in (True, False):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            body = {"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": "hello there"}]}
            c.request("POST", "/v1/chat/completions", json.dumps(body), {"content-type": "application/json"})
            r = c.getresponse()
            assert r.status == 200
            r.read()
            c.close()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        c.request("GET", "/flaky?key=k&fail=2")
        assert c.getresponse().status == 200
        c.close()

        wait_until(lambda: total(scrape(g), "agentgateway_requests_total") >= 3, timeout=10, what="3 requests")
        text = scrape(g)
        fams = families(text)
        for name in (
            "agentgateway_gen_ai_server_request_duration",
            "agentgateway_gen_ai_server_time_to_first_token",
            "agentgateway_gen_ai_server_time_per_output_token",
            "agentgateway_gen_ai_client_token_usage",
            "agentgateway_retries",
            "agentgateway_upstream_call_duration_seconds",
            "agentgateway_downstream_connections",
            "agentgateway_requests",
            "fastgw_trace_export_failures",
        ):
            assert name in fams, name
        assert total(text, "agentgateway_gen_ai_server_request_duration_count", route="llm") == 2
        assert total(text, "agentgateway_gen_ai_server_time_to_first_token_count", route="llm") == 1  # the stream
        assert total(text, "agentgateway_gen_ai_server_time_per_output_token_count", route="llm") == 1
        (dur,) = [s for s in fams["agentgateway_gen_ai_server_request_duration"] if s.name.endswith("_count")]  # type: ignore[attr-defined]
        assert set(GENAI) <= set(dur.labels) and dur.labels["gen_ai_system"] == "openai"  # type: ignore[attr-defined]
        assert total(text, "agentgateway_gen_ai_client_token_usage_sum", gen_ai_token_type="output") > 0
        assert total(text, "agentgateway_retries_total", route="flaky") == 2
        assert total(text, "agentgateway_upstream_call_duration_seconds_count", kind="Primary", subtype="Llm") == 2
        assert total(text, "agentgateway_upstream_call_duration_seconds_count", kind="Primary", subtype="Http") == 1
        assert total(text, "agentgateway_downstream_connections_total", bind=f"bind/{port}", protocol="http") == 3

        promtool = shutil.which("promtool")
        if promtool is None:
            if os.environ.get("CI") == "true":
                pytest.fail("promtool missing on CI (apt package prometheus)")
        else:
            check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
            # promtool's lint: exit 0, or 3 for style hints only (problems are exit 1)
            assert check.returncode in (0, 3), check.stdout + check.stderr

        # the log level, at runtime, for every worker
        admin = f"http://127.0.0.1:{g.admin_port}/logging"
        req = urllib.request.Request(admin + "?level=nonsense", method="POST")
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(req, timeout=5)
        assert bad.value.code == 400
        req = urllib.request.Request(admin + "?level=debug", method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200

        def all_debug() -> bool:
            seen = set()
            for _ in range(20):  # connections spread over the workers
                with urllib.request.urlopen(admin, timeout=5) as r:
                    seen.add(r.read().decode().strip())
            return seen == {"level=debug"}

        wait_until(all_debug, timeout=10, what="every worker at debug")
    finally:
        g.stop()
        fake.stop()
        up.stop()
