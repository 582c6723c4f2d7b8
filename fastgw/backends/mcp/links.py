"""Connections to MCP targets, one set per worker: a stdio child process, a streamable-HTTP server.

A `Link` speaks one target's transport. It is made in the worker (never before fork) on the
first request that needs it and closed when the worker stops. Server-initiated messages that
arrive while a request is in flight (progress, logging, sampling/elicitation requests) go to that
request's `Sink`; the rest go to the GET streams open on this worker (`listeners`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import aiohttp
import orjson
from yarl import URL

from fastgw.backends.mcp import jsonrpc
from fastgw.backends.mcp.jsonrpc import Message
from fastgw.backends.mcp.sse import events

log = logging.getLogger("fastgw.mcp")

Sink = Callable[[Message], None]

#: the newest protocol version reached through the initialize handshake (what fastgw speaks)
LATEST_VERSION: Final = "2025-11-25"
VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
CLIENT_INFO: Final = {"name": "fastgw", "version": "0.1.0"}
#: what fastgw tells a target it can relay to clients (it relays them to the calling client)
RELAYED_CAPABILITIES: Final = {"roots": {"listChanged": True}, "sampling": {}, "elicitation": {}}
#: a JSON-RPC message on a stdio target's stdout longer than this is refused (the line is dropped)
MAX_LINE_BYTES: Final = 16 << 20
#: how long a target has to answer initialize after it starts
START_TIMEOUT: Final = 60.0


class TargetError(Exception):
    """A target failed a request: unreachable, exited, answered garbage. Only its caller sees it."""

    def __init__(self, target: str, message: str, http_status: int = 502) -> None:
        super().__init__(f"target {target}: {message}")
        self.target = target
        self.http_status = http_status


class Link(Protocol):
    name: str
    listeners: set[Sink]

    async def open(self, params: Message) -> tuple[Message, str]:
        """Initialize (or join) the target for a new client session: its result and the upstream
        session id ("" when the target keeps none)."""
        ...

    async def call(self, sid: str, msg: Message, sink: Sink | None) -> Message: ...

    async def notify(self, sid: str, msg: Message) -> None: ...

    async def listen(self, sid: str, sink: Sink) -> None: ...

    async def end(self, sid: str) -> None: ...

    def close(self) -> None: ...


# -- stdio -------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Message]
    sink: Sink | None
    client_id: jsonrpc.Id
    token: Any = None


@dataclass(frozen=True, slots=True)
class StdioSpec:
    cmd: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    clear_env: bool = False


class StdioLink:
    """One child process per target per worker, shared by every session that worker serves.

    fastgw initializes it once (as its own client) and multiplexes the sessions' requests over it,
    renumbering request ids and progress tokens so answers and progress find their caller. It is
    started on first use and started again, with back-off, when it has died; its stderr is logged
    line by line under the target's name.
    """

    def __init__(self, name: str, spec: StdioSpec) -> None:
        self.name = name
        self.spec = spec
        self.listeners: set[Sink] = set()
        self._proc: asyncio.subprocess.Process | None = None
        self._starting: asyncio.Future[Message] | None = None
        self._pending: dict[int, _Pending] = {}
        self._tokens: dict[str, _Pending] = {}
        self._next = 0
        self._failures = 0
        self._not_before = 0.0
        self._last_start = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # the shared process --------------------------------------------------------------------
    async def _ready(self) -> Message:
        starting = self._starting
        if starting is None or (starting.done() and (starting.exception() is not None or not self._alive())):
            wait = self._not_before - time.monotonic()
            if wait > 0:
                # backing off after failures: callers fail now rather than wait (failOpen
                # sessions go on without this target)
                raise TargetError(self.name, f"not running; the next start is in {wait:.1f} s")
            starting = self._starting = asyncio.get_running_loop().create_future()
            task = asyncio.ensure_future(self._start(starting))
            self._keep(task)
        return await asyncio.shield(starting)

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _failed(self) -> None:
        """Back-off: the first restart is immediate, then 0.2 s doubling up to 5 s between tries."""
        self._failures += 1
        if self._failures > 1:
            self._not_before = time.monotonic() + min(5.0, 0.1 * 2 ** (self._failures - 1))

    async def _start(self, done: asyncio.Future[Message]) -> None:
        try:
            result = await asyncio.wait_for(self._spawn(), START_TIMEOUT)
        except (OSError, TargetError, TimeoutError) as exc:
            self._failed()
            self._kill()
            err = exc if isinstance(exc, TargetError) else TargetError(self.name, f"cannot start: {exc}")
            log.warning("mcp %s", err)
            done.set_exception(err)
            done.exception()  # retrieved: callers that shared it have theirs
            return
        done.set_result(result)

    async def _spawn(self) -> Message:
        spec = self.spec
        env = {} if spec.clear_env else dict(os.environ)
        env.update(spec.env)
        self._last_start = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            spec.cmd,
            *spec.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            limit=MAX_LINE_BYTES,
            preexec_fn=_die_with_parent,
        )
        self._proc = proc
        log.info("mcp target %s: started pid %d", self.name, proc.pid)
        self._keep(asyncio.ensure_future(self._read(proc)))
        self._keep(asyncio.ensure_future(self._stderr(proc)))
        params = {"protocolVersion": LATEST_VERSION, "capabilities": RELAYED_CAPABILITIES, "clientInfo": CLIENT_INFO}
        answer = await self._request(proc, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
        if "result" not in answer or not isinstance(answer["result"], dict):
            raise TargetError(self.name, f"initialize failed: {answer.get('error')}")
        await self._write(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        return dict(answer["result"])

    async def _write(self, proc: asyncio.subprocess.Process, msg: Message) -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(orjson.dumps(msg) + b"\n")
            await proc.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise TargetError(self.name, f"cannot write to the process: {exc}") from None

    async def _request(
        self, proc: asyncio.subprocess.Process, msg: Message, sink: Sink | None = None, token: Any = None
    ) -> Message:
        self._next += 1
        nid = self._next
        pending = _Pending(asyncio.get_running_loop().create_future(), sink, msg.get("id"))
        self._pending[nid] = pending
        out = {**msg, "id": nid}
        if token is not None:
            # progress tokens are per session on the client side, shared here: ours are unique
            key = f"fastgw-{nid}"
            pending.token = token
            self._tokens[key] = pending
            params = dict(out["params"])
            params["_meta"] = {**params["_meta"], "progressToken": key}
            out["params"] = params
        try:
            await self._write(proc, out)
            answer = await pending.future
        except asyncio.CancelledError:
            # the caller went away: tell the target (best effort; its answer will be dropped)
            if self._alive() and nid in self._pending:
                cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": nid}}
                try:
                    await asyncio.shield(self._write(proc, cancel))
                except TargetError:
                    pass
            raise
        finally:
            self._pending.pop(nid, None)
            if token is not None:
                self._tokens.pop(f"fastgw-{nid}", None)
        return {**answer, "id": pending.client_id}

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        out = proc.stdout
        assert out is not None
        while True:
            try:
                line = await out.readline()
            except ValueError:  # longer than MAX_LINE_BYTES: drop it and what is buffered
                log.warning("mcp target %s: stdout line over %d bytes dropped", self.name, MAX_LINE_BYTES)
                continue
            except ConnectionError:
                line = b""
            if not line:
                break
            if line.strip():
                self._received(line)
        code = await proc.wait()
        if self._proc is proc:
            self._proc = None
            if time.monotonic() - self._last_start > 30.0:
                self._failures = 0  # it ran for a while: restart at once
            self._failed()
            if not self._closed:
                log.warning("mcp target %s: process exited with %s", self.name, code)
        err = TargetError(self.name, f"the process exited (status {code})")
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(err)
                pending.future.exception()
        self._pending.clear()
        self._tokens.clear()

    def _received(self, line: bytes) -> None:
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError:
            msg = None
        if jsonrpc.problem(msg) is not None:
            log.warning("mcp target %s: stdout line is not JSON-RPC: %r", self.name, line[:200])
            return
        what = jsonrpc.kind(msg)
        if what == "response":
            id_ = msg.get("id")
            pending = self._pending.get(id_) if isinstance(id_, int) else None
            if pending is not None and not pending.future.done():
                pending.future.set_result(msg)
            return
        method = msg["method"]
        target: _Pending | None = None
        if method == "notifications/progress":
            token = (msg.get("params") or {}).get("progressToken")
            target = self._tokens.get(token) if isinstance(token, str) else None
            if target is None:
                return
            msg = {**msg, "params": {**msg["params"], "progressToken": target.token}}
        elif not method.endswith("/list_changed"):
            # logging and server->client requests: the latest call in flight is the one the
            # server is working on (a stdio server gives no other clue)
            target = next((p for p in reversed(self._pending.values()) if p.sink is not None), None)
        if target is not None and target.sink is not None:
            target.sink(msg)
            return
        for listener in list(self.listeners):
            listener(msg)
        if what == "request" and not self.listeners:
            self._keep(asyncio.ensure_future(self._reject(msg)))

    async def _reject(self, msg: Message) -> None:
        proc = self._proc
        if proc is not None:
            err = jsonrpc.error(msg.get("id"), jsonrpc.METHOD_NOT_FOUND, "no client to relay the request to")
            try:
                await self._write(proc, err)
            except TargetError:
                pass

    async def _stderr(self, proc: asyncio.subprocess.Process) -> None:
        err = proc.stderr
        assert err is not None
        while True:
            try:
                line = await err.readline()
            except (ValueError, ConnectionError):
                continue
            if not line:
                return
            log.info("mcp target %s: %s", self.name, line.decode("utf-8", "replace").rstrip())

    # Link ------------------------------------------------------------------------------------
    async def open(self, params: Message) -> tuple[Message, str]:
        return await self._ready(), ""

    async def call(self, sid: str, msg: Message, sink: Sink | None) -> Message:
        await self._ready()
        proc = self._proc
        if proc is None:
            raise TargetError(self.name, "the process is not running")
        token = None
        params = msg.get("params")
        if isinstance(params, dict):
            meta = params.get("_meta")
            if isinstance(meta, dict) and meta.get("progressToken") is not None:
                token = meta["progressToken"]
        return await self._request(proc, msg, sink, token)

    async def notify(self, sid: str, msg: Message) -> None:
        if msg.get("method") == "notifications/initialized":
            return  # fastgw did the handshake with this process itself
        await self._ready()
        if self._proc is not None:
            await self._write(self._proc, msg)

    async def listen(self, sid: str, sink: Sink) -> None:
        self.listeners.add(sink)
        try:
            await asyncio.get_running_loop().create_future()  # until the stream ends (cancelled)
        finally:
            self.listeners.discard(sink)

    async def end(self, sid: str) -> None:
        return None  # the process is shared by the worker's sessions

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            try:
                proc.terminate()
            except ProcessLookupError:
                pass

    def close(self) -> None:
        self._closed = True
        self._kill()
        for task in list(self._tasks):
            task.cancel()


def _die_with_parent() -> None:
    """In the child before exec: a worker killed outright takes its stdio targets with it."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# -- streamable HTTP ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HttpSpec:
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    ssl: Any = None  # an ssl.SSLContext, False (no verification) or None (system defaults)


