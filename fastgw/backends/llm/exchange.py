"""The upstream response of an LLM request, pushed to the client as it arrives.

Modes, chosen from the response head:
- whole: same format, not streamed, of a known small size: held and written with its head in one
  write, usage read from it;
- proxy: same format, not streamed, large or of unknown size: bytes go straight to the client (like
  ``backends/http.py``); its ends are kept to read usage and model (bounded memory, any size);
- stream: ``text/event-stream``: scanned event by event; forwarded as received when the format is the
  client's (usage sniffed), translated by a stream state machine otherwise; the output is counted as
  it passes for when the provider's usage never comes (``stream_tally.py``);
- buffer: a whole JSON response that must be translated (bounded: maxBufferedBodyBytes -> 502);
- error: a non-2xx answer, held (bounded), scrubbed of the provider credential, translated into the
  client's dialect when it is in the other one;
- held: a status the route retries (its retry codes, not on the last try): read and dropped,
  nothing reaches the client.

The upstream socket is paused whenever the client's buffer is full, in every mode that writes as it
reads (proxy, stream); the others hold at most the bounded body.
"""

from __future__ import annotations

import time
from collections.abc import Set
from typing import Any, Final

import msgspec
import orjson

from fastgw.backends.http import HeldBody, cancel_on_callbacks, fail_on_callbacks
from fastgw.backends.llm.stream_tally import StreamTally
from fastgw.backends.llm.translate.count_tokens import estimate_input_tokens
from fastgw.backends.llm.translate.errors import translate_error
from fastgw.backends.llm.translate.plan import StreamTranslator, stream_translator, translate_response
from fastgw.backends.llm.usage import (
    AnthropicStreamSniffer,
    BodyEnds,
    OpenAIStreamSniffer,
    ResponsesStreamSniffer,
    body_usage_in,
)
from fastgw.backends.scrub import scrub_encoded
from fastgw.context import RequestContext
from fastgw.errors import Dialect, GatewayError, UpstreamProtocolError, UpstreamTooLarge
from fastgw.http.headers import RESPONSE_DROP, Headers, response_skip
from fastgw.native import SSEEvent, SSEEventTooLarge, SSEScanner
from fastgw.telemetry.usage import Usage
from fastgw.upstream.connection import Exchange
from fastgw.upstream.origin import Origin

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
_ENCODING: Final = frozenset({b"content-encoding"})
# the fields such a response adds (as pairs, and as their lines)
_JSON_ADD: Final = ((b"content-type", b"application/json"),)
_SSE_ADD: Final = ((b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"))


def _rewritten(skip: frozenset[bytes]) -> frozenset[bytes]:
    return _REWRITTEN_DROP if skip is RESPONSE_DROP else skip | _REWRITTEN


class LlmExchange(Exchange):
    """Receives one provider response for a client of ``client`` dialect from an ``upstream`` one."""

    __slots__ = (
        "aligned",
        "body",
        "callback",
        "client",
        "client_usage_chunk",
        "ctx",
        "ends",
        "error_headers",
        "forced_usage",
        "held",
        "last",
        "mode",
        "model",
        "namespaces",
        "parts",
        "raw",
        "request_body",
        "scanner",
        "secrets",
        "sniff",
        "sniffer",
        "stream",
        "streamed",
        "tally",
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
        secrets: tuple[bytes, ...] = (),
    ) -> None:
        Exchange.__init__(self, ctx.worker.loop, ctx.trace)
        ctx.upstream_start = ctx.worker.loop.time()
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
        #: the client asked for a stream (its head gets the first-byte deadline)
        self.streamed = False
        self.mode = _PROXY
        self.parts: list[bytes] = []
        self.held = False
        #: kept (by reference) to estimate the prompt's tokens when a stream never reports usage
        self.request_body = request_body
        #: the forms of the provider credential, scrubbed from error answers
        self.secrets = secrets
        #: a translated Responses request's namespace tools (set by the backend)
        self.namespaces: frozenset[str] = frozenset()
        # Set by on_head for the mode it picks, and read only in that mode (not stored up front:
        # most responses need none of the stream state):
        #   whole_fields: the response fields of a body the exchange writes whole (same-format,
        #     translated), as the client gets them; error_headers: an error answer's fields;
        #   body: the answer held whole (buffer, error); ends: a large proxied answer's ends;
        #   scanner, stream, sniffer, raw, aligned, tally, last: a stream's parsing, translation
        #     and counting state (last: the chunk last forwarded as received).
        self.whole_fields: Headers | bytes
        self.error_headers: Headers
        self.body: HeldBody
        self.ends: BodyEnds
        self.scanner: SSEScanner
        self.stream: StreamTranslator | None
        self.sniffer: OpenAIStreamSniffer | AnthropicStreamSniffer | ResponsesStreamSniffer | None
        self.raw: bool
        self.aligned: bool
        self.tally: StreamTally | None
        self.last: bytes
        #: set when the exchange runs on callbacks alone (no task): (origin, head, body) to retry
        #: with; the exchange then finishes the request itself
        self.callback: tuple[Origin, bytes, bytes] | None = None

    # -- head --------------------------------------------------------------------------------------
    def on_head(self, status: int, headers: Headers) -> None:
        ctx = self.ctx
        ctx.upstream_status = status  # (failover learns from it)
        ctx.upstream_fields = headers
        if ctx.tried:  # (a balanced request: the latency EWMA reads it)
            ctx.upstream_head_at = time.monotonic()
        when = ctx.retry_when
        if status in ctx.retry_hold or (when is not None and when(ctx, status, headers)):
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
                self.ends = BodyEnds()
                self._proxy(status, headers, skip)
                return
            self.mode = _BUFFER
            # a translated body: the gateway writes it, always JSON
            self.whole_fields = ctx.response_fields(headers, _rewritten(skip), _JSON_ADD, status=status)
        else:
            # an error answer: held (bounded) to scrub the credential from it and, from the other
            # dialect, to translate it
            self.mode = _ERROR
            self.error_headers = headers
        self.body = HeldBody(ctx.worker.pool.limits.max_buffered_body)

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
        self.last = b"\n"
        self.tally = StreamTally(self.upstream, self.ctx.worker.runtime.tokenizer) if self.sniff else None
        model = self.model or ""
        if self.translate:
            self.raw = False
            self.stream = stream_translator(
                self.client, self.upstream, int(time.time()), self.client_usage_chunk, model
            )
        elif not self.sniff:
            pass
        elif self.upstream is Dialect.OPENAI:
            self.sniffer = OpenAIStreamSniffer(drop_usage_chunk=self.forced_usage)
            self.raw = not self.forced_usage
        elif self.upstream is Dialect.RESPONSES:
            self.sniffer = ResponsesStreamSniffer()
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
            self.ends.add(chunk)
        elif mode == _STREAM:
            try:
                events = self.scanner.feed(chunk)
            except SSEEventTooLarge as exc:
                # the events this read finished before the oversized one still go out (and count)
                self._stream_chunk(chunk, exc.events, False)  # type: ignore[arg-type]
                self.last = b""  # (the oversized event is unfinished whatever the chunk ends with)
                raise UpstreamTooLarge(
                    f"provider stream event larger than {self.scanner.max_event_size} bytes"
                ) from None
            self._stream_chunk(chunk, events, True)
        elif mode == _WHOLE:
            self.parts.append(chunk)
            return
        elif mode != _HELD:
            self.body.add(chunk)
            return
        else:
            return
        writer = self.ctx.writer
        if writer.paused and self.conn is not None:
            conn = self.conn
            conn.pause_reading()
            writer.add_resume_callback(conn.resume_reading)

    def _stream_chunk(self, chunk: bytes, events: list[SSEEvent], whole: bool) -> None:
        """`events` are the events `chunk` finished (all of them unless `whole` is False: the
        chunk then ends inside an event past the size limit)."""
        if events and not self.ctx.first_token:
            self.ctx.first_token = self.ctx.worker.loop.time()  # time to first token, for metrics
        tally = self.tally
        if tally is not None:
            tally.add(events, len(chunk))
        writer = self.ctx.writer
        if self.raw:
            writer.write(chunk)
            self.last = chunk
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
        self.aligned = whole and self.scanner.pending == 0 and chunk.endswith((b"\n", b"\r"))
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
            usage, model = body_usage_in(self.upstream, body)
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
            ctx.complete()

    def on_error(self, exc: GatewayError) -> None:
        if self.mode == _STREAM:
            self._cut_stream()
        callback = self.callback
        if callback is not None:
            origin, head, body = callback
            fail_on_callbacks(self, self.ctx, exc, self._fresh, origin, head, body)

    def on_cancel(self) -> None:
        if self.mode == _STREAM:
            self._cut_stream()

    def _cut_stream(self) -> None:
        """The stream ends early (the provider failed, the client left, a deadline passed): a line
        or event left unfinished by forwarding bytes as received is terminated, so the terminal
        error event that may follow is an event of its own (WHATWG HTML 9.2.6: a blank line ends
        an event); the tokens streamed so far are recorded."""
        if self.raw and (self.scanner.pending or not self.last.endswith((b"\n", b"\r"))):
            self.ctx.writer.write(b"\n\n")
        usage, model = self._stream_usage()
        ctx = self.ctx
        ctx.usage = usage
        call = ctx.llm
        if call is not None:
            call.response_model = model

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
            usage, model = self.ends.usage(self.upstream)
        elif mode == _STREAM:
            stream = self.stream
            if stream is not None:
                tail = stream.finish()
                if tail:
                    ctx.writer.write(tail)
            return self._stream_usage()
        elif mode == _BUFFER:
            body = self.body.take()
            encoded, usage, model = translate_response(
                self.client, self.upstream, body, int(time.time()), self.namespaces
            )
            ctx.writer.respond(self.status, self.whole_fields, encoded)
        else:
            self._send_error()
        return usage, model if isinstance(model, str) else None

    def _send_error(self) -> None:
        """An error answer: the provider credential scrubbed from it, then as it came when the
        client speaks the provider's dialect, translated into the client's otherwise."""
        ctx = self.ctx
        headers = self.error_headers
        held = self.body
        encoding = next((v for n, v in headers if n == b"content-encoding"), b"")
        body, decoded = scrub_encoded(held.take(), self.secrets, encoding, held.limit)
        skip = response_skip(self.connection)
        if self.client is self.upstream:
            fields = ctx.response_fields(headers, skip | _ENCODING if decoded else skip, status=self.status)
        else:
            body = translate_error(self.status, body, self.upstream, self.client)
            fields = ctx.response_fields(headers, _rewritten(skip), _JSON_ADD, status=self.status)
        ctx.writer.respond(self.status, fields, body)

    def _stream_usage(self) -> tuple[Usage | None, str | None]:
        """A stream's usage and model so far: the provider's counts once final, else what it said
        (the prompt's count, from Anthropic's message_start) with the output counted as it passed
        and the prompt estimated from the request when the provider never said."""
        stream = self.stream
        sniffer = self.sniffer
        usage: Usage | None
        if stream is not None:
            usage = stream.usage if stream.has_usage else None
            model = stream.model or None
            final = stream.usage_final
        elif sniffer is not None:
            usage = sniffer.usage
            model = sniffer.model
            final = sniffer.final if not isinstance(sniffer, OpenAIStreamSniffer) else usage is not None
        else:
            return None, None
        tally = self.tally
        if final or tally is None:
            return usage, model
        output = tally.output_tokens()
        if usage is None:
            usage = Usage(input_tokens=self._prompt_estimate())
        else:
            usage = msgspec.structs.replace(usage)
        usage.output_tokens = max(usage.output_tokens, output)
        return usage, model

    def _prompt_estimate(self) -> int:
        """The prompt's tokens, counted from the request as sent, when the provider never said."""
        try:
            request = orjson.loads(self.request_body) if self.request_body else {}
            if isinstance(request, dict):
                return estimate_input_tokens(request, self.ctx.worker.runtime.tokenizer.count)
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            pass
        return 0
