"""Prometheus metrics, with agentgateway's names and labels (all defined here).

Workers add to plain in-process tallies on the hot path (a dict update per request) and push
them into prometheus-client's multiprocess value files once a second; any worker answers
`/metrics` by merging every worker's files (prometheus-client's MultiProcessCollector), so the
numbers cover the whole instance and survive worker restarts and reloads. The supervisor points
PROMETHEUS_MULTIPROC_DIR at a private directory before the first fork (`prepare_dir`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from bisect import bisect_left
from typing import TYPE_CHECKING, Any

from fastgw import __version__

if TYPE_CHECKING:
    from fastgw.backends.llm.usage import Usage
    from fastgw.context import RequestContext
    from fastgw.telemetry.genai import GenAiCall

ENV = "PROMETHEUS_MULTIPROC_DIR"

# label sets (agentgateway `crates/agentgateway/src/telemetry/metrics.rs`)
ROUTE_LABELS = ("bind", "gateway", "listener", "route", "route_rule")
HTTP_LABELS = ("backend", "protocol", "method", "status", "reason", *ROUTE_LABELS)
GENAI_LABELS = (
    "gen_ai_operation_name",
    "gen_ai_system",
    "gen_ai_request_model",
    "gen_ai_response_model",
    *ROUTE_LABELS,
)

DURATION_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80)
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864
# the same bounds as ints: token counts are ints, and an int compares faster with an int
_TOKEN_BOUNDS = tuple(int(bound) for bound in TOKEN_BUCKETS)

# gateway reason labels -> agentgateway's (dashboards filter on these)
REASONS = {
    "upstream": "Upstream",
    "direct_response": "DirectResponse",
    "route_not_found": "NotFound",
    "no_healthy_backend": "NoHealthyBackend",
    "internal": "Internal",
    "bad_request": "InvalidRequest",
    "malformed_request": "InvalidRequest",
    "not_implemented": "InvalidRequest",
    "method_not_allowed": "InvalidRequest",
    "uri_too_long": "InvalidRequest",
    "headers_too_large": "InvalidRequest",
    "payload_too_large": "InvalidRequest",
    "request_read_timeout": "Timeout",
    "request_timeout": "Timeout",
    "upstream_timeout": "Timeout",
    "upstream_connect": "UpstreamFailure",
    "upstream_protocol": "UpstreamFailure",
    "upstream_response_too_large": "UpstreamFailure",
    "upstream_pool_timeout": "UpstreamFailure",
    "rate_limited": "RateLimit",
    "authentication": "APIKeyAuth",
    "authorization": "Authorization",
    "cors": "DirectResponse",
    "client_disconnected": "Upstream",
}

# the token type label of each histogram slot (input and output always observed, the cache
# types only when non-zero: agentgateway leaves absent values out)
_TOKEN_TYPES = ("input", "output", "input_cache_read", "input_cache_write")


def prepare_dir() -> str:
    """Create the multiprocess directory and export it (call before importing prometheus_client
    anywhere in this process, and before forking)."""
    path = os.environ.get(ENV)
    if not path:
        path = tempfile.mkdtemp(prefix="fastgw-metrics-")
        os.environ[ENV] = path
    os.makedirs(path, exist_ok=True)
    return path


def remove_dir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def worker_exited(pid: int) -> None:
    """Drop the live gauges of a dead worker (its counters stay: totals never go backwards)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class _Histo:
    __slots__ = ("buckets", "sum")

    def __init__(self, n: int) -> None:
        self.buckets = [0] * (n + 1)  # the last slot is +Inf
        self.sum = 0.0


