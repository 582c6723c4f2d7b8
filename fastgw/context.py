"""RequestContext: everything one request carries through the pipeline (per-request tier)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Set
from typing import TYPE_CHECKING, Any

from fastgw.errors import UPSTREAM, ClientAborted, Dialect, DrainCut, GatewayError, Outcome, render, sse_error_event
from fastgw.http.headers import Headers
from fastgw.http.request import Request
from fastgw.http.response import ResponseWriter
from fastgw.native import field_lines

if TYPE_CHECKING:
    from fastgw.backends.mcp.call import McpCall
    from fastgw.balance.select import Endpoint
    from fastgw.cel.vars import Vars
    from fastgw.runtime import BindRuntime, RouteRuntime
    from fastgw.telemetry.genai import GenAiCall
    from fastgw.telemetry.tracing import RequestTrace
    from fastgw.telemetry.usage import Usage
    from fastgw.worker_state import WorkerState


class RequestContext:
    __slots__ = (
        "attempt",
        "bind",
        "body_bytes",
        "dialect",
        "endpoint",
        "error",
        "extra_response_headers",
        "finish_hooks",
        "finished",
        "first_token",
        "held",
        "llm",
        "matched_prefix",
        "mcp",
        "path",
        "reason",
        "request",
        "reserve_tokens",
        "response_edit",
        "retry_hold",
        "retry_when",
        "route",
        "sse",
        "trace",
        "tried",
        "upstream_authority",
        "upstream_fields",
        "upstream_head_at",
        "upstream_start",
        "upstream_status",
        "usage",
        "vars",
        "worker",
        "writer",
    )

    def __init__(self, worker: WorkerState, bind: BindRuntime, request: Request, writer: ResponseWriter) -> None:
        self.worker = worker
        self.bind = bind
        self.request = request
        self.writer = writer
        self.route: RouteRuntime | None = None
        self.dialect = Dialect.PLAIN
        #: the path sent upstream (policies such as urlRewrite change it)
        self.path = request.path
        #: the route match's pathPrefix, when it matched by prefix (for urlRewrite.path.prefix)
        self.matched_prefix: bytes | None = None
        self.upstream_authority: bytes | None = None
        #: headers policies add to the response (None until one does: most requests have none)
        self.extra_response_headers: Headers | None = None
        #: called once the response is done (or failed): token settlement (None until added)
        self.finish_hooks: list[Callable[[RequestContext], None]] | None = None
        self.finished = False
        #: set by a token rate limit: withdraw N prompt tokens now (raises RateLimited)
        self.reserve_tokens: Callable[[int], None] | None = None
        #: the response being written is an SSE stream (errors after its head become an event)
        self.sse = False
        self.error: GatewayError | None = None
        self.reason: Outcome = UPSTREAM
        self.endpoint = ""
        #: loop times: the last upstream attempt began (its exchange was made), the first
        #: event of a streamed LLM answer went out (0.0: not yet / never)
        self.upstream_start = 0.0
        self.first_token = 0.0
        #: an LLM request's kind and models (the access log and the token metrics read them)
        self.llm: GenAiCall | None = None
        #: an LLM request's token usage, once known (logs, metrics and token rate limits read it)
        self.usage: Usage | None = None
        #: an MCP request's method, target, tool and session (access log, metrics)
        self.mcp: McpCall | None = None
        #: the request's CEL variables (fastgw.cel.vars_of makes them on first use)
        self.vars: Vars | None = None
        #: a response transformation, applied as the head is written (policies/transformations.py)
        self.response_edit: Callable[[RequestContext, Headers], Headers] | None = None
        #: retries: the whole body when it must be replayable, statuses a try must not commit to
        #: the client (the pipeline retries them), whether the last try was held back, its number
        self.body_bytes: bytes | None = None
        self.retry_hold: frozenset[int] = frozenset()
        #: the retry policy's `condition` (None: only the statuses of retry_hold are retried)
        self.retry_when: Callable[[RequestContext, int, Headers], bool] | None = None
        self.held = False
        self.attempt = 0
        #: the request's trace, when tracing is on and samples it (telemetry/tracing.py)
        tracer = getattr(worker, "tracer", None)  # (unit tests make contexts without a worker)
        self.trace: RequestTrace | None = tracer.start(self) if tracer is not None else None
        #: failover: the endpoints this request tried (a retry picks another while one is left);
        #: the last upstream answer's status (0: none yet), fields and arrival (time.monotonic())
        self.tried: tuple[Endpoint[Any], ...] = ()
        self.upstream_status = 0
        self.upstream_fields: Headers | None = None
        self.upstream_head_at = 0.0

    def add_response_headers(self, headers: Headers) -> None:
        if self.extra_response_headers is None:
            self.extra_response_headers = list(headers)
        else:
            self.extra_response_headers += headers

    def add_finish_hook(self, hook: Callable[[RequestContext], None]) -> None:
        if self.finish_hooks is None:
            self.finish_hooks = [hook]
        else:
            self.finish_hooks.append(hook)

    @property
    def status(self) -> int:
        return self.writer.status

    def response_headers(self, headers: Headers, status: int = 0) -> Headers:
        """Headers as sent to the client: route response modifiers and policy extras applied
        (`status`: the response's, for a response transformation's `response.code`)."""
        if self.extra_response_headers:
            headers = headers + self.extra_response_headers
        route = self.route
        if route is not None and route.response_modifier is not None:
            headers = route.response_modifier(headers)
        if self.response_edit is not None:
            headers = self._edit_response(headers, status)
        return headers

    def _edit_response(self, headers: Headers, status: int) -> Headers:
        edit = self.response_edit
        assert edit is not None
        self.response_edit = None  # once: an error answered after it began is not edited twice
        from fastgw.cel.vars import vars_of  # the CEL layer sits above the per-request state

        response = vars_of(self).response
        response.headers = headers
        response.status = status
        try:
            return edit(self, headers)
        finally:
            response.headers = None

    def response_fields(
        self, headers: Headers, skip: Set[bytes], add: Iterable[tuple[bytes, bytes]] = (), status: int = 0
    ) -> Headers | bytes:
        """An upstream's response fields minus `skip`, then `add`, as the client gets them: their
        lines already joined (native calls) when no policy adds or modifies any."""
        route = self.route
        if (
            self.extra_response_headers
            or (route is not None and route.response_modifier is not None)
            or self.response_edit is not None
        ):
            kept = [(n, v) for n, v in headers if n not in skip]
            kept += add
            return self.response_headers(kept, status)
        lines = field_lines(headers, skip)
        return lines + field_lines(list(add), None) if add else lines

    def respond(self, status: int, headers: Headers, body: bytes) -> None:
        self.writer.respond(status, self.response_headers(headers, status), body)

    # -- completion: the one contract by which a request ends, on a task or on callbacks alone ------
    # success: complete(). failure before the head: fail(err) renders it, then complete(). failure
    # after the head: fail(err) cuts the response (or ends an SSE stream with one error event),
    # then complete(). client gone: abandon(). retry on a new connection from callbacks:
    # continue_as_task(coro), which then ends the request by these same methods. settle() records
    # it (token settlement, metrics, access log), exactly once, whichever way it ended.
    def complete(self) -> None:
        """The request is over: record it, then end the response (which may start the
        connection's next request)."""
        writer = self.writer
        writer.on_disconnect = None
        self.settle()
        writer.end()

    def continue_as_task(self, work: Coroutine[Any, Any, None]) -> None:
        """Go on as a task (an await is needed: a new upstream connection); a client that leaves
        cancels it."""
        task = self.worker.loop.create_task(work)
        self.writer.on_disconnect = task.cancel

    def fail(self, err: GatewayError) -> None:
        """Answer `err` in the client's dialect (or cut the response if its head went out); the
        request still ends with complete()."""
        self.error = err
        writer = self.writer
        if writer.started:
            event = sse_error_event(err, self.dialect) if self.sse else None
            if event is None or writer.ended:
                writer.abort()  # never a second head: the client sees the response cut
            else:
                # an SSE stream in an LLM dialect ends with one terminal error event, as the
                # providers do, then the connection closes
                writer.keep_alive = False
                writer.write(event)
                writer.end()
            return
        ctype, body = render(err, self.dialect)
        headers: Headers = [(b"content-type", ctype), *err.extra_headers]
        if err.close_connection:
            self.writer.keep_alive = False
        self.respond(err.status, headers, body)

    def abandon(self) -> None:
        """The client left before its response was complete: the response is dropped, and the
        access log's error and reason, the metrics' reason label say so (unless the request had
        already failed on its own)."""
        if self.error is None:
            self.error = ClientAborted()
        self.writer.on_disconnect = None
        self.writer.abort()
        self.settle()

    def settle(self) -> None:
        """Record the request (token settlement hooks, metrics, access log), once."""
        if self.finished:
            return
        self.finished = True
        hooks = self.finish_hooks
        if hooks is not None:
            for hook in hooks:
                hook(self)
        worker = self.worker
        if worker.cut_reason is not None and (self.error is None or isinstance(self.error, ClientAborted)):
            # the worker's drain deadline cut this request (its connection was aborted, which
            # looks like a client that left)
            self.error = DrainCut()
        worker.metrics.record(self, worker.loop.time() - self.request.start)
        worker.access_log.record(self)
        trace = self.trace
        if trace is not None:
            trace.tracer.finish(self, trace)
