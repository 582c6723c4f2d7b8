"""One worker's link to one Redis: script calls batched per loop turn, bounded in time, behind a
circuit breaker.

Batching: a request's script call joins the worker's pending batch; the batch goes out as one
pipeline (one write, one read, no MULTI) on the next turn of the loop, or, while
`maxConnections` batches are already in flight, when one of them comes back. Under load a
round trip therefore carries every request that arrived during the previous one: Redis sees
few, large pipelines, and a request waits at most about two round trips.

Time: every batch is bounded by `commandTimeout` (asyncio.timeout around the whole exchange:
connect, write, read); a connection that timed out is dropped by redis-py, never reused out of
step. Scripts are called by SHA (EVALSHA) and loaded once per connection loss (NOSCRIPT).

Breaker: `breakerFailures` consecutive failed batches open it; while open, `available` is False
and callers decide at once (failOpen/failClosed) without touching the network, so a dead Redis
costs a flag test per request. After `breakerOpenFor` one batch is let through as a probe: its
success closes the breaker, its failure reopens it for twice as long (up to 8 times).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hiredis import pack_command
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError, ResponseError

from fastgw.redis_limits.scripts import SCRIPTS, Script

log = logging.getLogger("fastgw.redis")

Reply = list[int]


class Lease:
    """Tokens one worker took from Redis for one key, admitted locally until used up or stale."""

    __slots__ = ("expires", "left", "refill")

    def __init__(self) -> None:
        self.left = 0
        self.expires = 0.0
        #: the call fetching more (requests for the key wait on it instead of each calling)
        self.refill: asyncio.Future[Reply] | None = None


#: leases a worker keeps per Redis before dropping the stale ones
MAX_LEASES = 4096


class RedisFailed(Exception):
    """A call that got no usable answer (timeout, connection, garbage, breaker open)."""

    def __init__(self, event: str) -> None:
        super().__init__(event)
        #: the failure counter's label: timeout, error, breaker_open
        self.event = event


@dataclass(frozen=True, slots=True)
class RedisSpec:
    """What a link needs (hashable: the worker keeps one link per distinct spec)."""

    url: str
    connect_timeout: float = 0.05
    command_timeout: float = 0.05
    max_connections: int = 4
    breaker_failures: int = 3
    breaker_open_for: float = 1.0


class Breaker:
    """Consecutive-failure circuit breaker on the loop's clock."""

    __slots__ = ("_clock", "_open_for", "failures", "open_until", "probing", "threshold", "trips")

    def __init__(self, threshold: int, open_for: float, clock: Callable[[], float]) -> None:
        self.threshold = threshold
        self._open_for = open_for
        self._clock = clock
        self.failures = 0
        self.open_until = 0.0
        self.probing = False
        #: consecutive trips without a success (the open time doubles with each, up to 8x)
        self.trips = 0

    def allow(self) -> bool:
        """Whether a batch may go out now (True once per open period: the probe)."""
        if self.failures < self.threshold:
            return True
        if self.probing or self._clock() < self.open_until:
            return False
        self.probing = True
        return True

    @property
    def open(self) -> bool:
        return self.failures >= self.threshold and (self.probing or self._clock() < self.open_until)

    def success(self) -> None:
        self.failures = 0
        self.trips = 0
        self.probing = False

    def failure(self) -> bool:
        """Count a failed batch; True when this failure opened (or reopened) the breaker."""
        self.failures += 1
        was_probe = self.probing
        self.probing = False
        if self.failures >= self.threshold and (was_probe or self.failures == self.threshold):
            self.open_until = self._clock() + self._open_for * min(8, 2**self.trips)
            self.trips += 1
            return True
        return False


_Call = tuple[Script, bytes, tuple[bytes | int, ...], "asyncio.Future[Reply]"]


