"""The `mcp` backend: an MCP server to clients, a client to each target, multiplexing between.

Downstream it speaks streamable HTTP (POST answered with JSON, or with SSE when the target sends
progress, logs or requests before its answer; GET for the session's stream; DELETE) on every
path of its route. Sessions live in their ids (`session.py`), so any worker serves any request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, Protocol

import orjson

from fastgw.backends.mcp import jsonrpc
from fastgw.backends.mcp.call import McpCall
from fastgw.backends.mcp.jsonrpc import Message
from fastgw.backends.mcp.legacy import Channel, forward, new_session_id, session_owner, siblings
from fastgw.backends.mcp.links import VERSIONS, Link, Sink, TargetError
from fastgw.backends.mcp.multiplex import LISTS, Names, decode_cursor, encode_cursor, merge_initialize, rename_items
from fastgw.backends.mcp.session import SessionCodec, SessionState
from fastgw.backends.mcp.sse import frame
from fastgw.context import RequestContext
from fastgw.errors import Dialect, Outcome
from fastgw.http.headers import Headers
from fastgw.http.response import ResponseWriter

log = logging.getLogger("fastgw.mcp")

_JSON: Final = (b"content-type", b"application/json")
_SSE: Final = ((b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"))
#: a JSON-RPC message larger than this is refused with 413 (tool arguments are small; a
#: multi-megabyte message is a mistake or an attack)
MAX_MESSAGE_BYTES: Final = 4 << 20
#: the prefix of a server->client request id as the client sees it (the target's own id inside)
_RELAYED: Final = "fastgw."
#: the channel's session field for an answer to a stdio child's request (`@<target>`)
_ANSWER: Final = "@"
#: the channel's session field for a notifications/cancelled of a call another worker may hold
_CANCEL: Final = "!"
_KEEPALIVE: Final = 15.0
#: a request the MCP layer refused (bad JSON-RPC, unknown session, too large): agentgateway's `MCP`
MCP_REFUSED: Final = Outcome("mcp", "MCP")
#: the client capabilities a target may use (kept in the session id for re-initialization)
_RELAYED_CAPS: Final = ("roots", "sampling", "elicitation")


@dataclass(frozen=True, slots=True)
class TargetSpec:
    name: str
    make: Callable[[], Link]
    #: tool names offered to clients: only these (None: all) and never these
    include: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()

    def offers(self, tool: str) -> bool:
        return (self.include is None or tool in self.include) and tool not in self.exclude


class StreamReply:
    """The legacy transport: the answer and everything before it go on the session's stream."""

    __slots__ = ("writer",)
    events = True

    def __init__(self, writer: ResponseWriter) -> None:
        self.writer = writer

    def event(self, msg: Message) -> None:
        if not self.writer.ended:
            self.writer.write(frame(msg))

    answer = event


class LegacySession:
    """A legacy SSE session, held by the worker holding its stream."""

    __slots__ = ("ctx", "reply", "state", "tasks")

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.reply = StreamReply(ctx.writer)
        self.state: SessionState | None = None
        self.tasks: set[asyncio.Task[None]] = set()


class _Links:
    """One worker's links to the targets, made on first use."""

    __slots__ = ("channel", "legacy", "links", "owners", "running")

    def __init__(self) -> None:
        #: legacy SSE sessions whose stream this worker holds, and where other workers send theirs
        self.legacy: dict[str, LegacySession] = {}
        self.channel: Channel | None = None
        self.links: dict[str, Link] = {}
        #: prefixMode never: which target owns a name, learnt from the lists
        self.owners: dict[tuple[str, str], str] = {}
        #: (session id, client request id) -> the task serving it (notifications/cancelled)
        self.running: dict[tuple[str, jsonrpc.Id], asyncio.Task[Any]] = {}

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        if self.channel is not None:
            self.channel.close()


