"""Route precedence (Gateway API rules) on the compiled table, from real config text."""

from __future__ import annotations

import pytest

from fastgw.config.compile import compile_config
from fastgw.config.load import load_config

CONFIG = """
binds:
- port: 3000
  listeners:
  - hostname: "*.example.com"
    routes:
    - name: wild-any
      backends: [{host: "127.0.0.1:1"}]
  - routes:
    - name: catchall
      backends: [{host: "127.0.0.1:1"}]
    - name: prefix-v1
      matches: [{path: {pathPrefix: /v1}}]
      backends: [{host: "127.0.0.1:1"}]
    - name: prefix-v1-chat
      matches: [{path: {pathPrefix: /v1/chat/}}]
      backends: [{host: "127.0.0.1:1"}]
    - name: exact
      matches: [{path: {exact: /v1/chat/completions}}]
      backends: [{host: "127.0.0.1:1"}]
    - name: regex
      matches: [{path: {regex: "/models/[a-z]+"}}]
      backends: [{host: "127.0.0.1:1"}]
    - name: post-only
      matches: [{path: {pathPrefix: /v1/embeddings}, method: POST}]
      backends: [{host: "127.0.0.1:1"}]
    - name: header
      matches: [{path: {pathPrefix: /v1/embeddings}, headers: [{name: x-team, value: {exact: blue}}]}]
      backends: [{host: "127.0.0.1:1"}]
    - name: query
      matches: [{path: {pathPrefix: /q}, query: [{name: debug, value: {regex: "1|true"}}]}]
      backends: [{host: "127.0.0.1:1"}]
    - name: host-exact
      hostnames: [api.internal]
      matches: [{path: {pathPrefix: /}}]
      backends: [{host: "127.0.0.1:1"}]
"""


@pytest.fixture(scope="module")
def table():  # type: ignore[no-untyped-def]
    runtime = compile_config(load_config("routes.yaml", text=CONFIG))
    return runtime.binds[0].routes


@pytest.mark.parametrize(
    ("host", "method", "path", "headers", "query", "expected"),
    [
        (b"gw", b"GET", b"/v1/chat/completions", [], b"", "exact"),
        (b"gw", b"GET", b"/v1/chat/other", [], b"", "prefix-v1-chat"),
        (b"gw", b"GET", b"/v1/models", [], b"", "prefix-v1"),
        (b"gw", b"GET", b"/v1", [], b"", "prefix-v1"),
        (b"gw", b"GET", b"/v10", [], b"", "catchall"),  # prefixes match whole path elements
        (b"gw", b"GET", b"/models/gpt", [], b"", "regex"),
        (b"gw", b"GET", b"/models/GPT", [], b"", "catchall"),  # regex matches the whole path
        (b"gw", b"POST", b"/v1/embeddings", [(b"x-team", b"blue")], b"", "post-only"),  # method beats header
        (b"gw", b"GET", b"/v1/embeddings", [(b"x-team", b"blue")], b"", "header"),
        (b"gw", b"GET", b"/v1/embeddings", [(b"x-team", b"red")], b"", "prefix-v1"),
        (b"gw", b"GET", b"/q", [], b"debug=true", "query"),
        (b"gw", b"GET", b"/q", [], b"debug=0", "catchall"),
        (b"api.internal", b"GET", b"/anything", [], b"", "host-exact"),
        (b"a.example.com", b"GET", b"/v1/chat/completions", [], b"", "wild-any"),  # listener hostname first
    ],
)
def test_precedence(table, host, method, path, headers, query, expected) -> None:  # type: ignore[no-untyped-def]
    entry = table.match(host, method, path, headers, query)
    assert entry is not None and entry.route.name == expected


def _routes(text: str):  # type: ignore[no-untyped-def]
    return compile_config(load_config("routes.yaml", text=text)).binds[0].routes


ONE_ROUTE = "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends: [{host: '127.0.0.1:1'}]\n"


def test_a_lone_catch_all_route_is_taken_without_matching() -> None:
    routes = _routes(ONE_ROUTE)
    assert routes.always is not None and routes.always.route.name == "route0"
    assert routes.match(b"any", b"DELETE", b"/x/y", [(b"a", b"b")], b"q=1") is routes.always


@pytest.mark.parametrize(
    "extra",
    [
        # a more specific route ranks first: matching is needed
        "    - matches: [{path: {pathPrefix: /v1}}]\n      backends: [{host: '127.0.0.1:1'}]\n",
        # a hostname on the route, or a method match: not every request matches
        "    - hostnames: [a.example]\n      backends: [{host: '127.0.0.1:1'}]\n",
        "    - matches: [{method: GET}]\n      backends: [{host: '127.0.0.1:1'}]\n",
    ],
)
def test_no_shortcut_when_a_request_could_match_another_route(extra: str) -> None:
    text = "binds:\n- port: 3000\n  listeners:\n  - routes:\n" + extra + "    - backends: [{host: '127.0.0.1:1'}]\n"
    assert _routes(text).always is None


def test_no_shortcut_with_listener_hostnames(table) -> None:  # type: ignore[no-untyped-def]
    assert table.always is None
