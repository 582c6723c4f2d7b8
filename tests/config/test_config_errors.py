"""Snapshot of the messages users see for typical mistakes: every problem, with file, line and path."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw.config.load import ConfigError, load, load_config

MANY_MISTAKES = """\
config:
  adminAddr: 127.0.0.1:15000
  logging: {level: info, formt: json}
  http: {maxBodyBytes: "big"}
binds:
- port: 3000
  listeners:
  - routes:
    - name: api
      matches:
      - path: {pathPrefix: /v1}
        method: POST
      policies:
        cros: {allowOrigins: ["*"]}
        oidc: {issuer: https://idp}
        localRateLimit:
        - maxTokens: 10
          tokensPerFill: 1
          fillInterval: 100x
        - maxTokens: 1
          tokensPerFill: 5
          fillInterval: 1s
        retry: {attempts: 2}
        timeout: {requestTimeout: 30}
      backends:
      - host: localhost
      - ai:
          name: x
          provider: {openai: {model: gpt-4o}}
          routes: {/v1/messages: Messages}
    - backends: [{host: "${UPSTREAM}"}]
- port: 70000
  listeners: []
"""

ROUTE = "binds[0].listeners[0].routes[0]"
EXPECTED = [
    'config.yaml:3: config.logging: unknown field "formt" (did you mean "format"?)',
    "config.yaml:4: config.http.maxBodyBytes: expected an integer, got a string",
    f'config.yaml:14: {ROUTE}.policies: unknown field "cros" (did you mean "cors"?)',
    f"config.yaml:15: {ROUTE}.policies: not supported yet: oidc",
    f'config.yaml:19: {ROUTE}.policies.localRateLimit[0].fillInterval: invalid duration "100x": '
    "expected <number><unit> with unit one of ns, us, ms, s, m, h, d",
    f"config.yaml:21: {ROUTE}.policies.localRateLimit[1].tokensPerFill: must be <= maxTokens (5 > 1)",
    f"config.yaml:23: {ROUTE}.policies.retry: missing required field codes",
    f'config.yaml:24: {ROUTE}.policies.timeout.requestTimeout: expected a duration string like "5s", '
    'got an integer (write e.g. "30s" or "30ms")',
    f'config.yaml:26: {ROUTE}.backends[0].host: invalid host:port "localhost": missing port',
    f'config.yaml:29: {ROUTE}.backends[1].ai.provider: unknown field "openai" (did you mean "openAI"?)',
    f'config.yaml:30: {ROUTE}.backends[1].ai.routes["/v1/messages"]: invalid value "Messages": '
    "expected one of "
    "anthropicTokenCount, completions, detect, embeddings, geminiCountTokens, generateContent, messages, "
    'models, passthrough, realtime, rerank, responses (did you mean "messages"?)',
    "config.yaml:31: environment variable UPSTREAM is not set (give a default with ${UPSTREAM:-...})",
    "config.yaml:32: binds[1].port: must be between 1 and 65535, got 70000",
]


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config("config.yaml", text=text, env=env or {})
    assert str(info.value) == "\n".join(str(e) for e in info.value.errors)
    return [str(e) for e in info.value.errors]


def test_every_mistake_reported_in_line_order() -> None:
    assert errors_of(MANY_MISTAKES) == EXPECTED


def test_invalid_yaml_reports_line() -> None:
    text = "binds:\n- port: 3000\n  listeners: [\n    {routes: []\n"
    (err,) = errors_of(text)
    # The flow mapping opened on line 4 is still open at the end of the file (line 4).
    assert err.startswith("config.yaml:4: invalid YAML: ")
    assert "flow mapping that starts at line 4" in err


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("binds:\n\t- port: 1\n", 2),
        ("binds:\n- port: 3000\n  listeners:\n  \t- routes: []\n", 4),
        ("config:\n  adminAddr: x\n\tstatsAddr: y\n", 3),
    ],
)
def test_tab_indentation_is_called_a_tab(text: str, line: int) -> None:
    (err,) = errors_of(text)
    assert err == f"config.yaml:{line}: invalid YAML: a tab in the indentation (YAML indents with spaces only)"


def test_a_tab_inside_a_value_is_not_an_indentation_error() -> None:
    config = load_config("config.yaml", text='config:\n  adminAddr: "a\tb"\n', env={})
    assert config.config is not None and config.config.admin_addr == "a\tb"


def test_duplicate_key() -> None:
    (err,) = errors_of("binds: []\nconfig: {}\nbinds: []\n")
    assert err == "config.yaml:3: binds: duplicate key (first defined at line 1)"


def test_missing_required_and_exactly_one() -> None:
    text = """\
binds:
- listeners:
  - routes:
    - matches: [{path: {exact: /a, pathPrefix: /b}}]
      backends: [{weight: 2}]
"""
    assert errors_of(text) == [
        "config.yaml:2: binds[0]: missing required field port",
        "config.yaml:4: binds[0].listeners[0].routes[0].matches[0].path: set only one of exact, pathPrefix",
        "config.yaml:5: binds[0].listeners[0].routes[0].backends[0]: missing one of: host, ai, mcp, backend",
    ]


def test_not_supported_values_and_kinds() -> None:
    text = """\
gateways: {default: {port: 4000}}
binds:
- port: 8443
  listeners:
  - protocol: HTTPS
    routes:
    - backends:
      - dynamic: {}
      - ai: {provider: {copilot: {}}}
      policies:
        localRateLimit: {conditional: []}
        backendAuth: copilot
"""
    assert errors_of(text) == [
        "config.yaml:1: <root>: not supported yet: gateways".replace("<root>: ", ""),
        "config.yaml:5: binds[0].listeners[0]: not supported yet: protocol HTTPS",
        "config.yaml:8: binds[0].listeners[0].routes[0].backends[0]: not supported yet: dynamic",
        "config.yaml:9: binds[0].listeners[0].routes[0].backends[1].ai.provider: not supported yet: copilot",
        "config.yaml:11: binds[0].listeners[0].routes[0].policies.localRateLimit: "
        "not supported yet: conditional form (give a plain list)",
        "config.yaml:12: binds[0].listeners[0].routes[0].policies.backendAuth: not supported yet: copilot",
    ]


def test_unset_variable_with_and_without_default() -> None:
    text = "binds:\n- port: ${PORT:-3000}\n  listeners: []\n- port: $OTHER_PORT\n  listeners: []\n"
    assert errors_of(text) == [
        "config.yaml:4: environment variable OTHER_PORT is not set (give a default with ${OTHER_PORT:-...})"
    ]
    config = load_config("config.yaml", text=text, env={"OTHER_PORT": "3001"})
    assert [b.port for b in config.binds] == [3000, 3001]


def test_wrong_types() -> None:
    text = """\
binds:
- port: "3000"
  listeners:
    routes: []
llm:
  models: [{name: m, provider: openai, params: {model: 4}}]
"""
    assert errors_of(text) == [
        "config.yaml:2: binds[0].port: expected an integer, got a string",
        "config.yaml:3: binds[0].listeners: expected a list, got a mapping",
        'config.yaml:6: llm.models[0].params.model: expected a string, got an integer (quote it: "4")',
    ]


def test_semantic_checks_across_sections() -> None:
    text = """\
backends:
- {name: shared, host: "10.0.0.1:80"}
binds:
- port: 4000
  listeners:
  - routes:
    - backends: [{backend: sharde}]
llm:
  models: [{name: "*", provider: {reference: nope}}]
"""
    assert errors_of(text) == [
        "config.yaml:3: binds: port used more than once (binds, llm.port, mcp.port): [4000]",
        "config.yaml:9: llm.models[0].provider.reference: no provider named 'nope' in llm.providers",
    ]
    fixed = text.replace("reference: nope", "reference: p").replace("port: 4000", "port: 4001")
    fixed += "  providers: [{name: p, provider: anthropic}]\n"
    assert errors_of(fixed) == [
        "config.yaml:7: binds[0].listeners[0].routes[0].backends[0].backend: no backend named 'sharde' in backends"
    ]


def test_source_map_for_compile_errors() -> None:
    text = "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - name: a\n      backends: [{host: 'h:1'}]\n"
    loaded = load("config.yaml", text=text, env={})
    issue = loaded.issue(("binds", 0, "listeners", 0, "routes", 0, "backends", 0, "host"), "cannot resolve h")
    assert str(issue) == "config.yaml:6: binds[0].listeners[0].routes[0].backends[0].host: cannot resolve h"
    # A path the file does not spell out falls back to its nearest ancestor's line.
    assert loaded.issue(("binds", 0, "listeners", 0, "routes", 0, "policies"), "x").line == 5


def test_unreadable_file(tmp_path: object) -> None:
    with pytest.raises(ConfigError) as info:
        load_config("/nonexistent/fastgw.yaml")
    assert str(info.value) == "/nonexistent/fastgw.yaml: cannot read: No such file or directory"


def test_empty_file_is_an_empty_config() -> None:
    config = load_config("config.yaml", text="# nothing yet\n", env={})
    assert config.binds == [] and config.llm is None


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "c.yaml"),
        ("# nothing yet\n", "c.yaml"),
        ("config:\n  adminAddr: off\n", "c.yaml:1"),
        ("binds: []\n", "c.yaml:1"),
    ],
)
def test_a_config_that_serves_nothing_is_refused(text: str, where: str) -> None:
    """An empty file (or one with only `config:`) would start a gateway that listens on nothing."""
    from fastgw.config.compile import load_runtime

    with pytest.raises(ConfigError) as info:
        load_runtime("c.yaml", text)
    assert str(info.value) == (
        f"{where}: binds: nothing to serve: the config has no binds, no llm: block and no mcp: block"
    )


def test_log_level_is_checked_at_load() -> None:
    with pytest.raises(ConfigError) as info:
        load_config("c.yaml", text="config:\n  logging:\n    level: loud\n", env={})
    assert str(info.value).startswith("c.yaml:3: config.logging.level: invalid log level 'loud': expected one of")
    ok = load_config("c.yaml", text="config:\n  logging: {level: [warn, fastgw.http=debug]}\n", env={})
    assert ok.config is not None and ok.config.logging is not None


def test_rendered_paths_parse_back() -> None:
    from fastgw.config.errors import parse_path, render_path

    for path in [
        ("binds", 0, "listeners", 12, "routes"),
        ("policies", "ai", "routes", "/v1/chat/completions"),
        ("x", 'we"ird\\key', "y-z", "a\\\\", 'b\\"'),
        (),
    ]:
        assert parse_path(render_path(path)) == path
    text = "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - policies:\n        cors: {}\n"
    loaded = load("config.yaml", text=text, env={})
    issue = loaded.source.issue_at("binds[0].listeners[0].routes[0].policies.cors", "not enforced yet")
    assert str(issue) == "config.yaml:6: binds[0].listeners[0].routes[0].policies.cors: not enforced yet"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 10**6), st.text(max_size=12)), max_size=6))
def test_render_parse_round_trip(parts: list[str | int]) -> None:
    from fastgw.config.errors import parse_path, render_path

    assert parse_path(render_path(parts)) == tuple(parts)
