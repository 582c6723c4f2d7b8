"""``ai`` backends: the one I/O module of ``backends/llm`` (see README.md beside it).

Per request: resolve the route type from the path suffix, set the client's error dialect, read the body
and decode only a ``RequestView``; forward the original bytes when nothing must change, else edit a
dict (model, shaping, forced stream usage) or translate it; send with the provider's path, host and
credential (the client's credential never leaves); stream the answer back through ``LlmExchange``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec
import orjson

from fastgw.backends.http import ProxyExchange, retry_fields, upstream_head
from fastgw.backends.llm.exchange import LlmExchange
from fastgw.backends.llm.providers import CLIENT_CREDENTIAL_HEADERS
from fastgw.backends.llm.route_plan import Action, RoutePlan
from fastgw.backends.llm.routes import RouteType
from fastgw.backends.llm.target import Target
from fastgw.backends.llm.translate.chat_from_responses import tool_namespaces
from fastgw.backends.llm.translate.count_tokens import count_tokens_response, estimate_input_tokens
from fastgw.backends.llm.translate.edits import apply_model, force_stream_usage
from fastgw.backends.llm.translate.errors import MALFORMED, InvalidRequestBody
from fastgw.backends.llm.translate.plan import translate_request
from fastgw.backends.llm.types import RequestView, decode_request_view
from fastgw.context import RequestContext
from fastgw.errors import BadRequest, Dialect, GatewayError, RouteNotFound
from fastgw.http.headers import HOP_BY_HOP, strip_hop_by_hop
from fastgw.native import proxy_request_head
from fastgw.telemetry.genai import GenAiCall
from fastgw.telemetry.usage import Usage
from fastgw.upstream.client import send

# the plan's actions as module names: an enum member read off its class costs a class-attribute
# lookup through the enum's metaclass on every request
_SEND: Final = Action.SEND
_RAW: Final = Action.RAW
_MODELS: Final = Action.MODELS_501
_COUNT_LOCALLY: Final = Action.COUNT_LOCALLY


class InvalidBody(BadRequest):
    reason = "invalid_request_body"
    metric_reason = "InvalidRequest"


class RouteNotServed(GatewayError):
    """The provider has no endpoint for this route type (e.g. embeddings on Anthropic)."""

    status = 404
    reason = "route_not_supported"
    metric_reason = "NotFound"
    api_type = "not_found_error"


# Never forwarded on a parsed request: hop-by-hop and framing (host, content-length are recomputed),
# credentials, and accept-encoding (the response must stay readable for usage and translation).
_DROP: Final = HOP_BY_HOP | CLIENT_CREDENTIAL_HEADERS | {b"expect", b"accept-encoding"}
# Never forwarded on a passthrough request (sent as received otherwise): hop-by-hop, credentials.
_RAW_DROP: Final = HOP_BY_HOP | CLIENT_CREDENTIAL_HEADERS
_JSON: Final = (b"content-type", b"application/json")
_MODELS_501: Final = b'{"error":"Route \'Models\' not implemented"}'


@dataclass(frozen=True, slots=True)
class AiBackend:
    """A binds-mode ``ai`` backend (a failover group serves its first group's first provider)."""

    name: str
    target: Target

    async def serve(self, ctx: RequestContext) -> None:
        target = self.target
        await serve_target(ctx, target, target.routes.resolve(ctx.path.decode("latin-1")))

    def start_fast(self, ctx: RequestContext) -> bool:
        """Send a chat request whose body is complete on an idle upstream connection and let the
        exchange's callbacks finish it, without a task (the pipeline's fast path). False, with
        nothing consumed, when this request needs the task path (no idle connection, a route
        type that is not a plain send, a token reservation)."""
        target = self.target
        route_type = target.routes.resolve(ctx.path.decode("latin-1"))
        if route_type is None:
            return False
        plan = target.plans[route_type]
        if plan.action is not _SEND or (target.tokenize and ctx.reserve_tokens is not None):
            return False
        pool = ctx.worker.pool
        conn = pool.take_idle(target.origin)
        if conn is None:
            return False
        try:
            ctx.dialect = plan.client
            body = ctx.request.body.take()
            head, payload, ex = prepare(ctx, target, plan, body, None)
        except BaseException:
            pool.release(conn)  # untouched: back to the idle list
            raise
        data = head + payload
        ex.callback = (target.origin, head, payload)
        ctx.writer.on_disconnect = ex.cancel
        route = ctx.route
        conn.start(ex, data, route.backend_timeout if route is not None else None)
        return True


def read_view(body: bytes) -> RequestView:
    """The request view, or a 400 in the client's dialect (set ctx.dialect before calling)."""
    try:
        return decode_request_view(body)
    except (msgspec.DecodeError, RecursionError) as exc:  # (msgspec's nesting limit is Python's)
        raise InvalidBody(f"invalid request body: {exc}") from None


def _decode(body: bytes) -> dict[str, Any]:
    """The whole request body as a dict, or a 400 in the client's dialect."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidBody(f"invalid request body: {exc}") from None
    if type(data) is not dict:
        raise InvalidBody("invalid request body: a JSON object is expected")
    return data


def _view_of(data: dict[str, Any], body: bytes) -> RequestView:
    """The view of a body already decoded whole (a translated or edited request is parsed once);
    the uncommon shapes, type errors included, go through the view decoder and its messages."""
    model = data.get("model")
    stream = data.get("stream")
    if (
        (model is None or type(model) is str)
        and (stream is None or type(stream) is bool)
        and "stream_options" not in data
    ):
        return RequestView(model, stream)
    return read_view(body)


async def serve_target(
    ctx: RequestContext,
    target: Target,
    route_type: RouteType | None,
    body: bytes | None = None,
    view: RequestView | None = None,
) -> None:
    """Serve one request with ``target``; ``body``/``view`` are given when a router already read them."""
    if route_type is None:
        ctx.dialect = target.spec.chat_dialect
        raise RouteNotFound()
    plan = target.plans[route_type]
    ctx.dialect = plan.client
    action = plan.action
    if action is _RAW:
        await passthrough(ctx, target, body)
        return
    if action is _MODELS:
        ctx.respond(501, [_JSON], _MODELS_501)
        return
    if body is None:
        # the pipeline keeps the body for replay when the route retries
        body = ctx.body_bytes if ctx.body_bytes is not None else await ctx.request.body.read_all()
    if action is not _SEND:
        if view is None:
            view = read_view(body)
        ctx.llm = GenAiCall(plan.genai, view.model or "")
        if action is _COUNT_LOCALLY:
            count_locally(ctx, body)
            return
        raise RouteNotServed(f"{target.spec.key} does not serve {route_type} requests")
    if target.tokenize and ctx.reserve_tokens is not None:
        # agentgateway `tokenize: true`: withdraw the prompt's tokens before sending; the
        # rate limit settles the difference with the real usage afterwards
        ctx.reserve_tokens(_prompt_tokens(ctx, body))
    head, body, ex = prepare(ctx, target, plan, body, view)
    route = ctx.route
    pool = ctx.worker.pool
    first_byte = pool.limits.first_byte_timeout if ex.streamed else None
    await send(pool, target.origin, head, body, ex, route.backend_timeout if route else None, head_timeout=first_byte)
    ctx.held = ex.held


def prepare(
    ctx: RequestContext, target: Target, plan: RoutePlan, body: bytes, view: RequestView | None
) -> tuple[bytes, bytes, LlmExchange]:
    """The request head, the body to send (the client's bytes unless something must change) and
    the exchange that will receive the answer. `view` is None unless a router read it.

    The head: the provider's host, the client's fields minus _DROP (and the `anthropic-*` ones
    for an OpenAI upstream), the provider's credential, its default fields unless the request as
    forwarded has them, the body's length; one native call writes it."""
    translate = plan.translate
    data: dict[str, Any] | None = None
    if ctx.body_bytes is None:
        ctx.body_bytes = body  # the client's body (`llm.prompt` in log fields reads it); no copy
    if view is None:
        if translate or target.edits:
            data = _decode(body)  # (rewritten anyway: one parse)
            view = _view_of(data, body)
        else:
            try:  # (read_view, inlined)
                view = decode_request_view(body)
            except (msgspec.DecodeError, RecursionError) as exc:
                raise InvalidBody(f"invalid request body: {exc}") from None
    options = view.stream_options
    wants_usage = options is not None and options.include_usage is True  # (view.wants_usage)
    forced_usage = plan.forces_usage and view.stream is True and not wants_usage
    model = view.model
    namespaces: frozenset[str] = frozenset()
    if translate or forced_usage or target.edits or (target.model and target.model != model):
        body, model, namespaces = _rewrite(body if data is None else data, target, plan, forced_usage)
    ctx.llm = GenAiCall(plan.genai, model or "")
    req = ctx.request
    path = plan.path or ctx.path
    if req.query and not translate:
        path += b"?" + req.query
    headers = req.headers
    route = ctx.route
    if req.nominated or (route is not None and route.request_modifier is not None):
        headers = strip_hop_by_hop(headers, req.nominated)
        if route is not None and route.request_modifier is not None:
            headers = route.request_modifier(headers)
    head = proxy_request_head(
        req.method,
        path,
        target.host_header,
        headers,
        _DROP,
        b"anthropic-" if plan.upstream is not Dialect.ANTHROPIC else b"",
        retry_fields(ctx, target.credential),
        len(body),
        target.default_fields,
    )
    ex = LlmExchange(
        ctx, plan.client, plan.upstream, translate, wants_usage, forced_usage, plan.chat, model, body, target.secrets
    )
    ex.namespaces = namespaces
    ex.streamed = view.stream is True
    ctx.endpoint = target.endpoint
    return head, body, ex


def _rewrite(
    body: bytes | dict[str, Any], target: Target, plan: RoutePlan, forced_usage: bool
) -> tuple[bytes, str | None, frozenset[str]]:
    """Decode (unless given decoded), edit and re-encode: unknown fields survive unless the body
    is translated. A body whose members have shapes its API does not allow (the translators and
    the edits meet them) is a 400 in the client's dialect. Also the namespace tools of a
    translated Responses request (its answer's calls are named back by them)."""
    data: Any = _decode(body) if type(body) is bytes else body
    namespaces: frozenset[str] = frozenset()
    try:
        if target.edits:
            target.shaping.apply(data, plan.client, plan.chat)
        if target.model:
            apply_model(data, target.model)
        model = data.get("model")
        if plan.translate:
            if plan.client is Dialect.RESPONSES:
                namespaces = tool_namespaces(data)
            data = translate_request(plan.client, plan.upstream, data)
        elif forced_usage:
            force_stream_usage(data)
        encoded = orjson.dumps(data)
    except InvalidRequestBody as exc:
        raise InvalidBody(str(exc)) from None
    except (*MALFORMED, RecursionError) as exc:
        raise InvalidBody(f"invalid request body: {exc}") from None
    return encoded, model if isinstance(model, str) else None, namespaces


def _prompt_tokens(ctx: RequestContext, body: bytes) -> int:
    """The prompt's tokens by the configured tokenizer (exact with config.tokenizer.vocabulary,
    the estimator otherwise); a body of the wrong shape is a 400."""
    try:
        return estimate_input_tokens(_decode(body), ctx.worker.runtime.tokenizer.count)
    except (*MALFORMED, RecursionError) as exc:
        raise InvalidBody(f"invalid request body: {exc}") from None


def count_locally(ctx: RequestContext, body: bytes) -> None:
    """Claude Code calls count_tokens constantly: answer it when the provider cannot count."""
    tokens = _prompt_tokens(ctx, body)
    ctx.usage = Usage(input_tokens=tokens)
    ctx.respond(200, [_JSON], count_tokens_response(tokens))


async def passthrough(ctx: RequestContext, target: Target, body: bytes | None) -> None:
    """Forward as received: new host, the provider credential instead of the client's, same path."""
    req = ctx.request
    head, chunked = upstream_head(
        ctx,
        target.host_header,
        target.path_override,
        _RAW_DROP,
        retry_fields(ctx, target.credential),
        target.default_fields,
    )
    ex = ProxyExchange(ctx, ctx.retry_hold, target.secrets)
    ctx.endpoint = target.endpoint
    route = ctx.route
    timeout = route.backend_timeout if route is not None else None
    if body is None:
        body = ctx.body_bytes
    payload = body if body is not None else req.body
    await send(ctx.worker.pool, target.origin, head, payload, ex, timeout, chunked=chunked and body is None)
    ctx.held = ex.held
