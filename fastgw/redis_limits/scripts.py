"""The limits as Redis server-side scripts (run by EVALSHA, so each step is atomic across every
instance and worker), and their pure-Python twins (the same arithmetic; tests hold them to the
same answers on a fake clock).

Every script reads one key (cluster-safe: the key carries its own hash tag) and takes
`ARGV = op, cost, three numbers of the limit, now_ms` where `now_ms` is "" in production: the script then reads Redis'
own clock (`TIME`), so instances whose clocks differ still share one timeline. Ops:

- `t` take: all `cost` or nothing (a request);
- `c` check: allowed while anything is left (a `type: tokens` request, charged later);
- `h` charge: take `cost`, saturating at empty (the usage of a response that is done);
- `g` give back `cost` (a request another descriptor refused, a lease's leftovers);
- `l` lease: take up to `cost`, as many as are left.

The answer is `{granted, remaining, reset_ms, retry_ms}`: granted is 1/0 (the lease: the count
taken), reset_ms the time to the next fill or window end, retry_ms when a refused request would
fit (-1: never, it is larger than the limit).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Final

#: a token bucket (maxTokens, tokensPerFill, fillInterval in ms). A full bucket restarts its fill
#: clock (it is what a new bucket would be); the key expires once the bucket would be full again.
BUCKET: Final = """
local op = ARGV[1]
local cost = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local per = tonumber(ARGV[4])
local iv = tonumber(ARGV[5])
local now
if ARGV[6] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[6])
end
local h = redis.call('HMGET', KEYS[1], 'v', 'at')
local v = tonumber(h[1])
local at = tonumber(h[2])
if v == nil or at == nil then
  v = max
  at = now
end
if now > at then
  local n = math.floor((now - at) / iv)
  if n > 0 then
    v = math.min(max, v + n * per)
    at = at + n * iv
  end
end
if v >= max then
  at = now
end
local granted = 0
if op == 't' then
  if v >= cost then v = v - cost; granted = 1 end
elseif op == 'c' then
  if v > 0 then granted = 1 end
elseif op == 'h' then
  v = math.max(0, v - cost); granted = 1
elseif op == 'g' then
  v = math.min(max, v + cost); granted = 1
elseif op == 'l' then
  granted = math.min(v, cost); v = v - granted
end
redis.call('HSET', KEYS[1], 'v', v, 'at', at)
redis.call('PEXPIRE', KEYS[1], (math.ceil((max - v) / per) + 1) * iv)
local reset = at + iv - now
local retry = 0
if granted == 0 then
  local want = cost
  if op == 'c' or op == 'l' then want = 1 end
  if want > max then
    retry = -1
  else
    retry = reset + (math.ceil((want - v) / per) - 1) * iv
  end
end
return {granted, v, reset, retry}
"""

#: a window (limit, 1 if sliding else 0, size in ms). The key holds the current window's number
#: and count and the previous window's count.
WINDOW: Final = """
local op = ARGV[1]
local cost = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local sliding = ARGV[4] == '1'
local size = tonumber(ARGV[5])
local now
if ARGV[6] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[6])
end
local idx = math.floor(now / size)
local h = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w = tonumber(h[1])
local c = tonumber(h[2]) or 0
local p = tonumber(h[3]) or 0
if w ~= idx then
  if w == idx - 1 then p = c else p = 0 end
  c = 0
end
local into = now - idx * size
local weight = 0
if sliding then weight = (size - into) / size end
local used = math.ceil(p * weight + c)
local granted = 0
if op == 't' then
  if used + cost <= limit then c = c + cost; granted = 1 end
elseif op == 'c' then
  if used < limit then granted = 1 end
elseif op == 'h' then
  c = c + cost; granted = 1
elseif op == 'g' then
  c = math.max(0, c - cost); granted = 1
elseif op == 'l' then
  granted = math.max(0, math.min(cost, limit - used)); c = c + granted
