"""Responses API client in front of an Anthropic Messages provider: the request.

A Responses request is first read as chat completions (``chat_from_responses``: input items,
instructions, function tools, tool_choice, text.format, reasoning.effort, max_output_tokens, and
the 400s for what only OpenAI can do), then written as Anthropic Messages by the chat translator
(``anthropic_from_openai``: system text, tool_use/tool_result turns with parallel results in one
user turn, ``max_tokens`` default, ``reasoning_effort`` -> thinking budget, json_schema ->
``output_config``). One mapping per concept, kept in one place. The answer comes back through
``responses_from_messages`` (and its stream).
"""

from __future__ import annotations

from typing import Any

from fastgw.backends.llm.translate import anthropic_from_openai, chat_from_responses
from fastgw.backends.llm.translate.anthropic_from_openai import DEFAULT_MAX_TOKENS, THINKING_BUDGETS


def request(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages body for a Responses body; raises InvalidRequestBody (a 400)."""
    chat = chat_from_responses.request(body)
    chat.pop("stream_options", None)
    effort = chat.get("reasoning_effort")
    if "max_tokens" not in chat and isinstance(effort, str):
        # Agents (Codex) send reasoning.effort on every turn and rarely max_output_tokens: the
        # thinking budget comes on top of the default answer length, not out of it (Anthropic
        # counts thinking in max_tokens)
        chat["max_tokens"] = DEFAULT_MAX_TOKENS + THINKING_BUDGETS.get(effort, 0)
    return anthropic_from_openai.request(chat)
