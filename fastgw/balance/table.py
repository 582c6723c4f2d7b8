"""The instance's provider/backend health, in one shared-memory region every worker reads and writes.

Made by the first config load in the supervisor, before any fork (`SharedHealth`, the twin of the
rate limits' `SharedBuckets`), so a provider one worker evicts is evicted for all of them and a dead
provider costs one failed attempt per eviction period, not one per worker.

Slots are assigned at config compile time, in the supervisor alone (one process: no claiming
races), keyed by a hash of the endpoint's identity, so a reload finds the same slots and keeps
their health. Workers only update the fields of slots they were given. Each field is one aligned
8-byte word written with one store, so a reader never sees a torn value; two workers updating the
same slot at once may lose one of the updates (a health score a step off, an eviction started
twice), which is harmless for an advisory score and cheaper than a lock on every request.

Times are `time.monotonic()` seconds: CLOCK_MONOTONIC is one clock for every process of the
machine.
"""

from __future__ import annotations

import hashlib
import mmap
import struct
from typing import Final

# key u64 (0: free) | evicted_until f64 | health f64 | latency f64 (EWMA, s) | times_ejected f64 |
# consecutive failures f64 | restore f64 (health set when the eviction ends) | spare
SLOT: Final = struct.Struct("=Qddddddd")
KEY: Final = struct.Struct("=Q")
WORD: Final = struct.Struct("=d")
# field offsets inside a slot
EVICTED_UNTIL: Final = 8
HEALTH: Final = 16
LATENCY: Final = 24
TIMES_EJECTED: Final = 32
CONSECUTIVE: Final = 40
RESTORE: Final = 48
DEFAULT_SLOTS: Final = 4096


def endpoint_key(identity: str) -> int:
    """A non-zero 64-bit key for an endpoint's identity (route, backend, provider, origin)."""
    key = int.from_bytes(hashlib.blake2b(identity.encode(), digest_size=8).digest(), "little")
    return key or 1


class HealthTable:
    """`slots` fixed-size records in an anonymous shared mapping (inherited by forked workers)."""

    __slots__ = ("_assigned", "mem", "slots")

    def __init__(self, slots: int = DEFAULT_SLOTS) -> None:
        self.slots = slots
        self.mem = mmap.mmap(-1, slots * SLOT.size, flags=mmap.MAP_SHARED)
        #: key -> slot index, as assigned (in the supervisor) by the loads so far
        self._assigned: dict[int, int] = {}

    def slot_for(self, identity: str, keep: set[int]) -> int:
        """The slot of `identity` (a new one starts healthy). `keep` collects the slots the config
        being compiled uses: when the table is full, the slots of no current endpoint are reused.
        Compile time only (supervisor)."""
        key = endpoint_key(identity)
        index = self._assigned.get(key)
        if index is None:
            index = self._free(keep)
            self._assigned[key] = index
            SLOT.pack_into(self.mem, index * SLOT.size, key, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        keep.add(index)
        return index * SLOT.size

    def _free(self, keep: set[int]) -> int:
        used = set(self._assigned.values())
        for index in range(self.slots):
            if index not in used:
                return index
        # full: reuse a slot no endpoint of the config being compiled has (an older config's; a
        # worker of it still draining may nudge its numbers until it exits)
        for key, index in list(self._assigned.items()):
            if index not in keep:
                del self._assigned[key]
                return index
        raise ValueError(f"more than {self.slots} load-balanced endpoints")

    # -- per request (workers) ----------------------------------------------------------------
    def get(self, offset: int, field: int) -> float:
        value: float = WORD.unpack_from(self.mem, offset + field)[0]
        return value

    def put(self, offset: int, field: int, value: float) -> None:
        WORD.pack_into(self.mem, offset + field, value)

    def read(self, offset: int) -> tuple[int, float, float, float, float, float, float, float]:
        return SLOT.unpack_from(self.mem, offset)


class SharedHealth:
    """The instance's health table: made by the first config load (before any fork), then kept
    by every reload so that health and evictions survive reloads."""

    __slots__ = ("table",)

    def __init__(self) -> None:
        self.table: HealthTable | None = None

    def get(self) -> HealthTable:
        if self.table is None:
            self.table = HealthTable()
        return self.table
