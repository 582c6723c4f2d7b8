"""Policies: the traffic policies (agentgateway `FilterOrPolicy`) and the containers that hold them.

`RoutePolicies` is the full set a route accepts; `BackendPolicies` the set on a backend;
`ListenerPolicies` the gateway-phase set on a listener; `TransportPolicies` the set for side
services (ext_authz, rate-limit service, MCP targets). What runs, and in which order, is decided by
the pipeline, not here.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from fastgw.config.schema_base import (
    BackendRef,
    Duration,
    FileOrInline,
    HeaderModifier,
    HostPort,
    HttpStatus,
    KeyLocation,
    Port,
    Problems,
    Secret,
    SecretInlineOrRemote,
    SecretOrFile,
    Spec,
)

AuthMode = Literal["strict", "optional", "permissive"]


class Cors(Spec, frozen=True, kw_only=True):
    """CORS: preflights answered by the gateway, CORS headers added to allowed responses."""

    allow_origins: list[str] = []
    """Allowed origins; `*` allows any."""
    allow_headers: list[str] = []
    """Request headers allowed in preflights; `*` allows any."""
    allow_methods: list[str] = []
    """Methods allowed in preflights; `*` allows any."""
    expose_headers: list[str] = []
    """Response headers exposed to the browser."""
    allow_credentials: bool = False
    """Send `Access-Control-Allow-Credentials: true`."""
    max_age: Duration | None = None
    """How long browsers may cache a preflight answer."""


class SecretKey(Spec, frozen=True, kw_only=True):
    """Long form of a backend key: the value (inline or file) and where to put it."""

    value: SecretOrFile
    """The credential."""
    location: KeyLocation | None = None
    """Where to send it (default: the provider's auth header, `Authorization: Bearer` for plain hosts)."""


class Passthrough(Spec, frozen=True, kw_only=True):
    """Forward the validated inbound JWT to the backend."""

    location: KeyLocation | None = None
    """Where to put it on the backend request."""


class BackendCredential(Spec, frozen=True, kw_only=True):
    """An extra credential sent to the backend."""

    location: KeyLocation
    """Where it goes."""
    key: SecretOrFile
    """The credential."""


class BackendAuth(Spec, frozen=True, kw_only=True):
    """Credential the gateway sends to the backend; whatever the client sent is not forwarded.

    Short form `{key: "$OPENAI_API_KEY"}` sends it in the provider's usual header (OpenAI
    `Authorization: Bearer`, Anthropic `x-api-key`).
    """

    NOT_SUPPORTED = frozenset({"gcp", "aws", "azure", "jwtSign", "oauthTokenExchange", "crossAppAccess"})
    NOT_SUPPORTED_CHECKED = frozenset({"credentials"})
    PARTLY_SUPPORTED = {"passthrough": "on host backends, forwarding the token jwtAuth validated (not on ai backends)"}
    NOT_SUPPORTED_SCALARS = frozenset({"copilot"})
    AT_MOST_ONE = (
        (
            "key",
            "passthrough",
            "gcp",
            "aws",
            "azure",
            "jwtSign",
            "oauthTokenExchange",
            "crossAppAccess",
        ),
    )
    key: Secret | FileRefOrSecretKey | None = None
    """The credential: a string, `{file: path}`, or `{value: ..., location: {header: {name, prefix}}}`."""
    passthrough: Passthrough | None = None
    """Forward the inbound JWT instead."""
    credentials: list[BackendCredential] | None = None
    """Extra credentials, each with its location; may accompany another kind."""

    def problems(self) -> Problems:
        if self.key is None and self.passthrough is None and self.credentials is None:
            yield "", "missing one of: key, passthrough, credentials"


class FileRefOrSecretKey(Spec, frozen=True, kw_only=True):
    """`{file: path}` or `{value: ..., location: ...}` (two dict shapes of backendAuth.key)."""

    ONE_OF = (("file", "value"),)
    file: str | None = None
    """Read the key from this file."""
    value: SecretOrFile | None = None
    """The key, inline or `{file: path}`."""
    location: KeyLocation | None = None
    """Where to send the key (only with `value`)."""

    def problems(self) -> Problems:
        if self.file is not None and self.location is not None:
            yield "location", "use {value: {file: ...}, location: ...} to give a location for a file key"


class LocalRateLimit(Spec, frozen=True, kw_only=True):
    """A token bucket: starts full with `maxTokens`, gains `tokensPerFill` every `fillInterval`."""

    max_tokens: int = 0
    """Bucket capacity."""
    tokens_per_fill: int = 0
    """Tokens added each interval (must be <= maxTokens)."""
    fill_interval: Duration
    """Refill period: fills land every interval from the bucket's creation. `x-ratelimit-reset` is
    the seconds to the next fill, rounded up (never 0); a 429's `retry-after` is the seconds until
    every bucket of the policy holds what the request needs, rounded up (left out when that is more
    than a bucket ever holds)."""
    type: Literal["requests", "tokens"] = "requests"
    """`requests`: one token per request; `tokens`: LLM tokens (input estimated up front, settled after)."""

    def problems(self) -> Problems:
        if self.max_tokens < 1:
            yield "maxTokens", "must be at least 1"
        if self.tokens_per_fill < 1:
            yield "tokensPerFill", "must be at least 1"
        if self.tokens_per_fill > self.max_tokens:
            yield "tokensPerFill", f"must be <= maxTokens ({self.tokens_per_fill} > {self.max_tokens})"
        if self.fill_interval <= 0:
            yield "fillInterval", "must be greater than 0"


class DescriptorEntry(Spec, frozen=True, kw_only=True):
    """One key/value of a rate-limit descriptor; `value` is a CEL expression."""

    key: str
    """Descriptor key."""
    value: str
    """CEL expression giving the value. A request for which it yields nothing (an error, a missing
    header) is not limited by this descriptor (counted in `fastgw_remote_ratelimit_events{event="no_key"}`)."""


class RedisBucket(Spec, frozen=True, kw_only=True):
    """fastgw (`redis:` only): a token bucket kept in Redis, as localRateLimit's: starts full with
    `maxTokens`, gains `tokensPerFill` every `fillInterval` (fills counted from the bucket's first use)."""

    max_tokens: int = 0
    """Bucket capacity."""
    tokens_per_fill: int = 0
    """Tokens added each interval (must be <= maxTokens)."""
    fill_interval: Duration
    """Refill period (at least 1ms)."""

    def problems(self) -> Problems:
        if self.max_tokens < 1:
            yield "maxTokens", "must be at least 1"
        if self.tokens_per_fill < 1:
            yield "tokensPerFill", "must be at least 1"
        if self.tokens_per_fill > self.max_tokens:
            yield "tokensPerFill", f"must be <= maxTokens ({self.tokens_per_fill} > {self.max_tokens})"
        if self.fill_interval < 0.001:
            yield "fillInterval", "must be at least 1ms"


class RedisWindow(Spec, frozen=True, kw_only=True):
    """fastgw (`redis:` only): at most `limit` per window of `size`, windows aligned to the epoch
    (Redis' clock). Fixed windows never admit more than `limit` in a window; `sliding: true` weighs
    the previous window by the part of it still inside the last `size` (an approximation that
    smooths the burst at a window's edge)."""

    limit: int = 0
    """Requests (or tokens) per window."""
    size: Duration
    """Window length (at least 1ms)."""
    sliding: bool = False
    """Sliding (weighted previous window) instead of fixed."""

    def problems(self) -> Problems:
        if self.limit < 1:
            yield "limit", "must be at least 1"
        if self.size < 0.001:
            yield "size", "must be at least 1ms"


class RedisLease(Spec, frozen=True, kw_only=True):
    """fastgw (`redis:`, `type: requests` only): each worker takes up to `size` tokens from Redis at
    once and admits from them locally until they run out or `ttl` passes (what is left then goes
    back). Never admits more than the limit; a request may be refused while up to
    `size` x (workers of every instance) tokens sit in other workers' leases, for at most `ttl`."""

    size: int = 0
    """Tokens taken per Redis call (2..10000)."""
    ttl: Duration = 0.1
    """How long a worker keeps tokens it has not used."""

    def problems(self) -> Problems:
        if not 2 <= self.size <= 10000:
            yield "size", "must be between 2 and 10000"
        if self.ttl <= 0:
            yield "ttl", "must be greater than 0"


class Descriptor(Spec, frozen=True, kw_only=True):
    """A descriptor: the entries name the bucket (each distinct set of values is its own)."""

    NOT_SUPPORTED_CHECKED = frozenset({"limitOverride"})
    AT_MOST_ONE = (("limit", "window"),)
    entries: list[DescriptorEntry]
    """Key/value entries."""
    type: Literal["requests", "tokens"] = "requests"
    """What is counted. `tokens`: a request is admitted while the budget is not exhausted, and the
    LLM tokens it used (input + output) are charged once its response is done."""
    cost: str | None = None
    """CEL cost expression (default 1 per request, or total tokens after the response)."""
    limit_override: str | None = None
    """CEL expression giving a dynamic limit."""
    limit: RedisBucket | None = None
    """fastgw, `redis:` only: a token bucket."""
    window: RedisWindow | None = None
    """fastgw, `redis:` only: a fixed or sliding window."""
    lease: RedisLease | None = None
    """fastgw, `redis:` only: bounded-error local leases for hot keys (see RedisLease)."""

    def problems(self) -> Problems:
        if not self.entries:
            yield "entries", "must list at least one entry"
        if self.lease is not None and self.type != "requests":
            yield "lease", "only with type: requests"


class RedisTarget(Spec, frozen=True, kw_only=True):
    """fastgw: the Redis that holds the limits (shared by every instance that points at it)."""

    url: Secret
    """`redis://[:password@]host:port/db`, `rediss://...` (TLS) or `unix:///path/to/socket`: one
    server (Redis Cluster and Sentinel are not supported yet; every key already carries a hash
    tag, so each bucket would live on one slot)."""
    connect_timeout: Duration = 0.05
    """Connecting (and reconnecting) to Redis."""
    command_timeout: Duration = 0.05
    """One round trip (a batch of the worker's concurrent requests)."""
    key_prefix: str = "fastgw:rl:"
    """Prefix of every key written."""
    max_connections: int = 4
    """Connections per worker (batches in flight at once)."""
    breaker_failures: int = 3
    """Consecutive failures that open the circuit breaker (requests then skip Redis and follow
    `failureMode` at once)."""
    breaker_open_for: Duration = 1.0
    """How long the breaker stays open before one batch probes Redis again (doubles while the probe
    fails, up to 8 times this)."""

    def problems(self) -> Problems:
        if not self.url.startswith(("redis://", "rediss://", "unix://")):
            yield "url", "expected redis://, rediss:// or unix://"
        for key, v in (("connectTimeout", self.connect_timeout), ("commandTimeout", self.command_timeout)):
            if v <= 0:
                yield key, "must be greater than 0"
        if not 1 <= self.max_connections <= 64:
            yield "maxConnections", "must be between 1 and 64"
        if self.breaker_failures < 1:
            yield "breakerFailures", "must be at least 1"
        if self.breaker_open_for <= 0:
            yield "breakerOpenFor", "must be greater than 0"


class RemoteRateLimit(Spec, frozen=True, kw_only=True):
    """Global rate limiting: agentgateway's Envoy RLS client (`host`), or fastgw's limits kept in
    Redis (`redis`), shared by every instance and worker that uses the same Redis."""

    NOT_SUPPORTED = frozenset({"service"})
    NOT_SUPPORTED_CHECKED = frozenset({"host", "backend", "policies"})
    ONE_OF = (("host", "backend", "service", "redis"),)
    host: HostPort | None = None
    """Rate-limit service address."""
    backend: str | None = None
    """Name of a top-level backend."""
    redis: RedisTarget | None = None
    """fastgw: keep the limits in this Redis (each descriptor gives its `limit` or `window`)."""
    domain: str | None = None
    """RLS domain (with `host`); with `redis`, a namespace added to every key."""
    descriptors: list[Descriptor]
    """Descriptors checked per request (all must allow it)."""
    failure_mode: Literal["failClosed", "failOpen", "FailClosed", "FailOpen"] = "failClosed"
    """When the limit cannot be checked: deny (failClosed; fastgw answers 503 "rate limit service
    unavailable" in the route's error format, where agentgateway answers 500 "rate limit failed":
    503 tells clients and SDKs the failure is temporary) or allow (failOpen). Counted either way."""
    dialect: Literal["plain", "client"] = "plain"
    """fastgw: how 429/503 bodies are written. `plain`: agentgateway's text (`rate limit
    exceeded`); `client`: the error object of the API the request path belongs to (OpenAI or
    Anthropic JSON), so SDKs show it and back off on `retry-after`."""
    policies: TransportPolicies | None = None
    """TLS/auth for reaching the service."""

    def problems(self) -> Problems:
        if not self.descriptors:
            yield "descriptors", "must list at least one descriptor"
        for i, d in enumerate(self.descriptors):
            if self.redis is not None and d.limit is None and d.window is None:
                yield ("descriptors", i), "with redis: give the limit (limit: {maxTokens, ...} or window: {...})"
            if self.redis is None and (d.limit is not None or d.window is not None or d.lease is not None):
                yield ("descriptors", i), "limit, window and lease need redis: (an RLS service holds its own limits)"
        if self.host is not None and self.domain is None:
            yield "domain", "required with host"


class Retry(Spec, frozen=True, kw_only=True):
    """Retry failed upstream attempts. As in agentgateway, the request is tried `attempts + 1` times."""

    NOT_SUPPORTED_CHECKED = frozenset({"precondition", "condition"})

    attempts: int = 1
    """Number of retries after the first try (1..255)."""
    codes: list[HttpStatus]
    """Upstream statuses that trigger a retry."""
    backoff: Duration | None = None
    """Pause between attempts."""
    precondition: str | None = None
    """CEL on the request; false disables retries for it."""
    condition: str | None = None
    """CEL on the response; true triggers a retry."""

    def problems(self) -> Problems:
        if not 1 <= self.attempts <= 255:
            yield "attempts", "must be between 1 and 255"


class Timeout(Spec, frozen=True, kw_only=True):
    """Deadlines: whole request (504 "request timeout") and each upstream call."""

    request_timeout: Duration | None = None
    """Whole downstream request, response included."""
    backend_request_timeout: Duration | None = None
    """Each upstream attempt."""


class PathRewrite(Spec, frozen=True, kw_only=True):
    """Exactly one of `prefix` (replace the matched prefix) or `full` (replace the path)."""

    ONE_OF = (("prefix", "full"),)
    prefix: str | None = None
    """Replacement for the matched `pathPrefix` ("" strips it)."""
    full: str | None = None
    """Replacement for the whole path."""


class AuthorityRewrite(Spec, frozen=True, kw_only=True):
    """Exactly one of `full` ("host:port"), `host`, or `port`."""

    ONE_OF = (("full", "host", "port"),)
    full: str | None = None
    """New authority."""
    host: str | None = None
    """New host, keeping the port."""
    port: Port | None = None
    """New port, keeping the host."""


Authority = Literal["auto", "none"] | AuthorityRewrite


class UrlRewrite(Spec, frozen=True, kw_only=True):
    """Rewrite the path and/or authority before forwarding."""

    path: PathRewrite | None = None
    """Path rewrite."""
    authority: Authority | None = None
    """Authority rewrite; `auto` = the backend host (the default), `none` = keep the client's."""


class RequestRedirect(Spec, frozen=True, kw_only=True):
    """Answer with a redirect instead of forwarding."""

    scheme: str | None = None
    """New scheme."""
    authority: Authority | None = None
    """New authority."""
    path: PathRewrite | None = None
    """New path."""
    status: HttpStatus | None = None
    """Redirect status (default 302)."""


class DirectResponse(Spec, frozen=True, kw_only=True):
    """Answer with a fixed response instead of forwarding."""

    status: HttpStatus
    """Response status."""
    body: str = ""
    """Response body."""
    body_expression: str | None = None
    """CEL expression giving the body per request (`body` when it has no value)."""
    headers: dict[str, str] = {}
    """Response headers (fastgw: static values)."""


class RequestMirror(Spec, frozen=True, kw_only=True):
    """Send a copy of a fraction of requests to another backend; its response is discarded."""

    backend: BackendRef
    """Where copies go."""
    percentage: float
    """Fraction mirrored, 0.0..1.0."""

    def problems(self) -> Problems:
        if not 0.0 <= self.percentage <= 1.0:
            yield "percentage", "must be between 0.0 and 1.0"


class Delay(Spec, frozen=True, kw_only=True):
    """Fault injection: wait before forwarding."""

    duration: str
    """A duration ("2s") or a CEL expression returning one."""


class BufferBody(Spec, frozen=True, kw_only=True):
    """Buffer a body up to a size."""

    max_bytes: int | None = None
    """Largest body buffered."""
    failure_mode: Literal["failClosed", "failOpen"] = "failClosed"
    """On a larger body: reject (failClosed) or stream it unbuffered (failOpen)."""


class Buffer(Spec, frozen=True, kw_only=True):
    """Buffer request and/or response bodies."""

    request: BufferBody | None = None
    """Request body buffering."""
    response: BufferBody | None = None
    """Response body buffering."""


class Csrf(Spec, frozen=True, kw_only=True):
    """Reject cross-site state-changing requests (Sec-Fetch-Site / Origin vs Host)."""

    additional_origins: list[str] = []
    """Extra trusted origins."""


class Transform(Spec, frozen=True, kw_only=True):
    """CEL-computed header/body edits for one direction (a value with no value sets nothing).

    Maps and lists are sent as JSON. `replace`, and `body`/`metadata` on the response, are not
    supported yet."""

    add: dict[str, str] = {}
    """Headers appended (values are CEL)."""
    set: dict[str, str] = {}
    """Headers set (values are CEL)."""
    remove: list[str] = []
    """Headers removed."""
    replace: str | None = None
    """CEL map replacing all headers."""
    body: str | None = None
    """CEL expression giving the new body."""
    metadata: dict[str, str] = {}
    """Values stored under `metadata.*` for later expressions."""


class Transformations(Spec, frozen=True, kw_only=True):
    """CEL transformations of the request and the response."""

    request: Transform | None = None
    """Applied before forwarding, after authentication (so `jwt.*`, `apiKey.*` can be read)."""
    response: Transform | None = None
    """Applied as the response head is written (`response.code`, `response.headers` known; an
    LLM answer's token counts are not yet)."""


class AuthzRule(Spec, frozen=True, kw_only=True):
    """An explicit rule: exactly one of allow, deny, require (CEL)."""

    ONE_OF = (("allow", "deny", "require"),)
    allow: str | None = None
    """Allow when true (allows are OR'ed)."""
    deny: str | None = None
    """Deny when true (any deny denies)."""
    require: str | None = None
    """Deny unless true (all requires must hold)."""


class RuleSet(Spec, frozen=True, kw_only=True):
    """CEL authorization rules; a bare string is an allow rule.

    Any matching deny denies, every require must hold, and when there are allow rules one must
    match (403 otherwise, in the client's API dialect). A rule with no value for the request does
    not match. Listener and route rules accumulate."""

    rules: list[str | AuthzRule]
    """The rules."""


class JwtValidationOptions(Spec, frozen=True, kw_only=True):
    """Claim requirements."""

    required_claims: list[str] = msgspec.field(default_factory=lambda: ["exp"])
    """Claims that must be present (any of exp, nbf, iat, iss, aud, sub, jti)."""


class JwtProvider(Spec, frozen=True, kw_only=True):
    """One trusted issuer."""

    issuer: str
    """Expected `iss`."""
    audiences: list[str] | None = None
    """Accepted `aud` values."""
    jwks: SecretInlineOrRemote
    """Signing keys: inline JSON, `{file}` or `{url}` (fetched by each worker on first use, kept
    5 min, refetched for an unknown `kid` at most every 30 s, kept when the fetch fails; at most
    512 KiB and 256 keys)."""
    jwt_validation_options: JwtValidationOptions | None = None
    """Claim requirements."""


class JwtAuth(Spec, frozen=True, kw_only=True):
    """Validate JWT bearer tokens; claims become `jwt.*` in CEL. Single-issuer or `providers` form.

    With `providers`, a token goes to the provider its `iss` names. RS*, PS*, ES*, EdDSA and HS* as the keys allow
    (HMAC only with `oct` keys; `alg: none` never); `exp`/`nbf` with 60 s leeway. A rejected request
    gets 401 `WWW-Authenticate: Bearer error="invalid_token"`. The token is not forwarded upstream
    unless the route's `backendAuth` is `{passthrough: {}}`."""

    ONE_OF = (("issuer", "providers"),)
    mode: AuthMode = "optional"
    """strict: token required; optional (the default): checked when present; permissive: never rejects."""
    location: KeyLocation | None = None
    """Where the token is read (default `Authorization: Bearer`; `expression` is not supported yet)."""
    providers: list[JwtProvider] | None = None
    """Several trusted issuers."""
    issuer: str | None = None
    """Single-issuer form: expected `iss`."""
    audiences: list[str] | None = None
    """Single-issuer form: accepted audiences."""
    jwks: SecretInlineOrRemote | None = None
    """Single-issuer form: signing keys."""
    jwt_validation_options: JwtValidationOptions | None = None
    """Single-issuer form: claim requirements."""

    def problems(self) -> Problems:
        if self.issuer is not None and self.jwks is None:
            yield "jwks", "required with issuer"


class KeyBudget(Spec, frozen=True, kw_only=True):
    """fastgw: what one API key may spend: tokens and/or USD per window. For keys of the config
    the budget is kept in the instance's shared memory (one instance; windows start at the key's
    first use); keys created at run time keep theirs in Redis (`config.virtualKeys`)."""

    name: str | None = None
    """Named in the refusal (default: the window)."""
    window: Literal["1h", "1d", "30d", "total"] = "total"
    """How long a budget lasts before it starts again (`total`: never)."""
    tokens: int | None = None
    """LLM tokens (input + output)."""
    usd: float | None = None
    """Cost in USD (the model's price: built-in table, `config.virtualKeys.prices`)."""

    def problems(self) -> Problems:
        if self.tokens is None and self.usd is None:
            yield "", "give tokens and/or usd"
        if self.tokens is not None and self.tokens < 1:
            yield "tokens", "must be at least 1"
        if self.usd is not None and self.usd <= 0:
            yield "usd", "must be greater than 0"


class ApiKey(Spec, frozen=True, kw_only=True):
    """One accepted API key (inline or as a hash)."""

    ONE_OF = (("key", "keyHash"),)
    key: Secret | None = None
    """The key itself."""
    key_hash: str | None = None
    """`sha256:<hex>` of the key (the key need not be in the config)."""
    metadata: dict[str, Any] | None = None
    """Exposed to CEL as `apiKey.*` (e.g. team, name)."""
    allowed_models: list[str] | None = None
    """Model patterns this key may use (`[]` denies all); not supported yet."""
    budgets: list[KeyBudget] | None = None
    """fastgw: budgets of this key (a request is refused once one is spent; see KeyBudget)."""


class ApiKeys(Spec, frozen=True, kw_only=True):
    """Authenticate clients with API keys (401 on a missing or unknown key).

    Keys are compared in constant time and not forwarded upstream."""

    keys: list[ApiKey] = []
    """Accepted keys."""
    mode: AuthMode = "optional"
    """strict: key required; optional (the default): checked when present; permissive: never rejects."""
    location: KeyLocation | None = None
    """Where the key is read (default `Authorization: Bearer`)."""
    virtual_keys: bool = False
    """fastgw: also accept the keys created at run time (`config.virtualKeys`), and enforce their
    budgets: a request is refused (429, or 403 for a `total` budget) once a budget is spent, and
    each response's tokens and cost are charged to every budget of its key."""

    def problems(self) -> Problems:
        if not self.keys and not self.virtual_keys:
            yield "keys", "must list at least one key (or set virtualKeys: true)"


class BasicAuth(Spec, frozen=True, kw_only=True):
    """HTTP Basic authentication against an htpasswd database.

    The user becomes `basicAuth.username` in CEL; a rejection is 401 with `WWW-Authenticate:
    Basic realm="…"`."""

    htpasswd: FileOrInline
    """htpasswd content or `{file}`: bcrypt (`$2y$`), apr1 (`$apr1$`) or `{SHA}` hashes (write `$`
    as `$$` inline: the config expands `$VAR`)."""
    realm: str | None = None
    """Realm in `WWW-Authenticate` (default "fastgw")."""
    mode: Literal["strict", "optional"] = "optional"
    """strict: credentials required; optional: checked when present."""
    authorization_location: KeyLocation | None = None
    """Where credentials are read."""


class GrpcAuthz(Spec, frozen=True, kw_only=True):
    """Envoy ext_authz gRPC protocol (not supported yet)."""

    context: dict[str, str] | None = None
    """Context extensions sent with each check."""
    metadata: dict[str, str] | None = None
    """Metadata (CEL values) sent with each check."""


class HttpAuthz(Spec, frozen=True, kw_only=True):
    """Plain HTTP authorization protocol."""

    path: str | None = None
    """CEL giving the check path (default: the request's path and query)."""
    redirect: str | None = None
    """CEL giving a redirect location on denial (302)."""
    body: str | None = None
    """CEL giving the check body (not supported yet)."""
    include_response_headers: list[str] = []
    """Headers of the check response copied to the request."""
    add_request_headers: dict[str, str] = {}
    """Headers (CEL values) added to the check request."""
    metadata: dict[str, str] = {}
    """Values (CEL over the check response) stored as `extauthz.*`."""


class AuthzProtocol(Spec, frozen=True, kw_only=True):
    """Exactly one of grpc or http."""

    ONE_OF = (("grpc", "http"),)
    grpc: GrpcAuthz | None = None
    """gRPC ext_authz."""
    http: HttpAuthz | None = None
    """HTTP check."""


class DenyWithStatus(Spec, frozen=True, kw_only=True):
    """Deny with a specific status when the authz service fails."""

    deny_with_status: HttpStatus
    """The status."""


class BodyOptions(Spec, frozen=True, kw_only=True):
    """How much of the request body the authz service sees."""

    max_request_bytes: int = 8192
    """Body bytes sent."""
    allow_partial_message: bool = False
    """Send a truncated body instead of failing on larger ones."""
    pack_as_bytes: bool = False
    """gRPC: send raw bytes."""


class AuthzCache(Spec, frozen=True, kw_only=True):
    """Cache of authorization decisions."""

    key: list[str]
    """CEL expressions forming the cache key."""
    ttl: str | None = None
    """CEL giving the entry lifetime."""
    max_entries: int | None = None
    """Cache size."""


class ExtAuthz(Spec, frozen=True, kw_only=True):
    """Ask an external service whether to allow each request (the HTTP protocol).

    A 2xx answer allows; anything else is sent back to the client. A check that fails, or takes
    over 2 s (or `policies.http.requestTimeout`), is `failureMode`."""

    NOT_SUPPORTED = frozenset({"service"})
    ONE_OF = (("host", "backend", "service"),)
    host: HostPort | None = None
    """Authz service address."""
    backend: str | None = None
    """Name of a top-level backend."""
    protocol: AuthzProtocol | None = None
    """grpc (agentgateway's default; not supported yet) or http (give `{http: {}}`)."""
    failure_mode: Literal["allow", "deny"] | DenyWithStatus = "deny"
    """Behaviour when the service cannot be reached or does not answer in time (deny: 403)."""
    include_request_headers: list[str] = []
    """Headers sent to the service (default `authorization`)."""
    include_request_body: BodyOptions | None = None
    """Send the body too."""
    cache: AuthzCache | None = None
    """Decision cache."""
    policies: TransportPolicies | None = None
    """TLS/auth for reaching the service."""


class McpIdentityProvider(Spec, frozen=True, kw_only=True):
    """IdP adapter for MCP OAuth metadata (exactly one)."""

    ONE_OF = (("auth0", "keycloak", "okta", "descope", "authentik", "entra"),)
    auth0: dict[str, Any] | None = None
    """Auth0."""
    keycloak: dict[str, Any] | None = None
    """Keycloak."""
    okta: dict[str, Any] | None = None
    """Okta."""
    descope: dict[str, Any] | None = None
    """Descope."""
    authentik: dict[str, Any] | None = None
    """authentik."""
    entra: dict[str, Any] | None = None
    """Microsoft Entra ID."""


class McpAuthentication(Spec, frozen=True, kw_only=True):
    """MCP OAuth resource server (MCP authorization spec)."""

    issuer: str
    """Expected `iss`."""
    audiences: list[str]
    """Accepted `aud` values."""
    resource_metadata: dict[str, Any]
    """Protected-resource metadata returned to clients."""
    provider: McpIdentityProvider | None = None
    """IdP adapter."""
    jwks: SecretInlineOrRemote | None = None
    """Signing keys (derived from the issuer when omitted)."""
    mode: AuthMode = "strict"
    """strict (default) | optional | permissive."""
    authorization_location: KeyLocation | None = None
    """Where the token is read."""
    jwt_validation_options: JwtValidationOptions | None = None
    """Claim requirements."""
    client_id: str | None = None
    """Pre-registered client id advertised to clients."""
    client_secret: Secret | None = None
    """Client secret for confidential clients."""


class A2aPolicy(Spec, frozen=True, kw_only=True):
    """`a2a: {}` marks A2A traffic (agent-card URL rewriting, A2A telemetry)."""


class BackendTls(Spec, frozen=True, kw_only=True):
    """TLS to the backend. `backendTLS: {}` = TLS with the system CA bundle."""

    NOT_SUPPORTED = frozenset({"spiffe", "keyExchangeGroups"})
    NOT_SUPPORTED_CHECKED = frozenset({"alpn", "subjectAltNames"})
    cert: str | None = None
    """Client certificate file (mTLS)."""
    key: str | None = None
    """Client key file (mTLS)."""
    root: str | None = None
    """CA bundle file used instead of the system roots."""
    hostname: str | None = None
    """SNI and verification name."""
    insecure: bool = False
    """Skip certificate verification entirely."""
    insecure_host: bool = False
    """Verify the chain but not the hostname."""
    alpn: list[str] | None = None
    """ALPN protocols offered."""
    subject_alt_names: list[str] | None = None
    """Extra accepted SANs."""

    def problems(self) -> Problems:
        if (self.cert is None) != (self.key is None):
            yield "", "cert and key must be given together"


class BackendHttp(Spec, frozen=True, kw_only=True):
    """HTTP settings towards the backend."""

    version: str | None = None
    """HTTP version (fastgw speaks HTTP/1.1 upstream)."""
    request_timeout: Duration | None = None
    """Deadline for each backend request."""


class Keepalives(Spec, frozen=True, kw_only=True):
    """TCP keepalive probes."""

    enabled: bool = True
    """Send keepalive probes."""
    time: Duration = 180.0
    """Idle time before the first probe."""
    interval: Duration = 180.0
    """Time between probes."""
    retries: int = 9
    """Unanswered probes before the connection is dropped."""


class BackendTcp(Spec, frozen=True, kw_only=True):
    """TCP settings towards the backend."""

    keepalives: Keepalives | None = None
    """Keepalive probes."""
    connect_timeout: Duration | None = None
    """Connect deadline."""


class Eviction(Spec, frozen=True, kw_only=True):
    """Temporary removal of an unhealthy backend/provider."""

    duration: Duration | None = None
    """Eviction time (default: from Retry-After / rate-limit reset headers, else 3s)."""
    restore_health: float | None = None
    """Health score on return."""
    consecutive_failures: int | None = None
    """Failures in a row before eviction."""
    health_threshold: float | None = None
    """Score below which an unhealthy response evicts."""


class Health(Spec, frozen=True, kw_only=True):
    """Outlier detection; required for provider failover to evict."""

    unhealthy_expression: str | None = None
    """CEL on the response; true = unhealthy (default: 5xx or connection failure)."""
    eviction: Eviction | None = None
    """Eviction settings."""


class SessionAffinity(Spec, frozen=True, kw_only=True):
    """Best-effort stickiness keyed by a CEL expression."""

    source: str
    """CEL giving the affinity key."""


class TransportPolicies(Spec, frozen=True, kw_only=True):
    """Policies for reaching a side service or MCP target (agentgateway `SimpleLocalBackendPolicies`)."""

    NOT_SUPPORTED = frozenset({"backendTunnel"})
    request_header_modifier: HeaderModifier | None = None
    """Header edits."""
    transformations: Transformations | None = None
    """CEL transformations."""
    backend_tls: BackendTls | None = msgspec.field(default=None, name="backendTLS")
    """TLS to the service."""
    backend_auth: BackendAuth | None = None
    """Credential sent to the service."""
    http: BackendHttp | None = None
    """HTTP settings."""
    tcp: BackendTcp | None = None
    """TCP settings."""
