"""Token counting for rate limits, count_tokens and streams that end without a usage block.

Exact BPE counts need the encoding's `.tiktoken` rank file; its path comes from config, fastgw never
downloads one. Without it, `estimate_tokens` gives a vocabulary-free estimate (see native/README.md
for its measured error). The C extension does the work; the pure-Python twin in fastgw/_twins/tokens.py is
used when the extension is missing or FASTGW_NO_NATIVE=1.

    vocab = Vocabulary.load("/etc/fastgw/cl100k_base.tiktoken")   # once, before fork: shared pages
    vocab.count(prompt_text)
    stream = vocab.stream()
    for delta in deltas:
        stream.feed(delta)
    stream.total()
"""

from __future__ import annotations

import os
from typing import Protocol, cast

from fastgw._twins import tokens as tokens_twin
from fastgw.native import native_tokens

PATTERNS = tokens_twin.PATTERNS


class _StreamImpl(Protocol):
    @property
    def pending(self) -> int: ...
    def feed(self, text: str, /) -> None: ...
    def total(self) -> int: ...


class _VocabImpl(Protocol):
    @property
    def pattern(self) -> str: ...
    def __len__(self) -> int: ...
    def count(self, text: str, /) -> int: ...
    def stream(self) -> _StreamImpl: ...


class _NativeTokens(Protocol):
    def Vocabulary(self, data: bytes, pattern: str = ..., /) -> _VocabImpl: ...
    def estimate_tokens(self, text: str, /) -> int: ...


def _native_tokens() -> _NativeTokens | None:
    """The C implementation, or None when FASTGW_NO_NATIVE=1 (the twin is used then)."""
    impl = native_tokens()
    return cast(_NativeTokens, impl) if impl is not None else None


class TokenStream:
    """Running token count of a text that arrives in pieces (the deltas of a stream).

    Pieces whose pre-tokenization later text could still change (the last word, a run of
    whitespace...) are held back; total() counts them as if the text ended there, and feeding more
    afterwards still gives the count of the whole text.
    """

    __slots__ = ("_impl",)

    def __init__(self, impl: _StreamImpl) -> None:
        self._impl = impl

    def feed(self, text: str) -> None:
        self._impl.feed(text)

    def total(self) -> int:
        return self._impl.total()

    @property
    def pending(self) -> int:
        """UTF-8 bytes held back, waiting for text that settles them."""
        return self._impl.pending


class Vocabulary:
    """A BPE encoding's ranks plus its split pattern; immutable, shared by every count and stream."""

    __slots__ = ("_impl",)

    def __init__(self, impl: _VocabImpl) -> None:
        self._impl = impl

    @classmethod
    def from_bytes(cls, data: bytes, pattern: str = "cl100k_base", *, native: bool | None = None) -> Vocabulary:
        """native=None picks the C implementation when available; True requires it; False the twin."""
        if pattern not in PATTERNS:
            raise ValueError(f"unknown split pattern {pattern!r}: expected one of {', '.join(PATTERNS)}")
        ext = _native_tokens() if native is not False else None
        if ext is None:
            if native:
                raise RuntimeError("fastgw._native is not available (not built, or FASTGW_NO_NATIVE=1)")
            return cls(tokens_twin.TwinVocabulary(data, pattern))
        return cls(ext.Vocabulary(data, pattern))

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], pattern: str = "cl100k_base", *, native: bool | None = None
    ) -> Vocabulary:
        """Reads a `.tiktoken` rank file (`<base64 token> <rank>` per line)."""
        with open(path, "rb") as f:
            data = f.read()
        return cls.from_bytes(data, pattern, native=native)

    @property
    def pattern(self) -> str:
        return self._impl.pattern

    @property
    def native(self) -> bool:
        return not isinstance(self._impl, tokens_twin.TwinVocabulary)

    def __len__(self) -> int:
        return len(self._impl)

    def count(self, text: str) -> int:
        """Tokens in text, special-token markers counted as ordinary text."""
        return self._impl.count(text)

    def stream(self) -> TokenStream:
        return TokenStream(self._impl.stream())


def estimate_tokens(text: str, *, native: bool | None = None) -> int:
    """cl100k_base-like token count without a vocabulary: fast, within about 10% on ordinary text."""
    ext = _native_tokens() if native is not False else None
    if ext is None:
        if native:
            raise RuntimeError("fastgw._native is not available (not built, or FASTGW_NO_NATIVE=1)")
        return tokens_twin.estimate(text)
    return ext.estimate_tokens(text)