@dataclass(slots=True)
class HttpLink:
    """A streamable-HTTP target: one upstream session per client session (its id travels in the
    client's session id), so any worker can serve it."""

    name: str
    spec: HttpSpec
    listeners: set[Sink] = field(default_factory=set)
    _http: aiohttp.ClientSession | None = None
    _version: str = LATEST_VERSION

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            ssl_ctx = self.spec.ssl if self.spec.ssl is not None else True
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl_ctx),
                timeout=aiohttp.ClientTimeout(total=None, connect=10.0),
            )
        return self._http

    def _headers(self, sid: str, version: str | None = None) -> dict[str, str]:
        h = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        h.update(self.spec.headers)
        if sid:
            h["mcp-session-id"] = sid
        h["mcp-protocol-version"] = version or self._version
        return h

    async def open(self, params: Message) -> tuple[Message, str]:
        msg = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
        version = params.get("protocolVersion")
        headers = self._headers("", version if isinstance(version, str) else None)
        del headers["mcp-protocol-version"]
        try:
            async with self._client().post(self.spec.url, data=orjson.dumps(msg), headers=headers) as resp:
                sid = resp.headers.get("mcp-session-id", "")
                answer = await self._answer(resp, 0, None)
            if "result" not in answer:
                raise TargetError(self.name, f"initialize failed: {answer.get('error')}")
            note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            async with self._client().post(self.spec.url, data=orjson.dumps(note), headers=self._headers(sid)):
                pass
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise TargetError(self.name, f"unreachable: {exc}") from None
        return dict(answer["result"]), sid

    async def _answer(self, resp: aiohttp.ClientResponse, id_: jsonrpc.Id, sink: Sink | None) -> Message:
        if resp.status == 404:
            raise TargetError(self.name, "the upstream session has ended", 404)
        ctype = resp.headers.get("content-type", "")
        if resp.status >= 400 and "json" not in ctype:
            raise TargetError(self.name, f"HTTP {resp.status}")
        if ctype.startswith("text/event-stream"):
            async for ev in events(resp.content.__aiter__()):
                if ev.event != "message" or not ev.data:
                    continue
                msg = orjson.loads(ev.data)
                if jsonrpc.problem(msg) is not None:
                    continue
                if jsonrpc.kind(msg) == "response" and msg.get("id") == id_:
                    await _drain(resp)
                    return dict(msg)
                if sink is not None:
                    sink(msg)
            raise TargetError(self.name, "the stream ended before the answer")
        body = orjson.loads(await resp.read())
        if isinstance(body, dict) and jsonrpc.problem(body) is None:
            return body
        raise TargetError(self.name, "the answer is not a JSON-RPC message")

    async def call(self, sid: str, msg: Message, sink: Sink | None) -> Message:
        try:
            async with self._client().post(self.spec.url, data=orjson.dumps(msg), headers=self._headers(sid)) as resp:
                return await self._answer(resp, msg.get("id"), sink)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise TargetError(self.name, f"unreachable: {exc}") from None
        except asyncio.CancelledError:
            # the caller went away or cancelled: the target is told (best effort, not awaited)
            cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": msg.get("id")}}
            task = asyncio.ensure_future(self.notify(sid, cancel))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            raise

    async def notify(self, sid: str, msg: Message) -> None:
        if msg.get("method") == "notifications/initialized":
            return  # sent by fastgw right after its initialize
        try:
            async with self._client().post(self.spec.url, data=orjson.dumps(msg), headers=self._headers(sid)):
                pass
        except (aiohttp.ClientError, OSError) as exc:
            raise TargetError(self.name, f"unreachable: {exc}") from None

    async def listen(self, sid: str, sink: Sink) -> None:
        headers = self._headers(sid)
        headers["accept"] = "text/event-stream"
        try:
            async with self._client().get(self.spec.url, headers=headers) as resp:
                if resp.status != 200:
                    return  # the target offers no stream (405)
                async for ev in events(resp.content.__aiter__()):
                    if ev.event == "message" and ev.data:
                        msg = orjson.loads(ev.data)
                        if jsonrpc.problem(msg) is None:
                            sink(msg)
        except (aiohttp.ClientError, OSError, ValueError):
            return

    async def end(self, sid: str) -> None:
        if not sid:
            return
        try:
            async with self._client().delete(self.spec.url, headers=self._headers(sid)):
                pass
        except (aiohttp.ClientError, OSError):
            pass

    def close(self) -> None:
        http = self._http
        self._http = None
        if http is not None and not http.closed:
            try:
                task = asyncio.get_running_loop().create_task(http.close())
            except RuntimeError:  # no loop: the process is ending, the sockets go with it
                return
            self.listeners.clear()
            task.add_done_callback(lambda t: t.exception())


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read a POST's event stream to its end after the answer (servers close it then), so the
    connection goes back to the pool instead of being closed; a stream kept open is cut."""
    content = resp.content
    try:
        async with asyncio.timeout(0.5):
            while not content.at_eof():
                if not await content.readany():
                    break
    except TimeoutError:
        resp.close()


# -- legacy HTTP+SSE ---------------------------------------------------------------------------
#: upstream SSE connections a worker keeps per target (the least recently used is closed first)
MAX_SSE_SESSIONS: Final = 256


class _SseSession:
    """One upstream SSE connection: the stream carries every answer; messages are POSTed to the
    endpoint its first event names."""

    def __init__(self, link: SseLink) -> None:
        self.link = link
        self.endpoint: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.pending: dict[int, _Pending] = {}
        self.next = 0
        self.task = asyncio.ensure_future(self._read())
        self.closed = False

    async def _read(self) -> None:
        link = self.link
        err: TargetError = TargetError(link.name, "the stream ended")
        try:
            headers = {"accept": "text/event-stream", **dict(link.spec.headers)}
            async with link.client().get(link.spec.url, headers=headers) as resp:
                if resp.status != 200:
                    raise TargetError(link.name, f"HTTP {resp.status}")
                async for ev in events(resp.content.__aiter__()):
                    if ev.event == "endpoint" and not self.endpoint.done():
                        self.endpoint.set_result(str(resp.url.join(URL(ev.data.strip()))))
                    elif ev.event == "message" and ev.data:
                        self._received(orjson.loads(ev.data))
        except TargetError as exc:
            err = exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            err = TargetError(link.name, f"unreachable: {exc}")
        finally:
            self.closed = True
            if not self.endpoint.done():
                self.endpoint.set_exception(err)
                self.endpoint.exception()
            for p in self.pending.values():
                if not p.future.done():
                    p.future.set_exception(err)
                    p.future.exception()

    def _received(self, msg: Any) -> None:
        if jsonrpc.problem(msg) is not None:
            return
        if jsonrpc.kind(msg) == "response":
            p = self.pending.get(msg.get("id")) if isinstance(msg.get("id"), int) else None
            if p is not None and not p.future.done():
                p.future.set_result(msg)
            return
        target = next((p for p in reversed(self.pending.values()) if p.sink is not None), None)
        if target is not None and target.sink is not None and not msg["method"].endswith("/list_changed"):
            target.sink(msg)
            return
        for listener in list(self.link.listeners):
            listener(msg)

    async def post(self, msg: Message) -> None:
        url = await self.endpoint
        headers = {"content-type": "application/json", **dict(self.link.spec.headers)}
        try:
            async with self.link.client().post(url, data=orjson.dumps(msg), headers=headers) as resp:
                if resp.status >= 400:
                    raise TargetError(self.link.name, f"HTTP {resp.status}")
        except (aiohttp.ClientError, OSError) as exc:
            raise TargetError(self.link.name, f"unreachable: {exc}") from None

    async def request(self, msg: Message, sink: Sink | None) -> Message:
        self.next += 1
        nid = self.next
        pending = _Pending(asyncio.get_running_loop().create_future(), sink, msg.get("id"))
        self.pending[nid] = pending
        try:
            await self.post({**msg, "id": nid})
            answer = await pending.future
        finally:
            self.pending.pop(nid, None)
        return {**answer, "id": pending.client_id}

    async def initialize(self) -> Message:
        params = {"protocolVersion": LATEST_VERSION, "capabilities": RELAYED_CAPABILITIES, "clientInfo": CLIENT_INFO}
        answer = await self.request({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}, None)
        if not isinstance(answer.get("result"), dict):
            raise TargetError(self.link.name, f"initialize failed: {answer.get('error')}")
        await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return dict(answer["result"])

    def close(self) -> None:
        self.task.cancel()


class SseLink:
    """A target on the legacy HTTP+SSE transport. Its sessions are its connections, so a worker
    opens (and initializes) its own connection for each client session it serves: the client's
    session id carries only a key for it."""

    def __init__(self, name: str, spec: HttpSpec) -> None:
        self.name = name
        self.spec = spec
        self.listeners: set[Sink] = set()
        self._http: aiohttp.ClientSession | None = None
        self._sessions: dict[str, _SseSession] = {}
        self._opening: dict[str, asyncio.Future[tuple[_SseSession, Message]]] = {}

    def client(self) -> aiohttp.ClientSession:
        if self._http is None:
            ssl_ctx = self.spec.ssl if self.spec.ssl is not None else True
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl_ctx),
                timeout=aiohttp.ClientTimeout(total=None, connect=10.0),
            )
        return self._http

    async def _session(self, key: str) -> tuple[_SseSession, Message]:
        session = self._sessions.get(key)
        if session is not None and not session.closed:
            self._sessions[key] = self._sessions.pop(key)  # most recently used last
            return session, {}
        opening = self._opening.get(key)
        if opening is None:
            opening = self._opening[key] = asyncio.ensure_future(self._open(key))
            opening.add_done_callback(lambda _: self._opening.pop(key, None))
        return await asyncio.shield(opening)

    async def _open(self, key: str) -> tuple[_SseSession, Message]:
        session = _SseSession(self)
        try:
            result = await asyncio.wait_for(session.initialize(), START_TIMEOUT)
        except BaseException:
            session.close()
            raise
        self._sessions[key] = session
        while len(self._sessions) > MAX_SSE_SESSIONS:
            oldest = next(iter(self._sessions))
            self._sessions.pop(oldest).close()
        return session, result

    async def open(self, params: Message) -> tuple[Message, str]:
        key = os.urandom(8).hex()
        _, result = await self._session(key)
        return result, key

    async def call(self, sid: str, msg: Message, sink: Sink | None) -> Message:
        session, _ = await self._session(sid)
        return await session.request(msg, sink)

    async def notify(self, sid: str, msg: Message) -> None:
        if msg.get("method") == "notifications/initialized":
            return
        session, _ = await self._session(sid)
        await session.post(msg)

    async def listen(self, sid: str, sink: Sink) -> None:
        self.listeners.add(sink)
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            self.listeners.discard(sink)

    async def end(self, sid: str) -> None:
        session = self._sessions.pop(sid, None)
        if session is not None:
            session.close()

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
        http = self._http
        self._http = None
        if http is not None and not http.closed:
            try:
                task = asyncio.get_running_loop().create_task(http.close())
            except RuntimeError:
                return
            task.add_done_callback(lambda t: t.exception())
