"""The `config:` block: process-level settings, read at startup."""

from __future__ import annotations

from typing import Literal

import msgspec

from fastgw.config.schema_base import Duration, Problems, Secret, Spec
from fastgw.config.schema_policies import Keepalives, RedisTarget

MiB = 1024 * 1024


class HttpLimits(Spec, frozen=True, kw_only=True):
    """fastgw's downstream HTTP/1.1 limits (`config.http`). Defaults are sized for LLM traffic.

    `frontendPolicies.http` (maxBufferSize, http1MaxHeaders, http1IdleTimeout) overrides the
    matching limits when set, so agentgateway configs keep their meaning.
    """

    max_request_line: int = 8 * 1024
    """Longest request line (method + target + version) in bytes; longer -> 414. 8 KiB, as nginx."""
    max_header_bytes: int = 64 * 1024
    """Largest header block in bytes; larger -> 431. 64 KiB leaves room for big cookies and the long
    `anthropic-beta`/tracing headers agent clients send."""
    max_headers: int = 100
    """Most header fields; more -> 431. 100, agentgateway's (hyper's) default."""
    max_body_bytes: int = 32 * MiB
    """Largest request body; larger -> 413 before reading it. 32 MiB is Anthropic's Messages request
    limit and above OpenAI's per-request image payloads, so any body a provider accepts gets through,
    while a runaway upload cannot exhaust a worker's memory."""
    header_read_timeout: Duration = 10.0
    """Deadline for a request's head, counted from its first byte however slowly the rest arrives;
    over -> 408 (slowloris guard)."""
    body_read_timeout: Duration = 60.0
    """Deadline for reading the whole request body, from the end of its head; over -> 408
    (32 MiB needs ~4.5 Mbit/s)."""
    min_body_rate: int = 1024
    """Bytes per second a request body must keep up over each `bodyRateWindow` while the gateway
    reads it; slower -> 408. Time the gateway itself holds the body back (a slow upstream, a
    pending `100-continue`) never counts. 1 KiB/s (10 KiB per 10 s) is a fraction of what even a
    2G mobile link sends; 0 turns the rule off."""
    body_rate_window: Duration = 10.0
    """The window `minBodyRate` is measured over (a client may stall within it)."""
    max_connections: int | None = None
    """Downstream connections per worker. At the limit a new connection sheds the idle keep-alive
    connections that have waited longest, then the slowest head/body readers (counted in
    `fastgw_connections_shed_total` and logged at most once a second); a new connection is refused
    only when every other one carries a request in progress. Default: half of what the open-file
    limit (`ulimit -n`) leaves after 64 descriptors, since a proxied connection may hold an
    upstream one too."""
    merge_slashes: bool = False
    """Path normalization: merge runs of `/` (`/a//b` -> `/a/b`) before routing and forwarding.
    The path is always normalized otherwise: `%XX` of unreserved characters decoded, other
    percent-encodings upper-cased, dot segments removed (RFC 3986 §5.2.4), a malformed
    percent-encoding -> 400; the query is never changed."""
    reject_escaped_slashes: bool = False
    """Path normalization: answer 400 to a path holding `%2F` or `%5C` (an encoded slash or backslash),
    which are otherwise kept encoded (never decoded: a backend that decodes them could see a path
    the routes did not)."""
    idle_timeout: Duration = 60.0
    """Keep-alive idle time before the gateway closes a connection; longer than SDK pool expiry
    (httpx: 5s) so a client never reuses a connection the gateway is closing."""
    max_pipelined: int = 16
    """Requests queued behind the one in progress on a pipelining connection; reading pauses above."""
    drain_timeout: Duration = 30.0
    """On SIGTERM/reload, how long in-flight requests (streams included) may finish
    (`config.connectionTerminationDeadline` overrides it)."""

    def problems(self) -> Problems:
        for key, value in (
            ("maxRequestLine", self.max_request_line),
            ("maxHeaderBytes", self.max_header_bytes),
            ("maxHeaders", self.max_headers),
            ("maxBodyBytes", self.max_body_bytes),
            ("maxPipelined", self.max_pipelined),
            ("maxConnections", 1 if self.max_connections is None else self.max_connections),
        ):
            if value < 1:
                yield key, "must be at least 1"
        if self.min_body_rate < 0:
            yield "minBodyRate", "must not be negative (0 turns the rule off)"
        for key, secs in (
            ("headerReadTimeout", self.header_read_timeout),
            ("bodyReadTimeout", self.body_read_timeout),
            ("bodyRateWindow", self.body_rate_window),
            ("idleTimeout", self.idle_timeout),
        ):
            if secs <= 0:
                yield key, "must be greater than 0"
        if self.max_request_line > self.max_header_bytes:
            yield "maxRequestLine", "must not exceed maxHeaderBytes"


