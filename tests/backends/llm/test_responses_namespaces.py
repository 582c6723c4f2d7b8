"""Namespace tools (Codex groups its sub-agent tools so): flattened to `<namespace>__<name>` for
chat and Anthropic, split back on the way to the client, whole answers and streams alike."""

from __future__ import annotations

from typing import Any

import orjson

from fastgw.backends.llm.translate import chat_from_responses, messages_from_responses, responses_from_messages
from fastgw.backends.llm.translate.responses_from_chat_stream import ResponsesFromChatStream
from fastgw.backends.llm.translate.responses_from_messages_stream import ResponsesFromMessagesStream

REQUEST: Any = {
    "model": "m",
    "input": [
        {"role": "user", "content": "spawn one"},
        {"type": "function_call", "call_id": "c1", "name": "spawn_agent", "namespace": "agents", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "spawned"},
    ],
    "tools": [
        {"type": "function", "name": "shell", "parameters": {"type": "object"}},
        {
            "type": "namespace",
            "name": "agents",
            "description": "Sub-agents.",
            "tools": [{"type": "function", "name": "spawn_agent", "parameters": {"type": "object"}}],
        },
    ],
    "tool_choice": {"type": "function", "name": "spawn_agent", "namespace": "agents"},
}


def test_namespace_tools_are_flattened_for_chat_and_messages() -> None:
    chat = chat_from_responses.request(REQUEST)
    assert [t["function"]["name"] for t in chat["tools"]] == ["shell", "agents__spawn_agent"]
    assert chat["messages"][1]["tool_calls"][0]["function"]["name"] == "agents__spawn_agent"
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "agents__spawn_agent"}}
    anthropic = messages_from_responses.request(REQUEST)
    assert [t["name"] for t in anthropic["tools"]] == ["shell", "agents__spawn_agent"]
    assert chat_from_responses.tool_namespaces(REQUEST) == frozenset({"agents"})


def test_calls_are_split_back_only_for_declared_namespaces() -> None:
    message = {
        "id": "msg_1",
        "model": "claude",
        "content": [
            {"type": "tool_use", "id": "t1", "name": "agents__spawn_agent", "input": {}},
            {"type": "tool_use", "id": "t2", "name": "my__tool", "input": {}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    out, _ = responses_from_messages.response(message, 0, frozenset({"agents"}))
    first, second = out["output"]
    assert (first["name"], first["namespace"]) == ("spawn_agent", "agents")
    assert second["name"] == "my__tool" and "namespace" not in second


def test_streamed_calls_are_split_back() -> None:
    anthropic = ResponsesFromMessagesStream(0, namespaces=frozenset({"agents"}))
    start = {"type": "tool_use", "id": "t1", "name": "agents__spawn_agent", "input": {}}
    anthropic.feed("message_start", orjson.dumps({"message": {"id": "msg_1", "model": "m", "usage": {}}}))
    out = anthropic.feed("content_block_start", orjson.dumps({"index": 0, "content_block": start}))
    out += anthropic.feed("content_block_stop", b'{"index":0}') + anthropic.finish()
    assert b'"name":"spawn_agent","arguments":"{}","status":"completed","namespace":"agents"' in out
    chat = ResponsesFromChatStream(0, namespaces=frozenset({"agents"}))
    call = {"index": 0, "id": "c", "function": {"name": "agents__spawn_agent", "arguments": "{}"}}
    out = chat.feed("", orjson.dumps({"id": "x", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}))
    out += chat.feed("", b"[DONE]")
    assert b'"namespace":"agents"' in out and b'"name":"spawn_agent"' in out
