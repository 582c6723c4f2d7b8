"""OpenTelemetry tracing: one server span per request, one client span per upstream attempt.

`config.tracing` (and its current home, `frontendPolicies.tracing`) compiles into
`TraceSettings` (pure data, made before fork). Each worker makes its own `Tracer` after fork:
the OTLP exporter (gRPC or HTTP) and the SDK's batch processor, whose thread exports off the
event loop.

Per request (`Tracer.start`, called as the request's context is made) the sampling decision
comes first: a W3C `traceparent` from the client is continued (`clientSampling` decides whether
its sampled flag is honoured), otherwise `randomSampling` decides. An unsampled request carries
nothing (`ctx.trace` is None) and its headers go upstream untouched, so tracing that samples
nothing costs one header scan. A sampled one gets a `RequestTrace`: every upstream attempt
(`begin_attempt`, called where every attempt passes: `UpstreamConnection.start`) gets its own
span id, sent upstream as the `traceparent` parent (the client's `tracestate` goes along); the
attempt ends with its exchange (`Exchange._finish`). When the request finishes, the spans are
built at once (their times recorded as they happened) and handed to the batch processor.

Export never blocks or fails a request: spans beyond `MAX_QUEUE` waiting for export are dropped
and counted (`fastgw_trace_spans_dropped_total`), failed exports are counted
(`fastgw_trace_export_failures_total`) and logged at most once a minute.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from fastgw.cel import Expression, vars_of
from fastgw.errors import UPSTREAM
from fastgw.telemetry import genai

if TYPE_CHECKING:
    from fastgw.context import RequestContext
    from fastgw.telemetry.fields import CelFields
    from fastgw.upstream.connection import Exchange

log = logging.getLogger("fastgw.tracing")

#: spans waiting for export, per worker, beyond which new ones are dropped
MAX_QUEUE: Final = 4096
_BATCH: Final = 512
_DELAY_MS: Final = 1000
#: an export attempt (with the exporter's own retries) gives up after this
EXPORT_TIMEOUT: Final = 5.0

#: a sampling rule: a probability, or an expression (true/false, or a probability)
Rule = float | Expression


@dataclass(frozen=True, slots=True)
class TraceSettings:
    endpoint: str
    """The collector: a URL (`http://host:4317`); for HTTP, without the path."""
    protocol: str  # grpc | http
    path: str = "/v1/traces"
    headers: tuple[tuple[str, str], ...] = ()
    random_sampling: Rule = 0.0
    client_sampling: Rule = 1.0
    fields: CelFields | None = None
    remove: frozenset[str] = frozenset()
    #: `fields.add["span.name"]`: the server span's name
    span_name: Expression | None = None
    #: only requests matching it are traced (`frontendPolicies.tracing.filter`)
    filter: Expression | None = None
    service_name: str = "fastgw"

    @property
    def exports_to(self) -> str:
        return self.endpoint.rstrip("/") + self.path if self.protocol == "http" else self.endpoint


def sampling_rule(value: bool | float | str | None, default: bool, path: str, errors: list[str]) -> Rule:
    """A `randomSampling`/`clientSampling` value: a boolean, a ratio, or a string holding either
    or a CEL expression (the seed writes `'true'`)."""
    if value is None:
        return 1.0 if default else 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        if not 0.0 <= value <= 1.0:
            errors.append(f"{path}: a ratio must be between 0 and 1, got {value}")
        return float(value)
    text = value.strip()
    if text in ("true", "false"):
        return 1.0 if text == "true" else 0.0
    try:
        ratio = float(text)
    except ValueError:
        pass
    else:
        if not 0.0 <= ratio <= 1.0:
            errors.append(f"{path}: a ratio must be between 0 and 1, got {text}")
        return ratio
    from fastgw.cel import CelSyntaxError

    try:
        return Expression.compile(text)
    except CelSyntaxError as exc:
        errors.append(f"{path}: {exc}")
        return 0.0


def _decide(rule: Rule, ctx: RequestContext) -> bool:
    if rule.__class__ is float:
        ratio: float = rule
        return ratio >= 1.0 or (ratio > 0.0 and random.random() < ratio)
    assert isinstance(rule, Expression)
    value = rule.eval(vars_of(ctx))
    if value is True or value is False:
        return value
    if isinstance(value, int | float):
        return random.random() < float(value)
    return False


def parse_traceparent(value: bytes) -> tuple[int, int, bool] | None:
    """(trace id, parent span id, sampled) of a W3C `traceparent` (version 00 layout; a later
    version is read by its first four fields, as the spec asks), or None if malformed."""
    if len(value) < 55 or value[2:3] != b"-" or value[35:36] != b"-" or value[52:53] != b"-":
        return None
    version = value[:2]
    if version == b"ff" or (version == b"00" and len(value) != 55) or (len(value) > 55 and value[55:56] != b"-"):
        return None
    try:
        int(version, 16)
        trace_id = int(value[3:35], 16)
        span_id = int(value[36:52], 16)
        flags = int(value[53:55], 16)
    except ValueError:
        return None
    if not trace_id or not span_id or value[3:35].lower() != value[3:35]:
        return None
    return trace_id, span_id, bool(flags & 1)


class Attempt:
    """One upstream attempt's client span."""

    __slots__ = ("end", "endpoint", "error", "span_id", "start", "status")

    def __init__(self, span_id: int, start: int, endpoint: str) -> None:
        self.span_id = span_id
        self.start = start
        self.end = 0
        self.status = 0
        self.endpoint = endpoint
        self.error: str | None = None

    def close(self, status: int, error: str | None) -> None:
        """The attempt's exchange finished (with `error`, a reason label, if it failed)."""
        if not self.end:
            self.end = time.time_ns()
            self.status = status
            self.error = error