class LogFields(Spec, frozen=True, kw_only=True):
    """Fields added (CEL values) or removed."""

    add: dict[str, str] = {}
    """Field name -> CEL expression."""
    remove: list[str] = []
    """Field names removed."""


class Logging(Spec, frozen=True, kw_only=True):
    """Process logging and (older spelling) access-log shaping."""

    NOT_SUPPORTED = frozenset({"database"})
    NOT_SUPPORTED_CHECKED = frozenset({"filter", "fields"})
    level: str | list[str] | None = None
    """`info`, `debug`... or per-module `info,fastgw.http=debug` (string or list)."""
    format: Literal["text", "json"] | None = None
    """Log line format (default text)."""
    filter: str | None = None
    """CEL; only matching requests are logged (older spelling of frontendPolicies.accessLog.filter)."""
    fields: LogFields | None = None
    """Access-log fields (older spelling of frontendPolicies.accessLog.add/remove)."""

    def problems(self) -> Problems:
        if self.level is not None:
            from fastgw.config.log_levels import LevelSpecError, parse_levels

            try:
                parse_levels(self.level)
            except LevelSpecError as exc:
                yield "level", str(exc)


class Tracing(Spec, frozen=True, kw_only=True):
    """OTLP trace export (older spelling of frontendPolicies.tracing)."""

    otlp_endpoint: str | None = None
    """Collector URL, e.g. `http://127.0.0.1:4317`."""
    otlp_protocol: Literal["grpc", "http"] | None = None
    """OTLP transport (default grpc)."""
    headers: dict[str, str] = {}
    """Headers on export requests (e.g. auth)."""
    path: str | None = None
    """OTLP/HTTP path (default /v1/traces)."""
    fields: LogFields | None = None
    """Span attributes added (CEL) or removed; `span.name` renames the span."""
    random_sampling: bool | float | str | None = None
    """Sampling of new traces: true/false, a ratio, or a string ('true', '0.25', CEL)."""
    client_sampling: bool | float | str | None = None
    """Whether to honour a client's sampled trace context."""


class MetricFields(Spec, frozen=True, kw_only=True):
    """Extra metric labels."""

    add: dict[str, str] = {}
    """Label -> CEL expression, added to request/LLM/MCP metrics."""


class Metrics(Spec, frozen=True, kw_only=True):
    """Metric shaping."""

    NOT_SUPPORTED_CHECKED = frozenset({"remove", "fields"})
    remove: list[str] = []
    """Metric families not exported."""
    fields: MetricFields | None = None
    """Extra labels."""
    max_label_values: int = 100
    """fastgw: distinct values each worker keeps for a label whose values come from clients or
    providers (`gen_ai_request_model`, `gen_ai_response_model`); later new values are counted as
    `other`, and in `fastgw_metrics_label_overflow_total{label}`. Bounds the series (and the
    memory) a client can create by inventing model names."""
    max_label_bytes: int = 256
    """fastgw: longest such label value kept, in UTF-8 bytes; a longer one is cut there."""

    def problems(self) -> Problems:
        if self.max_label_values < 0:
            yield "maxLabelValues", "must be at least 0"
        if self.max_label_bytes < 1:
            yield "maxLabelBytes", "must be at least 1"


