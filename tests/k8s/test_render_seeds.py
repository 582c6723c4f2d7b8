"""Every seed's manifests render into a config `fastgw validate` accepts; the rendered config and
the warnings are golden files (UPDATE_GOLDEN=1 rewrites them: review the diff)."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from fastgw.cli import main
from tests.k8s.util import GOLDEN, SEED_CASES, SEEDS, check_golden, render_cli


@pytest.mark.parametrize("case", sorted(SEED_CASES))
def test_seed_renders_to_golden(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    args = [a for f in SEED_CASES[case] for a in ("-f", f)]
    run = render_cli(monkeypatch, SEEDS, *args)
    assert run.code == 0, run.stderr
    check_golden(GOLDEN / f"{case}.yaml", run.stdout)
    check_golden(GOLDEN / f"{case}.stderr", run.stderr)


@pytest.mark.parametrize("case", sorted(SEED_CASES))
def test_golden_config_validates(case: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The golden file itself passes `fastgw validate` (with the secret variables it names set)."""
    text = (GOLDEN / f"{case}.yaml").read_text()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    result = CliRunner().invoke(main, ["validate", "-f", "-"], input=text)
    assert result.exit_code == 0, result.output
    assert "$ANTHROPIC_API_KEY" in text and "sk-" not in text  # a reference, never a value


def test_seed_000_means_what_the_seed_says(monkeypatch: pytest.MonkeyPatch) -> None:
    run = render_cli(monkeypatch, SEEDS, "-f", "000.yaml")
    config = yaml.safe_load(run.stdout)
    (bind,) = config["binds"]
    assert bind["port"] == 8080
    (route,) = bind["listeners"][0]["routes"]
    assert route["matches"] == [{"path": {"pathPrefix": "/anthropic"}}]
    assert route["policies"]["urlRewrite"] == {"path": {"full": "/v1/chat/completions"}}
    # the TrafficPolicy's bucket: one request, refilled every 100 s
    assert route["policies"]["localRateLimit"] == [{"maxTokens": 1, "tokensPerFill": 1, "fillInterval": "100s"}]
    (backend,) = route["backends"]
    assert backend["ai"]["provider"] == {"anthropic": {"model": "claude-3-5-haiku-latest"}}
    assert backend["policies"]["backendAuth"] == {"key": "$ANTHROPIC_API_KEY"}
    assert "needs env ANTHROPIC_API_KEY <- Secret gloo-system/anthropic-secret, key Authorization" in run.stderr


def test_verbatim_unindented_seed_001_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    run = render_cli(monkeypatch, SEEDS, "-f", "001-verbatim.yaml")
    assert run.code == 1
    assert "001-verbatim.yaml:3: error: Secret: metadata.name: missing (a top-level `name` was found" in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""


def test_all_of_seed_002_at_once_warns_that_later_routes_replace_earlier(monkeypatch: pytest.MonkeyPatch) -> None:
    files = ["002-gateway.yaml", "002.yaml", "002-route-chat.yaml", "002-route-anthropic.yaml"]
    run = render_cli(monkeypatch, SEEDS, *[a for f in files for a in ("-f", f)])
    assert run.code == 0, run.stderr
    assert (
        "002-route-anthropic.yaml:2: warning: HTTPRoute agentgateway-system/anthropic: defined again; this definition"
        " replaces the one at 002-route-chat.yaml:2 (as kubectl apply)" in run.stderr
    )
    (route,) = yaml.safe_load(run.stdout)["binds"][0]["listeners"][0]["routes"]
    assert route["matches"] == [{"path": {"pathPrefix": "/anthropic"}}]
