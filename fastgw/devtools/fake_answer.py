"""Deterministic answers of the fake LLM provider, and the token rule they follow.

Token rule (documented because tests and benchmarks assert on it):
- one token = one whitespace-separated word;
- input tokens = the words of every string *value* (never keys) found under `messages`, `system`
  and `tools` of the request body (so roles count one each, like a real per-message overhead), min 1;
- output tokens = the words of the generated text, plus the words of a thinking block, plus, for a
  tool call, the number of `TOOL_PIECE`-character pieces its arguments JSON is streamed in.
- the text is the last user message's words, then filler words, `x-fake-tokens` (default
  `FakeOptions.default_tokens`) words in all, cut to `max_tokens` (finish "length"/"max_tokens") and
  before the first word equal to a stop sequence.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

import orjson

FILLER = (
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
)
TOOL_PIECE = 8
THINKING_WORDS = 8
_SCHEMA_DEPTH = 8

Finish = Literal["stop", "length", "tool", "stop_sequence"]


def strings_in(value: Any) -> Iterator[str]:
    """Every string value (not key) nested in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def count_words(texts: Iterator[str] | list[str]) -> int:
    return sum(len(text.split()) for text in texts)


def input_tokens(body: Mapping[str, Any]) -> int:
    return max(1, count_words(strings_in([body.get(k) for k in ("messages", "system", "tools")])))


def output_words(prompt: str, count: int) -> list[str]:
    """The echoed prompt words then filler, exactly `count` words."""
    words = prompt.split()[:count]
    filler_needed = count - len(words)
    words.extend(FILLER[i % len(FILLER)] for i in range(filler_needed))
    return words


def word_pieces(words: list[str]) -> list[str]:
    """Stream pieces that concatenate to `" ".join(words)`: one piece per word (= per token)."""
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


def json_pieces(text: str) -> list[str]:
    return [text[i : i + TOOL_PIECE] for i in range(0, len(text), TOOL_PIECE)] or [""]


def cut_at_stop(words: list[str], stops: list[str]) -> tuple[list[str], str | None]:
    """Truncate before the first word equal to a stop sequence (exact word match, a documented
    simplification of the providers' substring match)."""
    wanted = set(stops)
    for index, word in enumerate(words):
        if word in wanted:
            return words[:index], word
    return words, None


def stop_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def example_from_schema(schema: Any, name: str = "value", depth: int = 0) -> Any:
    """A deterministic value that satisfies the common parts of a JSON schema."""
    if not isinstance(schema, dict) or depth > _SCHEMA_DEPTH:
        return {} if depth == 0 else name
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return example_from_schema(options[0], name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {key: example_from_schema(sub, key, depth + 1) for key, sub in props.items()}
    if kind == "array":
        return [example_from_schema(schema.get("items"), name, depth + 1)]
    if kind == "integer":
        minimum = schema.get("minimum")
        return minimum if isinstance(minimum, int) else 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"{name} example"


def signature(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@dataclasses.dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    pieces: list[str]


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    pieces: list[str]
    thinking: list[str]
    tool: ToolCall | None
    finish: Finish
    stop_sequence: str | None
    input_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def thinking_text(self) -> str:
        return "".join(self.thinking)

    @property
    def output_tokens(self) -> int:
        tool_tokens = len(self.tool.pieces) if self.tool is not None else 0
        return len(self.pieces) + len(self.thinking) + tool_tokens


@dataclasses.dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    schema: Any


def build_answer(
    *,
    prompt: str,
    tool: ToolSpec | None,
    tool_id: str,
    tokens: int,
    max_tokens: int | None,
    stops: list[str],
    thinking: bool,
    input_tokens: int,
) -> Answer:
    thinking_pieces = word_pieces(output_words("thinking about " + prompt, THINKING_WORDS)) if thinking else []
    if tool is not None:
        arguments = orjson.dumps(example_from_schema(tool.schema, tool.name)).decode()
        call = ToolCall(tool_id, tool.name, arguments, json_pieces(arguments))
        return Answer([], thinking_pieces, call, "tool", None, input_tokens)
    finish: Finish = "stop"
    count = max(0, tokens)
    if max_tokens is not None and max_tokens < count:
        count = max(0, max_tokens)
        finish = "length"
    words, stop = cut_at_stop(output_words(prompt, count), stops)
    if stop is not None:
        finish = "stop_sequence"
    return Answer(word_pieces(words), thinking_pieces, None, finish, stop, input_tokens)


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts/blocks of a list (tool results
    included, their nested content flattened)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") == "tool_result":
            texts.append(text_of(part.get("content")))
    return " ".join(texts)


def last_turn(messages: list[Any]) -> tuple[str, bool]:
    """The text of the last user (or tool) turn, and whether that turn carries tool results (then the
    fake answers in text instead of calling a tool again)."""
    for message in reversed(messages):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        if role == "tool":
            return text_of(content), True
        if role == "user":
            has_result = isinstance(content, list) and any(
                isinstance(part, dict) and part.get("type") == "tool_result" for part in content
            )
            return text_of(content), has_result
    return "", False


def mentioned_tool(tools: Iterable[ToolSpec], prompt: str) -> ToolSpec | None:
    words = set(prompt.replace(",", " ").replace(".", " ").split())
    return next((tool for tool in tools if tool.name in words), None)


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