class UpstreamPool(Spec, frozen=True, kw_only=True):
    """Upstream connections and the limits on provider answers (`config.backend`); per worker."""

    NOT_SUPPORTED_CHECKED = frozenset({"keepalives"})
    keepalives: Keepalives | None = None
    """TCP keepalives."""
    connect_timeout: Duration = 10.0
    """Connect deadline (-> 504 on expiry). It also bounds the wait for a free connection when an
    origin has `maxConnectionsPerOrigin` requests under way (-> 503 `upstream_pool_timeout`)."""
    pool_idle_timeout: Duration = 90.0
    """Idle pooled connections are closed after this."""
    pool_max_size: int | None = None
    """Most idle keep-alive connections kept per origin (agentgateway's meaning); a connection
    finishing a request beyond it is closed. Default: as many as `maxConnectionsPerOrigin`."""
    max_connections_per_origin: int = 1024
    """fastgw: most connections open (busy or idle) to one origin; requests beyond it wait for a
    connection to free up, at most `connectTimeout`, then get 503 `upstream_pool_timeout` (in the
    client's dialect on LLM routes)."""
    max_response_header_bytes: int = 64 * 1024
    """fastgw: largest upstream response head (status line and fields); larger -> 502
    `upstream_response_too_large`."""
    max_buffered_body_bytes: int = 32 * MiB
    """fastgw: largest provider answer the gateway holds whole: a JSON answer it translates, an
    error body it translates or scrubs of the backend key; larger -> 502
    `upstream_response_too_large`. Answers forwarded as they are (same format, and every stream) are
    streamed through whatever their size, with their usage read as they pass."""

    def problems(self) -> Problems:
        for key, value in (
            ("poolMaxSize", self.pool_max_size),
            ("maxConnectionsPerOrigin", self.max_connections_per_origin),
            ("maxResponseHeaderBytes", self.max_response_header_bytes),
            ("maxBufferedBodyBytes", self.max_buffered_body_bytes),
        ):
            if value is not None and value < (0 if key == "poolMaxSize" else 1):
                yield key, "must be at least 0" if key == "poolMaxSize" else "must be at least 1"
        if self.connect_timeout <= 0:
            yield "connectTimeout", "must be greater than 0"


class Session(Spec, frozen=True, kw_only=True):
    """Session token protection (MCP sessions)."""

    key: Secret
    """AES-256-GCM key, hex (`openssl rand -hex 32`)."""


class ProcessMcp(Spec, frozen=True, kw_only=True):
    """MCP process settings."""

    session_ttl: Duration | None = None
    """Idle MCP session lifetime (default 30m)."""


class Tokenizer(Spec, frozen=True):
    """fastgw: local token counting (token rate limits with `tokenize: true`, local
    `count_tokens`, streams that end without a usage block). Without a vocabulary file a fast
    estimator is used; the gateway never downloads one."""

    vocabulary: str | None = None
    """Path of a tiktoken rank file (e.g. `cl100k_base.tiktoken`) for exact counts."""
    encoding: Literal["cl100k_base", "o200k_base"] = "cl100k_base"
    """Which pre-tokenization pattern the vocabulary uses."""


class LocalRateLimitTable(Spec, frozen=True, kw_only=True):
    """fastgw: the shared-memory table of the instance's `localRateLimit` buckets (read at start).

    A reload keeps the table and the buckets in it (`config.localRateLimit`)."""

    max_buckets: int = 16384
    """Slots in the table (128 bytes each), fixed at start. A bucket that has been full (refilled to
    `maxTokens`) for a second is reclaimed, and made again, full, when next used, so this bounds the
    buckets in use at one time, not the keys ever seen. At most 16777216."""
    failure_mode: Literal["failClosed", "failOpen"] = "failClosed"
    """What happens to a request whose bucket cannot get a slot (every slot holds a bucket that is
    not full): `failClosed` answers 429 `rate limit exceeded`, `failOpen` lets it through without
    that limit. Each decision is counted in `fastgw_ratelimit_table_full_total{decision}`."""

    def problems(self) -> Problems:
        if not 1 <= self.max_buckets <= 1 << 24:
            yield "maxBuckets", "must be between 1 and 16777216"


class ModelPrice(Spec, frozen=True, kw_only=True):
    """USD per 1M tokens of one model."""

    input: float
    """Input (prompt) tokens not read from a cache."""
    output: float
    """Output tokens."""
    cache_read: float | None = None
    """Input tokens read from the provider's cache (default: the input price)."""
    cache_write: float | None = None
    """Input tokens written to the provider's cache (default: the input price)."""

    def problems(self) -> Problems:
        for key, v in (
            ("input", self.input),
            ("output", self.output),
            ("cacheRead", self.cache_read),
            ("cacheWrite", self.cache_write),
        ):
            if v is not None and v < 0:
                yield key, "must not be negative"


