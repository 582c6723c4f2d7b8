"""The text a local count_tokens estimate counts, with a tokenizer passed in."""

from __future__ import annotations

from fastgw.backends.llm.translate.count_tokens import (
    count_tokens_response,
    count_tokens_text,
    estimate_input_tokens,
)

REQUEST = {
    "model": "claude-sonnet-4-5",
    "system": [{"type": "text", "text": "You are Claude Code."}],
    "messages": [
        {"role": "user", "content": "Read main.py"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "read it", "signature": "s"},
                {"type": "tool_use", "id": "t1", "name": "Read", "input": {"path": "main.py"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "text", "text": "print(1)"}],
                },
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
            ],
        },
    ],
    "tools": [{"name": "Read", "description": "Reads a file", "input_schema": {"type": "object"}}],
}


def test_texts_cover_system_messages_and_tools() -> None:
    assert count_tokens_text(REQUEST) == [
        "You are Claude Code.",
        "Read main.py",
        'read it\nRead{"path":"main.py"}',
        "print(1)",
        'Read\nReads a file\n{"type":"object"}',
    ]


def test_estimate_uses_the_given_tokenizer_plus_overheads() -> None:
    def words(text: str) -> int:
        return len(text.split())

    texts = count_tokens_text(REQUEST)
    assert estimate_input_tokens(REQUEST, words) == sum(map(words, texts)) + 3 * len(texts) + 3
    assert estimate_input_tokens({"messages": []}, words) == 3
    assert count_tokens_response(42) == b'{"input_tokens":42}'