class RedisLink:
    __slots__ = (
        "_client",
        "_count",
        "_inflight",
        "_loop",
        "_pending",
        "_scheduled",
        "_warm",
        "breaker",
        "leases",
        "noted",
        "spec",
    )

    def __init__(self, spec: RedisSpec, count: Callable[[str], None]) -> None:
        self.spec = spec
        self._loop = asyncio.get_running_loop()
        self._count = count
        self._client: Redis = Redis.from_url(
            spec.url,
            socket_connect_timeout=spec.connect_timeout,
            socket_timeout=spec.command_timeout,
            max_connections=spec.max_connections,
            retry=Retry(NoBackoff(), 0),
            decode_responses=False,
            # no CLIENT SETINFO round trips on each new connection
            lib_name=None,
            lib_version=None,
        )
        self._pending: list[_Call] = []
        self._inflight = 0
        self._scheduled = False
        self.breaker = Breaker(spec.breaker_failures, spec.breaker_open_for, self._loop.time)
        #: whether the last batch succeeded: a batch after a failure (or the first) may have to
        #: connect, and gets connectTimeout on top of commandTimeout
        self._warm = False
        #: this worker's leases (remoteRateLimit descriptors with `lease`), by bucket key
        self.leases: dict[bytes, Lease] = {}
        #: what this worker has logged once already (bounded)
        self.noted: set[str] = set()
        self._inflight = 1  # the first calls wait for the connection the warm-up opens
        self._loop.create_task(self._load(SCRIPTS))

    def note_once(self, what: str) -> bool:
        """True the first time `what` is noted (up to 1000 things; then never again)."""
        if what in self.noted or len(self.noted) >= 1000:
            return False
        self.noted.add(what)
        return True

    def lease(self, key: bytes) -> Lease:
        leases = self.leases
        lease = leases.get(key)
        if lease is None:
            if len(leases) >= MAX_LEASES:
                now = self._loop.time()
                for k in [k for k, v in leases.items() if v.refill is None and (v.left == 0 or now >= v.expires)]:
                    del leases[k]  # a stale lease's leftovers expire with the bucket's own refill
            lease = leases[key] = Lease()
        return lease

    @property
    def available(self) -> bool:
        """False while the breaker is open: callers apply their failure mode without a call."""
        return not self.breaker.open

    def call(self, script: Script, key: bytes, args: tuple[bytes | int, ...]) -> asyncio.Future[Reply]:
        fut: asyncio.Future[Reply] = self._loop.create_future()
        self._pending.append((script, key, args, fut))
        if not self._scheduled and self._inflight < self.spec.max_connections:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        return fut

    def fire(self, script: Script, key: bytes, args: tuple[bytes | int, ...]) -> None:
        """A call nobody waits for (a charge after the response, a give-back); failures counted."""
        if not self.available:
            self._count("dropped")
            return
        self.call(script, key, args).add_done_callback(self._forget)

    def _forget(self, fut: asyncio.Future[Reply]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self._count("dropped")

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending or self._inflight >= self.spec.max_connections:
            return
        batch, self._pending = self._pending, []
        if not self.breaker.allow():
            for *_, fut in batch:
                if not fut.done():
                    fut.set_exception(RedisFailed("breaker_open"))
            return
        self._inflight += 1
        self._loop.create_task(self._send(batch))

    async def _send(self, batch: list[_Call]) -> None:
        try:
            try:
                spec = self.spec
                budget = spec.command_timeout if self._warm else spec.command_timeout + spec.connect_timeout
                async with asyncio.timeout(budget):
                    replies = await self._exchange(batch)
            except TimeoutError:
                self._failed(batch, "timeout")
                return
            except (RedisError, OSError) as exc:
                self._failed(batch, "error", exc)
                return
            except Exception as exc:  # a server that is not Redis can trip anything in the client
                self._failed(batch, "garbage", exc)
                return
            bad = False
            for (script, _, _, fut), reply in zip(batch, replies, strict=True):
                if fut.done():
                    continue
                if _valid(reply) if script.limit else not isinstance(reply, Exception):
                    fut.set_result(reply)
                else:
                    bad = True
                    fut.set_exception(RedisFailed("garbage"))
            if bad:
                self._count("garbage")
                if self.breaker.failure():
                    self._count("breaker_opened")
            else:
                self._warm = True
                self.breaker.success()
        finally:
            self._inflight -= 1
            if self._pending and not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._flush)

    async def _exchange(self, batch: list[_Call]) -> list[Any]:
        """The batch as one write of EVALSHAs on one pooled connection, then its replies in order.
        Packed by hiredis straight from the arguments: redis-py's Pipeline costs about ten times
        more CPU per command, and a batch needs none of its features."""
        data = b"".join([_evalsha(s, key, args) for s, key, args, _ in batch])
        replies = await self._roundtrip(data, len(batch))
        missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if missing:
            # a new or restarted Redis: load the scripts, then send the calls that missed them
            sources = {batch[i][0].source for i in missing}
            parts = [pack_command((b"SCRIPT", b"LOAD", source)) for source in sources]  # type: ignore[arg-type]
            for i in missing:
                script, key, args, _ = batch[i]
                parts.append(_evalsha(script, key, args))
            again = await self._roundtrip(b"".join(parts), len(parts))
            for i, r in zip(missing, again[len(sources) :], strict=True):
                replies[i] = r
        return replies

    async def _roundtrip(self, data: bytes, n: int) -> list[Any]:
        pool = self._client.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        complete = False
        try:
            await conn.send_packed_command(data, check_health=False)
            replies: list[Any] = []
            for _ in range(n):
                try:
                    replies.append(await conn.read_response(disable_decoding=True))
                except ResponseError as exc:  # an error reply; the next replies follow it
                    replies.append(exc)
            complete = True
            return replies
        finally:
            if not complete:  # cut mid-exchange: the connection is out of step, never reused
                await conn.disconnect(nowait=True)
            await pool.release(conn)

    def _failed(self, batch: list[_Call], event: str, exc: BaseException | None = None) -> None:
        self._warm = False
        self._count(event)
        if self.breaker.failure():
            self._count("breaker_opened")
            why = type(exc).__name__ if exc is not None else event  # never the message: it may hold the URL
            where = _where(self.spec.url)
            log.warning(
                "redis %s: circuit breaker open after %d failures (last: %s)", where, self.breaker.failures, why
            )
        for *_, fut in batch:
            if not fut.done():
                fut.set_exception(RedisFailed(event))

    async def _load(self, scripts: tuple[Script, ...]) -> None:
        """Connect and load the scripts before the first request needs them (not counted: a
        request that finds Redis unreachable is)."""
        try:
            async with asyncio.timeout(self.spec.connect_timeout + self.spec.command_timeout):
                pipe = self._client.pipeline(transaction=False)
                for script in scripts:
                    pipe.script_load(script.source)
                await pipe.execute()
        except Exception:  # the first request will meet (and count) whatever this was
            pass
        finally:
            self._inflight -= 1
            if self._pending and not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._flush)

    async def close(self) -> None:
        await self._client.aclose()


def _evalsha(script: Script, key: bytes, args: tuple[bytes | int, ...]) -> bytes:
    packed: bytes = pack_command((b"EVALSHA", script.sha, 1, key, *args))  # type: ignore[arg-type]
    return packed


def _valid(reply: Any) -> bool:
    return isinstance(reply, list) and len(reply) == 4 and all(type(x) is int for x in reply)


def _where(url: str) -> str:
    """The URL without credentials (for log lines)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"
