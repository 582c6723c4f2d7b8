"""Pure OpenAI <-> Anthropic translation: no I/O, no clock, no globals (see README.md beside ``llm``).

Naming is ``<target>_from_<source>``, by the request: ``anthropic_from_openai`` makes an Anthropic
request from an OpenAI client's, and turns the answer back (``response``; the stream half is
``anthropic_from_openai_stream.AnthropicFromOpenAIStream``). The golden files of a module sit in
the folder of its name.
"""

from fastgw.backends.llm.translate import (
    anthropic_from_openai,
    chat_from_responses,
    messages_from_responses,
    openai_from_anthropic,
    responses_from_chat,
    responses_from_messages,
)
from fastgw.backends.llm.translate.anthropic_from_openai_stream import AnthropicFromOpenAIStream
from fastgw.backends.llm.translate.count_tokens import (
    count_tokens_response,
    count_tokens_text,
    estimate_input_tokens,
)
from fastgw.backends.llm.translate.edits import (
    ModelAliases,
    apply_defaults,
    apply_model,
    apply_overrides,
    apply_prompts,
    client_wants_usage,
    force_stream_usage,
    normalize_max_tokens,
)
from fastgw.backends.llm.translate.errors import render_error, translate_error
from fastgw.backends.llm.translate.openai_from_anthropic_stream import OpenAIFromAnthropicStream

__all__ = [
    "AnthropicFromOpenAIStream",
    "ModelAliases",
    "OpenAIFromAnthropicStream",
    "anthropic_from_openai",
    "apply_defaults",
    "apply_model",
    "apply_overrides",
    "apply_prompts",
    "chat_from_responses",
    "chat_translation",
    "client_wants_usage",
    "count_tokens_response",
    "count_tokens_text",
    "estimate_input_tokens",
    "force_stream_usage",
    "messages_from_responses",
    "normalize_max_tokens",
    "openai_from_anthropic",
    "render_error",
    "responses_from_chat",
    "responses_from_messages",
    "translate_error",
]
