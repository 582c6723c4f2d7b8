"""Provider errors in the client's dialect, and the gateway's own errors rendered per dialect."""

from __future__ import annotations

import orjson
import pytest

from fastgw.backends.llm.translate.errors import anthropic_error_type, openai_error_type, render_error, translate_error
from fastgw.errors import Dialect

ANTHROPIC_429 = (
    b'{"type":"error","error":{"type":"rate_limit_error",'
    b'"message":"Number of request tokens has exceeded your per-minute rate limit"}}'
)
OPENAI_401 = (
    b'{"error":{"message":"Incorrect API key provided: sk-abc.",'
    b'"type":"invalid_request_error","param":null,"code":"invalid_api_key"}}'
)


@pytest.mark.parametrize(
    ("status", "openai", "anthropic"),
    [
        (400, "invalid_request_error", "invalid_request_error"),
        (401, "authentication_error", "authentication_error"),
        (403, "authentication_error", "permission_error"),
        (404, "not_found_error", "not_found_error"),
        (413, "invalid_request_error", "request_too_large"),
        (422, "invalid_request_error", "invalid_request_error"),
        (429, "rate_limit_error", "rate_limit_error"),
        (500, "api_error", "api_error"),
        (503, "api_error", "api_error"),
        (529, "api_error", "overloaded_error"),
    ],
)
def test_status_to_type(status: int, openai: str, anthropic: str) -> None:
    assert openai_error_type(status) == openai
    assert anthropic_error_type(status) == anthropic


def test_anthropic_error_for_openai_client() -> None:
    body = orjson.loads(translate_error(429, ANTHROPIC_429, Dialect.ANTHROPIC, Dialect.OPENAI))
    assert body == {
        "error": {
            "message": "Number of request tokens has exceeded your per-minute rate limit",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_error",
        }
    }


def test_openai_error_for_anthropic_client_keeps_known_types_only() -> None:
    body = orjson.loads(translate_error(401, OPENAI_401, Dialect.OPENAI, Dialect.ANTHROPIC))
    assert body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "Incorrect API key provided: sk-abc."},
    }
    server = b'{"error":{"message":"boom","type":"server_error"}}'
    body = orjson.loads(translate_error(500, server, Dialect.OPENAI, Dialect.ANTHROPIC))
    assert body["error"] == {"type": "api_error", "message": "boom"}


def test_same_dialect_passes_the_original_bytes() -> None:
    assert translate_error(429, ANTHROPIC_429, Dialect.ANTHROPIC, Dialect.ANTHROPIC) is ANTHROPIC_429


def test_non_json_upstream_errors_become_messages() -> None:
    html = b"<html><body>502 Bad Gateway</body></html>" + b"x" * 2000
    body = orjson.loads(translate_error(502, html, Dialect.ANTHROPIC, Dialect.OPENAI))
    assert body["error"]["type"] == "api_error"
    assert body["error"]["message"].startswith("<html><body>502 Bad Gateway")
    assert len(body["error"]["message"]) == 512
    empty = orjson.loads(translate_error(503, b"", Dialect.OPENAI, Dialect.ANTHROPIC))
    assert empty == {
        "type": "error",
        "error": {"type": "api_error", "message": "upstream returned status 503"},
    }
    legacy = orjson.loads(translate_error(400, b'{"error":"bad model"}', Dialect.OPENAI, Dialect.ANTHROPIC))
    assert legacy["error"]["message"] == "bad model"


def test_render_gateway_errors() -> None:
    assert orjson.loads(render_error(Dialect.OPENAI, 404, "Model not found", code="model_not_found")) == {
        "error": {
            "message": "Model not found",
            "type": "not_found_error",
            "param": None,
            "code": "model_not_found",
        }
    }
    assert orjson.loads(render_error(Dialect.ANTHROPIC, 413, "request body too large")) == {
        "type": "error",
        "error": {"type": "request_too_large", "message": "request body too large"},
    }
    custom = orjson.loads(render_error(Dialect.OPENAI, 404, "Model not found", "invalid_request_error"))
    assert custom["error"]["type"] == "invalid_request_error"
