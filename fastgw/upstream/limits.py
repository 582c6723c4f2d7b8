"""The upstream side's limits (`config.backend`): pure data for the pool and the connection."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """The upstream side's limits (`config.backend`)."""

    max_connections: int = 4096
    #: connections open to one origin at once (busy + idle + connecting)
    max_per_origin: int = 1024
    #: idle keep-alive connections kept per origin
    max_idle_per_origin: int = 1024
    idle_timeout: float = 90.0
    #: connecting, and waiting for a connection to free up, each end after this
    connect_timeout: float = 10.0
    #: requests waiting for a connection to one origin; one more fails at once (503)
    max_pending_per_origin: int = 1024
    #: a streamed LLM answer's head must arrive within this (each try)
    first_byte_timeout: float | None = 120.0
    #: largest response head (status line and fields, interim heads included)
    max_head_bytes: int = 64 * 1024
    #: largest answer an exchange holds whole (translation, scrubbed error bodies)
    max_buffered_body: int = 32 * 1024 * 1024
