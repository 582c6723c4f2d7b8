"""The per-(route type, provider) translation plan."""

from __future__ import annotations

import orjson

from fastgw.backends.llm.providers import ANTHROPIC, OPENAI, provider_spec
from fastgw.backends.llm.routes import RouteType
from fastgw.backends.llm.translate import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_from_openai,
    chat_translation,
)
from fastgw.errors import Dialect

ANTHROPIC_ERROR = b'{"type":"error","error":{"type":"not_found_error","message":"model: nope"}}'


def test_same_dialect_is_passthrough() -> None:
    plan = chat_translation(RouteType.MESSAGES, ANTHROPIC)
    assert plan is not None
    assert plan.translated is False
    body = {"model": "m", "messages": [], "unknown": 1}
    assert plan.request(body) is body
    assert plan.response(body, 0) is body
    assert plan.stream(0, False) is None
    assert plan.error(404, ANTHROPIC_ERROR) is ANTHROPIC_ERROR
    assert chat_translation(RouteType.COMPLETIONS, provider_spec("gemini")) == chat_translation(
        RouteType.COMPLETIONS, OPENAI
    )


def test_openai_client_on_anthropic_provider() -> None:
    plan = chat_translation(RouteType.COMPLETIONS, ANTHROPIC)
    assert plan is not None
    assert (plan.client, plan.upstream, plan.translated) == (Dialect.OPENAI, Dialect.ANTHROPIC, True)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert plan.request(body) == anthropic_from_openai.request(body)
    assert isinstance(plan.stream(5, True, "m"), AnthropicToOpenAIStream)
    assert orjson.loads(plan.error(404, ANTHROPIC_ERROR))["error"]["type"] == "not_found_error"


def test_anthropic_client_on_openai_provider() -> None:
    plan = chat_translation(RouteType.MESSAGES, OPENAI)
    assert plan is not None
    assert isinstance(plan.stream(0, False), OpenAIToAnthropicStream)
    reply = {"id": "c", "model": "g", "choices": [{"message": {"content": "yo"}, "finish_reason": "stop"}]}
    assert plan.response(reply, 0)["content"] == [{"type": "text", "text": "yo"}]


def test_non_chat_route_types_have_no_plan() -> None:
    for route_type in (RouteType.PASSTHROUGH, RouteType.EMBEDDINGS, RouteType.ANTHROPIC_TOKEN_COUNT):
        assert chat_translation(route_type, OPENAI) is None
