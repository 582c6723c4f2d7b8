"""Config-driven body edits: model, aliases, defaults, overrides, prompts, stream usage."""

from __future__ import annotations

from typing import Any

from fastgw.backends.llm.translate.edits import (
    ModelAliases,
    apply_defaults,
    apply_model,
    apply_overrides,
    apply_prompts,
    client_wants_usage,
    force_stream_usage,
    normalize_max_tokens,
)
from fastgw.errors import Dialect


def test_configured_model_replaces_an_empty_one() -> None:
    body: dict[str, Any] = {"model": "", "messages": []}
    assert apply_model(body, "claude-haiku-4-5") is True
    assert body["model"] == "claude-haiku-4-5"
    assert apply_model(body, "claude-haiku-4-5") is False
    assert apply_model(body, None) is False
    assert apply_model({"model": "x"}, "") is False


def test_aliases_exact_before_wildcards_and_longest_pattern_first() -> None:
    aliases = ModelAliases(
        {
            "fast": "gpt-4o-mini",
            "claude-*": "claude-sonnet-4-5",
            "claude-haiku-*": "claude-haiku-4-5",
            "*-x": "X",
            "*": "default",
        }
    )
    assert aliases.resolve("fast") == "gpt-4o-mini"
    assert aliases.resolve("claude-3-opus") == "claude-sonnet-4-5"
    assert aliases.resolve("claude-haiku-3") == "claude-haiku-4-5"
    assert aliases.resolve("model-x") == "X"
    assert aliases.resolve("anything") == "default"
    assert ModelAliases({"a*a": "T"}).resolve("a") is None
    body = {"model": "fast"}
    assert aliases.apply(body) is True
    assert body == {"model": "gpt-4o-mini"}
    assert ModelAliases({}).apply({"model": "m"}) is False


def test_defaults_fill_only_absent_fields_and_overrides_always_win() -> None:
    body: dict[str, Any] = {"temperature": 0.9, "top_p": None}
    assert apply_defaults(body, {"temperature": 0.2, "top_p": 1.0, "max_tokens": 64}) is True
    assert body == {"temperature": 0.9, "top_p": 1.0, "max_tokens": 64}
    assert apply_defaults(body, {"temperature": 0.1}) is False
    assert apply_overrides(body, {"temperature": 0.0}) is True
    assert body["temperature"] == 0.0
    assert apply_overrides(body, {}) is False


def test_prompts_openai() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    changed = apply_prompts(
        body,
        Dialect.OPENAI,
        prepend=[{"role": "system", "content": "Be terse."}],
        append=[{"role": "user", "content": "Answer in English."}],
    )
    assert changed is True
    assert [m["content"] for m in body["messages"]] == ["Be terse.", "hi", "Answer in English."]
    assert apply_prompts(body, Dialect.OPENAI) is False


def test_prompts_anthropic_merge_system() -> None:
    body: dict[str, Any] = {"system": "Client system.", "messages": [{"role": "user", "content": "hi"}]}
    apply_prompts(
        body,
        Dialect.ANTHROPIC,
        prepend=[{"role": "system", "content": "Gateway first."}, {"role": "user", "content": "ctx"}],
        append=[{"role": "system", "content": "Gateway last."}],
    )
    assert body["system"] == "Gateway first.\nClient system.\nGateway last."
    assert [m["content"] for m in body["messages"]] == ["ctx", "hi"]
    blocks: dict[str, Any] = {"system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]}
    apply_prompts(blocks, Dialect.ANTHROPIC, prepend=[{"role": "system", "content": "P"}])
    assert blocks["system"][0] == {"type": "text", "text": "P"}
    assert blocks["system"][1]["cache_control"] == {"type": "ephemeral"}
    assert blocks["messages"] == []


def test_stream_usage_is_forced_only_when_missing() -> None:
    body: dict[str, Any] = {"stream": True, "stream_options": {"other": 1}}
    assert client_wants_usage(body) is False
    assert force_stream_usage(body) is True
    assert body["stream_options"] == {"other": 1, "include_usage": True}
    assert client_wants_usage(body) is True
    assert force_stream_usage(body) is False
    assert force_stream_usage({"stream": False}) is False
    plain: dict[str, Any] = {"stream": True}
    assert force_stream_usage(plain) is True
    assert plain["stream_options"] == {"include_usage": True}


def test_normalize_max_tokens() -> None:
    body: dict[str, Any] = {"max_tokens": 10}
    assert normalize_max_tokens(body) is True
    assert body == {"max_completion_tokens": 10}
    both: dict[str, Any] = {"max_tokens": 10, "max_completion_tokens": 20}
    normalize_max_tokens(both)
    assert both == {"max_completion_tokens": 20}
    assert normalize_max_tokens({}) is False


def test_prompts_on_a_responses_body_become_input_items() -> None:
    body: dict[str, Any] = {"model": "m", "input": "hi", "instructions": "kept"}
    assert apply_prompts(
        body, Dialect.RESPONSES, prepend=[{"role": "system", "content": "P"}], append=[{"role": "user", "content": "A"}]
    )
    assert body["input"] == [
        {"role": "system", "content": "P"},
        {"role": "user", "content": "hi"},
        {"role": "user", "content": "A"},
    ]
    assert body["instructions"] == "kept"
    items: dict[str, Any] = {"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]}
    apply_prompts(items, Dialect.RESPONSES, prepend=[{"role": "developer", "content": "D"}])
    assert items["input"][0] == {"role": "developer", "content": "D"} and items["input"][1]["call_id"] == "c"