class VirtualKeys(Spec, frozen=True, kw_only=True):
    """fastgw: API keys created at run time (admin API `/keys`, `fastgw keys`), stored hashed in
    Redis with their metadata and budgets; an `apiKey` policy with `virtualKeys: true` accepts them."""

    redis: RedisTarget
    """Where the keys and their spend live (shared by every instance using it)."""
    prices: dict[str, ModelPrice] = {}
    """Model prices (USD per 1M tokens) on top of the built-in table; a name ending in `*` is a prefix."""


class ProcessConfig(Spec, frozen=True, kw_only=True):
    """`config:`: process-level settings; read at startup."""

    NOT_SUPPORTED = frozenset(
        {
            "dns",
            "localXdsPath",
            "modelCatalog",
            "database",
            "storage",
            "caAddress",
            "caAuthToken",
            "xdsAddress",
            "xdsAuthToken",
            "spiffe",
            "namespace",
            "gateway",
            "trustDomain",
            "additionalTrustDomains",
            "skipValidateTrustDomain",
            "serviceAccount",
            "clusterId",
            "network",
            "standardAttributes",
            "customFunctions",
            "hbone",
        }
    )
    NOT_SUPPORTED_CHECKED = frozenset({"tracing", "connectionMinTerminationDeadline"})
    PARTLY_SUPPORTED = {
        "enableIpv6": "false only: binds listen on IPv4",
        "histograms": "classic only",
        "sensitiveHeaders": "accepted; fastgw logs no request headers at all",
        "mcp": "sessionTtl counts from the session's initialize, not from its last request",
    }
    admin_addr: str = "127.0.0.1:15000"
    """Admin API address ("ip:port" or "off")."""
    stats_addr: str = "0.0.0.0:15020"
    """Prometheus `/metrics` address ("ip:port" or "off")."""
    readiness_addr: str = "0.0.0.0:15021"
    """`GET /healthz/ready` address: 200 once every worker serves ("ip:port" or "off")."""
    worker_threads: int | str | None = None
    """Worker processes: a number, or "50%" of CPUs (CLI `-w` wins; default CPU count)."""
    enable_ipv6: bool | None = None
    """Resolve and bind IPv6 (default true)."""
    histograms: Literal["classic", "native", "both"] | None = None
    """Histogram kind (fastgw exports classic)."""
    logging: Logging | None = None
    """Logging."""
    tracing: Tracing | None = None
    """Trace export."""
    metrics: Metrics | None = None
    """Metric shaping."""
    backend: UpstreamPool | None = None
    """Upstream connections: pool, timeouts, limits on provider answers."""
    session: Session | None = None
    """Session token key."""
    mcp: ProcessMcp | None = None
    """MCP settings."""
    sensitive_headers: list[str] = []
    """Extra request headers redacted in traces and logs."""
    connection_termination_deadline: Duration | None = None
    """Longest graceful drain on shutdown/reload (overrides http.drainTimeout)."""
    connection_min_termination_deadline: Duration | None = None
    """Shortest drain: keep serving this long after SIGTERM even when idle."""
    http: HttpLimits = msgspec.field(default_factory=HttpLimits)
    """fastgw HTTP/1.1 limits and timeouts."""
    tokenizer: Tokenizer | None = None
    """fastgw: local token counting (vocabulary file or estimator)."""
    local_rate_limit: LocalRateLimitTable = msgspec.field(default_factory=LocalRateLimitTable)
    """fastgw: the shared table behind every `localRateLimit` policy (size, what a full one does)."""
    virtual_keys: VirtualKeys | None = None
    """fastgw: API keys created at run time, with budgets (kept in Redis)."""

    def problems(self) -> Problems:
        if isinstance(self.worker_threads, int) and self.worker_threads < 1:
            yield "workerThreads", "must be at least 1"
        if isinstance(self.worker_threads, str):
            text = self.worker_threads.strip()
            ok = text.isdigit() or (text.endswith("%") and text[:-1].isdigit()) or text == "auto"
            if not ok:
                yield "workerThreads", 'expected a number, "auto" or a percentage such as "50%"'
