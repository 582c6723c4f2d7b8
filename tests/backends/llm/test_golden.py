"""Whole translations against reviewed golden files (requests, responses, recorded SSE transcripts)."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest

from fastgw.native import SSEScanner
from tests.backends.llm.golden_util import (
    JSON_TRANSLATIONS,
    case_id,
    check_golden,
    json_cases,
    run_stream,
    stream_cases,
    stream_translator,
    usage_document,
)


def test_fixture_sets_are_complete() -> None:
    directions = {p.parent.name for p in json_cases()} | {p.parent.name for p in stream_cases()}
    assert directions == {
        "anthropic_from_openai",
        "openai_from_anthropic",
        "responses_to_anthropic",
        "anthropic_to_responses",
        "responses_to_openai",
        "openai_to_responses",
    }
    kinds = {(p.parent.name, p.name.split("_", 1)[0]) for p in json_cases()}
    assert kinds == set(JSON_TRANSLATIONS)
    assert len(stream_cases()) >= 8


@pytest.mark.parametrize("path", json_cases(), ids=case_id)
def test_json_golden(path: Path) -> None:
    body = orjson.loads(path.read_bytes())
    before = copy.deepcopy(body)
    translate = JSON_TRANSLATIONS[(path.parent.name, path.name.split("_", 1)[0])]
    actual = orjson.dumps(translate(body), option=orjson.OPT_INDENT_2) + b"\n"
    assert body == before, "translation must not modify its input"
    check_golden(path.with_name(path.name.replace(".in.json", ".out.json")), actual)


@pytest.mark.parametrize("path", stream_cases(), ids=case_id)
def test_stream_golden(path: Path) -> None:
    output, translator = run_stream(path)
    check_golden(path.with_name(path.name.replace(".in.sse", ".out.sse")), output)
    check_golden(path.with_name(path.name.replace(".in.sse", ".usage.json")), usage_document(translator))


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1 << 20], ids=lambda n: f"reads of {n} B")
@pytest.mark.parametrize("path", stream_cases(), ids=case_id)
def test_stream_golden_through_the_production_entry(path: Path, chunk_size: int) -> None:
    """The way the exchange drives a translator: the native SSE scanner on each upstream read,
    then `feed_events` with that read's events (its fast paths over runs of text deltas), then
    `finish` at the end of the body; the same bytes as the reviewed transcript, however the
    reads fall."""
    data = path.read_bytes()
    translator = stream_translator(path.parent.name)
    scanner = SSEScanner()
    out = b"".join(
        translator.feed_events(scanner.feed(data[i : i + chunk_size])) for i in range(0, len(data), chunk_size)
    )
    out += translator.feed_events(scanner.close()) + translator.finish()
    check_golden(path.with_name(path.name.replace(".in.sse", ".out.sse")), out)
