"""Chunk boundaries anywhere in the upstream byte stream must not change the translated output."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from tests.backends.llm.golden_util import case_id, run_stream, stream_cases


def _split(raw: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize("path", stream_cases(), ids=case_id)
def test_every_two_way_split(path: Path) -> None:
    raw = path.read_bytes()
    whole, _ = run_stream(path)
    assert whole
    for cut in range(1, len(raw)):
        output, _ = run_stream(path, [raw[:cut], raw[cut:]])
        assert output == whole, f"split at byte {cut} changed the output"


@pytest.mark.parametrize("path", stream_cases(), ids=case_id)
def test_byte_by_byte(path: Path) -> None:
    raw = path.read_bytes()
    whole, translator = run_stream(path)
    output, chunked = run_stream(path, [raw[i : i + 1] for i in range(len(raw))])
    assert output == whole
    assert chunked.usage == translator.usage


@pytest.mark.parametrize("path", stream_cases(), ids=case_id)
def test_random_chunkings(path: Path) -> None:
    raw = path.read_bytes()
    whole, _ = run_stream(path)
    rng = random.Random(f"{path.name}:chunking")  # seeded: a failure reproduces
    for _ in range(200):
        cuts = rng.sample(range(1, len(raw)), rng.randint(1, min(40, len(raw) - 1)))
        output, _ = run_stream(path, _split(raw, cuts))
        assert output == whole, f"cuts {sorted(cuts)} changed the output"