class McpError(Exception):
    """A JSON-RPC error answered to the request (with an HTTP status for transport-level ones)."""

    def __init__(self, code: int, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class Reply(Protocol):
    """Where a request's answer, and the target's messages before it, go."""

    @property
    def events(self) -> bool:
        """Whether messages before the answer can be delivered."""
        ...

    def event(self, msg: Message) -> None: ...

    def answer(self, msg: Message) -> None: ...


class HttpReply:
    """Answers a streamable-HTTP POST: JSON, or an SSE stream once something precedes the answer."""

    __slots__ = ("ctx", "events")

    def __init__(self, ctx: RequestContext, events: bool) -> None:
        self.ctx = ctx
        self.events = events

    def event(self, msg: Message) -> None:
        ctx = self.ctx
        writer = ctx.writer
        if writer.ended:
            return
        if not writer.started:
            ctx.sse = True
            writer.start(200, ctx.response_headers(list(_SSE)))
        writer.write(frame(msg))

    def answer(self, msg: Message) -> None:
        ctx = self.ctx
        _note_error(ctx, msg)
        writer = ctx.writer
        if writer.started:
            writer.write(frame(msg))
            writer.end()
        else:
            ctx.respond(200, [_JSON], orjson.dumps(msg))


@dataclass(frozen=True, slots=True, eq=False)
class McpBackend:
    name: str
    targets: tuple[TargetSpec, ...]
    prefix: bool
    fail_open: bool = False
    codec: SessionCodec = field(default_factory=SessionCodec)
    dns_rebinding_protection: bool = False
    #: mcpAuthorization: (kind, name) -> allowed; None when no rules apply
    authorize: Callable[[RequestContext, str, str], bool] | None = None
    #: names this backend among the instance's (its config path): the legacy channel's address
    scope: str = ""
    #: statefulMode stateless: no sessions; each request opens (and ends) its upstream sessions
    stateless: bool = False
    names: Names = field(init=False)
    by_name: dict[str, TargetSpec] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", Names([t.name for t in self.targets], self.prefix))
        object.__setattr__(self, "by_name", {t.name: t for t in self.targets})

    # -- per worker ------------------------------------------------------------------------
    def _state(self, ctx: RequestContext) -> _Links:
        res = ctx.worker.resources.get(self)
        if res is None:
            res = ctx.worker.resources[self] = _Links()
        assert isinstance(res, _Links)
        return res

    def _link(self, ctx: RequestContext, name: str) -> Link:
        links = self._state(ctx).links
        link = links.get(name)
        if link is None:
            link = links[name] = self.by_name[name].make()
        return link

    # -- HTTP ------------------------------------------------------------------------------
    def start_fast(self, ctx: RequestContext) -> bool:
        return False  # a JSON-RPC message is read and answered on the request's task

    async def serve(self, ctx: RequestContext) -> None:
        ctx.dialect = Dialect.JSONRPC
        req = ctx.request
        if self.dns_rebinding_protection and not _local(req.headers):
            answer_status(ctx, 403, None, jsonrpc.INVALID_REQUEST, "Forbidden: Host or Origin is not local")
            return
        method = req.method
        try:
            if req.path.endswith(b"/sse") and method == b"GET":
                await self._legacy_stream(ctx)
            elif method == b"POST" and b"sessionId=" in req.query and _header(req.headers, b"mcp-session-id") is None:
                await self._legacy_post(ctx)
            elif method == b"POST":
                await self._post(ctx)
            elif method == b"GET":
                await self._stream(ctx)
            elif method == b"DELETE":
                await self._delete(ctx)
            else:
                raise McpError(jsonrpc.INVALID_REQUEST, "Method Not Allowed", 405)
        except McpError as err:
            if not ctx.writer.started:
                extra = [(b"allow", b"GET, POST, DELETE")] if err.status == 405 else []
                answer_status(ctx, err.status, None, err.code, str(err), extra)

    def _session(self, ctx: RequestContext) -> tuple[str, SessionState]:
        sid = _header(ctx.request.headers, b"mcp-session-id")
        if sid is None:
            raise McpError(jsonrpc.INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required", 400)
        state = self.codec.open(sid)
        if state is None:
            raise McpError(jsonrpc.SESSION_NOT_FOUND, "Session not found", 404)
        return sid, state

    async def _message(self, ctx: RequestContext) -> tuple[bytes, Message]:
        """The POSTed JSON-RPC message (its bytes and itself), or the HTTP error the spec names."""
        body = ctx.request.body
        if body.expected is not None and body.expected > MAX_MESSAGE_BYTES:
            body.discard = True
            raise McpError(jsonrpc.INVALID_REQUEST, f"message larger than {MAX_MESSAGE_BYTES} bytes", 413)
        data = ctx.body_bytes if ctx.body_bytes is not None else await body.read_all()
        if len(data) > MAX_MESSAGE_BYTES:
            raise McpError(jsonrpc.INVALID_REQUEST, f"message larger than {MAX_MESSAGE_BYTES} bytes", 413)
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise McpError(jsonrpc.PARSE_ERROR, "Parse error: the body is not JSON", 400) from None
        if isinstance(msg, list):
            # JSON-RPC batches were dropped from MCP in 2025-06-18; no client of ours sends them
            raise McpError(jsonrpc.INVALID_REQUEST, "Invalid Request: batches are not supported", 400)
        if (problem := jsonrpc.problem(msg)) is not None:
            raise McpError(jsonrpc.INVALID_REQUEST, f"Invalid Request: {problem}", 400)
        if "method" in msg:
            ctx.mcp = McpCall(msg["method"])
        return data, msg

    async def _post(self, ctx: RequestContext) -> None:
        _, msg = await self._message(ctx)
        kind = jsonrpc.kind(msg)
        if kind == "request" and msg["method"] == "initialize":
            answer, state = await self._open_session(ctx, msg)
            if self.stateless and state is not None:
                # statefulMode stateless: no session; the upstream ones were only for capabilities
                await self._end(ctx, state)
                state = None
            self._answer(ctx, answer, self.codec.seal(state) if state is not None else None)
            return
        if kind == "request" and msg["method"] == "server/discover":
            # the 2026 stateless protocol's probe: not spoken here, so clients use initialize
            self._answer(ctx, jsonrpc.error(msg["id"], jsonrpc.METHOD_NOT_FOUND, "Method not found"), None)
            return
        if self.stateless:
            await self._stateless(ctx, msg, kind)
            return
        sid, state = self._session(ctx)
        if ctx.mcp is not None:
            ctx.mcp.set_session(sid)
        if kind == "notification":
            await self._notification(ctx, sid, state, msg)
            ctx.respond(202, [], b"")
        elif kind == "response":
            await self._client_answer(ctx, state, msg)
            ctx.respond(202, [], b"")
        else:
            sse_ok = b"text/event-stream" in (_header_bytes(ctx.request.headers, b"accept") or b"")
            await self._request(ctx, HttpReply(ctx, sse_ok), sid, state, msg)

    async def _stateless(self, ctx: RequestContext, msg: Message, kind: str) -> None:
        """statefulMode stateless: each request gets throw-away upstream sessions."""
        if kind != "request":
            ctx.respond(202, [], b"")  # nothing outlives a request: nothing to notify or answer
            return
        version = _header(ctx.request.headers, b"mcp-protocol-version")
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": version if version in VERSIONS else VERSIONS[-1],
                "capabilities": {},
                "clientInfo": {"name": "fastgw", "version": "0.1.0"},
            },
        }
        answer, state = await self._open_session(ctx, init)
        if state is None:
            self._answer(ctx, {**answer, "id": msg["id"]}, None)
            return
        try:
            sse_ok = b"text/event-stream" in (_header_bytes(ctx.request.headers, b"accept") or b"")
            await self._request(ctx, HttpReply(ctx, sse_ok), "", state, msg)
        finally:
            await self._end(ctx, state)

    async def _end(self, ctx: RequestContext, state: SessionState) -> None:
        await asyncio.gather(*(self._link(ctx, n).end(s) for n, s in self._live(state)), return_exceptions=True)

    # -- initialize ------------------------------------------------------------------------
    async def _open_session(self, ctx: RequestContext, msg: Message) -> tuple[Message, SessionState | None]:
        """initialize, fanned out: the answer for the client and the new session's state."""
        params = msg.get("params") or {}
        asked = params.get("protocolVersion")
        version = asked if asked in VERSIONS else VERSIONS[-1]
        caps = params.get("capabilities")
        kept = {k: v for k, v in caps.items() if k in _RELAYED_CAPS} if isinstance(caps, dict) else {}
        upstream = {**params, "protocolVersion": version, "capabilities": kept}
        names = [t.name for t in self.targets]
        opened = await asyncio.gather(*(self._link(ctx, n).open(upstream) for n in names), return_exceptions=True)
        results: list[tuple[str, Message]] = []
        sessions: dict[str, str] = {}
        for name, got in zip(names, opened, strict=True):
            if isinstance(got, BaseException):
                if not isinstance(got, TargetError | OSError):
                    raise got
                if not self.fail_open:
                    log.warning("mcp: initialize failed: %s", got)
                    return jsonrpc.error(msg["id"], jsonrpc.TARGET_ERROR, str(got)), None
                log.warning("mcp: initialize: %s (failOpen: the target is left out)", got)
                continue
            result, upstream_sid = got
            results.append((name, result))
            sessions[name] = upstream_sid
        if not sessions:
            return jsonrpc.error(msg["id"], jsonrpc.TARGET_ERROR, "no target is available"), None
        state = SessionState(version=version, targets=sessions, capabilities=kept, issued=_now(ctx))
        return jsonrpc.result(msg["id"], merge_initialize(results, version, "0.1.0")), state

    # -- client notifications and answers ------------------------------------------------------
    async def _notification(self, ctx: RequestContext, sid: str, state: SessionState, msg: Message) -> None:
        method = msg["method"]
        if method == "notifications/initialized":
            return  # fastgw completed each target's handshake itself
        if method == "notifications/cancelled":
            request_id = (msg.get("params") or {}).get("requestId")
            task = self._state(ctx).running.get((sid, request_id))
            if task is not None:
                task.cancel()  # the link tells its target (stdio: notifications/cancelled)
                return
            # the call may be held by another worker: every sibling is asked to cancel it
            body = orjson.dumps([sid, request_id])
            sent = [
                forward(self.codec.key, self._scope(), pid, _CANCEL, body)
                for pid in siblings(self.codec.key, self._scope())
            ]
            if any(await asyncio.gather(*sent)):
                return
        await self._fan_out_notification(ctx, state, msg)

    async def _fan_out_notification(self, ctx: RequestContext, state: SessionState, msg: Message) -> None:
        sends = [self._link(ctx, n).notify(s, msg) for n, s in state.targets.items() if n in self.by_name]
        for got in await asyncio.gather(*sends, return_exceptions=True):
            if isinstance(got, BaseException) and not isinstance(got, TargetError):
                raise got

    async def _client_answer(self, ctx: RequestContext, state: SessionState, msg: Message) -> None:
        """The client's answer to a server->client request we relayed: back to that target."""
        relayed = _unwrap_id(msg.get("id"))
        if relayed is None or relayed[0] not in state.targets or relayed[0] not in self.by_name:
            raise McpError(jsonrpc.INVALID_REQUEST, "Invalid Request: an answer to no request of ours", 400)
        target, pid, original = relayed
        answer = {**msg, "id": original}
        upstream = state.targets[target]
        if not upstream and pid != os.getpid():
            # a stdio child's request, answered on a connection another worker got: to the
            # worker whose child asked
            body = orjson.dumps(answer)
            if not await forward(self.codec.key, self._scope(), pid, _ANSWER + target, body):
                log.warning("mcp: relaying an answer to target %s: its worker is gone", target)
            return
        try:
            await self._link(ctx, target).notify(upstream, answer)
        except TargetError as exc:
            log.warning("mcp: relaying an answer: %s", exc)

    # -- requests ----------------------------------------------------------------------------
    async def _request(self, ctx: RequestContext, reply: Reply, sid: str, state: SessionState, msg: Message) -> None:
        method = msg["method"]
        id_ = msg["id"]
        params = msg.get("params") or {}
        try:
            if method == "ping":
                reply.answer(jsonrpc.result(id_, {}))
            elif method in LISTS:
                reply.answer(await self._list(ctx, state, msg))
            elif method == "tools/call" or method == "prompts/get":
                kind = "tool" if method == "tools/call" else "prompt"
                target, own = self._owner(ctx, state, params.get("name"), kind)
                self._allow(ctx, target, kind, own)
                await self._forward(ctx, reply, sid, state, target, {**msg, "params": {**params, "name": own}})
            elif method in ("resources/read", "resources/subscribe", "resources/unsubscribe"):
                target, own = self._owner(ctx, state, params.get("uri"), "resource")
                self._allow(ctx, target, "resource", own)
                await self._forward(ctx, reply, sid, state, target, {**msg, "params": {**params, "uri": own}})
            elif method == "completion/complete":
                got_ref = params.get("ref")
                ref: dict[str, Any] = got_ref if isinstance(got_ref, dict) else {}
                key = "uri" if ref.get("type") == "ref/resource" else "name"
                kind = "resource" if key == "uri" else "prompt"
                target, own = self._owner(ctx, state, ref.get(key), kind)
                self._allow(ctx, target, kind, own)
                fwd = {**msg, "params": {**params, "ref": {**ref, key: own}}}
                await self._forward(ctx, reply, sid, state, target, fwd)
            elif method == "logging/setLevel":
                answers = await asyncio.gather(
                    *(self._link(ctx, n).call(s, msg, None) for n, s in self._live(state)), return_exceptions=True
                )
                for got in answers:
                    if isinstance(got, BaseException) and not isinstance(got, TargetError):
                        raise got
                reply.answer(jsonrpc.result(id_, {}))
            else:
                raise McpError(jsonrpc.METHOD_NOT_FOUND, f"Method not found: {method}")
        except McpError as err:
            if err.status != 200:
                raise
            reply.answer(jsonrpc.error(id_, err.code, str(err)))
        except TargetError as err:
            if err.http_status == 404:
                raise McpError(jsonrpc.SESSION_NOT_FOUND, f"Session not found ({err})", 404) from None
            reply.answer(jsonrpc.error(id_, jsonrpc.TARGET_ERROR, str(err)))

    def _live(self, state: SessionState) -> list[tuple[str, str]]:
        return [(n, s) for n, s in state.targets.items() if n in self.by_name]

    def _owner(self, ctx: RequestContext, state: SessionState, name: object, kind: str) -> tuple[str, str]:
        if not isinstance(name, str):
            raise McpError(jsonrpc.INVALID_PARAMS, f"Invalid params: a {kind} name is required")
        uri = kind == "resource"
        if self.prefix:
            found = self.names.inward(name, uri)
        else:
            owner = self._state(ctx).owners.get((kind, name))
            if owner is None and len(state.targets) == 1:
                owner = next(iter(state.targets))
            found = (owner, name) if owner is not None else None
        if found is None or found[0] not in state.targets:
            raise McpError(jsonrpc.INVALID_PARAMS, f"Unknown {kind}: {name}")
        if kind == "tool" and not self.by_name[found[0]].offers(found[1]):
            raise McpError(jsonrpc.INVALID_PARAMS, f"Unknown {kind}: {name}")
        return found

    def _allow(self, ctx: RequestContext, target: str, kind: str, name: str) -> None:
        call = ctx.mcp
        if call is not None:
            call.target, call.resource = target, name
        authorize = self.authorize
        if authorize is not None and not authorize(ctx, kind, name):
            raise McpError(jsonrpc.FORBIDDEN, f"Forbidden: {kind} {self.names.outward(target, name)} is not allowed")

    async def _list(self, ctx: RequestContext, state: SessionState, msg: Message) -> Message:
        method = msg["method"]
        params = msg.get("params") or {}
        live = self._live(state)
        cursors: dict[str, str | None] = {n: None for n, _ in live}
        cursor = params.get("cursor")
        if isinstance(cursor, str):
            decoded = decode_cursor(cursor)
            if decoded is None:
                raise McpError(jsonrpc.INVALID_PARAMS, "Invalid params: unknown cursor")
            cursors = {n: c for n, c in decoded.items() if n in state.targets and n in self.by_name}
        order = [(n, s) for n, s in live if n in cursors]

        async def one(name: str, sid: str) -> Message:
            p = {k: v for k, v in params.items() if k != "cursor"}
            if cursors[name] is not None:
                p["cursor"] = cursors[name]
            return await self._link(ctx, name).call(sid, {**msg, "params": p}, None)

        answers = await asyncio.gather(*(one(n, s) for n, s in order), return_exceptions=True)
        key, field_ = LISTS[method]
        kind = {"tools": "tool", "prompts": "prompt"}.get(key, "resource")
        items: list[dict[str, Any]] = []
        more: dict[str, str] = {}
        owners = self._state(ctx).owners
        for (name, _), got in zip(order, answers, strict=True):
            if isinstance(got, BaseException):
                if not isinstance(got, TargetError) or not self.fail_open:
                    raise got
                log.warning("mcp: %s: %s (failOpen: left out)", method, got)
                continue
            if "result" not in got or not isinstance(got["result"], dict):
                if not self.fail_open:
                    return jsonrpc.error(msg["id"], jsonrpc.TARGET_ERROR, f"target {name}: {got.get('error')}")
                continue
            result = got["result"]
            spec = self.by_name[name]
            kept = []
            for item in result.get(key) or []:
                if not isinstance(item, dict) or not isinstance(item.get(field_), str):
                    continue
                own = item[field_]
                if kind == "tool" and not spec.offers(own):
                    continue
                if self.authorize is not None and not self.authorize(ctx, kind, own):
                    continue
                if not self.prefix:
                    owners[(kind, own)] = name
                kept.append(item)
            items += rename_items(method, name, {key: kept}, self.names)
            nxt = result.get("nextCursor")
            if isinstance(nxt, str) and nxt:
                more[name] = nxt
        out: dict[str, Any] = {key: items}
        token = encode_cursor(more)
        if token is not None:
            out["nextCursor"] = token
        return jsonrpc.result(msg["id"], out)

    async def _forward(
        self, ctx: RequestContext, reply: Reply, sid: str, state: SessionState, target: str, msg: Message
    ) -> None:
        """One request to one target; what the target sends before its answer (progress, logs,
        its own requests) reaches this client too, when the client takes events."""
        link = self._link(ctx, target)
        # other workers reach this one's calls (cancellation) and its stdio children (answers)
        await self._ensure_channel(self._state(ctx))

        def sink(m: Message) -> None:
            if jsonrpc.kind(m) == "request":
                m = {**m, "id": _wrap_id(target, m["id"])}
            reply.event(m)

        running = self._state(ctx).running
        key = (sid, msg["id"])
        task = asyncio.ensure_future(link.call(state.targets[target], msg, sink if reply.events else None))
        running[key] = task
        try:
            answer = await task
        except asyncio.CancelledError:
            if task.cancelled() and not asyncio.current_task().cancelling():  # type: ignore[union-attr]
                # the client cancelled it (notifications/cancelled): no answer is due (the spec)
                answer = jsonrpc.error(msg["id"], jsonrpc.INTERNAL_ERROR, "Request cancelled")
            else:
                task.cancel()
                raise
        finally:
            running.pop(key, None)
        reply.answer(answer)

    def _answer(self, ctx: RequestContext, msg: Message, session_id: str | None) -> None:
        _note_error(ctx, msg)
        headers: Headers = [_JSON]
        if session_id is not None:
            headers.append((b"mcp-session-id", session_id.encode("ascii")))
            if ctx.mcp is not None:
                ctx.mcp.set_session(session_id)
        ctx.respond(200, headers, orjson.dumps(msg))

    # -- GET: the session's stream -------------------------------------------------------------
    async def _stream(self, ctx: RequestContext) -> None:
        accept = _header_bytes(ctx.request.headers, b"accept") or b""
        if b"text/event-stream" not in accept:
            raise McpError(jsonrpc.INVALID_REQUEST, "Not Acceptable: the stream is text/event-stream", 406)
        if self.stateless:
            raise McpError(jsonrpc.INVALID_REQUEST, "Method Not Allowed: no sessions (statefulMode stateless)", 405)
        _sid, state = self._session(ctx)
        writer = ctx.writer
        ctx.sse = True
        writer.start(200, ctx.response_headers(list(_SSE)))

        def make_sink(target: str) -> Sink:
            def sink(m: Message) -> None:
                if writer.ended:
                    return
                if jsonrpc.kind(m) == "request":
                    m = {**m, "id": _wrap_id(target, m["id"])}
                writer.write(frame(m))

            return sink

        listeners = [asyncio.ensure_future(self._link(ctx, n).listen(s, make_sink(n))) for n, s in self._live(state)]
        try:
            await _hold(writer)
        finally:
            for task in listeners:
                task.cancel()

    # -- the legacy HTTP+SSE transport -------------------------------------------------------------
    async def _legacy_stream(self, ctx: RequestContext) -> None:
        links = self._state(ctx)
        await self._ensure_channel(links)
        sid = new_session_id(self.codec.key)
        session = links.legacy[sid] = LegacySession(ctx)
        ctx.mcp = McpCall("sse")
        ctx.mcp.set_session(sid)
        writer = ctx.writer
        ctx.sse = True
        writer.start(200, ctx.response_headers(list(_SSE)))
        endpoint = ctx.request.path.decode("latin-1") + "?sessionId=" + sid
        writer.write(frame(endpoint, event="endpoint"))
        try:
            await _hold(writer)
        finally:
            del links.legacy[sid]
            for task in list(session.tasks):
                task.cancel()

    async def _legacy_post(self, ctx: RequestContext) -> None:
        sid = _query_param(ctx.request.query, b"sessionId")
        pid = session_owner(self.codec.key, sid) if sid is not None else None
        if sid is None or pid is None:
            raise McpError(jsonrpc.SESSION_NOT_FOUND, "Session not found", 404)
        data, _msg = await self._message(ctx)
        if ctx.mcp is not None:
            ctx.mcp.set_session(sid)
        if pid == os.getpid():
            ok = await self._legacy_deliver(self._state(ctx), sid, data)
        else:
            ok = await forward(self.codec.key, self._scope(), pid, sid, data)
        if not ok:
            raise McpError(jsonrpc.SESSION_NOT_FOUND, "Session not found", 404)
        ctx.respond(202, [(b"content-type", b"text/plain")], b"Accepted")

    def _scope(self) -> str:
        return self.scope

    async def _ensure_channel(self, links: _Links) -> None:
        if links.channel is None:
            links.channel = Channel(self.codec.key, self._scope(), partial(self._legacy_deliver, links))
        await links.channel.listen()

    async def _legacy_deliver(self, links: _Links, sid: str, data: bytes) -> bool:
        if sid == _CANCEL:
            session_id, request_id = orjson.loads(data)
            task = links.running.get((session_id, request_id))
            if task is not None:
                task.cancel()
            return task is not None
        if sid.startswith(_ANSWER):
            link = links.links.get(sid[len(_ANSWER) :])
            if link is None:
                return False
            try:
                await link.notify("", orjson.loads(data))
            except TargetError as exc:
                log.warning("mcp: relaying an answer: %s", exc)
            return True
        session = links.legacy.get(sid)
        if session is None:
            return False
        task = asyncio.ensure_future(self._legacy_handle(session, sid, orjson.loads(data)))
        session.tasks.add(task)
        task.add_done_callback(session.tasks.discard)
        return True

    async def _legacy_handle(self, session: LegacySession, sid: str, msg: Message) -> None:
        ctx, reply = session.ctx, session.reply
        kind = jsonrpc.kind(msg)
        try:
            if kind == "request" and msg["method"] == "initialize":
                answer, session.state = await self._open_session(ctx, msg)
                reply.answer(answer)
                if session.state is not None:
                    for name, upstream in self._live(session.state):
                        sink = partial(_relay_from, name, reply)
                        task = asyncio.ensure_future(self._link(ctx, name).listen(upstream, sink))
                        session.tasks.add(task)
                        task.add_done_callback(session.tasks.discard)
                return
            state = session.state
            if state is None or (kind == "request" and msg["method"] == "server/discover"):
                if kind == "request":
                    reply.answer(jsonrpc.error(msg["id"], jsonrpc.INVALID_REQUEST, "the session is not initialized"))
                return
            if kind == "notification":
                await self._notification(ctx, sid, state, msg)
            elif kind == "response":
                await self._client_answer(ctx, state, msg)
            else:
                await self._request(ctx, reply, sid, state, msg)
        except McpError as err:
            if kind == "request":
                reply.answer(jsonrpc.error(msg["id"], err.code, str(err)))
        except TargetError as err:
            log.warning("mcp: %s", err)
            if kind == "request":
                reply.answer(jsonrpc.error(msg["id"], jsonrpc.TARGET_ERROR, str(err)))

    async def _delete(self, ctx: RequestContext) -> None:
        if self.stateless:
            raise McpError(jsonrpc.INVALID_REQUEST, "Method Not Allowed: no sessions (statefulMode stateless)", 405)
        _sid, state = self._session(ctx)
        await asyncio.gather(*(self._link(ctx, n).end(s) for n, s in self._live(state)), return_exceptions=True)
        ctx.respond(200, [], b"")