class Metrics:
    """One per worker. `record()` is the hot path; `flush()` runs once a second."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        # registry=None: the values go to the multiprocess files and `render()` reads them back
        # through a fresh registry, so nothing is registered process-wide (and a second Metrics in
        # one process, as in-process tests and benchmarks make, does not collide)
        self._requests = Counter("agentgateway_requests", "HTTP requests", HTTP_LABELS, registry=None)
        self._duration = Histogram(
            "agentgateway_request_duration_seconds",
            "HTTP request duration",
            HTTP_LABELS,
            buckets=DURATION_BUCKETS,
            registry=None,
        )
        self._bytes = Counter("agentgateway_response_bytes", "Response body bytes sent", HTTP_LABELS, registry=None)
        self._tokens = Histogram(
            "agentgateway_gen_ai_client_token_usage",
            "LLM tokens used per request",
            ("gen_ai_token_type", *GENAI_LABELS),
            buckets=TOKEN_BUCKETS,
            registry=None,
        )
        info = Gauge("agentgateway_build_info", "Build information", ("tag",), multiprocess_mode="max", registry=None)
        info.labels(__version__).set(1)
        synced = Gauge(
            "agentgateway_config_synchronized",
            "1 when the last config load succeeded",
            multiprocess_mode="max",
            registry=None,
        )
        synced.set(1)
        # per-request tallies, keyed by what identifies a label set without formatting it (route
        # identity, endpoint, llm?, method, status, reason); the labels are built once per key
        self._http: dict[tuple[Any, ...], list[Any]] = {}
        self._labels: dict[tuple[Any, ...], tuple[str, ...]] = {}
        # per (route identity, operation, provider, models): a histogram per token type
        self._genai: dict[tuple[Any, ...], list[Any]] = {}
        self._genai_labels: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self._route_labels: dict[int, tuple[str, ...]] = {}

    # -- hot path ------------------------------------------------------------------------------
    def record(self, ctx: RequestContext, duration: float) -> None:
        call = ctx.llm
        error = ctx.error
        route = ctx.route
        short = (
            id(route),
            ctx.endpoint,
            call is not None,
            ctx.request.method,
            ctx.writer.status,
            error.reason if error is not None else ctx.reason,
        )
        entry = self._http.get(short)
        if entry is None:
            entry = self._http[short] = [0, 0, _Histo(len(DURATION_BUCKETS))]
            if short not in self._labels:
                self._labels[short] = self._label_values(ctx, short)
        entry[0] += 1
        entry[1] += ctx.writer.bytes_sent
        h = entry[2]
        h.buckets[bisect_left(DURATION_BUCKETS, duration)] += 1
        h.sum += duration
        usage = ctx.usage
        if call is not None and usage is not None:
            self._record_tokens(call, usage, ctx)

    def _route(self, ctx: RequestContext) -> tuple[str, ...]:
        route = ctx.route
        rl = self._route_labels.get(id(route)) if route is not None else None
        return rl if rl is not None else self._route_tuple(ctx)

    def _label_values(self, ctx: RequestContext, short: tuple[Any, ...]) -> tuple[str, ...]:
        _, endpoint, llm, method, status, reason = short
        return (
            endpoint or "unknown",
            "llm" if llm else "http",
            method.decode("latin-1"),
            str(status),
            REASONS.get(reason, reason),
            *self._route(ctx),
        )

    def _record_tokens(self, call: GenAiCall, usage: Usage, ctx: RequestContext) -> None:
        short = (id(ctx.route), call.kind, call.request_model, call.response_model)
        histos = self._genai.get(short)
        if histos is None:
            # input and output are always observed; the cache types only when non-zero
            histos = self._genai[short] = [_Histo(len(TOKEN_BUCKETS)), _Histo(len(TOKEN_BUCKETS)), None, None]
            if short not in self._genai_labels:
                self._genai_labels[short] = self._genai_label_values(call, ctx)
        # (unrolled, in _TOKEN_TYPES' order)
        v = usage.input_tokens
        h = histos[0]
        h.buckets[bisect_left(_TOKEN_BOUNDS, v)] += 1
        h.sum += v
        v = usage.output_tokens
        h = histos[1]
        h.buckets[bisect_left(_TOKEN_BOUNDS, v)] += 1
        h.sum += v
        if usage.cache_read_tokens:
            _observe_cache(histos, 2, usage.cache_read_tokens)
        if usage.cache_write_tokens:
            _observe_cache(histos, 3, usage.cache_write_tokens)

    def _genai_label_values(self, call: GenAiCall, ctx: RequestContext) -> tuple[str, ...]:
        kind = call.kind
        return (
            kind.operation,
            kind.provider,
            call.request_model or "unknown",
            call.response_model or "unknown",
            *self._route(ctx),
        )

    def _route_tuple(self, ctx: RequestContext) -> tuple[str, ...]:
        route = ctx.route
        gw = ctx.bind.name
        if route is None:
            return (gw, gw, "unknown", "unknown", "unknown")
        rl = (gw, gw, route.listener, route.name, route.rule)
        self._route_labels[id(route)] = rl
        return rl

    # -- once a second ---------------------------------------------------------------------------
    def flush(self) -> None:
        http, self._http = self._http, {}
        for short, (count, nbytes, h) in http.items():
            key = self._labels[short]
            self._requests.labels(*key).inc(count)
            if nbytes:
                self._bytes.labels(*key).inc(nbytes)
            _add(self._duration.labels(*key), h)
        genai, self._genai = self._genai, {}
        for short, histos in genai.items():
            labels = self._genai_labels[short]
            for token_type, h in zip(_TOKEN_TYPES, histos, strict=True):
                if h is not None:
                    _add(self._tokens.labels(token_type, *labels), h)


def _observe_cache(histos: list[Any], slot: int, value: int) -> None:
    """A cache token count (its histogram made on first use: most requests have none)."""
    h = histos[slot]
    if h is None:
        h = histos[slot] = _Histo(len(TOKEN_BUCKETS))
    h.buckets[bisect_left(_TOKEN_BOUNDS, value)] += 1
    h.sum += value


def _add(child: Any, h: _Histo) -> None:
    """Add a batch of observations to a prometheus-client histogram child."""
    child._sum.inc(h.sum)
    for i, n in enumerate(h.buckets):
        if n:
            child._buckets[i].inc(n)


def render() -> bytes:
    """The Prometheus text exposition of every worker's metrics."""
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return bytes(generate_latest(registry))
