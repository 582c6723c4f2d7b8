"""A conversation survives a round trip through the other API (what each API can express)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fastgw.backends.llm.translate import anthropic_from_openai, openai_from_anthropic
from tests.backends.llm.golden_util import GOLDEN, case_id


def _args(arguments: Any) -> Any:
    if not isinstance(arguments, str):
        return arguments
    try:
        return orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or () if p.get("type") == "text")


def _lines(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(p["text"] for p in content if p.get("type") == "text")


def openai_items(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    # Each system part is one line of Anthropic's system string (anthropic_from_openai joins with "\n").
    system = [_lines(m["content"]) for m in body["messages"] if m["role"] in ("system", "developer")]
    items: list[tuple[Any, ...]] = [("system", "\n".join(system))] if system else []
    for message in body["messages"]:
        role, content = message["role"], message.get("content")
        if role == "user":
            parts: list[dict[str, Any]] = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for part in parts:
                if part["type"] == "text" and part["text"].strip():
                    items.append(("text", part["text"]))
                elif part["type"] == "image_url":
                    items.append(("image", part["image_url"]["url"]))
        elif role == "assistant":
            calls = [
                (c["id"], c["function"]["name"], _args(c["function"]["arguments"]))
                for c in message.get("tool_calls") or ()
            ]
            items.append(("assistant", _text(content), calls))
        elif role == "tool":
            items.append(("tool", message["tool_call_id"], _text(content)))
    return items


def anthropic_items(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    system = body.get("system")
    items: list[tuple[Any, ...]] = (
        [("system", _text(system) if isinstance(system, str) else "\n".join(b["text"] for b in system))]
        if system
        else []
    )
    for message in body["messages"]:
        content = message["content"]
        blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if message["role"] == "assistant":
            text = "".join(b["text"] for b in blocks if b["type"] == "text")
            calls = [(b["id"], b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"]
            items.append(("assistant", text, calls))
            continue
        for block in blocks:
            if block["type"] == "text" and block["text"].strip():
                items.append(("text", block["text"]))
            elif block["type"] == "image":
                source = block["source"]
                url = source.get("url") or f"data:{source['media_type']};base64,{source['data']}"
                items.append(("image", url))
            elif block["type"] == "tool_result":
                items.append(("tool", block["tool_use_id"], _text(block["content"])))
    return items


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("anthropic_from_openai/request_*.in.json")), ids=case_id)
def test_openai_conversation_round_trips_through_anthropic(path: Path) -> None:
    body = orjson.loads(path.read_bytes())
    anthropic = anthropic_from_openai.request(body)
    assert anthropic_items(anthropic) == openai_items(body)
    assert openai_items(openai_from_anthropic.request(anthropic)) == openai_items(body)


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("openai_from_anthropic/request_*.in.json")), ids=case_id)
def test_anthropic_conversation_round_trips_through_openai(path: Path) -> None:
    body = orjson.loads(path.read_bytes())
    openai = openai_from_anthropic.request(body)
    without_tool_images = _drop_tool_result_images(body)
    assert openai_items(openai) == anthropic_items(without_tool_images)
    assert anthropic_items(anthropic_from_openai.request(openai)) == anthropic_items(without_tool_images)


def _drop_tool_result_images(body: dict[str, Any]) -> dict[str, Any]:
    """Tool messages carry only text in chat completions: images inside results are the known loss."""
    copy: dict[str, Any] = orjson.loads(orjson.dumps(body))
    for message in copy["messages"]:
        for block in message["content"] if isinstance(message["content"], list) else ():
            if block["type"] == "tool_result" and isinstance(block.get("content"), list):
                block["content"] = [b for b in block["content"] if b["type"] == "text"]
    return copy
