"""The gen_ai facts of one LLM call, as agentgateway logs them and labels its token metrics.

What kind of call it is (`GenAiKind`: operation and provider) is fixed per provider and route type, so
its log text is formatted once at config load. A request carries a `GenAiCall` (`ctx.llm`): its kind,
the model it asked for and the model that answered. The token usage sits beside it on the context
(`ctx.usage`). The access log and the metrics read both straight from there; nothing is collected
into a per-request dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from fastgw.native import log_fields

if TYPE_CHECKING:
    from fastgw.telemetry.usage import Usage

# the text of a call's models, kept per (kind, request model, response model); the models come
# from clients and providers, so the cache is emptied when it grows past this many entries, and a
# text longer than _MODEL_TEXT_BYTES is not kept (at most about 0.5 MiB a worker)
_MODEL_TEXTS_MAX: Final = 1024
_MODEL_TEXT_BYTES: Final = 512


@dataclass(frozen=True, slots=True, eq=False)
class GenAiKind:
    """`gen_ai.operation.name` and `gen_ai.provider.name` of a provider's route type."""

    operation: str
    provider: str
    #: the operation counts input tokens only (count_tokens): no output count is logged
    input_only: bool = False
    #: ' protocol=llm gen_ai.operation.name=… gen_ai.provider.name=…', the start of every such
    #: call's access-log fields
    log_head: bytes = field(init=False)

    def __post_init__(self) -> None:
        head = log_fields(
            {"protocol": "llm", "gen_ai.operation.name": self.operation, "gen_ai.provider.name": self.provider}
        )
        object.__setattr__(self, "log_head", head)


class GenAiCall:
    """One LLM request's kind and models (the response model once the answer has named one)."""

    __slots__ = ("kind", "request_model", "response_model")

    def __init__(self, kind: GenAiKind, request_model: str = "") -> None:
        self.kind = kind
        self.request_model = request_model
        self.response_model: str | None = None


def fields(call: GenAiCall, usage: Usage | None) -> dict[str, object]:
    """The access-log fields of a call, in agentgateway's order; absent and zero cache and
    reasoning counts are left out, as agentgateway leaves absent values out."""
    kind = call.kind
    out: dict[str, object] = {
        "protocol": "llm",
        "gen_ai.operation.name": kind.operation,
        "gen_ai.provider.name": kind.provider,
        "gen_ai.request.model": call.request_model,
    }
    if call.response_model:
        out["gen_ai.response.model"] = call.response_model
    if usage is not None:
        out["gen_ai.usage.input_tokens"] = usage.input_tokens
        if kind.input_only:
            return out
        if usage.cache_write_tokens:
            out["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens
        if usage.cache_read_tokens:
            out["gen_ai.usage.cache_read.input_tokens"] = usage.cache_read_tokens
        out["gen_ai.usage.output_tokens"] = usage.output_tokens
        if usage.reasoning_tokens:
            out["gen_ai.usage.reasoning_tokens"] = usage.reasoning_tokens
    return out


class LogText:
    """The text access log's ` key=value` fields of calls (one per worker's access log)."""

    __slots__ = ("_models",)

    def __init__(self) -> None:
        self._models: dict[tuple[GenAiKind, str, str | None], bytes] = {}

    def __len__(self) -> int:
        """How many models' texts are kept."""
        return len(self._models)

    def of(self, call: GenAiCall, usage: Usage | None) -> bytes:
        """Same text as `log_fields(fields(call, usage))`: the kind and models formatted once per
        (kind, models), the counts per call."""
        key = (call.kind, call.request_model, call.response_model)
        text = self._models.get(key)
        if text is None:
            text = self._model_text(key)
        if usage is None:
            return text
        if call.kind.input_only:
            return b"%s gen_ai.usage.input_tokens=%d" % (text, usage.input_tokens)
        if usage.cache_write_tokens or usage.cache_read_tokens or usage.reasoning_tokens:
            return _counts(text, usage)
        return b"%s gen_ai.usage.input_tokens=%d gen_ai.usage.output_tokens=%d" % (
            text,
            usage.input_tokens,
            usage.output_tokens,
        )

    def _model_text(self, key: tuple[GenAiKind, str, str | None]) -> bytes:
        kind, request_model, response_model = key
        models: dict[str, object] = {"gen_ai.request.model": request_model}
        if response_model:
            models["gen_ai.response.model"] = response_model
        text = kind.log_head + log_fields(models)
        if len(text) <= _MODEL_TEXT_BYTES:
            if len(self._models) >= _MODEL_TEXTS_MAX:
                self._models.clear()
            self._models[key] = text
        return text


def _counts(text: bytes, usage: Usage) -> bytes:
    """The counts of a call with cache or reasoning tokens (the uncommon case)."""
    out = [text, b" gen_ai.usage.input_tokens=%d" % usage.input_tokens]
    if usage.cache_write_tokens:
        out.append(b" gen_ai.usage.cache_creation.input_tokens=%d" % usage.cache_write_tokens)
    if usage.cache_read_tokens:
        out.append(b" gen_ai.usage.cache_read.input_tokens=%d" % usage.cache_read_tokens)
    out.append(b" gen_ai.usage.output_tokens=%d" % usage.output_tokens)
    if usage.reasoning_tokens:
        out.append(b" gen_ai.usage.reasoning_tokens=%d" % usage.reasoning_tokens)
    return b"".join(out)
