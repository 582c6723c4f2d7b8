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

`config.metrics.fields.add` labels (CEL, e.g. `user_id: jwt.sub`) are appended to the request and
GenAI families; they are capped the same way, and a label whose expression has no value is empty.
`config.metrics.remove` leaves families out of `/metrics`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from fastgw import __version__

if TYPE_CHECKING:
    from fastgw.context import RequestContext
    from fastgw.telemetry.fields import CelFields
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
# the GenAI semantic conventions' advised bounds (agentgateway uses them)
GENAI_DURATION_BUCKETS = tuple(0.01 * 2**i for i in range(14))  # 0.01 ... 81.92 s
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TPOT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
TCP_LABELS = ("bind", "gateway", "listener", "protocol")
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

    def __init__(self, name: str, limits: LabelLimits, empty: str = "unknown") -> None:
        self.name = name
        self._limits = limits
        # value as given -> label value; only kept values, and only so many of them (a client can
        # send many long values that cut to one kept label)
        self._seen: dict[str | None, str] = {None: empty, "": empty}
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


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def reserved_label_problem(name: str) -> str | None:
    """Why `name` cannot be a `config.metrics.fields.add` label (None: it can)."""
    if not _LABEL_NAME.match(name) or name.startswith("__"):
        return "not a Prometheus label name (letters, digits and _, not starting with a digit or __)"
    if name in HTTP_LABELS or name in GENAI_LABELS or name in ("gen_ai_token_type", "le"):
        return f"{name} is already a label of the gateway's metrics"
    return None


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

    def __init__(self, label_limits: LabelLimits | None = None, fields: CelFields | None = None) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        limits = label_limits or LabelLimits()
        #: config.metrics.remove: families left out of /metrics
        self.removed: frozenset[str] = frozenset()
        #: config.metrics.fields.add: the expressions and each label's capped values
        self._fields = fields
        self._custom: tuple[CappedLabel, ...] = ()
        custom: tuple[str, ...] = ()
        if fields is not None:
            custom = fields.names
            self._custom = tuple(CappedLabel(name, limits, empty="") for name in custom)

        # registry=None: the values go to the multiprocess files and `render()` reads them back
        # through a fresh registry, so nothing is registered process-wide (and a second Metrics in
        # one process, as in-process tests and benchmarks make, does not collide)
        self._requests = Counter("agentgateway_requests", "HTTP requests", (*HTTP_LABELS, *custom), registry=None)
        self._duration = Histogram(
            "agentgateway_request_duration_seconds",
            "HTTP request duration",
            (*HTTP_LABELS, *custom),
            buckets=DURATION_BUCKETS,
            registry=None,
        )
        self._retries = Counter(
            "agentgateway_retries", "Upstream attempts after the first", (*HTTP_LABELS, *custom), registry=None
        )
        self._genai_duration = Histogram(
            "agentgateway_gen_ai_server_request_duration",
            "LLM request duration (seconds)",
            (*GENAI_LABELS, *custom),
            buckets=GENAI_DURATION_BUCKETS,
            registry=None,
        )
        self._ttft = Histogram(
            "agentgateway_gen_ai_server_time_to_first_token",
            "Time to the first streamed event of an LLM answer (seconds)",
            (*GENAI_LABELS, *custom),
            buckets=TTFT_BUCKETS,
            registry=None,
        )
        self._tpot = Histogram(
            "agentgateway_gen_ai_server_time_per_output_token",
            "Time per output token after the first, of a streamed LLM answer (seconds)",
            (*GENAI_LABELS, *custom),
            buckets=TPOT_BUCKETS,
            registry=None,
        )
        self._upstream_call = Histogram(
            "agentgateway_upstream_call_duration_seconds",
            "Upstream call duration, from sending the request until its answer ended",
            ("kind", "subtype"),
            buckets=DURATION_BUCKETS,
            registry=None,
        )
        self._connections = Counter(
            "agentgateway_downstream_connections", "Downstream connections accepted", TCP_LABELS, registry=None
        )
        self._bytes = Counter(
            "agentgateway_response_bytes", "Response body bytes sent", (*HTTP_LABELS, *custom), registry=None
        )
        self._mcp_requests = Counter(
            "agentgateway_mcp_requests",
            "MCP requests",
            ("method", "resource_type", "server", "resource", *ROUTE_LABELS),
            registry=None,
        )
        self._tokens = Histogram(
            "agentgateway_gen_ai_client_token_usage",
            "LLM tokens used per request",
            ("gen_ai_token_type", *GENAI_LABELS, *custom),
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
        for label in (self._request_models, self._response_models, *self._custom):
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
        self._trace_dropped = Counter(
            "fastgw_trace_spans_dropped", "Spans dropped because the export queue was full", registry=None
        )
        self._trace_failed = Counter(
            "fastgw_trace_export_failures", "Spans the collector did not accept (export errors)", registry=None
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
        # per the same key: [request duration, time to first token, time per output token]
        self._genai_times: dict[tuple[Any, ...], list[Any]] = {}
        # subtype ("Http", "Llm") -> upstream call durations
        self._upstream: dict[str, _Histo] = {}
        # bind name -> connections accepted since the last flush
        self._accepted: dict[str, int] = {}
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
        short: tuple[Any, ...] = (
            id(route),
            ctx.endpoint,
            "llm" if call is not None else "mcp" if ctx.mcp is not None else "http",
            ctx.request.method,
            ctx.writer.status,
            error.metric_reason if error is not None else ctx.reason.metric,
        )
        custom = None
        if self._fields is not None:
            custom = self._custom_values(ctx)
            short += (custom,)
        entry = self._http.get(short)
        if entry is None:
            entry = self._http[short] = [0, 0, _Histo(len(DURATION_BUCKETS)), 0]
            if short not in self._labels:
                self._labels[short] = self._label_values(ctx, short)
        entry[0] += 1
        entry[1] += ctx.writer.bytes_sent
        h = entry[2]
        h.buckets[bisect_left(DURATION_BUCKETS, duration)] += 1
        h.sum += duration
        if ctx.attempt:
            entry[3] += ctx.attempt
        if ctx.upstream_start:
            self._upstream_time(call is not None, ctx.worker.loop.time() - ctx.upstream_start)
        if call is not None:
            self._record_genai(call, ctx, custom, duration)
        if ctx.mcp is not None:
            self._record_mcp(ctx)

    def _upstream_time(self, llm: bool, seconds: float) -> None:
        subtype = "Llm" if llm else "Http"
        h = self._upstream.get(subtype)
        if h is None:
            h = self._upstream[subtype] = _Histo(len(DURATION_BUCKETS))
        h.buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1
        h.sum += seconds

    def _record_genai(
        self, call: GenAiCall, ctx: RequestContext, custom: tuple[str, ...] | None, duration: float
    ) -> None:
        # keyed by the capped label values: the dicts stay as bounded as the series
        request_model = self._request_models.value(call.request_model)
        response_model = self._response_models.value(call.response_model)
        short: tuple[Any, ...] = (id(ctx.route), call.kind, request_model, response_model)
        if custom is not None:
            short += (custom,)
        if short not in self._genai_labels:
            self._genai_labels[short] = self._genai_label_values(short, ctx)
        times = self._genai_times.get(short)
        if times is None:
            times = self._genai_times[short] = [_Histo(len(GENAI_DURATION_BUCKETS)), None, None]
        _observe(times[0], GENAI_DURATION_BUCKETS, duration)
        usage = ctx.usage
        first = ctx.first_token
        if first:
            ttft = first - ctx.request.start
            if times[1] is None:
                times[1] = _Histo(len(TTFT_BUCKETS))
            _observe(times[1], TTFT_BUCKETS, ttft)
            if usage is not None and usage.output_tokens > 1:
                if times[2] is None:
                    times[2] = _Histo(len(TPOT_BUCKETS))
                _observe(times[2], TPOT_BUCKETS, (duration - ttft) / (usage.output_tokens - 1))
        if usage is not None:
            self._record_tokens(short, usage)

    def connection_accepted(self, bind: str) -> None:
        """A downstream connection on `bind` (its name, `bind/3000`)."""
        self._accepted[bind] = self._accepted.get(bind, 0) + 1

    def _custom_values(self, ctx: RequestContext) -> tuple[str, ...]:
        """The `config.metrics.fields.add` labels of a request, capped."""
        from fastgw.telemetry.fields import label_text

        assert self._fields is not None
        values = self._fields.values(ctx)
        return tuple(label.value(label_text(v)) for label, v in zip(self._custom, values, strict=True))

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
        _, endpoint, protocol, method, status, reason = short[:6]
        return (
            endpoint or "unknown",
            protocol,
            method.decode("latin-1"),
            str(status),
            reason,
            *self._route(ctx),
            *(short[6] if len(short) > 6 else ()),
        )

    def _record_tokens(self, short: tuple[Any, ...], usage: Usage) -> None:
        histos = self._genai.get(short)
        if histos is None:
            # input and output are always observed; the cache types only when non-zero
            histos = self._genai[short] = [_Histo(len(TOKEN_BUCKETS)), _Histo(len(TOKEN_BUCKETS)), None, None]
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
        _, kind, request_model, response_model = short[:4]
        custom = short[4] if len(short) > 4 else ()
        return (kind.operation, kind.provider, request_model, response_model, *self._route(ctx), *custom)

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

    def trace_losses(self, dropped: int, failed: int) -> None:
        """Spans the tracer dropped or failed to export since its last report (once a second)."""
        if dropped:
            self._trace_dropped.inc(dropped)
        if failed:
            self._trace_failed.inc(failed)

    def connections_shed(self, kind: str, n: int) -> None:
        """`n` connections shed at the connection limit (rare: straight into the counter)."""
        self._shed.labels(kind).inc(n)

    # -- once a second ---------------------------------------------------------------------------
    def flush(self) -> None:
        http, self._http = self._http, {}
        for short, (count, nbytes, h, retries) in http.items():
            key = self._labels[short]
            self._requests.labels(*key).inc(count)
            if nbytes:
                self._bytes.labels(*key).inc(nbytes)
            if retries:
                self._retries.labels(*key).inc(retries)
            _add(self._duration.labels(*key), h)
        times, self._genai_times = self._genai_times, {}
        for short, (dur, ttft, tpot) in times.items():
            labels = self._genai_labels[short]
            _add(self._genai_duration.labels(*labels), dur)
            if ttft is not None:
                _add(self._ttft.labels(*labels), ttft)
            if tpot is not None:
                _add(self._tpot.labels(*labels), tpot)
        upstream, self._upstream = self._upstream, {}
        for subtype, h in upstream.items():
            _add(self._upstream_call.labels("Primary", subtype), h)
        accepted, self._accepted = self._accepted, {}
        for bind, n in accepted.items():
            self._connections.labels(bind, bind, "", "http").inc(n)
        mcp, self._mcp = self._mcp, {}
        for labels, n in mcp.items():
            self._mcp_requests.labels(*labels).inc(n)
        genai, self._genai = self._genai, {}
        for short, histos in genai.items():
            labels = self._genai_labels[short]
            for token_type, h in zip(_TOKEN_TYPES, histos, strict=True):
                if h is not None:
                    _add(self._tokens.labels(token_type, *labels), h)
        for label in (
            self._request_models,
            self._response_models,
            self._mcp_methods,
            self._mcp_resources,
            *self._custom,
        ):
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


def _observe(h: _Histo, bounds: tuple[float, ...], value: float) -> None:
    h.buckets[bisect_left(bounds, value)] += 1
    h.sum += value


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


def render(remove: frozenset[str] = frozenset()) -> bytes:
    """The Prometheus text exposition of every worker's metrics, without the families `remove`
    names (`config.metrics.remove`: with or without the `agentgateway_` prefix and `_total`)."""
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    collector = multiprocess.MultiProcessCollector(None)  # type: ignore[no-untyped-call]
    if remove:
        removed = {_family_key(name) for name in remove}
        registry.register(_Filtered(collector, removed))
    else:
        registry.register(collector)
    return bytes(generate_latest(registry))


def _family_key(name: str) -> str:
    name = name.removeprefix("agentgateway_")
    return name.removesuffix("_total")


class _Filtered:
    """A collector without some families."""

    def __init__(self, inner: Any, removed: set[str]) -> None:
        self._inner = inner
        self._removed = removed

    def collect(self) -> Any:
        for family in self._inner.collect():
            if _family_key(family.name) not in self._removed:
                yield family
