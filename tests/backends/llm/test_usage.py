"""Usage extraction: whole bodies, streams forwarded unchanged (sniffers), and translators agree."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from fastgw.backends.llm.usage import (
    AnthropicStreamSniffer,
    OpenAIStreamSniffer,
    anthropic_body_usage,
    openai_body_usage,
    usage_from_anthropic,
    usage_from_openai,
)
from fastgw.telemetry.usage import Usage
from tests.backends.llm.golden_util import GOLDEN, case_id, run_stream
from tests.backends.llm.sse_util import parse_all


def test_anthropic_usage_counts_cache_as_input() -> None:
    usage = usage_from_anthropic(
        {
            "input_tokens": 21,
            "cache_creation_input_tokens": 188,
            "cache_read_input_tokens": 1024,
            "output_tokens": 9,
        }
    )
    assert usage == Usage(input_tokens=1233, output_tokens=9, cache_read_tokens=1024, cache_write_tokens=188)
    assert usage.uncached_input_tokens == 21
    assert usage.total_tokens == 1242


def test_openai_usage_with_details_and_nulls() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 20},
        }
    )
    assert usage == Usage(input_tokens=100, output_tokens=50, cache_read_tokens=64, reasoning_tokens=20)
    assert usage_from_openai({"prompt_tokens": None, "prompt_tokens_details": None}) == Usage()
    assert usage_from_openai(None) == Usage()


def test_body_usage_uses_the_view_decoders() -> None:
    body = (GOLDEN / "openai_from_anthropic/response_text.in.json").read_bytes()
    usage, model = openai_body_usage(body)
    assert model == "gpt-4.1-2025-04-14"
    assert usage == usage_from_openai(orjson.loads(body)["usage"])
    body = (GOLDEN / "anthropic_from_openai/response_text.in.json").read_bytes()
    usage, model = anthropic_body_usage(body)
    assert model == "claude-sonnet-4-5-20250929"
    assert usage == usage_from_anthropic(orjson.loads(body)["usage"])
    assert openai_body_usage(b"<html>bad gateway</html>") == (None, None)
    assert anthropic_body_usage(b'{"model":"m"}') == (None, "m")


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("anthropic_from_openai/stream_*.in.sse")), ids=case_id)
def test_anthropic_sniffer_matches_translator(path: Path) -> None:
    sniffer = AnthropicStreamSniffer()
    events = parse_all([path.read_bytes()])
    assert all(sniffer.observe(event, data) for event, data in events)
    _, translator = run_stream(path)
    assert sniffer.usage == translator.usage
    assert sniffer.model == translator.model


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("openai_from_anthropic/stream_*.in.sse")), ids=case_id)
def test_openai_sniffer_matches_translator(path: Path) -> None:
    sniffer = OpenAIStreamSniffer()
    events = parse_all([path.read_bytes()])
    assert all(sniffer.observe(event, data) for event, data in events)
    _, translator = run_stream(path)
    assert (sniffer.usage is not None) == translator.has_usage
    assert (sniffer.usage or Usage()) == translator.usage
    assert sniffer.model == translator.model


def test_openai_sniffer_drops_only_the_forced_usage_chunk() -> None:
    events = parse_all([(GOLDEN / "openai_from_anthropic/stream_text.in.sse").read_bytes()])
    sniffer = OpenAIStreamSniffer(drop_usage_chunk=True)
    forwarded = [data for event, data in events if sniffer.observe(event, data)]
    dropped = [data for event, data in events if data not in forwarded]
    assert len(dropped) == 1
    assert orjson.loads(dropped[0])["choices"] == []
    assert sniffer.usage == Usage(input_tokens=1117, output_tokens=10, cache_read_tokens=1024)


def test_openai_sniffer_keeps_usage_riding_on_a_choice_chunk() -> None:
    chunk = (
        b'{"id":"x","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":4}}'
    )
    sniffer = OpenAIStreamSniffer(drop_usage_chunk=True)
    assert sniffer.observe("", chunk) is True
    assert sniffer.usage == Usage(input_tokens=3, output_tokens=4)


def test_anthropic_sniffer_takes_cumulative_message_delta_usage() -> None:
    sniffer = AnthropicStreamSniffer()
    start = {
        "type": "message_start",
        "message": {"model": "c", "usage": {"input_tokens": 5, "output_tokens": 1}},
    }
    sniffer.observe("message_start", orjson.dumps(start))
    delta = {
        "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": 30, "cache_read_input_tokens": 100},
    }
    sniffer.observe("message_delta", orjson.dumps(delta))
    assert sniffer.usage == Usage(input_tokens=105, output_tokens=30, cache_read_tokens=100)
    assert sniffer.stop_reason == "end_turn"
