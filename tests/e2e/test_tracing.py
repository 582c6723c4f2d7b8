"""Tracing through the real multi-worker gateway into a real OTLP receiver (gRPC and HTTP): the
seed's metrics-testing config verbatim (its collector and provider pointed at the test's), W3C
context from the client continued and propagated upstream, one client span per upstream
attempt, trace ids in the access log, and collectors that are down, slow or failing."""

from __future__ import annotations

import http.client
import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.auth_keys import ISSUER, jwks, rsa_key
from tests.e2e.llm_util import FakeProvider, received
from tests.e2e.procs import Gateway, Upstream, bind_config, free_port, wait_until
from tests.e2e.test_telemetry_fields import access_lines, chat, seed_config
from tests.otlp_receiver import Receiver, Span

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
SERVER, CLIENT = 2, 3  # OTLP span kinds


def spans_of(rx: Receiver, trace_id: str, n: int) -> list[Span]:
    wait_until(lambda: len([s for s in rx.spans if s.trace_id == trace_id]) >= n, timeout=15, what=f"{n} spans")
    return [s for s in rx.spans if s.trace_id == trace_id]


def scrape(g: Gateway) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{g.stats_port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def counter(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))


def test_seed_config_traces_llm_calls_over_grpc(tmp_path: Path) -> None:
    rx = Receiver("grpc")
    key = rsa_key("k1")
    fake = FakeProvider(tmp_path)
    port = free_port()
    cfg = seed_config(fake, port, jwtAuth={"mode": "optional", "issuer": ISSUER, "jwks": jwks(key)})
    cfg["config"]["tracing"]["otlpEndpoint"] = rx.endpoint  # the seed's, at the test's receiver
    g = Gateway(tmp_path, cfg, workers=2, env={"ANTHROPIC_API_KEY": "sk-ant-canary-key"})
    try:
        # a client with a trace context: the gateway continues it
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        body = json.dumps({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]})
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {key.token()}",
            "traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01",
            "tracestate": "vendor=abc",
        }
        c.request("POST", "/v1/chat/completions", body, headers)
        r = c.getresponse()
        assert r.status == 200, r.read()
        r.read()
        c.close()
        server, client = sorted(spans_of(rx, CLIENT_TRACE, 2), key=lambda s: s.kind)
        assert server.kind == SERVER and client.kind == CLIENT
        assert server.parent_id == CLIENT_SPAN and client.parent_id == server.span_id
        assert server.start <= client.start <= client.end <= server.end
        a = server.attributes
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.system"] == "anthropic"
        assert a["gen_ai.provider.name"] == "anthropic"
        assert a["gen_ai.request.model"] == "claude-3-5-haiku-latest"
        assert a["gen_ai.response.model"]
        assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
        assert a["authenticated"] is True and a["http.response.status_code"] == 200
        assert client.attributes["http.response.status_code"] == 200
        assert client.attributes["server.address"] == "127.0.0.1"
        assert server.resource["service.name"] == "fastgw"
        # propagated upstream: the client span is the provider's parent; tracestate passed on
        sent = received(fake.requests()[-1])["headers"]
        assert sent["traceparent"] == f"00-{CLIENT_TRACE}-{client.span_id}-01"
        assert sent["tracestate"] == "vendor=abc"
        # the access log names the trace and the server span
        wait_until(lambda: access_lines(g), timeout=10, what="access log")
        (line,) = [f for f in access_lines(g) if f.get("trace.id") == CLIENT_TRACE]
        assert line["span.id"] == server.span_id

        # without a client context (randomSampling 'true'): a new trace; without a JWT the
        # jwt-based attribute is left out
        status, _ = chat(port)
        assert status == 200
        wait_until(lambda: len(rx.spans) >= 4, timeout=15, what="the second trace")
        (second,) = [s for s in rx.spans if s.kind == SERVER and s.trace_id != CLIENT_TRACE]
        assert second.parent_id == "" and "authenticated" not in second.attributes
        # secrets never reach the collector
        dump = repr(rx.spans) + repr(rx.headers)
        assert "sk-ant-canary-key" not in dump and "Bearer" not in dump
    finally:
        g.stop()
        fake.stop()
        rx.stop()