def answer_status(
    ctx: RequestContext,
    status: int,
    id_: jsonrpc.Id,
    code: int,
    message: str,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    ctx.reason = MCP_REFUSED
    body = jsonrpc.error(id_, code, message)
    _note_error(ctx, body)
    ctx.respond(status, [_JSON, *extra], orjson.dumps(body))


async def _hold(writer: ResponseWriter) -> None:
    """Keep an event stream open (a comment every so often finds dead clients) until the client
    leaves or the worker stops (then the stream ends: the client reconnects to a live worker)."""
    idle = 0.0
    while not writer.ended:
        if writer.draining:
            writer.end()
            return
        await asyncio.sleep(1.0)
        idle += 1.0
        if idle >= _KEEPALIVE:
            idle = 0.0
            writer.write(b": keepalive\n\n")


def _relay_from(target: str, reply: Reply, msg: Message) -> None:
    if jsonrpc.kind(msg) == "request":
        msg = {**msg, "id": _wrap_id(target, msg["id"])}
    reply.event(msg)


def _query_param(query: bytes, name: bytes) -> str | None:
    for part in query.split(b"&"):
        key, _, value = part.partition(b"=")
        if key == name:
            return value.decode("latin-1")
    return None


def _note_error(ctx: RequestContext, msg: Message) -> None:
    err = msg.get("error")
    if ctx.mcp is not None and isinstance(err, dict):
        ctx.mcp.error_code = err.get("code") if isinstance(err.get("code"), int) else None
        ctx.mcp.error_message = str(err.get("message", ""))[:200]


def _wrap_id(target: str, id_: jsonrpc.Id) -> str:
    """The id a client sees for a target's request: the target, the worker whose link it came
    through (a stdio child answers only through its own worker) and the target's id."""
    raw = orjson.dumps([target, os.getpid(), id_])
    return _RELAYED + base64.urlsafe_b64encode(raw).decode("ascii")


def _unwrap_id(id_: object) -> tuple[str, int, jsonrpc.Id] | None:
    if not isinstance(id_, str) or not id_.startswith(_RELAYED):
        return None
    try:
        target, pid, original = orjson.loads(base64.urlsafe_b64decode(id_[len(_RELAYED) :]))
    except (binascii.Error, ValueError, TypeError):
        return None
    if not isinstance(target, str) or not isinstance(pid, int) or not isinstance(original, str | int):
        return None
    return target, pid, original


def _header_bytes(headers: Headers, name: bytes) -> bytes | None:
    for n, v in headers:
        if n == name:
            return v
    return None


def _header(headers: Headers, name: bytes) -> str | None:
    v = _header_bytes(headers, name)
    return v.decode("latin-1") if v is not None else None


def _local(headers: Headers) -> bool:
    """DNS-rebinding protection: Host (and Origin, when sent) must name this machine."""
    for name in (b"host", b"origin"):
        value = _header(headers, name)
        if value is None:
            continue
        host = value.split("://", 1)[-1]
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if host.strip("[]") not in ("localhost", "127.0.0.1", "::1"):
            return False
    return True


def _now(ctx: RequestContext) -> float:
    return time.time()