end
redis.call('HSET', KEYS[1], 'w', idx, 'c', c, 'p', p)
redis.call('PEXPIRE', KEYS[1], 2 * size)
local left = math.max(0, limit - math.ceil(p * weight + c))
local reset = size - into
local retry = 0
if granted == 0 then
  local want = cost
  if op == 'c' or op == 'l' then want = 1 end
  if want > limit then
    retry = -1
  elseif not sliding or p == 0 then
    retry = reset
  elseif c + want <= limit then
    retry = math.ceil(size - (limit - c - want) * size / p) - into
  else
    retry = reset + math.max(0, math.ceil(size - (limit - want) * size / c))
  end
end
return {granted, left, reset, retry}
"""


@dataclass(frozen=True, slots=True)
class Script:
    source: str
    sha: str
    #: whether its answer is a limit's four integers (checked; anything else is garbage)
    limit: bool = True

    @classmethod
    def of(cls, source: str, *, limit: bool = True) -> Script:
        return cls(source, hashlib.sha1(source.encode()).hexdigest(), limit)


BUCKET_SCRIPT: Final = Script.of(BUCKET)
WINDOW_SCRIPT: Final = Script.of(WINDOW)
SCRIPTS: Final = (BUCKET_SCRIPT, WINDOW_SCRIPT)


@dataclass(slots=True)
class BucketTwin:
    """`BUCKET` in Python (state: tokens `v`, fill clock `at`; None = no key)."""

    max: int
    per: int
    interval_ms: int
    v: int | None = None
    at: int = 0

    def step(self, op: str, cost: int, now: int) -> tuple[int, int, int, int]:
        v, at = (self.max, now) if self.v is None else (self.v, self.at)
        if now > at:
            n = (now - at) // self.interval_ms
            if n > 0:
                v = min(self.max, v + n * self.per)
                at += n * self.interval_ms
        if v >= self.max:
            at = now
        granted = 0
        if op == "t":
            if v >= cost:
                v -= cost
                granted = 1
        elif op == "c":
            granted = int(v > 0)
        elif op == "h":
            v = max(0, v - cost)
            granted = 1
        elif op == "g":
            v = min(self.max, v + cost)
            granted = 1
        elif op == "l":
            granted = min(v, cost)
            v -= granted
        self.v, self.at = v, at
        reset = at + self.interval_ms - now
        retry = 0
        if not granted:
            want = 1 if op in ("c", "l") else cost
            retry = -1 if want > self.max else reset + (math.ceil((want - v) / self.per) - 1) * self.interval_ms
        return granted, v, reset, retry


@dataclass(slots=True)
class WindowTwin:
    """`WINDOW` in Python."""

    limit: int
    size_ms: int
    sliding: bool = False
    w: int | None = None
    c: int = 0
    p: int = 0

    def step(self, op: str, cost: int, now: int) -> tuple[int, int, int, int]:
        idx = now // self.size_ms
        c, p = self.c, self.p
        if self.w != idx:
            p = c if self.w == idx - 1 else 0
            c = 0
        into = now - idx * self.size_ms
        weight = (self.size_ms - into) / self.size_ms if self.sliding else 0.0
        used = math.ceil(p * weight + c)
        granted = 0
        if op == "t":
            if used + cost <= self.limit:
                c += cost
                granted = 1
        elif op == "c":
            granted = int(used < self.limit)
        elif op == "h":
            c += cost
            granted = 1
        elif op == "g":
            c = max(0, c - cost)
            granted = 1
        elif op == "l":
            granted = max(0, min(cost, self.limit - used))
            c += granted
        self.w, self.c, self.p = idx, c, p
        left = max(0, self.limit - math.ceil(p * weight + c))
        reset = self.size_ms - into
        retry = 0
        if not granted:
            want = 1 if op in ("c", "l") else cost
            if want > self.limit:
                retry = -1
            elif not self.sliding or p == 0:
                retry = reset
            elif c + want <= self.limit:
                retry = math.ceil(self.size_ms - (self.limit - c - want) * self.size_ms / p) - into
            else:
                retry = reset + max(0, math.ceil(self.size_ms - (self.limit - want) * self.size_ms / c))
        return granted, left, reset, retry
