"""Request translation rules checked one at a time (the golden files cover whole requests)."""

from __future__ import annotations

from typing import Any

from fastgw.backends.llm.translate import anthropic_from_openai, openai_from_anthropic


def _openai(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}


def test_thinking_budget_rules() -> None:
    assert anthropic_from_openai.request(_openai(reasoning_effort="high", max_tokens=4000))["thinking"] == {
        "type": "enabled",
        "budget_tokens": 3999,
    }
    assert "thinking" not in anthropic_from_openai.request(_openai(reasoning_effort="high", max_tokens=1024))
    assert "thinking" not in anthropic_from_openai.request(_openai(reasoning_effort="minimal"))
    assert "thinking" not in anthropic_from_openai.request(_openai(thinking_budget_tokens=500))
    tools = [{"type": "function", "function": {"name": "f"}}]
    forced = anthropic_from_openai.request(_openai(reasoning_effort="low", tools=tools, tool_choice="required"))
    assert "thinking" not in forced
    native = {"type": "enabled", "budget_tokens": 2048}
    assert anthropic_from_openai.request(_openai(thinking=native))["thinking"] is native


def test_parallel_tool_calls_false_without_choice() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    out = anthropic_from_openai.request(_openai(tools=tools, parallel_tool_calls=False))
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    none = anthropic_from_openai.request(_openai(tools=tools, tool_choice="none", parallel_tool_calls=False))
    assert none["tool_choice"] == {"type": "none"}
    assert "tool_choice" not in anthropic_from_openai.request(_openai(parallel_tool_calls=False))


def test_json_object_and_text_formats() -> None:
    out = anthropic_from_openai.request(_openai(response_format={"type": "json_object"}))
    assert out["output_config"]["format"]["schema"] == {"type": "object", "additionalProperties": True}
    assert "output_config" not in anthropic_from_openai.request(_openai(response_format={"type": "text"}))


def test_legacy_function_message_and_empty_messages() -> None:
    body = _openai()
    body["messages"] = [
        {"role": "function", "name": "f", "content": "result"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": [{"type": "file", "file": {"file_id": "x"}}]},
    ]
    assert anthropic_from_openai.request(body)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "result"}]}
    ]


def test_model_passes_through_even_when_empty() -> None:
    assert anthropic_from_openai.request({"model": "", "messages": []})["model"] == ""
    assert openai_from_anthropic.request({"model": "claude", "messages": []})["model"] == "claude"


def test_anthropic_thinking_budget_to_effort() -> None:
    def effort(budget: int, model: str = "o3") -> Any:
        body = {
            "model": model,
            "max_tokens": 9000,
            "messages": [],
            "thinking": {"type": "enabled", "budget_tokens": budget},
        }
        return openai_from_anthropic.request(body).get("reasoning_effort")

    assert (effort(1024), effort(4096), effort(20000)) == ("low", "medium", "high")
    assert effort(20000, model="gpt-4o") is None
    disabled = {"model": "o3", "messages": [], "thinking": {"type": "disabled"}}
    assert "reasoning_effort" not in openai_from_anthropic.request(disabled)


def test_non_streaming_anthropic_request_does_not_ask_for_usage() -> None:
    out = openai_from_anthropic.request({"model": "gpt-4o", "max_tokens": 5, "messages": [], "stream": False})
    assert out["stream"] is False
    assert "stream_options" not in out
