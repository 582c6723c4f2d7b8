"""An LLM call's token counts, as every reader sees them (the access log, the metrics, token rate
limits, the LLM backends that extract them): a leaf type, so the per-request state and telemetry
need not import the LLM backends."""

from __future__ import annotations

import msgspec


class Usage(msgspec.Struct, gc=False):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def uncached_input_tokens(self) -> int:
        """Anthropic's ``input_tokens``: prompt tokens neither read from nor written to the cache."""
        return max(0, self.input_tokens - self.cache_read_tokens - self.cache_write_tokens)