class RequestTrace:
    """A sampled request's trace: its ids, the client's context, its upstream attempts."""

    __slots__ = ("attempts", "parent_id", "span_id", "start", "trace_id", "tracer", "tracestate")

    def __init__(self, tracer: Tracer, trace_id: int, parent_id: int, tracestate: bytes | None, start: int) -> None:
        self.tracer = tracer
        self.trace_id = trace_id
        self.span_id = random.getrandbits(64) or 1
        self.parent_id = parent_id
        self.tracestate = tracestate
        self.start = start
        self.attempts: list[Attempt] = []

    def begin_attempt(self, exchange: Exchange, data: bytes, endpoint: str) -> bytes:
        """An upstream attempt starts: its span, and `data` (head, maybe body) with our
        `traceparent` (and the client's `tracestate`) in place of the client's."""
        prev = exchange.attempt
        now = time.time_ns()
        if prev is not None and not prev.end:
            prev.end = now
            prev.error = "retried"
        attempt = Attempt(random.getrandbits(64) or 1, now, endpoint)
        self.attempts.append(attempt)
        exchange.attempt = attempt
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return data
        head = data[: end + 2]
        if b"\r\ntraceparent:" in head or b"\r\ntracestate:" in head:
            head = b"".join(
                line + b"\r\n"
                for line in head[:-2].split(b"\r\n")
                if not line.lower().startswith((b"traceparent:", b"tracestate:"))
            )
        extra = b"traceparent: 00-%032x-%016x-01\r\n" % (self.trace_id, attempt.span_id)
        if self.tracestate:
            extra += b"tracestate: " + self.tracestate + b"\r\n"
        return head + extra + data[end + 2 :]


