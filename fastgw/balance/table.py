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

# A slot is 8 words of 8 bytes: key u64 (0: free) | evicted_until | health | latency (EWMA, s) |
# times evicted | consecutive failures | restore (the health set when the eviction ends) | spare.
# Workers read and write the float fields as items of a memoryview of doubles (one aligned 8-byte
# load or store each, and ~5x cheaper than struct.unpack_from/pack_into).
SLOT: Final = struct.Struct("=Qddddddd")
WORDS_PER_SLOT: Final = 8
# field indexes inside a slot (words)
EVICTED_UNTIL: Final = 1
HEALTH: Final = 2
LATENCY: Final = 3
TIMES_EJECTED: Final = 4
CONSECUTIVE: Final = 5
RESTORE: Final = 6
DEFAULT_SLOTS: Final = 4096


def endpoint_key(identity: str) -> int:
    """A non-zero 64-bit key for an endpoint's identity (route, backend, provider, origin)."""
    key = int.from_bytes(hashlib.blake2b(identity.encode(), digest_size=8).digest(), "little")
    return key or 1


class HealthTable:
    """`slots` fixed-size records in an anonymous shared mapping (inherited by forked workers)."""

    __slots__ = ("_assigned", "mem", "slots", "words")

    def __init__(self, slots: int = DEFAULT_SLOTS) -> None:
        self.slots = slots
        self.mem = mmap.mmap(-1, slots * SLOT.size, flags=mmap.MAP_SHARED)
        #: the region as doubles: a slot's field is words[base + FIELD]
        self.words = memoryview(self.mem).cast("d")
        #: key -> slot index, as assigned (in the supervisor) by the loads so far
        self._assigned: dict[int, int] = {}

    def slot_for(self, identity: str, keep: set[int]) -> int:
        """The base word index of `identity`'s slot (a new one starts healthy). `keep` collects
        the slots the config being compiled uses: when the table is full, the slots of no
        current endpoint are reused. Compile time only (supervisor)."""
        key = endpoint_key(identity)
        index = self._assigned.get(key)
        if index is None:
            index = self._free(keep)
            self._assigned[key] = index
            SLOT.pack_into(self.mem, index * SLOT.size, key, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
        keep.add(index)
        return index * WORDS_PER_SLOT

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

    # -- per request (workers; hot code indexes `words` directly) ------------------------------
    def get(self, base: int, field: int) -> float:
        return self.words[base + field]

    def put(self, base: int, field: int, value: float) -> None:
        self.words[base + field] = value


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
