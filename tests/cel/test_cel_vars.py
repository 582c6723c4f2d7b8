"""The per-request variables: agentgateway's names, built only when read, absent -> no value."""

from __future__ import annotations

from typing import Any

import pytest

from fastgw.cel import NO_VALUE, CelSyntaxError, Expression, vars_of
from fastgw.cel.vars import RequestMap
from fastgw.context import RequestContext
from fastgw.http.request import Request
from fastgw.telemetry.genai import GenAiCall, GenAiKind
from fastgw.telemetry.usage import Usage


def make_ctx(headers: list[tuple[bytes, bytes]] | None = None, body: bytes | None = None) -> RequestContext:
    req = Request(
        b"POST",
        b"/v1/chat?x=1",
        b"/v1/chat",
        b"x=1",
        b"1.1",
        headers if headers is not None else [(b"x-team", b"blue"), (b"x-multi", b"a"), (b"x-multi", b"b")],
        b"api.example.com",
        "10.1.2.3:5555",
        0.0,
        None,
        b"10.1.2.3",
    )
    ctx = RequestContext(None, None, req, None)  # type: ignore[arg-type]
    ctx.body_bytes = body
    return ctx


def ev(source: str, ctx: RequestContext) -> Any:
    return Expression.compile(source).eval(vars_of(ctx))


@pytest.mark.parametrize(
    ("source", "want"),
    [
        ("request.method", "POST"),
        ("request.path", "/v1/chat"),
        ("request.host", "api.example.com"),
        ("request.pathAndQuery", "/v1/chat?x=1"),
        ("request.uri", "http://api.example.com/v1/chat?x=1"),
        ("request.scheme", "http"),
        ("request.version", "HTTP/1.1"),
        ('request.headers["x-team"]', "blue"),
        ('request.headers["X-Team"]', "blue"),
        ('request.headers["x-multi"]', "a,b"),
        ('request.headers["x-none"]', NO_VALUE),
        ("source.address", "10.1.2.3"),
        ("source.port", 5555),
        ("jwt.sub", NO_VALUE),
        ("has(jwt.sub)", False),
        ("apiKey.team", NO_VALUE),
        ("llm.requestModel", NO_VALUE),
        ('size(request.headers) == 2 && "x-team" in request.headers', True),
    ],
)
def test_request_variables(source: str, want: Any) -> None:
    assert ev(source, make_ctx()) == want


def test_only_what_is_read_is_built() -> None:
    ctx = make_ctx()
    assert ev('request.method == "POST" && request.headers["x-team"] == "blue"', ctx) is True
    assert ev('cidr("10.0.0.0/8").containsIP(source.address)', ctx) is True
    assert vars_of(ctx).made() == frozenset()  # read straight off the request: no maps at all
    assert ev("size(request.headers)", ctx) == 2
    assert ev('"x-team" in request', ctx) is False  # the whole root read: now its view is made
    assert vars_of(ctx).made() == {"request"}
    assert isinstance(vars_of(ctx).get("request"), RequestMap)
    assert Expression.compile('request.method == "GET"').references == {"request": frozenset({"method"})}
    refs = Expression.compile('json(request.body).model == "x" && jwt.sub == "a"').references
    assert refs == {"request": frozenset({"body"}), "jwt": None}
    assert Expression.compile("json(request.body).model").needs_body
    assert not Expression.compile("request.headers['a']").needs_body
    assert Expression.compile('"x"').references == {}


def test_a_route_without_expressions_makes_no_variables() -> None:
    assert make_ctx().vars is None


def test_body_reads_the_buffered_body() -> None:
    ctx = make_ctx(body=b'{"model": "gpt-4o", "user": "u1"}')
    assert ev("json(request.body).model", ctx) == "gpt-4o"
    assert ev('json(request.body).user == "u1"', ctx) is True
    assert ev("json(request.body).model", make_ctx(body=b"not json")) is NO_VALUE


def test_llm_variables_both_spellings() -> None:
    ctx = make_ctx(body=b'{"model":"m","messages":[{"role":"user","content":"hi"}]}')
    ctx.llm = GenAiCall(GenAiKind("chat", "openai"), "gpt-4o")
    ctx.llm.response_model = "gpt-4o-2024"
    ctx.usage = Usage(input_tokens=10, output_tokens=5)
    for camel, snake, want in (
        ("requestModel", "request_model", "gpt-4o"),
        ("responseModel", "response_model", "gpt-4o-2024"),
        ("inputTokens", "input_tokens", 10),
        ("outputTokens", "output_tokens", 5),
        ("totalTokens", "total_tokens", 15),
    ):
        assert ev(f"llm.{camel}", ctx) == want
        assert ev(f"llm.{snake}", ctx) == want
    assert ev("llm.provider", ctx) == "openai"
    assert ev("llm.streaming", ctx) is False
    assert ev("llm.prompt", ctx) == [{"role": "user", "content": "hi"}]
    assert ev('llm.prompt[0].content == "hi"', ctx) is True


def test_policy_set_roots_and_engine_fallback() -> None:
    ctx = make_ctx()
    v = vars_of(ctx)
    v.set("jwt", {"sub": "alice", "groups": ["a", "b"]})
    assert Expression.compile("jwt.sub").eval(v) == "alice"
    # evaluated by the engine (toJson) with jwt converted for it
    assert Expression.compile("toJson(jwt.groups)").eval(v) == '["a","b"]'
    v.set("jwt", {"sub": "bob", "groups": []})
    assert Expression.compile("toJson(jwt.groups)").eval(v) == "[]"  # the engine sees the update


def test_errors_are_counted_not_raised() -> None:
    expr = Expression.compile("jwt.sub.startsWith(1)")
    v = vars_of(make_ctx())
    assert expr.eval(v) is NO_VALUE
    assert not expr.matches(v)
    assert expr.errors == 2


@pytest.mark.parametrize("source", ["1 +", "jwt.sub ==", "a.b(", "'unterminated", "1 ? 2"])
def test_syntax_errors_carry_the_engines_message(source: str) -> None:
    with pytest.raises(CelSyntaxError) as info:
        Expression.compile(source)
    message = str(info.value)
    assert "Syntax error" in message and "<input>:1:" in message
