"""The downstream HTTP limits (`config.http`, with the process-wide defaults): pure data, imported
by the connection that enforces them and by the config and runtime that carry them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_request_line: int = 8192
    max_header_bytes: int = 65536
    max_headers: int = 100
    max_body_bytes: int = 32 * 1024 * 1024
    header_read_timeout: float = 10.0
    body_read_timeout: float = 60.0
    idle_timeout: float = 60.0
    max_pipelined: int = 16
    body_high_water: int = 256 * 1024
    #: bytes per second a body must keep up over each window while it is read (0: no rule)
    min_body_rate: int = 1024
    body_rate_window: float = 10.0
    #: downstream connections per worker (None: derived from the open-file limit)
    max_connections: int | None = None
    #: path normalization options (http/path.py)
    merge_slashes: bool = False
    reject_escaped_slashes: bool = False
