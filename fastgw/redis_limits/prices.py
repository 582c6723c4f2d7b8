"""Model prices (USD per 1M tokens) for budgets: a built-in table of common OpenAI and Anthropic
models, overridable per model in `config.virtualKeys.prices`. A dated snapshot name finds its
model by the longest known prefix (`gpt-4o-2024-08-06` -> `gpt-4o`, never `gpt-4o-mini`'s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    output: float
    cache_read: float
    cache_write: float

    def usd(self, uncached_input: int, output: int, cache_read: int, cache_write: int) -> float:
        return (
            uncached_input * self.input
            + output * self.output
            + cache_read * self.cache_read
            + cache_write * self.cache_write
        ) / 1_000_000


def _p(i: float, o: float, read: float | None = None, write: float | None = None) -> Price:
    return Price(i, o, i if read is None else read, i if write is None else write)


#: list prices (USD per 1M tokens) as published by OpenAI and Anthropic
BUILT_IN: Final[dict[str, Price]] = {
    "gpt-4o": _p(2.5, 10, 1.25),
    "gpt-4o-mini": _p(0.15, 0.6, 0.075),
    "gpt-4.1": _p(2, 8, 0.5),
    "gpt-4.1-mini": _p(0.4, 1.6, 0.1),
    "gpt-4.1-nano": _p(0.1, 0.4, 0.025),
    "o3": _p(2, 8, 0.5),
    "o4-mini": _p(1.1, 4.4, 0.275),
    "gpt-3.5-turbo": _p(0.5, 1.5),
    "claude-opus-4": _p(15, 75, 1.5, 18.75),
    "claude-sonnet-4": _p(3, 15, 0.3, 3.75),
    "claude-3-7-sonnet": _p(3, 15, 0.3, 3.75),
    "claude-3-5-sonnet": _p(3, 15, 0.3, 3.75),
    "claude-haiku-4-5": _p(1, 5, 0.1, 1.25),
    "claude-3-5-haiku": _p(0.8, 4, 0.08, 1),
    "claude-3-haiku": _p(0.25, 1.25, 0.03, 0.3),
}


class PriceTable:
    __slots__ = ("_exact", "_prefixes")

    def __init__(self, overrides: dict[str, Price] | None = None) -> None:
        table = {**BUILT_IN, **(overrides or {})}
        self._exact = {k: v for k, v in table.items() if not k.endswith("*")}
        # longest first: the first prefix that matches is the most specific
        prefixes = [(k.rstrip("*"), v) for k, v in table.items()]
        self._prefixes = sorted(prefixes, key=lambda kv: -len(kv[0]))

    def find(self, model: str) -> Price | None:
        price = self._exact.get(model)
        if price is not None:
            return price
        for prefix, p in self._prefixes:
            if model.startswith(prefix):
                return p
        return None
