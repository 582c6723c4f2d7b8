"""Codex CLI's time to first token through the gateway (issue 19), per transport and provider kind.

Runs `codex exec --json` (pinned in tests/e2e/agents.txt, installed by tests/run.sh into
.cache/agents) N times per row against the bundled fake provider answering at once (no TTFT, no
token latency): the time from Codex's `turn.started` event to its `agent_message` item is then
its time to first token, all overhead: Codex's own request building, the WebSocket attempt, the
gateway, the translation. Prints a markdown table of medians.

    .venv/bin/python bench/codex_ttft.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.llm_util import FakeProvider  # noqa: E402
from tests.e2e.procs import Gateway, bind_config, free_port  # noqa: E402

CODEX = ROOT / ".cache" / "agents" / "node_modules" / ".bin" / "codex"
KEY = "bench-key"


def _route(name: str, provider: dict[str, object], host: str) -> dict[str, object]:
    return {
        "name": name,
        "matches": [{"path": {"pathPrefix": f"/{name}"}}],
        "policies": {"urlRewrite": {"path": {"prefix": ""}}, "backendAuth": {"key": KEY}},
        "backends": [{"ai": {"name": name, "provider": provider, "hostOverride": host}}],
    }


def run_once(home: Path, work: Path, base_url: str, websockets: bool) -> tuple[float, float]:
    """(turn.started -> agent_message seconds, whole process seconds) of one `codex exec`."""
    (home / "config.toml").write_text(
        'model = "fake-model"\nmodel_provider = "fastgw"\nweb_search = "disabled"\n'
        f'[model_providers.fastgw]\nname = "fastgw"\nbase_url = "{base_url}"\nwire_api = "responses"\n'
        f'env_key = "BENCH_KEY"\nsupports_websockets = {"true" if websockets else "false"}\n'
    )
    env = {**os.environ, "CODEX_HOME": str(home), "HOME": str(home), "BENCH_KEY": KEY}
    began = time.monotonic()
    proc = subprocess.Popen(
        [str(CODEX), "exec", "--json", "--skip-git-repo-check", "Say hello"],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    started = answered = None
    for line in proc.stdout:
        now = time.monotonic()
        event = json.loads(line) if line.startswith(b"{") else {}
        if event.get("type") == "turn.started":
            started = now
        elif event.get("type") == "item.completed" and event["item"].get("type") == "agent_message":
            answered = now
    proc.wait(120)
    if started is None or answered is None or proc.returncode != 0:
        raise RuntimeError(f"codex failed (exit {proc.returncode}) against {base_url}")
    return answered - started, time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not CODEX.exists():
        sys.exit(f"{CODEX} missing: run tests/run.sh (it installs the pinned agents)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        fake = FakeProvider(tmp, "--ttft", "0ms", "--token-latency", "0ms")
        port = free_port()
        routes = [_route("oai", {"openAI": {}}, fake.authority), _route("ant", {"anthropic": {}}, fake.authority)]
        gw = Gateway(tmp, bind_config(port, routes), workers=1)
        gateway = f"http://127.0.0.1:{port}"
        rows = [
            ("fake provider direct (no gateway)", f"http://{fake.authority}/v1", False),
            ("fastgw, OpenAI passthrough", f"{gateway}/oai/v1", False),
            ("fastgw, OpenAI passthrough, WebSocket tried first (426)", f"{gateway}/oai/v1", True),
            ("fastgw, translated to Anthropic Messages", f"{gateway}/ant/v1", False),
            ("fastgw, translated to Anthropic, WebSocket tried first (426)", f"{gateway}/ant/v1", True),
            ("fake provider direct, WebSocket tried first (its 405)", f"http://{fake.authority}/v1", True),
        ]
        print("| row | TTFT median (ms) | codex exec wall median (s) | runs |\n|---|---|---|---|")
        try:
            for name, url, websockets in rows:
                home = tmp / f"home-{len(name)}-{websockets}"
                work = tmp / "work"
                home.mkdir(exist_ok=True)
                work.mkdir(exist_ok=True)
                ttft, wall = [], []
                for _ in range(args.runs):
                    first, whole = run_once(home, work, url, websockets)
                    ttft.append(first)
                    wall.append(whole)
                ms = statistics.median(ttft) * 1000
                print(f"| {name} | {ms:.0f} | {statistics.median(wall):.2f} | {args.runs} |", flush=True)
        finally:
            gw.stop()
            fake.stop()


if __name__ == "__main__":
    main()