def _proxy_config(port: int, up: Upstream, tracing: dict[str, Any], **route: Any) -> dict[str, Any]:
    return bind_config(
        port,
        [{"backends": [{"host": f"127.0.0.1:{up.port}"}], **route}],
        config={"tracing": tracing},
    )


def get(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def test_retries_are_separate_client_spans_over_http(tmp_path: Path) -> None:
    rx = Receiver("http")
    up = Upstream(tmp_path)
    port = free_port()
    tracing = {
        "otlpEndpoint": rx.endpoint,
        "otlpProtocol": "http",
        "randomSampling": True,
        "headers": {"x-collector-tenant": "t1"},
        "fields": {"add": {"span.name": '"proxied"', "path": "request.path"}},
    }
    cfg = _proxy_config(port, up, tracing, policies={"retry": {"attempts": 2, "codes": [503]}})
    g = Gateway(tmp_path, cfg, workers=1)
    try:
        trace = "0af7651916cd43dd8448eb211c80319c"
        assert get(port, "/flaky?key=a&fail=2", {"traceparent": f"00-{trace}-b7ad6b7169203331-01"}) == 200
        spans = spans_of(rx, trace, 4)
        (server,) = [s for s in spans if s.kind == SERVER]
        attempts = sorted((s for s in spans if s.kind == CLIENT), key=lambda s: s.start)
        assert server.name == "proxied" and server.attributes["path"] == "/flaky"
        assert [s.attributes["http.response.status_code"] for s in attempts] == [503, 503, 200]
        assert [s.attributes.get("http.request.resend_count", 0) for s in attempts] == [0, 1, 2]
        assert all(s.parent_id == server.span_id for s in attempts)
        assert attempts[0].status == 2 and attempts[2].status != 2  # ERROR, then not
        assert rx.headers[-1]["x-collector-tenant"] == "t1"
        # a malformed client context is ignored: a new trace, and upstream gets a valid header
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        c.request("GET", "/echo", headers={"traceparent": "00-zz-not-a-trace"})
        sent = json.loads(c.getresponse().read())["headers"]["traceparent"]
        c.close()
        version, trace_id, parent, flags = sent.split("-")
        assert (version, flags, len(trace_id), len(parent)) == ("00", "01", 32, 16)
        (echo_attempt,) = [s for s in spans_of(rx, trace_id, 2) if s.kind == CLIENT]
        assert echo_attempt.span_id == parent
    finally:
        g.stop()
        up.stop()
        rx.stop()


def test_a_failing_slow_or_absent_collector_never_slows_or_fails_requests(tmp_path: Path) -> None:
    up = Upstream(tmp_path)
    failing = Receiver("http", mode="error")
    slow = Receiver("http", mode="slow", delay=3.0)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens
    gateways = []
    try:
        for endpoint in (failing.endpoint, slow.endpoint, dead):
            port = free_port()
            tracing = {"otlpEndpoint": endpoint, "otlpProtocol": "http", "randomSampling": 1.0}
            gateways.append((port, Gateway(tmp_path, _proxy_config(port, up, tracing), workers=1)))
        for port, _g in gateways:
            for _ in range(30):  # each answered within the client's timeout, none failed
                assert get(port, "/x") == 200
        (_, g_fail), (_, g_slow), (_, g_dead) = gateways
        wait_until(
            lambda: counter(scrape(g_fail), "fastgw_trace_export_failures_total") >= 30,
            timeout=20,
            what="export failures counted",
        )
        wait_until(
            lambda: counter(scrape(g_dead), "fastgw_trace_export_failures_total") >= 30,
            timeout=20,
            what="a dead collector counted",
        )
        assert failing.exports >= 1
        wait_until(lambda: len(slow.spans) >= 30, timeout=20, what="the slow collector's spans")
        assert counter(scrape(g_slow), "fastgw_trace_export_failures_total") == 0
    finally:
        for _, g in gateways:
            g.stop()
        up.stop()
        failing.stop()
        slow.stop()