class Tracer:
    """One worker's tracing: the sampling decision per request and the export of its spans."""

    __slots__ = (
        "_last_warning",
        "_processor",
        "_resource",
        "_scope",
        "_sdk",
        "dropped",
        "failed",
        "pending",
        "settings",
    )

    def __init__(self, settings: TraceSettings) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from fastgw import __version__

        self.settings = settings
        #: spans handed over and not yet through an export; spans dropped, failed to export
        self.pending = 0
        self.dropped = 0
        self.failed = 0
        self._last_warning = 0.0
        self._resource = Resource.create({"service.name": settings.service_name, "service.version": __version__})
        self._scope = InstrumentationScope("fastgw", __version__)
        self._sdk = _Sdk()
        # the SDK's own warnings (one per dropped span, per failed batch) are counted here instead
        for name in ("opentelemetry.sdk._shared_internal", "opentelemetry.exporter.otlp.proto.grpc.exporter"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter").setLevel(logging.CRITICAL)
        self._processor = BatchSpanProcessor(
            _counting(self, _exporter(settings)),
            max_queue_size=MAX_QUEUE,
            schedule_delay_millis=_DELAY_MS,
            max_export_batch_size=_BATCH,
            export_timeout_millis=EXPORT_TIMEOUT * 1000,
        )

    # -- per request -----------------------------------------------------------------------------
    def start(self, ctx: RequestContext) -> RequestTrace | None:
        """The sampling decision; a RequestTrace when the request is sampled."""
        settings = self.settings
        parent = None
        tracestate = None
        for name, value in ctx.request.headers:
            if name == b"traceparent":
                parent = parse_traceparent(value.strip())
            elif name == b"tracestate":
                tracestate = value.strip()[:512]
        if parent is not None:
            trace_id, parent_id, sampled = parent
            rule = settings.client_sampling if sampled else settings.random_sampling
        else:
            trace_id, parent_id, tracestate = 0, 0, None
            rule = settings.random_sampling
        if not _decide(rule, ctx):
            return None
        if not trace_id:
            trace_id = random.getrandbits(128) or 1
        loop_elapsed = ctx.worker.loop.time() - ctx.request.start
        return RequestTrace(self, trace_id, parent_id, tracestate, time.time_ns() - int(loop_elapsed * 1e9))

    def finish(self, ctx: RequestContext, trace: RequestTrace) -> None:
        """The request is over: its spans go to the exporter (or are dropped, counted)."""
        settings = self.settings
        if settings.filter is not None and not settings.filter.matches(vars_of(ctx)):
            return
        n = 1 + len(trace.attempts)
        if self.pending + n > MAX_QUEUE:
            self.dropped += n
            return
        self.pending += n
        end = time.time_ns()
        attrs = server_attributes(ctx)
        if settings.fields is not None:
            attrs.update(settings.fields.present(ctx))
        for key in settings.remove:
            attrs.pop(key, None)
        name = _span_name(ctx, settings.span_name)
        attrs.pop("span.name", None)
        failed = ctx.error is not None or ctx.writer.status >= 500
        self._emit(name, trace.span_id, trace.parent_id, trace, 1, attrs, trace.start, end, failed)
        for i, attempt in enumerate(trace.attempts):
            a = client_attributes(ctx, attempt, i)
            a_failed = attempt.error is not None or attempt.status >= 500 or not attempt.status
            self._emit(
                ctx.request.method.decode("latin-1"),
                attempt.span_id,
                trace.span_id,
                trace,
                2,
                a,
                attempt.start,
                attempt.end or end,
                a_failed,
            )

    def _emit(
        self,
        name: str,
        span_id: int,
        parent_id: int,
        trace: RequestTrace,
        kind: int,
        attrs: Mapping[str, Any],
        start: int,
        end: int,
        failed: bool,
    ) -> None:
        sdk = self._sdk
        flags = sdk.sampled
        state = _trace_state(trace.tracestate) if trace.tracestate else sdk.no_state
        context = sdk.SpanContext(trace.trace_id, span_id, False, flags, state)
        parent = (
            sdk.SpanContext(trace.trace_id, parent_id, parent_id != trace.span_id, flags, state) if parent_id else None
        )
        span = sdk.ReadableSpan(
            name=name,
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=attrs,
            kind=sdk.server if kind == 1 else sdk.client,
            status=sdk.error if failed else sdk.unset,
            start_time=start,
            end_time=end,
            instrumentation_scope=self._scope,
        )
        self._processor.on_end(span)

    # -- export thread -----------------------------------------------------------------------------
    def exported(self, n: int, ok: bool) -> None:
        self.pending = max(0, self.pending - n)
        if not ok:
            self.failed += n
            now = time.monotonic()
            if now - self._last_warning >= 60.0:
                self._last_warning = now
                log.warning("trace export to %s failed (%d spans lost so far)", self.settings.exports_to, self.failed)

    def take_counts(self) -> tuple[int, int]:
        """(dropped, failed) since the last call (the metrics flush reads them once a second)."""
        dropped, failed = self.dropped, self.failed
        self.dropped -= dropped
        self.failed -= failed
        return dropped, failed

    def shutdown(self) -> None:
        """Export what is queued (bounded by the exporter's timeout), then stop the thread."""
        self._processor.shutdown()  # type: ignore[no-untyped-call]


class _Sdk:
    """The SDK classes and constants a span is made of, looked up once per worker."""

    def __init__(self) -> None:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, TraceFlags, TraceState
        from opentelemetry.trace.status import Status, StatusCode

        self.ReadableSpan = ReadableSpan
        self.SpanContext = SpanContext
        self.sampled = TraceFlags(TraceFlags.SAMPLED)
        self.no_state = TraceState()
        self.server = SpanKind.SERVER
        self.client = SpanKind.CLIENT
        self.error = Status(StatusCode.ERROR)
        self.unset = Status(StatusCode.UNSET)


def _trace_state(raw: bytes | None) -> Any:
    from opentelemetry.trace import TraceState

    if not raw:
        return TraceState()
    try:
        return TraceState.from_header([raw.decode("latin-1")])
    except ValueError:
        return TraceState()


def _span_name(ctx: RequestContext, expr: Expression | None) -> str:
    if expr is not None:
        value = expr.eval(vars_of(ctx))
        if isinstance(value, str) and value:
            return value[:256]
    call = ctx.llm
    if call is not None:
        return f"{call.kind.operation} {call.request_model}".strip()
    method = ctx.request.method.decode("latin-1")
    prefix = ctx.matched_prefix
    if prefix is not None:
        return f"{method} {prefix.decode('latin-1')}"
    return method if ctx.route is None else f"{method} {ctx.route.name}"


def server_attributes(ctx: RequestContext) -> dict[str, Any]:
    """The server span's attributes: HTTP semantic conventions, the route, the gen_ai facts.
    No header, query or body: they may hold secrets."""
    req = ctx.request
    route = ctx.route
    # (few: the SDK's OTLP encoder costs about a microsecond per attribute, on the worker's GIL)
    a: dict[str, Any] = {
        "http.request.method": req.method.decode("latin-1"),
        "url.path": req.path.decode("latin-1")[:1024],
        "client.address": req.client_ip.decode("latin-1") if req.client_ip else req.client,
        "http.response.status_code": ctx.writer.status,
    }
    if route is not None:
        a["http.route"] = route.name
    call = ctx.llm
    if call is not None:
        a.update(genai.fields(call, ctx.usage))
        a["gen_ai.system"] = call.kind.provider
        del a["protocol"]
        if ctx.first_token:
            a["gen_ai.server.time_to_first_token"] = round(ctx.first_token - req.start, 6)
    if ctx.error is not None:
        a["error.type"] = ctx.error.reason
    elif ctx.reason is not UPSTREAM:
        a["error.type"] = ctx.reason.label
    return a


def client_attributes(ctx: RequestContext, attempt: Attempt, index: int) -> dict[str, Any]:
    host, _, port = attempt.endpoint.rpartition(":")
    a: dict[str, Any] = {
        "http.request.method": ctx.request.method.decode("latin-1"),
        "server.address": host or attempt.endpoint,
    }
    if port.isdigit():
        a["server.port"] = int(port)
    if attempt.status:
        a["http.response.status_code"] = attempt.status
    if index:
        a["http.request.resend_count"] = index
    if attempt.error is not None:
        a["error.type"] = attempt.error
    call = ctx.llm
    if call is not None:
        a["gen_ai.operation.name"] = call.kind.operation
        a["gen_ai.provider.name"] = call.kind.provider
        a["gen_ai.request.model"] = call.request_model
    return a


def _exporter(settings: TraceSettings) -> Any:
    headers = dict(settings.headers)
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        endpoint = settings.endpoint
        insecure = not endpoint.startswith("https://")
        return GrpcExporter(endpoint=endpoint, insecure=insecure, headers=headers or None, timeout=EXPORT_TIMEOUT)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=settings.exports_to, headers=headers or None, timeout=EXPORT_TIMEOUT)


def _counting(tracer: Tracer, inner: Any) -> Any:
    """The OTLP exporter, counting what it could not deliver (runs on the processor's thread).
    (Made here: the SDK is imported in workers only.)"""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class CountingExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            try:
                result = inner.export(spans)
            except Exception:
                result = SpanExportResult.FAILURE
            tracer.exported(len(spans), result == SpanExportResult.SUCCESS)
            return SpanExportResult(result)

        def shutdown(self) -> None:
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return bool(inner.force_flush(timeout_millis))

    return CountingExporter()
