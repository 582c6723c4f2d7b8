"""Per-worker resources (the server-wide tier): created in the worker after fork, never shared."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from fastgw.policies import ratelimit_local
from fastgw.runtime import Runtime
from fastgw.telemetry.access_log import AccessLog
from fastgw.telemetry.metrics import Metrics
from fastgw.upstream.pool import Pool

if TYPE_CHECKING:
    from fastgw.redis_limits.link import RedisLink, RedisSpec


class Closeable(Protocol):
    def close(self) -> None: ...


class WorkerState:
    __slots__ = (
        "access_log",
        "cut_reason",
        "loop",
        "metrics",
        "pool",
        "redis_links",
        "resources",
        "runtime",
        "worker_id",
    )

    def __init__(self, runtime: Runtime, worker_id: int, access_log: AccessLog) -> None:
        self.loop = asyncio.get_running_loop()
        self.runtime = runtime
        self.worker_id = worker_id
        self.pool = Pool(runtime.pool)
        self.access_log = access_log
        self.metrics = Metrics(runtime.metric_labels)
        #: set when the drain deadline cuts the connections left: every request that ends after
        #: that was cut, and is recorded with this reason (`RequestContext.finish`)
        self.cut_reason: str | None = None
        #: this worker's Redis links (remoteRateLimit), made on first use: one per Redis spec
        self.redis_links: dict[RedisSpec, RedisLink] = {}
        #: a backend's per-worker resources, made on first use (MCP targets' child processes and
        #: connections), keyed by the backend; closed with the worker
        self.resources: dict[object, Closeable] = {}
        self._tick()

    def _tick(self) -> None:
        self.metrics.flush()
        buckets = self.runtime.buckets
        if buckets is not None:
            ratelimit_local.sweep(buckets)
            self.metrics.rate_limit_buckets(buckets.used, buckets.slots)
        self.loop.call_later(1.0, self._tick)

    def redis_link(self, spec: RedisSpec) -> RedisLink:
        link = self.redis_links.get(spec)
        if link is None:
            from fastgw.redis_limits.link import RedisLink  # redis-py only in workers that use it

            link = self.redis_links[spec] = RedisLink(spec, self.metrics.remote_rate_limit)
        return link

    def cut_by_drain(self) -> None:
        self.cut_reason = "drain_timeout"

    def close(self) -> None:
        for resource in self.resources.values():
            resource.close()
        self.resources.clear()
        self.metrics.flush()
        self.pool.close()
