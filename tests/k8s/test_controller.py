"""Controller mode against a fake API server (tests/k8s/fake_apiserver.py, seeded with recorded list
responses): a real `fastgw k8s controller` process renders seed 000 for a real `fastgw serve --watch`
process, follows changes (new route, missing backend, deletion, a config that does not validate,
a compacted watch) and writes the status conditions the Gateway API asks for."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import yaml

from tests.e2e.llm_util import FakeProvider
from tests.e2e.procs import Proc, free_port, http_status, wait_until
from tests.k8s.fake_apiserver import FakeApiServer

HERE = Path(__file__).resolve().parent
KEY = "sk-ant-recorded-0000"  # the recorded Secret's value
CONTROLLER = "fastgw.dev/gateway-controller"
BACKEND_REF = {"name": "anthropic", "namespace": "gloo-system", "group": "gateway.kgateway.dev", "kind": "Backend"}
PROMPT = {"messages": [{"role": "user", "content": "Explain how AI works in simple terms."}]}


class Setup:
    def __init__(self, tmp: Path, api: FakeApiServer, fake: FakeProvider | None) -> None:
        self.tmp = tmp
        self.api = api
        self.port = free_port()
        self.health = free_port()
        self.config = tmp / "run" / "config.yaml"
        self.secrets = tmp / "run" / "secrets"
        self.ready_port, self.stats_port, self.admin_port = free_port(), free_port(), free_port()
        base = tmp / "base.yaml"
        base.write_text(
            yaml.safe_dump(
                {
                    "config": {
                        "readinessAddr": f"127.0.0.1:{self.ready_port}",
                        "statsAddr": f"127.0.0.1:{self.stats_port}",
                        "adminAddr": f"127.0.0.1:{self.admin_port}",
                    }
                }
            )
        )
        args = [
            sys.executable,
            "-m",
            "fastgw",
            "k8s",
            "controller",
            "--kubeconfig",
            str(api.kubeconfig(tmp / "kubeconfig")),
            "--config-out",
            str(self.config),
            "--secrets-dir",
            str(self.secrets),
            "--health-addr",
            f"127.0.0.1:{self.health}",
            "--base-config",
            str(base),
            "--port-map",
            f"8080={self.port}",
        ]
        if fake is not None:
            args += ["--provider-host", fake.authority]
        self.controller = Proc(args, tmp / "controller.log")
        self.gateway: Proc | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_written(self) -> None:
        def ready() -> bool:
            if self.controller.proc.poll() is not None:
                raise RuntimeError(self.controller.output())
            return http_status(f"http://127.0.0.1:{self.health}/healthz/ready", 0.5) == 200

        wait_until(ready, 30, "the controller's first config")

    def serve(self) -> None:
        args = [sys.executable, "-m", "fastgw", "serve", "-w", "1", "-f", str(self.config), "--watch"]
        self.gateway = Proc(args, self.tmp / "gateway.log")
        wait_until(lambda: http_status(f"http://127.0.0.1:{self.ready_port}/healthz/ready", 0.5) == 200, 30, "gateway")

    def post(self, path: str) -> httpx.Response:
        return httpx.post(self.base + path, json=PROMPT, timeout=30)

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        self.controller.stop()


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        server.load_recorded(HERE / "fakeapi" / "seed-000")
        yield server


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeProvider]:
    proc = FakeProvider(tmp_path_factory.mktemp("k8s-ctl-fake"), "--require-key", KEY)
    yield proc
    proc.stop()


def conditions(obj: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in obj.get("conditions") or []}


def route(name: str, path: str, backend: dict[str, Any] = BACKEND_REF) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "gloo-system"},
        "spec": {
            "parentRefs": [{"name": "agentgateway"}],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}], "backendRefs": [backend]}],
        },
    }


def test_controller_serves_seed_000_follows_changes_and_writes_status(
    tmp_path: Path, api: FakeApiServer, fake: FakeProvider
) -> None:
    s = Setup(tmp_path, api, fake)
    try:
        s.wait_written()
        text = s.config.read_text()
        secret_file = s.secrets / "gloo-system" / "anthropic-secret" / "Authorization"
        assert f"file: {secret_file}" in text and KEY not in text
        assert secret_file.read_text() == KEY and stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
        s.serve()

        # seed 000's flow through the controller-written config
        first = s.post("/anthropic")
        assert first.status_code == 200, first.text
        assert first.json()["object"] == "chat.completion"
        assert s.post("/anthropic").status_code == 429

        # status, as the Gateway API asks
        def status_written() -> bool:
            gw = api.get("Gateway", "gloo-system", "agentgateway")["status"]
            return conditions(gw).get("Programmed") == ("True", "Programmed")

        wait_until(status_written, 20, "Gateway status")
        gw = api.get("Gateway", "gloo-system", "agentgateway")
        assert conditions(gw["status"]) == {"Accepted": ("True", "Accepted"), "Programmed": ("True", "Programmed")}
        assert all(c["observedGeneration"] == 1 for c in gw["status"]["conditions"])
        (listener,) = gw["status"]["listeners"]
        assert listener["name"] == "http" and listener["attachedRoutes"] == 1
        assert listener["supportedKinds"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}]
        assert conditions(listener)["Accepted"] == ("True", "Accepted")
        claude = api.get("HTTPRoute", "gloo-system", "claude")
        (parent,) = claude["status"]["parents"]
        assert parent["controllerName"] == CONTROLLER
        assert parent["parentRef"] == {"name": "agentgateway", "namespace": "gloo-system"}
        assert conditions(parent) == {"Accepted": ("True", "Accepted"), "ResolvedRefs": ("True", "ResolvedRefs")}
        gwc = api.get("GatewayClass", "", "fastgw")
        assert conditions(gwc["status"]) == {"Accepted": ("True", "Accepted")}

        # a new route: re-rendered, and the running gateway reloads it in place
        api.apply(route("claude-v2", "/v2"))
        wait_until(lambda: s.post("/v2/chat").status_code == 200, 30, "the new route served")

        # a route to a missing backend: ResolvedRefs False, and the route answers 500 (Gateway API)
        missing = {**BACKEND_REF, "name": "nope"}
        api.apply(route("broken", "/broken", missing))

        def broken_status() -> bool:
            parents = api.get("HTTPRoute", "gloo-system", "broken").get("status", {}).get("parents") or []
            return bool(parents) and conditions(parents[0]).get("ResolvedRefs") == ("False", "BackendNotFound")

        wait_until(broken_status, 20, "ResolvedRefs False")
        wait_until(lambda: s.post("/broken").status_code == 500, 20, "500 for the broken route")

        # deleting a route removes it from the gateway
        api.delete("HTTPRoute", "gloo-system", "claude-v2")
        wait_until(lambda: s.post("/v2/chat").status_code == 404, 30, "the deleted route gone")
        assert s.post("/anthropic").status_code == 429  # the bucket survived every reload

        # nothing the controller wrote or logged holds the key
        log = s.controller.output()
        assert KEY not in log and KEY not in s.config.read_text()
        assert "Traceback" not in log
        s.controller.signal(signal.SIGTERM)
        assert s.controller.proc.wait(20) == 0
    finally:
        s.stop()


def test_a_config_that_does_not_validate_is_not_written(tmp_path: Path, api: FakeApiServer) -> None:
    """tokensPerFill above maxTokens renders, but fastgw would refuse it: the controller keeps the
    previous config, says why in Programmed, and recovers when the policy is fixed."""
    s = Setup(tmp_path, api, None)
    try:
        s.wait_written()
        before = s.config.read_text()
        tp = api.get("TrafficPolicy", "gloo-system", "anthropic-ratelimit")
        tp["spec"]["rateLimit"]["local"]["tokenBucket"]["tokensPerFill"] = 5
        api.apply(tp)

        def invalid() -> bool:
            gw = api.get("Gateway", "gloo-system", "agentgateway").get("status", {})
            return conditions(gw).get("Programmed") == ("False", "Invalid")

        wait_until(invalid, 20, "Programmed False")
        gw = api.get("Gateway", "gloo-system", "agentgateway")
        programmed = next(c for c in gw["status"]["conditions"] if c["type"] == "Programmed")
        assert "tokensPerFill" in programmed["message"]
        assert s.config.read_text() == before
        tp["spec"]["rateLimit"]["local"]["tokenBucket"]["tokensPerFill"] = 1
        tp["spec"]["rateLimit"]["local"]["tokenBucket"]["maxTokens"] = 3
        api.apply(tp)
        wait_until(lambda: "maxTokens: 3" in s.config.read_text(), 20, "the fixed config")
        wait_until(lambda: not invalid(), 20, "Programmed True again")
    finally:
        s.stop()


def test_watch_from_a_compacted_version_lists_again(tmp_path: Path, api: FakeApiServer) -> None:
    s = Setup(tmp_path, api, None)
    try:
        s.wait_written()
        api.compact()  # open watches end; reconnecting from their resourceVersion gets 410 Gone
        api.apply(route("after-compaction", "/after"))
        wait_until(lambda: "/after" in s.config.read_text(), 30, "the route applied after compaction")
        relists = [
            p
            for m, p in api.requests
            if m == "GET" and p.startswith("/apis/gateway.networking.k8s.io/v1/httproutes?") and "watch" not in p
        ]
        assert len(relists) >= 2
    finally:
        s.stop()


def test_the_status_patch_keeps_other_controllers_entries(tmp_path: Path, api: FakeApiServer) -> None:
    claude = api.get("HTTPRoute", "gloo-system", "claude")
    other = {
        "parentRef": {"name": "mesh", "kind": "Service", "group": ""},
        "controllerName": "example.com/mesh",
        "conditions": [
            {
                "type": "Accepted",
                "status": "True",
                "reason": "Accepted",
                "message": "",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
                "observedGeneration": 1,
            }
        ],
    }
    claude["status"] = {"parents": [other]}
    api.apply(claude)
    with api.cond:  # apply() keeps the old status, as kubectl apply does; set it as the mesh would
        api.objects[("httproutes", "gloo-system", "claude")]["status"] = {"parents": [other]}
    s = Setup(tmp_path, api, None)
    try:
        s.wait_written()

        def ours() -> bool:
            parents = api.get("HTTPRoute", "gloo-system", "claude")["status"]["parents"]
            return any(p["controllerName"] == CONTROLLER for p in parents)

        wait_until(ours, 20, "our parent entry")
        parents = api.get("HTTPRoute", "gloo-system", "claude")["status"]["parents"]
        assert parents[0] == other and len(parents) == 2
        patch = next(body for path, body in api.patches if path.endswith("/httproutes/claude/status"))
        assert patch["metadata"]["resourceVersion"]  # optimistic concurrency against other writers
        assert json.dumps(patch).count("example.com/mesh") == 1
    finally:
        s.stop()
