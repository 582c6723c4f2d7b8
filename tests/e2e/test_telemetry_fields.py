"""Seed 004's metrics-testing config through the real multi-worker gateway (its provider pointed
at the fake provider): the CEL fields it adds to the access log and the labels it adds to
/metrics, with a verified JWT on the request and without one."""

from __future__ import annotations

import copy
import http.client
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.auth_keys import ISSUER, jwks, rsa_key
from tests.e2e.llm_util import FakeProvider
from tests.e2e.procs import ROOT, Gateway, free_port, wait_until

SEED = ROOT / "configs/seeds/004-metrics-testing.yaml"
PROMPT = "Write me a paragraph containing the best way to think about Istio Ambient Mesh"


def seed_config(fake: FakeProvider, port: int, **route_policies: Any) -> dict[str, Any]:
    """The seed as written, with its bind on a free port and its provider at the fake one."""
    cfg: dict[str, Any] = yaml.safe_load(SEED.read_text())
    cfg = copy.deepcopy(cfg)
    cfg["binds"][0]["port"] = port
    route = cfg["binds"][0]["listeners"][0]["routes"][0]
    route["backends"][0]["ai"]["hostOverride"] = fake.authority
    route["policies"].update(route_policies)
    return cfg


def chat(port: int, token: str | None = None, prompt: str = PROMPT) -> tuple[int, dict[str, Any]]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    body = {
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "You are a skilled cloud-native network engineer."},
            {"role": "user", "content": prompt},
        ],
    }
    c.request("POST", "/v1/chat/completions", json.dumps(body), headers)
    r = c.getresponse()
    data = json.loads(r.read())
    c.close()
    return r.status, data


def access_lines(g: Gateway) -> list[dict[str, str]]:
    """The text access-log lines as key -> value (quoted values unquoted)."""
    out = []
    for line in g.output().splitlines():
        if "\tinfo\trequest " not in line:
            continue
        fields = {}
        for m in re.finditer(r'(\S+?)=("(?:[^"\\]|\\.)*"|\S*)', line.split("\trequest ", 1)[1]):
            value = m.group(2)
            fields[m.group(1)] = json.loads(value) if value.startswith('"') else value
        out.append(fields)
    return out


def scrape(g: Gateway) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{g.stats_port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def samples(text: str, name: str) -> list[Any]:
    return [s for fam in text_string_to_metric_families(text) for s in fam.samples if s.name == name]


def test_seed_fields_in_logs_and_metrics_with_and_without_a_jwt(tmp_path: Path) -> None:
    key = rsa_key("k1")
    fake = FakeProvider(tmp_path)
    port = free_port()
    # the seed's fields read jwt.*: an optional jwtAuth fills them when a token comes
    cfg = seed_config(fake, port, jwtAuth={"mode": "optional", "issuer": ISSUER, "jwks": jwks(key)})
    cfg["config"].pop("tracing")  # tracing is covered with a collector in test_tracing.py
    g = Gateway(tmp_path, cfg, workers=2, env={"ANTHROPIC_API_KEY": "sk-ant-canary-key"})
    try:
        token = key.token(
            {"name": "Alice Liddell", "preferred_username": "alice.l", "act": {"sub": "agent-7"}, "aud": "fastgw-api"}
        )
        long_prompt = "x" * 20000
        for tok, prompt in ((token, PROMPT), (None, PROMPT), (token, long_prompt)):
            status, data = chat(port, tok, prompt)
            assert status == 200, data
        wait_until(lambda: len(access_lines(g)) >= 3, timeout=10, what="three access-log lines")
        lines = access_lines(g)[:3]  # two workers: in any order
        (without,) = [f for f in lines if "user_id" not in f]
        (long_one,) = [f for f in lines if len(f.get("prompt", "")) > 1000]
        (with_jwt,) = [f for f in lines if f is not without and f is not long_one]
        assert with_jwt["user_id"] == "alice" and with_jwt["user_name"] == "Alice Liddell"
        assert with_jwt["authenticated"] == "true"
        assert with_jwt["token_issuer"] == ISSUER and with_jwt["token_audience"] == "fastgw-api"
        assert json.loads(with_jwt["jwt_act"]) == {"sub": "agent-7"}
        assert with_jwt["model"] == "claude-3-5-haiku-latest" and with_jwt["provider"] == "anthropic"
        prompt = json.loads(with_jwt["prompt"])
        assert prompt[-1] == {"role": "user", "content": PROMPT}
        # without a token the jwt fields are absent, never an error; the rest is there
        assert "user_id" not in without and "token_issuer" not in without and "jwt_act" not in without
        # (`jwt.sub != null` reads a key the empty jwt map lacks: an error in CEL, so no value)
        assert "authenticated" not in without and without["model"] == "claude-3-5-haiku-latest"
        assert without["http.status"] == "200"
        # a large value is bounded
        assert 1000 < len(long_one["prompt"].encode()) <= 4096
        # the backend key never shows
        assert "sk-ant-canary-key" not in g.output()

        def counted() -> bool:
            return sum(s.value for s in samples(scrape(g), "agentgateway_requests_total")) >= 3

        wait_until(counted, timeout=10, what="3 requests in /metrics")
        text = scrape(g)
        reqs = samples(text, "agentgateway_requests_total")
        by_user = {(s.labels["user_id"], s.labels["user_name"]): s.value for s in reqs}
        assert by_user == {("alice", "alice.l"): 2.0, ("", ""): 1.0}
        tokens = samples(text, "agentgateway_gen_ai_client_token_usage_sum")
        assert {s.labels["user_id"] for s in tokens} == {"alice", ""}
        assert "sk-ant-canary-key" not in text
    finally:
        g.stop()
        fake.stop()


def test_logging_filter_and_remove_in_json(tmp_path: Path) -> None:
    fake = FakeProvider(tmp_path)
    port = free_port()
    cfg = seed_config(fake, port)
    cfg["config"].pop("tracing")
    cfg["config"]["logging"]["format"] = "json"
    cfg["config"]["logging"]["filter"] = 'request.headers["x-log"] == "yes"'
    cfg["config"]["logging"]["fields"]["remove"] = ["src.addr", "prompt"]
    cfg["config"]["metrics"] = {"remove": ["agentgateway_response_bytes_total"], **cfg["config"]["metrics"]}
    g = Gateway(tmp_path, cfg, workers=1, env={"ANTHROPIC_API_KEY": "sk-ant-test"})
    try:
        for flag in ("no", "yes"):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
            c.request("POST", "/v1/chat/completions", body, {"content-type": "application/json", "x-log": flag})
            assert c.getresponse().status == 200
            c.close()

        def logged() -> list[dict[str, Any]]:
            docs = []
            for line in g.output().splitlines():
                if line.startswith("{") and '"scope":"request"' in line:
                    docs.append(json.loads(line))
            return docs

        wait_until(lambda: len(logged()) >= 1, timeout=10, what="the access-log line")
        (doc,) = logged()
        assert "authenticated" not in doc and doc["model"] == "claude-3-5-haiku-latest"
        assert "src.addr" not in doc and "prompt" not in doc and doc["http.status"] == 200
        wait_until(lambda: "agentgateway_requests_total" in scrape(g), timeout=10, what="metrics")
        text = scrape(g)
        assert "agentgateway_response_bytes" not in text and "agentgateway_requests_total" in text
    finally:
        g.stop()
        fake.stop()
