"""The gateway's token counter: exact BPE counts when a vocabulary file is configured
(`config.tokenizer.vocabulary`), the fast estimator otherwise. Loaded once in the supervisor at
compile time, so every worker shares the vocabulary's pages after fork. Used for token rate-limit
reservations (`tokenize: true`), `count_tokens` answered locally, and the output of streams that
end without a usage block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fastgw.tokens import TokenStream, Vocabulary, estimate_tokens

# text an estimate stream holds before settling what precedes its last word boundary
_SETTLE: Final = 16 * 1024


class _EstimateStream:
    """A running estimate in bounded memory. The estimator prices each pre-tokenized piece alone,
    and a piece never spans the start of a whitespace run followed by a word, so the text before
    the last such boundary is counted once and dropped; a long run with no boundary at all (no
    spaces) is cut anyway, at a small cost in accuracy."""

    __slots__ = ("_counted", "_tail")

    def __init__(self) -> None:
        self._counted = 0
        self._tail = ""

    def feed(self, text: str) -> None:
        tail = self._tail + text if self._tail else text
        if len(tail) > _SETTLE:
            cut = max(tail.rfind(" "), tail.rfind("\n"))
            if cut <= 0 and len(tail) > 4 * _SETTLE:
                cut = len(tail) - _SETTLE
            if cut > 0:
                self._counted += estimate_tokens(tail[:cut])
                tail = tail[cut:]
        self._tail = tail

    def total(self) -> int:
        return self._counted + (estimate_tokens(self._tail) if self._tail else 0)


@dataclass(frozen=True, slots=True)
class Tokenizer:
    vocabulary: Vocabulary | None = None

    @classmethod
    def load(cls, path: str | None, encoding: str = "cl100k_base") -> Tokenizer:
        return cls(Vocabulary.load(path, encoding) if path else None)

    @property
    def exact(self) -> bool:
        return self.vocabulary is not None

    def count(self, text: str) -> int:
        v = self.vocabulary
        return v.count(text) if v is not None else estimate_tokens(text)

    def stream(self) -> TokenStream | _EstimateStream:
        v = self.vocabulary
        return v.stream() if v is not None else _EstimateStream()
