"""The gen_ai facts of an LLM call: the access log's text of them (formatted in parts, the kind and
models once) is the same as formatting the whole field dict, in agentgateway's order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fastgw.native import log_fields
from fastgw.telemetry import genai
from fastgw.telemetry.genai import GenAiCall, GenAiKind, LogText
from fastgw.telemetry.usage import Usage

CHAT = GenAiKind("chat", "openai")
COUNT = GenAiKind("count_tokens", "anthropic", input_only=True)

counts = st.integers(min_value=0, max_value=2**40)
usages = st.one_of(st.none(), st.builds(Usage, counts, counts, counts, counts, counts))
models = st.text(max_size=20)


def test_kind_head_is_formatted_once() -> None:
    assert CHAT.log_head == b" protocol=llm gen_ai.operation.name=chat gen_ai.provider.name=openai"


def test_fields_order_and_absent_values() -> None:
    call = GenAiCall(CHAT, "gpt-4o-mini")
    assert genai.fields(call, None) == {
        "protocol": "llm",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
    }
    call.response_model = "gpt-4o-mini-2024-07-18"
    fields = genai.fields(call, Usage(input_tokens=10, output_tokens=3, cache_read_tokens=4))
    assert list(fields)[3:] == [
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.output_tokens",
    ]
    # count_tokens: an input count only
    assert list(genai.fields(GenAiCall(COUNT, "claude"), Usage(input_tokens=7)))[-1] == "gen_ai.usage.input_tokens"


@given(st.sampled_from([CHAT, COUNT]), models, st.one_of(st.none(), models), usages)
def test_log_text_is_the_fields_text(kind: GenAiKind, request: str, response: str | None, usage: Usage | None) -> None:
    call = GenAiCall(kind, request)
    call.response_model = response
    text = LogText()
    expected = log_fields(genai.fields(call, usage))
    assert text.of(call, usage) == expected
    assert text.of(call, usage) == expected  # the second time from the kept model text


def test_kept_model_texts_are_bounded() -> None:
    text = LogText()
    for i in range(5000):
        assert text.of(GenAiCall(CHAT, f"model-{i}"), None).endswith(b"gen_ai.request.model=model-%d" % i)
    assert len(text) <= 1024
    # a long model (any client may send one) is formatted, never kept
    kept = len(text)
    long_model = "m" * 10_000
    assert text.of(GenAiCall(CHAT, long_model), None).endswith(long_model.encode())
    assert len(text) == kept
