"""What fastgw does not implement yet is refused with file:line:key path, from the schema's own
data (the same data the reference marks and README's support table are generated from)."""

from __future__ import annotations

from typing import ClassVar

import msgspec
import pytest

from fastgw.config.compile import load_runtime
from fastgw.config.jsonschema import _struct_types
from fastgw.config.load import ConfigError
from fastgw.config.schema import Config
from fastgw.config.schema_base import Spec
from fastgw.config.support import not_covered, unsupported_settings

ROUTE = "binds[0].listeners[0].routes[0]"


def test_marks_name_real_keys() -> None:
    """A misspelt mark would silently stop refusing its key."""
    problems = []
    for name, cls in _struct_types(Config).items():
        keys = {f.encode_name for f in msgspec.structs.fields(cls)}
        problems += [f"{name}.{k} (checked)" for k in cls.NOT_SUPPORTED_CHECKED if k not in keys]
        problems += [f"{name}.{k} (partly)" for k in cls.PARTLY_SUPPORTED if k not in keys]
        problems += [f"{name}.{k} (unparsed, yet a field)" for k in cls.NOT_SUPPORTED if k in keys]
    assert problems == []


class _Inner(Spec, frozen=True, kw_only=True):
    NOT_SUPPORTED_CHECKED: ClassVar[frozenset[str]] = frozenset({"later"})
    now: int = 0
    later: list[int] = []


class _Outer(Spec, frozen=True, kw_only=True):
    NOT_SUPPORTED_CHECKED: ClassVar[frozenset[str]] = frozenset({"flag"})
    flag: bool = False
    items: list[_Inner] = []
    named: dict[str, _Inner] = {}


def test_walker_reports_set_keys_only_with_their_paths() -> None:
    assert unsupported_settings(_Outer(items=[_Inner(now=1, later=[])])) == []  # defaults are "unset"
    found = unsupported_settings(_Outer(flag=True, items=[_Inner(), _Inner(later=[1])], named={"x": _Inner(later=[2])}))
    assert found == [
        "flag: not supported yet: flag",
        "items[1].later: not supported yet: later",
        "named.x.later: not supported yet: later",
    ]


def test_a_builders_restatement_of_a_refused_key_is_dropped() -> None:
    refused = ["a.b.c: not supported yet: c"]
    errors = ["a.b: not supported yet: b other than `key`", "a.b.c: not supported yet on ai backends: c", "a.b: bad"]
    assert not_covered(errors, refused) == ["a.b: bad"]


def _route(policies: str = "", backend: str = "backends: [{host: 'a:1'}]") -> str:
    text = "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - " + backend + "\n"
    if policies:
        text += "      policies:\n" + "".join(f"        {line}\n" for line in policies.splitlines())
    return text


GROUPS = """\
backends:
      - ai:
          groups:
          - providers:
            - {name: a, provider: {openAI: {}}, hostOverride: "127.0.0.1:1"}
          - providers:
            - {name: b, provider: {anthropic: {}}, hostOverride: "127.0.0.1:2"}"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_route("requestMirror: {backend: {host: 'b:1'}, percentage: 0.5}"), f"7: {ROUTE}.policies.requestMirror"),
        (
            _route("apiKey: {keys: [{key: k, allowedModels: [x]}]}"),
            f"7: {ROUTE}.policies.apiKey.keys[0].allowedModels",
        ),
        (
            _route("remoteRateLimit: {host: 'rls:1', domain: d, descriptors: [{entries: [{key: k, value: v}]}]}"),
            f"7: {ROUTE}.policies.remoteRateLimit.host",
        ),
        (_route("retry: {codes: [503], condition: 'true'}"), f"7: {ROUTE}.policies.retry.condition"),
        (_route("backendAuth: {key: k, credentials: []}"), f"7: {ROUTE}.policies.backendAuth.credentials"),
        (
            _route(backend="backends: [{host: 'a:1', policies: {backendAuth: {key: k}}}]"),
            f"5: {ROUTE}.backends[0].policies.backendAuth",
        ),
        (_route(backend=GROUPS), f"11: {ROUTE}.backends[0].ai.groups[1].providers[0]"),
        (
            _route("mcpAuthentication: {issuer: i, audiences: [a], resourceMetadata: {}, jwks: {url: u}}"),
            f"7: {ROUTE}.policies.mcpAuthentication",
        ),
        ("config:\n  tracing: {otlpEndpoint: 'http://c:4317'}\n" + _route(), "2: config.tracing"),
        ("config:\n  enableIpv6: true\n" + _route(), "2: config.enableIpv6"),
        ("mcp:\n  targets:\n  - {name: t, openapi: {host: h, schema: {}}}\n", "3: mcp.targets[0].openapi"),
        (
            "llm:\n  models: [{name: m, provider: openAI, params: {apiKey: k}}]\n"
            "  virtualModels: [{name: v, routing: {weighted: {targets: [{model: m}]}}}]\n",
            "3: llm.virtualModels",
        ),
    ],
)
def test_refused_with_file_line_and_key_path(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_runtime("c.yaml", text)
    lines = str(info.value).splitlines()
    assert any(line.startswith(f"c.yaml:{expected}: not supported yet: ") for line in lines), lines


def test_supported_neighbours_still_compile() -> None:
    text = _route("retry: {attempts: 1, codes: [503], backoff: 10ms}\nbackendAuth: {key: k}")
    text += "\n".join(["config:", "  enableIpv6: false", "  histograms: classic"]) + "\n"
    runtime = load_runtime("c.yaml", text)
    assert runtime.binds[0].port == 3000
