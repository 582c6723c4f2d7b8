"""The upstream response of an LLM request, pushed to the client as it arrives.

Four modes, chosen from the response head:
- proxy: same format, not streamed: bytes go straight to the client (like ``backends/http.py``), and are
  also kept (by reference) to read usage once complete;
- stream: ``text/event-stream``: scanned event by event; forwarded as received when the format is the
  client's (usage sniffed), translated by a stream state machine otherwise;
- buffer: a whole JSON response that must be translated;
- error: a non-2xx answer in the other dialect, translated into the client's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Set
from typing import Any, Final

import orjson

from fastgw.backends.http import cancel_on_callbacks, fail_on_callbacks, finish_on_callbacks
from fastgw.backends.llm.translate import anthropic_from_openai, openai_from_anthropic
from fastgw.backends.llm.translate.anthropic_from_openai_stream import AnthropicToOpenAIStream
from fastgw.backends.llm.translate.count_tokens import estimate_input_tokens
from fastgw.backends.llm.translate.errors import translate_error
from fastgw.backends.llm.translate.openai_from_anthropic_stream import OpenAIToAnthropicStream
from fastgw.backends.llm.types import Dialect
from fastgw.backends.llm.usage import (
    AnthropicStreamSniffer,
    OpenAIStreamSniffer,
    Usage,
    anthropic_body_usage,
    openai_body_usage,
    usage_from_openai,
)
from fastgw.context import RequestContext
from fastgw.errors import GatewayError, UpstreamProtocolError
from fastgw.http.headers import RESPONSE_DROP, Headers, response_skip
from fastgw.native import SSEScanner
from fastgw.upstream.connection import Exchange
from fastgw.upstream.pool import Origin

_PROXY: Final = 0
_STREAM: Final = 1
_BUFFER: Final = 2
_ERROR: Final = 3
_WHOLE: Final = 4
_HELD: Final = 5  # a status the pipeline will retry: nothing reaches the client
# A same-format 2xx body up to this size is written with its head in one write (it nearly always
# arrives in the same read as the head, so holding it costs no latency and saves a syscall).
_WHOLE_LIMIT: Final = 256 * 1024

# Dropped from a response whose body the gateway rewrites (its own framing and type are set).
_REWRITTEN: Final = frozenset({b"date", b"content-length", b"content-type", b"content-encoding"})
_REWRITTEN_DROP: Final = RESPONSE_DROP | _REWRITTEN
# the fields such a response adds (as pairs, and as their lines)
_JSON_ADD: Final = ((b"content-type", b"application/json"),)
_SSE_ADD: Final = ((b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"))


def _rewritten(skip: frozenset[bytes]) -> frozenset[bytes]:
    return _REWRITTEN_DROP if skip is RESPONSE_DROP else skip | _REWRITTEN


class LlmExchange(Exchange):
    """Receives one provider response for a client of ``client`` dialect from an ``upstream`` one."""

    __slots__ = (
        "aligned",
        "callback",
        "client",
        "client_usage_chunk",
        "collect",
        "ctx",
        "forced_usage",
        "held",
        "mode",
        "model",
        "parts",
        "raw",
        "request_body",
        "scanner",
        "sniff",
        "sniffer",
        "stream",
        "translate",
        "upstream",
        "whole_fields",
    )

    def __init__(
        self,
        ctx: RequestContext,
        client: Dialect,
        upstream: Dialect,
        translate: bool,
        client_usage_chunk: bool,
        forced_usage: bool,
        sniff: bool,
        model: str | None,
        request_body: bytes = b"",
    ) -> None:
        Exchange.__init__(self, ctx.worker.loop)
        self.ctx = ctx
        self.client = client
        self.upstream = upstream
        self.translate = translate
        #: an OpenAI streaming client asked for the usage chunk itself (a translated stream shows it)
        self.client_usage_chunk = client_usage_chunk
        #: the gateway asked an OpenAI upstream for usage: its usage-only chunk is not forwarded
        self.forced_usage = forced_usage
        #: a chat stream forwarded as is: read its usage
        self.sniff = sniff
        self.model = model
        self.mode = _PROXY
        self.parts: list[bytes] = []
        self.collect = False
        self.held = False
        #: kept (by reference) to estimate usage when an OpenAI-format stream never reports it
        self.request_body = request_body
        # Set by on_head for the mode it picks, and read only in that mode (not stored up front:
        # most responses need none of the stream state):
        #   whole_fields: the response fields of a body the exchange writes whole (same-format,
        #     translated or error), as the client gets them;
        #   scanner, stream, sniffer, raw, aligned: a stream's parsing and translation state.
        self.whole_fields: Headers | bytes
        self.scanner: SSEScanner
        self.stream: AnthropicToOpenAIStream | OpenAIToAnthropicStream | None
        self.sniffer: OpenAIStreamSniffer | AnthropicStreamSniffer | None
        self.raw: bool
        self.aligned: bool
        #: set when the exchange runs on callbacks alone (no task): (origin, head, body) to retry
        #: with; the exchange then finishes the request itself
        self.callback: tuple[Origin, bytes, bytes] | None = None

    # -- head --------------------------------------------------------------------------------------
    def on_head(self, status: int, headers: Headers) -> None:
        ctx = self.ctx
        if status in ctx.retry_hold:
            self.mode = _HELD
            self.held = True
            return
        skip = response_skip(self.connection)
        length = self.length
        if 200 <= status < 300:
            if self.content_type.startswith(b"text/event-stream"):
                self._start_stream(status, ctx.response_fields(headers, _rewritten(skip), _SSE_ADD, status=status))
                return
            if not self.translate:
                if 0 <= length <= _WHOLE_LIMIT:
                    self.mode = _WHOLE
                    self.whole_fields = ctx.response_fields(headers, skip, status=status)
                    return
                self.collect = True
                self._proxy(status, headers, skip)
                return
            self.mode = _BUFFER
        elif self.client is self.upstream:
            self._proxy(status, headers, skip)
            return
        else:
            self.mode = _ERROR
        # a translated or error body: the gateway writes it, always JSON
        self.whole_fields = ctx.response_fields(headers, _rewritten(skip), _JSON_ADD, status=status)

    def _proxy(self, status: int, headers: Headers, skip: Set[bytes]) -> None:
        """Same format, not streamed: the bytes go to the client as they arrive."""
        ctx = self.ctx
        writer = ctx.writer
        writer.cork()  # the head leaves with the body bytes of the same upstream read
        length = self.length
        writer.start(status, ctx.response_fields(headers, skip, status=status), length if length >= 0 else None)

    def _start_stream(self, status: int, fields: Headers | bytes) -> None:
        self.mode = _STREAM
        self.scanner = SSEScanner()
        self.stream = None
        self.sniffer = None
        self.raw = True
        self.aligned = True
        model = self.model or ""
        if self.translate:
            self.raw = False
            if self.upstream is Dialect.ANTHROPIC:
                self.stream = AnthropicToOpenAIStream(int(time.time()), self.client_usage_chunk, model)
            else:
                self.stream = OpenAIToAnthropicStream(model)
        elif not self.sniff:
            pass
        elif self.upstream is Dialect.OPENAI:
            self.sniffer = OpenAIStreamSniffer(drop_usage_chunk=self.forced_usage)
            self.raw = not self.forced_usage
        else:
            self.sniffer = AnthropicStreamSniffer()
        writer = self.ctx.writer
        writer.cork()
        writer.start(status, fields, None)
        self.ctx.sse = True

    def on_read_done(self) -> None:
        self.ctx.writer.uncork()

    # -- body --------------------------------------------------------------------------------------
    def on_body(self, chunk: bytes) -> None:
        mode = self.mode
        if mode == _PROXY:
            self.ctx.writer.write(chunk)
            if self.collect:
                self.parts.append(chunk)
        elif mode == _STREAM:
            self._stream_chunk(chunk)
        elif mode != _HELD:
            self.parts.append(chunk)
            return
        else:
            return
        writer = self.ctx.writer
        if writer.paused and self.conn is not None:
            conn = self.conn
            conn.pause_reading()
            writer.add_resume_callback(conn.resume_reading)

    def _stream_chunk(self, chunk: bytes) -> None:
        events = self.scanner.feed(chunk)
        if self.sniff and self.upstream is Dialect.OPENAI:
            # OpenAI-compatible servers may ignore include_usage: keep the events to count them
            self.parts.extend([ev.data for ev in events])
        writer = self.ctx.writer
        if self.raw:
            writer.write(chunk)
            sniffer = self.sniffer
            if sniffer is not None:
                for ev in events:
                    sniffer.observe(ev.event, ev.data)
            return
        stream = self.stream
        if stream is not None:
            translated = stream.feed_events(events)
            if translated:
                writer.write(translated)
            return
        sniffer = self.sniffer
        assert sniffer is not None
        kept = [ev for ev in events if sniffer.observe(ev.event, ev.data)]
        # Nearly every chunk holds whole events and nothing to drop: send it as received. Only a
        # chunk that starts and ends on event boundaries may go raw, so raw and rebuilt output
        # never mix inside one event.
        aligned = self.aligned
        self.aligned = self.scanner.pending == 0 and chunk.endswith((b"\n", b"\r"))
        if aligned and self.aligned and len(kept) == len(events):
            writer.write(chunk)
        elif kept:
            writer.write(b"".join([b"data: " + ev.data + b"\n\n" for ev in kept]))

    # -- end ---------------------------------------------------------------------------------------
    def on_end(self) -> None:
        ctx = self.ctx
        mode = self.mode
        usage: Usage | None = None
        model: str | None = None
        if mode == _WHOLE:
            # a same-format JSON answer (nearly every non-streamed one): written whole, usage read
            parts = self.parts
            body = parts[0] if len(parts) == 1 else b"".join(parts)
            ctx.writer.respond(self.status, self.whole_fields, body)
            if self.upstream is Dialect.OPENAI:
                usage, model = openai_body_usage(body)
            else:
                usage, model = anthropic_body_usage(body)
        elif mode != _HELD:
            try:
                usage, model = self._end(mode)
            except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
                # a 2xx body that is not the JSON it claims: the client gets a 502 in its dialect
                ctx.fail(UpstreamProtocolError(f"invalid provider response: {exc}"))
        ctx.usage = usage
        call = ctx.llm
        if call is not None:
            call.response_model = model
        if self.callback is not None:
            finish_on_callbacks(ctx)

    def on_error(self, exc: GatewayError) -> None:
        callback = self.callback
        if callback is not None:
            origin, head, body = callback
            fail_on_callbacks(self, self.ctx, exc, self._fresh, origin, head, body)

    def _fresh(self) -> LlmExchange:
        """This exchange again, for a retry run as a task (which then finishes the request)."""
        self.callback = None
        self.reset()
        return self

    def cancel(self) -> None:
        cancel_on_callbacks(self, self.ctx)

    def _end(self, mode: int) -> tuple[Usage | None, str | None]:
        """Finish the answer of a mode other than _WHOLE and _HELD: its usage and model."""
        ctx = self.ctx
        usage: Usage | None = None
        model: Any = None
        if mode == _PROXY:
            if self.collect:
                body = b"".join(self.parts)
                if self.upstream is Dialect.OPENAI:
                    usage, model = openai_body_usage(body)
                else:
                    usage, model = anthropic_body_usage(body)
        elif mode == _STREAM:
            stream = self.stream
            if stream is not None:
                tail = stream.finish()
                if tail:
                    ctx.writer.write(tail)
                usage = stream.usage if stream.has_usage else None
                model = stream.model or None
            elif self.sniffer is not None:
                usage = self.sniffer.usage
                model = self.sniffer.model
            if usage is None and self.parts:
                usage = estimate_stream_usage(self.parts, self.request_body, ctx.worker.runtime.tokenizer.count)
        elif mode == _BUFFER:
            body = b"".join(self.parts)
            if self.upstream is Dialect.ANTHROPIC:
                encoded, usage, model = anthropic_from_openai.encoded_response(body, int(time.time()))
            else:
                data: Any = orjson.loads(body)
                encoded = orjson.dumps(openai_from_anthropic.response(data))
                usage = usage_from_openai(data.get("usage"))
                model = data.get("model")
            ctx.writer.respond(self.status, self.whole_fields, encoded)
        else:
            body = translate_error(self.status, b"".join(self.parts), self.upstream, self.client)
            ctx.writer.respond(self.status, self.whole_fields, body)
        return usage, model if isinstance(model, str) else None


def estimate_stream_usage(events: list[bytes], request_body: bytes, count: Callable[[str], int]) -> Usage:
    """Usage of an OpenAI chat stream that ended without a usage chunk, counted with the tokenizer:
    the streamed text, reasoning and tool arguments out, the request's messages in."""
    texts: list[str] = []
    for data in events:
        if not data.startswith(b"{"):
            continue  # [DONE]
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        for choice in chunk.get("choices") or () if isinstance(chunk, dict) else ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            for key in ("content", "reasoning_content", "reasoning"):
                if isinstance(delta.get(key), str):
                    texts.append(delta[key])
            for call in delta.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    texts.append(str(function.get("name") or "") + str(function.get("arguments") or ""))
    try:
        request = orjson.loads(request_body) if request_body else {}
        input_tokens = estimate_input_tokens(request, count) if isinstance(request, dict) else 0
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        input_tokens = 0
    return Usage(input_tokens=input_tokens, output_tokens=count("".join(texts)))
