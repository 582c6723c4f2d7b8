"""Keep-alive connection pool: idle connections per origin, per-origin and global limits, FIFO
waiters with a deadline, idle expiry. Built inside each worker after fork (it owns sockets).

Two limits per origin, as operators know them: how many connections may be open at once
(`max_per_origin`: busy and idle; a request beyond it waits for one to free up, at most the connect
timeout, then gets a 503), and how many idle ones are kept for reuse (`max_idle_per_origin`,
agentgateway's `poolMaxSize`: a connection finishing its request beyond it is closed)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Callable

from fastgw.errors import BackendOverloaded, UpstreamConnectError, UpstreamPoolTimeout, UpstreamTimeout
from fastgw.upstream.connection import UpstreamConnection
from fastgw.upstream.limits import PoolLimits
from fastgw.upstream.origin import Origin


class _OriginState:
    __slots__ = ("count", "idle", "waiters")

    def __init__(self) -> None:
        self.idle: list[UpstreamConnection] = []  # LIFO: the warmest connection first
        self.waiters: deque[asyncio.Future[UpstreamConnection | None]] = deque()
        self.count = 0  # open + connecting


class Pool:
    def __init__(self, limits: PoolLimits, clock: Callable[[], float] = time.monotonic) -> None:
        """`clock` dates idle connections for expiry (a test passes its loop's fake clock)."""
        self.limits = limits
        self._clock = clock
        self._origins: dict[Origin, _OriginState] = {}
        self._total = 0
        self._ssl: dict[tuple[bool, bool, str | None, str | None, str | None], ssl.SSLContext] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    # -- acquire / release ----------------------------------------------------------------------
    def adopt(self, conn: UpstreamConnection) -> None:
        """Keep an already connected `conn` as idle and counted (the in-process tests and bench
        put a connection on a fake transport in the pool this way)."""
        st = self._origins.setdefault(conn.origin, _OriginState())
        st.count += 1
        self._total += 1
        st.idle.append(conn)

    def idle(self, origin: Origin) -> list[UpstreamConnection]:
        """The idle connections kept for `origin`, the warmest last (a copy)."""
        st = self._origins.get(origin)
        return list(st.idle) if st is not None else []

    def take_idle(self, origin: Origin) -> UpstreamConnection | None:
        """An idle connection to `origin` if one is ready (the common case, no await)."""
        st = self._origins.get(origin)
        if st is None:
            return None
        idle = st.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    async def acquire(self, origin: Origin) -> tuple[UpstreamConnection, bool]:
        """A connection to `origin` and whether it was reused from the idle list. Waiting for a
        connection to free up ends after the connect timeout with UpstreamPoolTimeout (503)."""
        st = self._origins.get(origin)
        if st is None:
            st = self._origins[origin] = _OriginState()
        deadline: float | None = None
        while True:
            idle = st.idle
            while idle:
                conn = idle.pop()
                if not conn.closed:
                    return conn, True
            if st.count < self.limits.max_per_origin and self._make_room():
                return await self._connect(origin, st), False
            loop = asyncio.get_running_loop()
            if deadline is None:
                if len(st.waiters) >= self.limits.max_pending_per_origin:
                    raise BackendOverloaded(
                        f"{st.count} requests are under way to the upstream and {len(st.waiters)} wait "
                        "for a connection (config.backend.maxPendingPerOrigin)"
                    )
                deadline = loop.time() + self.limits.connect_timeout
            fut: asyncio.Future[UpstreamConnection | None] = loop.create_future()
            st.waiters.append(fut)
            try:
                async with asyncio.timeout_at(deadline):
                    conn_or_none = await self._wait(st, fut)
            except TimeoutError:
                raise UpstreamPoolTimeout(
                    f"all {st.count} connections to the upstream stayed busy for "
                    f"{self.limits.connect_timeout:g}s (config.backend.maxConnectionsPerOrigin)"
                ) from None
            if conn_or_none is not None and not conn_or_none.closed:
                return conn_or_none, True
            # woken because a slot freed up: loop and connect

    async def _wait(
        self, st: _OriginState, fut: asyncio.Future[UpstreamConnection | None]
    ) -> UpstreamConnection | None:
        """`fut`'s connection (or None: a slot freed up); cancelled (a deadline, a client that
        left), a connection handed over meanwhile goes back to the pool and the waiter leaves."""
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                handed = fut.result()
                if handed is not None:
                    self.release(handed)
                else:
                    self._wake(st)  # the slot this waiter was woken for goes to the next one
            else:
                try:
                    st.waiters.remove(fut)
                except ValueError:
                    pass
            raise

    def _make_room(self) -> bool:
        if self._total < self.limits.max_connections:
            return True
        # at the global limit: close the longest-idle connection of any origin
        oldest: UpstreamConnection | None = None
        for st in self._origins.values():
            if st.idle and (oldest is None or st.idle[0].idle_since < oldest.idle_since):
                oldest = st.idle[0]
        if oldest is None:
            return False
        self._origins[oldest.origin].idle.remove(oldest)
        oldest.close()
        self._forget(oldest)
        return True

    async def _connect(self, origin: Origin, st: _OriginState) -> UpstreamConnection:
        st.count += 1
        self._total += 1
        loop = asyncio.get_running_loop()
        ok = False
        try:
            ctx = self._ssl_context(origin) if origin.tls else None
            try:
                async with asyncio.timeout(self.limits.connect_timeout):
                    _, conn = await loop.create_connection(
                        lambda: UpstreamConnection(self, origin, self.limits.max_head_bytes),
                        origin.host,
                        origin.port,
                        ssl=ctx,
                        server_hostname=(origin.sni or origin.host) if ctx is not None else None,
                    )
            except TimeoutError:
                raise UpstreamTimeout(f"timed out connecting to {origin.authority}") from None
            except (OSError, ssl.SSLError) as exc:
                raise UpstreamConnectError(f"cannot connect to {origin.authority}: {exc}") from None
            ok = True
            self._arm_sweeper()
            return conn
        finally:
            if not ok:
                st.count -= 1
                self._total -= 1
                self._wake(st)

    def release(self, conn: UpstreamConnection) -> None:
        """The exchange on `conn` finished cleanly: hand it to a waiter or keep it idle."""
        if conn.closed or self._closed:
            conn.close()
            return
        st = self._origins[conn.origin]
        while st.waiters:
            fut = st.waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        if len(st.idle) >= self.limits.max_idle_per_origin or (
            self._total >= self.limits.max_connections and self._others_wait(st)
        ):
            # more idle connections than may be kept (poolMaxSize), or another origin waits for
            # the global limit to free a slot: close this one now
            self._forget(conn)
            conn.close()
            self._wake(st)
            return
        conn.idle_since = self._clock()
        st.idle.append(conn)

    def _others_wait(self, st: _OriginState) -> bool:
        return any(other.waiters for other in self._origins.values() if other is not st)

    def connection_closed(self, conn: UpstreamConnection) -> None:
        st = self._origins.get(conn.origin)
        if st is None:
            return
        try:
            st.idle.remove(conn)
        except ValueError:
            pass
        self._forget(conn)
        self._wake(st)

    def _forget(self, conn: UpstreamConnection) -> None:
        st = self._origins[conn.origin]
        st.count -= 1
        self._total -= 1
        conn.pool = _DETACHED  # its connection_lost must not count it twice

    def _wake(self, st: _OriginState) -> None:
        while st.waiters:
            fut = st.waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        if self._total < self.limits.max_connections:
            for other in self._origins.values():
                if other.waiters:
                    fut = other.waiters.popleft()
                    if not fut.done():
                        fut.set_result(None)
                    return

    # -- TLS -------------------------------------------------------------------------------------
    def _ssl_context(self, origin: Origin) -> ssl.SSLContext:
        key = (origin.verify, origin.verify_host, origin.ca, origin.cert, origin.key)
        ctx = self._ssl.get(key)
        if ctx is None:
            ctx = ssl.create_default_context(cafile=origin.ca)  # system CAs unless a bundle is given
            if not origin.verify_host or not origin.verify:
                ctx.check_hostname = False
            if not origin.verify:
                ctx.verify_mode = ssl.CERT_NONE
            if origin.cert is not None:
                ctx.load_cert_chain(origin.cert, origin.key)
            ctx.set_alpn_protocols(["http/1.1"])
            self._ssl[key] = ctx
        return ctx

    # -- idle expiry -----------------------------------------------------------------------------
    def _arm_sweeper(self) -> None:
        if self._sweeper is None and not self._closed:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(1.0, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        cutoff = self._clock() - self.limits.idle_timeout
        for st in self._origins.values():
            while st.idle and st.idle[0].idle_since < cutoff:
                st.idle.pop(0).close()
        if self._total > 0:
            self._arm_sweeper()

    def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for st in self._origins.values():
            for conn in st.idle:
                conn.close()
            st.idle.clear()
            for fut in st.waiters:
                if not fut.done():
                    fut.set_exception(UpstreamConnectError("gateway shutting down"))

    @property
    def stats(self) -> dict[str, int]:
        return {
            "total": self._total,
            "idle": sum(len(st.idle) for st in self._origins.values()),
        }


class _Detached:
    """Stand-in pool for a connection already forgotten by its pool."""

    def connection_closed(self, conn: UpstreamConnection) -> None:
        pass

    def release(self, conn: UpstreamConnection) -> None:
        conn.close()


_DETACHED = _Detached()
