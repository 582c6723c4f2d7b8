"""A small shared-memory page through which the supervisor and its workers see each other:
the gateway's readiness/draining flags (served by workers on the readiness port) and one
heartbeat per worker slot (watched by the supervisor to kill hung workers).

Layout (native byte order, 8-byte aligned words; aligned 8-byte stores are atomic on the
platforms we run on, and each word has a single writer):
  [0]            flags: bit 0 ready, bit 1 draining
  [8 + 16*i]     slot i: heartbeat (time.monotonic(), float64), then pid (int64)
"""

from __future__ import annotations

import mmap
import struct

READY = 1
DRAINING = 2
MAX_SLOTS = 250
_SIZE = 8 + 16 * MAX_SLOTS


class StatusRegion:
    __slots__ = ("_mem",)

    def __init__(self) -> None:
        # anonymous MAP_SHARED: inherited by forked workers, shared with them
        self._mem = mmap.mmap(-1, _SIZE)

    @property
    def flags(self) -> int:
        return int(struct.unpack_from("q", self._mem, 0)[0])

    def set_flags(self, flags: int) -> None:
        struct.pack_into("q", self._mem, 0, flags)

    @property
    def ready(self) -> bool:
        f = self.flags
        return bool(f & READY) and not f & DRAINING

    def beat(self, slot: int, now: float, pid: int) -> None:
        struct.pack_into("dq", self._mem, 8 + 16 * slot, now, pid)

    def heartbeat(self, slot: int) -> tuple[float, int]:
        now, pid = struct.unpack_from("dq", self._mem, 8 + 16 * slot)
        return float(now), int(pid)
