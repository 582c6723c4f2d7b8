"""Golden-file plumbing shared by the LLM translation tests.

Set UPDATE_GOLDEN=1 to rewrite expected files, then review the diff before committing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import msgspec
import orjson

from fastgw.backends.llm.translate import (
    AnthropicFromOpenAIStream,
    OpenAIFromAnthropicStream,
    anthropic_from_openai,
    chat_from_responses,
    messages_from_responses,
    openai_from_anthropic,
    responses_from_chat,
    responses_from_messages,
)
from fastgw.backends.llm.translate.responses_from_chat_stream import ResponsesFromChatStream
from fastgw.backends.llm.translate.responses_from_messages_stream import ResponsesFromMessagesStream
from fastgw.native import SSEEvent
from fastgw.telemetry.usage import Usage
from tests.backends.llm.sse_util import parse_all

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
CREATED = 1_700_000_000

JsonFn = Callable[[dict[str, Any]], dict[str, Any]]

# (directory = the translation module, kind) -> translation. A module `<target>_from_<source>` is
# named by the request it makes (an Anthropic request from an OpenAI client's); its response and
# stream cases go the other way, back to the client
JSON_TRANSLATIONS: dict[tuple[str, str], JsonFn] = {
    ("anthropic_from_openai", "request"): anthropic_from_openai.request,
    ("openai_from_anthropic", "request"): openai_from_anthropic.request,
    ("anthropic_from_openai", "response"): lambda body: anthropic_from_openai.response(body, CREATED),
    ("openai_from_anthropic", "response"): openai_from_anthropic.response,
    # the OpenAI Responses API (`openai` is chat completions)
    ("responses_to_anthropic", "request"): messages_from_responses.request,
    ("responses_to_openai", "request"): chat_from_responses.request,
    ("anthropic_to_responses", "response"): lambda body: responses_from_messages.response(body, CREATED)[0],
    ("openai_to_responses", "response"): lambda body: responses_from_chat.response(body, CREATED)[0],
}


class StreamTranslator(Protocol):
    @property
    def usage(self) -> Usage: ...

    @property
    def model(self) -> str: ...

    @property
    def has_usage(self) -> bool: ...

    def feed(self, event: str, data: bytes) -> bytes: ...

    def feed_events(self, events: list[SSEEvent]) -> bytes: ...

    def finish(self) -> bytes: ...


def stream_translator(direction: str, include_usage: bool = True) -> StreamTranslator:
    if direction == "anthropic_from_openai":
        return AnthropicFromOpenAIStream(created=CREATED, include_usage=include_usage)
    if direction == "anthropic_to_responses":
        return ResponsesFromMessagesStream(CREATED)
    if direction == "openai_to_responses":
        return ResponsesFromChatStream(CREATED)
    return OpenAIFromAnthropicStream()


def json_cases() -> list[Path]:
    return sorted(GOLDEN.glob("*/*.in.json"))


def stream_cases() -> list[Path]:
    return sorted(GOLDEN.glob("*/*.in.sse"))


def case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name.split('.')[0]}"


def translate_stream(translator: StreamTranslator, events: list[tuple[str, bytes]]) -> bytes:
    return b"".join(translator.feed(event, data) for event, data in events) + translator.finish()


def run_stream(
    path: Path, chunks: list[bytes] | None = None, include_usage: bool = True
) -> tuple[bytes, StreamTranslator]:
    """(client bytes, finished translator) for a recorded transcript, optionally re-chunked."""
    translator = stream_translator(path.parent.name, include_usage)
    events = parse_all(chunks if chunks is not None else [path.read_bytes()])
    return translate_stream(translator, events), translator


def usage_document(translator: StreamTranslator) -> bytes:
    usage = msgspec.to_builtins(translator.usage)
    document = {"model": translator.model, "has_usage": translator.has_usage, "usage": usage}
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def check_golden(path: Path, actual: bytes) -> None:
    if UPDATE:
        path.write_bytes(actual)
        return
    assert path.exists(), f"missing golden file {path}: run with UPDATE_GOLDEN=1 and review it"
    expected = path.read_bytes()
    assert actual == expected, f"{path} differs; run with UPDATE_GOLDEN=1 and review the diff"
