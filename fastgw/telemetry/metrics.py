"""Prometheus metrics, with agentgateway's names and labels (all defined here).

Workers add to plain in-process tallies on the hot path (a dict update per request) and push
them into prometheus-client's multiprocess value files once a second; any worker answers
`/metrics` by merging every worker's files (prometheus-client's MultiProcessCollector), so the
numbers cover the whole instance and survive worker restarts and reloads. The supervisor points
PROMETHEUS_MULTIPROC_DIR at a private directory before the first fork (`prepare_dir`).

Labels whose values come from outside the config (the request's model, chosen by the client; the
response's, by the provider) are capped per worker (`CappedLabel`): a client inventing model names
cannot grow the worker's dicts, prometheus-client's children or its multiprocess file without
bound. The series of other labels are bounded by the config (routes, backends) and the protocol
(methods httptools knows, three-digit statuses, the gateway's reasons).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from fastgw import __version__

if TYPE_CHECKING:
    from fastgw.context import RequestContext
    from fastgw.telemetry.genai import GenAiCall
    from fastgw.telemetry.usage import Usage

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

#: what a capped label shows for values past its cap
OTHER: Final = "other"


@dataclass(frozen=True, slots=True)
class LabelLimits:
    """`config.metrics.maxLabelValues` / `maxLabelBytes`: per worker, distinct values kept for a
    label whose values come from clients or providers, and the bytes kept of each."""

    max_values: int = 100
    max_bytes: int = 256


class CappedLabel:
    """One such label's values in one worker: the first `max_values` distinct ones (cut to
    `max_bytes` of UTF-8) are kept for the worker's life; later new ones become `other` and are
    counted. A value seen before costs one dict lookup."""

    __slots__ = ("_kept", "_limits", "_seen", "name", "overflow")

    def __init__(self, name: str, limits: LabelLimits) -> None:
        self.name = name
        self._limits = limits
        # value as given -> label value; only kept values, and only so many of them (a client can
        # send many long values that cut to one kept label)
        self._seen: dict[str | None, str] = {None: "unknown", "": "unknown"}
        self._kept: set[str] = set()
        #: values counted as `other` since the last flush
        self.overflow = 0

    def __len__(self) -> int:
        """Distinct label values kept."""
        return len(self._kept)

    def value(self, given: str | None) -> str:
        label = self._seen.get(given)
        return label if label is not None else self._admit(given or "")

    def _admit(self, given: str) -> str:
        limits = self._limits
        label = given
        if len(given) * 4 > limits.max_bytes:  # maybe longer than max_bytes of UTF-8
            label = given.encode()[: limits.max_bytes].decode("utf-8", "ignore")
        if label not in self._kept:
            if len(self._kept) >= limits.max_values:
                self.overflow += 1
                return OTHER
            self._kept.add(label)
        if len(given) <= limits.max_bytes and len(self._seen) < 2 * limits.max_values + 2:
            self._seen[given] = label
        return label


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

    def __init__(self, label_limits: LabelLimits | None = None) -> None:
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
        self._mcp_requests = Counter(
            "agentgateway_mcp_requests",
            "MCP requests",
            ("method", "resource_type", "server", "resource", *ROUTE_LABELS),
            registry=None,
        )
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
        self._shed = Counter(
            "fastgw_connections_shed",
            "Downstream connections closed (idle, slow) or refused at the per-worker connection limit",
            ("kind",),
            registry=None,
        )
        limits = label_limits or LabelLimits()
        self._request_models = CappedLabel("gen_ai_request_model", limits)
        self._response_models = CappedLabel("gen_ai_response_model", limits)
        self._overflow = Counter(
            "fastgw_metrics_label_overflow",
            "Label values counted as `other` because the label had config.metrics.maxLabelValues values",
            ("label",),
            registry=None,
        )
        self._table_full_counter = Counter(
            "fastgw_ratelimit_table_full",
            "Requests whose rate-limit bucket could not get a slot in the shared table, by decision",
            ("decision",),
            registry=None,
        )
        # every child shown at 0 from the start, for alerts on increase
        for label in (self._request_models, self._response_models):
            self._overflow.labels(label.name)
        for decision in ("deny", "allow"):
            self._table_full_counter.labels(decision)
        # the latest reading of any live worker: the table is one for the instance
        self._buckets = Gauge(
            "fastgw_ratelimit_buckets",
            "Slots of the shared rate-limit table: in use, and in all (config.localRateLimit.maxBuckets)",
            ("state",),
            multiprocess_mode="livemostrecent",
            registry=None,
        )
        # rate-limit table full decisions since the last flush: [deny, allow]
        self._table_full = [0, 0]
        self._remote_counter = Counter(
            "fastgw_remote_ratelimit_events",
            "remoteRateLimit (redis) decisions and failures: allowed, denied, no_key, fail_open, fail_closed,"
            " timeout, error, garbage, breaker_open, breaker_opened, dropped, lease_local, bad_cost",
            ("event",),
            registry=None,
        )
        self._remote: dict[str, int] = {}
        self._key_tokens = Counter(
            "fastgw_virtual_key_tokens",
            "LLM tokens charged to virtual API keys (config.virtualKeys), by key name and model",
            ("key", "model"),
            registry=None,
        )
        self._key_usd = Counter(
            "fastgw_virtual_key_cost_usd",
            "Cost in USD charged to virtual API keys, by key name and model (models with a known price)",
            ("key", "model"),
            registry=None,
        )
        self._key_spend: dict[tuple[str, str], list[float]] = {}
        # per-request tallies, keyed by what identifies a label set without formatting it (route
        # identity, endpoint, llm?, method, status, reason); the labels are built once per key
        self._http: dict[tuple[Any, ...], list[Any]] = {}
        self._labels: dict[tuple[Any, ...], tuple[str, ...]] = {}
        # per (route identity, operation, provider, models): a histogram per token type
        self._genai: dict[tuple[Any, ...], list[Any]] = {}
        self._genai_labels: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self._route_labels: dict[int, tuple[str, ...]] = {}
        # MCP requests since the last flush, by their label values; names clients choose are capped
        self._mcp: dict[tuple[str, ...], int] = {}
        self._mcp_methods = CappedLabel("mcp_method", limits)
        self._mcp_resources = CappedLabel("mcp_resource", limits)

    # -- hot path ------------------------------------------------------------------------------
    def record(self, ctx: RequestContext, duration: float) -> None:
        call = ctx.llm
        error = ctx.error
        route = ctx.route
        short = (
            id(route),
            ctx.endpoint,
            "llm" if call is not None else "mcp" if ctx.mcp is not None else "http",
            ctx.request.method,
            ctx.writer.status,
            error.metric_reason if error is not None else ctx.reason.metric,
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
        if ctx.mcp is not None:
            self._record_mcp(ctx)

    def _record_mcp(self, ctx: RequestContext) -> None:
        m = ctx.mcp
        assert m is not None
        key = (
            self._mcp_methods.value(m.method),
            m.resource_type or "unknown",
            m.target or "unknown",
            self._mcp_resources.value(m.resource),
            *self._route(ctx),
        )
        self._mcp[key] = self._mcp.get(key, 0) + 1

    def _route(self, ctx: RequestContext) -> tuple[str, ...]:
        route = ctx.route
        rl = self._route_labels.get(id(route)) if route is not None else None
        return rl if rl is not None else self._route_tuple(ctx)

    def _label_values(self, ctx: RequestContext, short: tuple[Any, ...]) -> tuple[str, ...]:
        _, endpoint, protocol, method, status, reason = short
        return (
            endpoint or "unknown",
            protocol,
            method.decode("latin-1"),
            str(status),
            reason,
            *self._route(ctx),
        )

    def _record_tokens(self, call: GenAiCall, usage: Usage, ctx: RequestContext) -> None:
        # keyed by the capped label values: the dicts stay as bounded as the series
        request_model = self._request_models.value(call.request_model)
        response_model = self._response_models.value(call.response_model)
        short = (id(ctx.route), call.kind, request_model, response_model)
        histos = self._genai.get(short)
        if histos is None:
            # input and output are always observed; the cache types only when non-zero
            histos = self._genai[short] = [_Histo(len(TOKEN_BUCKETS)), _Histo(len(TOKEN_BUCKETS)), None, None]
            if short not in self._genai_labels:
                self._genai_labels[short] = self._genai_label_values(short, ctx)
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

    def _genai_label_values(self, short: tuple[Any, ...], ctx: RequestContext) -> tuple[str, ...]:
        _, kind, request_model, response_model = short
        return (kind.operation, kind.provider, request_model, response_model, *self._route(ctx))

    def rate_limit_buckets(self, used: int, slots: int) -> None:
        """The shared rate-limit table's use, read after this worker's sweep (once a second)."""
        self._buckets.labels("used").set(used)
        self._buckets.labels("slots").set(slots)

    def rate_limit_table_full(self, allowed: bool) -> None:
        """A rate-limit bucket found no slot in the shared table; `allowed`: failOpen let it by."""
        self._table_full[allowed] += 1

    def remote_rate_limit(self, event: str) -> None:
        """One remoteRateLimit decision or failure (see the counter's help for the events)."""
        self._remote[event] = self._remote.get(event, 0) + 1

    def key_spend(self, key: str, model: str, tokens: int, usd: float) -> None:
        """What a virtual key's response cost (names cut to 100 characters)."""
        label = (key[:100], model[:100])
        tally = self._key_spend.get(label)
        if tally is None:
            self._key_spend[label] = [tokens, usd]
        else:
            tally[0] += tokens
            tally[1] += usd

    def _route_tuple(self, ctx: RequestContext) -> tuple[str, ...]:
        route = ctx.route
        gw = ctx.bind.name
        if route is None:
            return (gw, gw, "unknown", "unknown", "unknown")
        rl = (gw, gw, route.listener, route.name, route.rule)
        self._route_labels[id(route)] = rl
        return rl

    def connections_shed(self, kind: str, n: int) -> None:
        """`n` connections shed at the connection limit (rare: straight into the counter)."""
        self._shed.labels(kind).inc(n)

    # -- once a second ---------------------------------------------------------------------------
    def flush(self) -> None:
        http, self._http = self._http, {}
        for short, (count, nbytes, h) in http.items():
            key = self._labels[short]
            self._requests.labels(*key).inc(count)
            if nbytes:
                self._bytes.labels(*key).inc(nbytes)
            _add(self._duration.labels(*key), h)
        mcp, self._mcp = self._mcp, {}
        for labels, n in mcp.items():
            self._mcp_requests.labels(*labels).inc(n)
        genai, self._genai = self._genai, {}
        for short, histos in genai.items():
            labels = self._genai_labels[short]
            for token_type, h in zip(_TOKEN_TYPES, histos, strict=True):
                if h is not None:
                    _add(self._tokens.labels(token_type, *labels), h)
        for label in (self._request_models, self._response_models, self._mcp_methods, self._mcp_resources):
            if label.overflow:
                self._overflow.labels(label.name).inc(label.overflow)
                label.overflow = 0
        for decision, n in zip(("deny", "allow"), self._table_full, strict=True):
            if n:
                self._table_full_counter.labels(decision).inc(n)
        self._table_full = [0, 0]
        if self._remote:
            remote, self._remote = self._remote, {}
            for event, n in remote.items():
                self._remote_counter.labels(event).inc(n)
        if self._key_spend:
            spend, self._key_spend = self._key_spend, {}
            for names, (tokens, usd) in spend.items():
                self._key_tokens.labels(*names).inc(tokens)
                if usd:
                    self._key_usd.labels(*names).inc(usd)


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
