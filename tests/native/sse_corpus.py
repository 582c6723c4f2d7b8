"""Recorded-shape SSE transcripts of the providers fastgw streams from (used by tests and bench)."""

import json


def openai_chat_stream(words: int = 200) -> bytes:
    """An OpenAI chat.completions stream: one `data:` line per delta, then usage, then [DONE]."""
    head = {
        "id": "chatcmpl-9x1",
        "object": "chat.completion.chunk",
        "created": 1732550000,
        "model": "gpt-4o-mini",
    }
    out = []
    for i in range(words):
        delta = {"role": "assistant", "content": ""} if i == 0 else {"content": f" word{i}"}
        chunk = {
            **head,
            "system_fingerprint": "fp_0ba0d124f1",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
        }
        out.append(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
    usage = {
        **head,
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": words, "total_tokens": 12 + words},
    }
    out.append(b"data: " + json.dumps(usage, separators=(",", ":")).encode() + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def anthropic_messages_stream(words: int = 200) -> bytes:
    """An Anthropic Messages stream: named events, a ping, text deltas, then the stop events."""

    def ev(name: str, body: dict[str, object]) -> bytes:
        return (
            b"event: "
            + name.encode()
            + b"\ndata: "
            + json.dumps(body, separators=(",", ":")).encode()
            + b"\n\n"
        )

    msg = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-sonnet-4-5",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 1},
    }
    out = [ev("message_start", {"type": "message_start", "message": msg})]
    out.append(
        ev(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
    )
    out.append(ev("ping", {"type": "ping"}))
    for i in range(words):
        out.append(
            ev(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": f" word{i}"},
                },
            )
        )
    out.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": words},
            },
        )
    )
    out.append(ev("message_stop", {"type": "message_stop"}))
    return b"".join(out)
