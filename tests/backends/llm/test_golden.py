"""Whole translations against reviewed golden files (requests, responses, recorded SSE transcripts)."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest

from tests.backends.llm.golden_util import (
    JSON_TRANSLATIONS,
    case_id,
    check_golden,
    json_cases,
    run_stream,
    stream_cases,
    usage_document,
)


def test_fixture_sets_are_complete() -> None:
    directions = {p.parent.name for p in json_cases()} | {p.parent.name for p in stream_cases()}
    assert directions == {"anthropic_from_openai", "openai_from_anthropic"}
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
