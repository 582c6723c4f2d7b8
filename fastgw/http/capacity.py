"""The per-worker cap on downstream connections, and whom to shed when it is reached.

Without a cap, a client that opens connections and sends nothing useful on them (slowloris) runs
the worker out of file descriptors, and from then on no one is served. At the cap, a new
connection makes room by shedding, in this order: the idle keep-alive connections that have
waited longest (their clients reconnect at no cost), then the head readers making the slowest
progress in bytes per second (a legitimate head arrives within a round trip). When there are
none, the slowest body reader goes (a request whose body is still arriving; never one the gateway
is holding back), and only when there is none of those either, every connection carrying a
request the gateway is serving, is the new connection refused.

Shedding works in batches (1/64 of the cap) so that under a flood of new connections the scan
over the worker's connections is paid once per batch, not once per accept. What was shed is
counted (`on_shed`, the metrics) and logged at most once a second.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import resource
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastgw.http.connection import HttpConnection

log = logging.getLogger("fastgw.http")

#: shed ranks (`HttpConnection.shed_rank`): lower is shed first
IDLE, HEAD_READER, BODY_READER = range(3)
_KINDS = ("idle", "slow", "slow")
# file descriptors kept out of the connection budget: listening sockets, logs, metrics files
_FD_RESERVE = 64


def default_limit() -> int:
    """Half of what the open-file limit leaves after a reserve: a proxied connection may hold an
    upstream connection too."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        soft = 1 << 20
    return max(16, (soft - _FD_RESERVE) // 2)


class ConnectionCap:
    """Shared by every traffic listener of one worker (the file descriptors are the worker's)."""

    __slots__ = ("_counts", "_log_timer", "_logged_at", "batch", "conns", "limit", "on_shed")

    def __init__(self, limit: int | None = None, on_shed: Callable[[str, int], None] | None = None) -> None:
        self.limit = limit if limit else default_limit()
        self.batch = max(1, self.limit // 64)
        self.conns: set[HttpConnection] = set()
        #: told (kind, count) of every batch shed: "idle", "slow" or "refused"
        self.on_shed = on_shed
        self._counts = {"idle": 0, "slow": 0, "refused": 0}
        self._logged_at = -1.0
        self._log_timer: asyncio.TimerHandle | None = None

    def admit(self, conn: HttpConnection, now: float) -> bool:
        """Count a new connection in, shedding others first at the cap; False: refuse it."""
        conns = self.conns
        if len(conns) >= self.limit and not self._shed(now):
            self._count("refused", 1, now)
            return False
        conns.add(conn)
        return True

    def _shed(self, now: float) -> bool:
        ranked: list[tuple[tuple[int, float, float], HttpConnection]] = []
        for conn in self.conns:
            order = conn.shed_rank(now)
            if order is not None:
                ranked.append((order, conn))
        if not ranked:
            return False
        victims = heapq.nsmallest(self.batch, ranked, key=_rank)
        if victims[0][0][0] == BODY_READER:
            victims = victims[:1]  # a request still being sent is shed only to make room for one
        else:
            victims = [v for v in victims if v[0][0] != BODY_READER]
        shed = {"idle": 0, "slow": 0}
        for (group, _, _), conn in victims:
            self.conns.discard(conn)  # no longer counted, though its close completes later
            conn.shed()
            shed[_KINDS[group]] += 1
        for kind, n in shed.items():
            if n:
                self._count(kind, n, now)
        return True

    def _count(self, kind: str, n: int, now: float) -> None:
        self._counts[kind] += n
        if self.on_shed is not None:
            self.on_shed(kind, n)
        if self._log_timer is not None:
            return
        if now - self._logged_at >= 1.0:
            self._log(now)
        else:
            loop = asyncio.get_running_loop()
            self._log_timer = loop.call_at(self._logged_at + 1.0, lambda: self._log(loop.time()))

    def _log(self, now: float) -> None:
        self._log_timer = None
        self._logged_at = now
        c = self._counts
        log.warning(
            "connection limit (%d per worker) reached: shed %d idle and %d slow connections, refused %d",
            self.limit,
            c["idle"],
            c["slow"],
            c["refused"],
        )
        self._counts = {"idle": 0, "slow": 0, "refused": 0}


def _rank(item: tuple[tuple[int, float, float], HttpConnection]) -> tuple[int, float, float]:
    return item[0]
