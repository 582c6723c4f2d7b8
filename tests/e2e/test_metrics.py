"""/metrics through the real gateway: agentgateway names and labels, summed over workers."""

from __future__ import annotations

import http.client
import re
import urllib.request
from pathlib import Path

from tests.e2e.procs import Gateway, Upstream, bind_config, free_port, wait_until


def scrape(g: Gateway) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{g.stats_port}/metrics", timeout=5).read().decode()


def value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def scrape_once_counted(g: Gateway, route: str, n: int) -> str:
    """The /metrics text, once it counts `n` requests on `route` (workers flush once a second)."""
    text = ""

    def counted() -> bool:
        nonlocal text
        text = scrape(g)
        return value(text, "agentgateway_requests_total", route=route) == n

    wait_until(counted, timeout=10, what=f"{n} requests on {route} in /metrics")
    return text


def test_request_metrics_cover_all_workers(tmp_path: Path) -> None:
    up = Upstream(tmp_path)
    port = free_port()
    routes = [
        {"name": "api", "matches": [{"path": {"pathPrefix": "/api"}}], "backends": [{"host": f"127.0.0.1:{up.port}"}]},
        {
            "name": "limited",
            "matches": [{"path": {"pathPrefix": "/limited"}}],
            "policies": {"localRateLimit": [{"maxTokens": 1, "tokensPerFill": 1, "fillInterval": "100s"}]},
            "backends": [{"host": f"127.0.0.1:{up.port}"}],
        },
    ]
    g = Gateway(tmp_path, bind_config(port, routes), workers=2)
    try:
        for i in range(20):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/api/x" if i < 18 else "/limited", headers={"connection": "close"})
            c.getresponse().read()
            c.close()
        text = scrape_once_counted(g, "api", 18)
        assert (
            value(
                text,
                "agentgateway_requests_total",
                route="api",
                status="200",
                method="GET",
                reason="Upstream",
                gateway=f"bind/{port}",
                listener="listener0",
                route_rule="api/default",
            )
            == 18
        )
        assert value(text, "agentgateway_requests_total", route="limited", status="429", reason="RateLimit") == 1
        assert value(text, "agentgateway_request_duration_seconds_count", route="api") == 18
        assert value(text, "agentgateway_response_bytes_total", route="api") > 0
        assert re.search(r'agentgateway_build_info\{tag="[^"]+"\} 1\.0', text)
        # the supervisor's readiness flag and the scrape are independent of the worker answering
        assert urllib.request.urlopen(g.ready_url).status == 200
    finally:
        g.stop()
        up.stop()


def test_llm_requests_are_labelled_llm_with_token_histograms(tmp_path: Path) -> None:
    from tests.e2e.llm_util import FakeProvider

    fake = FakeProvider(tmp_path)
    port = free_port()
    ai = {"ai": {"name": "openai", "provider": {"openAI": {}}, "hostOverride": fake.authority}}
    routes = [{"name": "llm", "backends": [ai]}]
    g = Gateway(tmp_path, bind_config(port, routes), workers=1)
    try:
        body = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}'
        for _ in range(3):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("POST", "/v1/chat/completions", body=body, headers={"x-fake-tokens": "7"})
            assert c.getresponse().read()
            c.close()
        text = scrape_once_counted(g, "llm", 3)
        assert value(text, "agentgateway_requests_total", route="llm", protocol="llm", status="200") == 3
        labels = {"gen_ai_system": "openai", "gen_ai_request_model": "gpt-4o-mini", "route": "llm"}
        assert value(text, "agentgateway_gen_ai_client_token_usage_count", gen_ai_token_type="output", **labels) == 3
        assert value(text, "agentgateway_gen_ai_client_token_usage_sum", gen_ai_token_type="output", **labels) == 21
        assert value(text, "agentgateway_gen_ai_client_token_usage_count", gen_ai_token_type="input", **labels) == 3
    finally:
        g.stop()
        fake.stop()


def test_invented_model_names_leave_metrics_bounded(tmp_path: Path) -> None:
    """A client sending a new model name on every request: each worker keeps 100 distinct values
    per model label (config.metrics.maxLabelValues), cut to 256 bytes, and counts the rest as
    `other` and in fastgw_metrics_label_overflow_total; more new names add no series."""
    from tests.e2e.llm_util import FakeProvider

    fake = FakeProvider(tmp_path)
    port = free_port()
    ai = {"ai": {"name": "openai", "provider": {"openAI": {}}, "hostOverride": fake.authority}}
    g = Gateway(tmp_path, bind_config(port, [{"name": "llm", "backends": [ai]}]), workers=1)

    def send(first: int, count: int) -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(first, first + count):
            model = "m" * 5000 if i == 0 else f"invented-model-{i}"
            body = b'{"model":"%s","messages":[{"role":"user","content":"hi"}]}' % model.encode()
            c.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
            assert c.getresponse().read()
        c.close()

    def series(text: str) -> list[str]:
        return [ln.rsplit(" ", 1)[0] for ln in text.splitlines() if not ln.startswith("#")]

    try:
        n = 1500
        send(0, n)
        text = scrape_once_counted(g, "llm", n)
        usage = [ln for ln in text.splitlines() if ln.startswith("agentgateway_gen_ai_client_token_usage_count{")]
        for label in ("gen_ai_request_model", "gen_ai_response_model"):  # the fake echoes the model
            values = {re.search(label + r'="([^"]*)"', ln).group(1) for ln in usage}  # type: ignore[union-attr]
            assert "other" in values and len(values) == 101, label
            assert "m" * 256 in values and max(len(v) for v in values) == 256
            assert value(text, "fastgw_metrics_label_overflow_total", label=label) == n - 100
            other = {label: "other", "gen_ai_token_type": "output"}
            assert value(text, "agentgateway_gen_ai_client_token_usage_count", **other) == n - 100
        send(n, 500)
        later = scrape_once_counted(g, "llm", n + 500)
        assert sorted(series(later)) == sorted(series(text))
        assert value(later, "fastgw_metrics_label_overflow_total", label="gen_ai_request_model") == n + 400
    finally:
        g.stop()
        fake.stop()
