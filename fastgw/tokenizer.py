"""The gateway's token counter: exact BPE counts when a vocabulary file is configured
(`config.tokenizer.vocabulary`), the fast estimator otherwise. Loaded once in the supervisor at
compile time, so every worker shares the vocabulary's pages after fork. Used for token rate-limit
reservations (`tokenize: true`), `count_tokens` answered locally, and the output of streams that
end without a usage block."""

from __future__ import annotations

from dataclasses import dataclass

from fastgw.tokens import TokenStream, Vocabulary, estimate_tokens


class _EstimateStream:
    """A running estimate (the estimator has no cross-piece state worth keeping exact)."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[str] = []

    def feed(self, text: str) -> None:
        self._parts.append(text)

    def total(self) -> int:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return estimate_tokens(self._parts[0]) if self._parts else 0


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
