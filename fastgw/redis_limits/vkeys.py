"""Virtual API keys: keys created at run time, stored hashed in Redis with their metadata and
budgets, and what each has spent.

Layout (under `keyPrefix`): one hash per key, `key:{<sha256 of the key>}`, holding `rec` (the
record as JSON: id, name, metadata, budgets, disabled, created) and the spend of each budget's
current window (`t:<budget>:<window number>` tokens, `u:<budget>:<window number>` micro-USD);
and `keys`, a hash from id (the first 12 hex digits of the digest) to the digest, for the admin
API. The key itself is never stored: it is shown once, when created or rotated.

Windows are aligned to the epoch on Redis' clock (`1h`, `1d`, `30d`), or `total` (never reset).
A request reads its key's hash in one script call (the record and the spend, with Redis' time);
a response charges its tokens and cost in another, fire and forget, and drops the counts of
windows that are over.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

import orjson

from fastgw.redis_limits.link import RedisSpec
from fastgw.redis_limits.prices import PriceTable
from fastgw.redis_limits.scripts import Script

WINDOWS: Final = {"1h": 3_600_000, "1d": 86_400_000, "30d": 30 * 86_400_000, "total": 0}

#: the key's hash and Redis' time in ms
READ: Final = Script.of(
    """
local t = redis.call('TIME')
return {redis.call('HGETALL', KEYS[1]), tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)}
""",
    limit=False,
)

#: ARGV: the number of fields to drop, those fields, then (field, increment) pairs; a key that was
#: deleted meanwhile is not made again
CHARGE: Final = Script.of(
    """
if redis.call('HEXISTS', KEYS[1], 'rec') == 0 then return 0 end
local n = tonumber(ARGV[1])
for i = 2, n + 1 do redis.call('HDEL', KEYS[1], ARGV[i]) end
for i = n + 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
""",
    limit=False,
)


class BadKeyRequest(ValueError):
    """An admin request the store refuses (the message says why)."""


@dataclass(frozen=True, slots=True)
class VirtualKeyStore:
    redis: RedisSpec
    prefix: bytes
    prices: PriceTable

    def record_key(self, digest_hex: str) -> bytes:
        return self.prefix + b"key:{" + digest_hex.encode() + b"}"

    def key_of(self, key: bytes) -> bytes:
        return self.record_key(hashlib.sha256(key).hexdigest())

    @property
    def index(self) -> bytes:
        return self.prefix + b"keys"


@dataclass(frozen=True, slots=True)
class Exhausted:
    name: str
    what: str  # "tokens" or "usd"
    spent: float
    limit: float
    window: str
    #: ms until the window ends (0: a `total` budget, never)
    reset_ms: int

    def message(self) -> str:
        amount = f"{self.spent:g}/{self.limit:g} {'tokens' if self.what == 'tokens' else 'USD'}"
        per = "in total" if self.window == "total" else f"per {self.window}"
        return f"budget {self.name!r} of this API key is spent: {amount} {per}"


class KeyView:
    """A key's record and its hash's fields as one request read them."""

    __slots__ = ("fields", "now", "record")

    def __init__(self, fields: dict[bytes, bytes], now: int) -> None:
        self.fields = fields
        self.now = now
        self.record: dict[str, Any] = orjson.loads(fields[b"rec"])

    @classmethod
    def of(cls, reply: Any) -> KeyView | None:
        flat, now = reply
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        return cls(fields, int(now)) if b"rec" in fields else None

    def window(self, budget: dict[str, Any]) -> tuple[int, int]:
        """(window number, ms until it ends; 0 for `total`)."""
        size = WINDOWS[budget["window"]]
        if not size:
            return 0, 0
        return self.now // size, size - self.now % size

    def spent(self, i: int, budget: dict[str, Any]) -> tuple[int, float]:
        idx, _ = self.window(budget)
        tokens = int(self.fields.get(f"t:{i}:{idx}".encode(), 0))
        micro = int(self.fields.get(f"u:{i}:{idx}".encode(), 0))
        return tokens, micro / 1_000_000

    def exhausted(self) -> Exhausted | None:
        for i, b in enumerate(self.record.get("budgets") or []):
            tokens, usd = self.spent(i, b)
            _, reset = self.window(b)
            if b.get("tokens") is not None and tokens >= b["tokens"]:
                return Exhausted(b["name"], "tokens", tokens, b["tokens"], b["window"], reset)
            if b.get("usd") is not None and usd >= b["usd"]:
                return Exhausted(b["name"], "usd", round(usd, 6), b["usd"], b["window"], reset)
        return None

    def charge_args(self, tokens: int, micro_usd: int) -> tuple[bytes | int, ...]:
        """CHARGE's arguments: the current windows' counts up, the ended windows' dropped."""
        current: list[bytes | int] = []
        keep: set[bytes] = set()
        for i, b in enumerate(self.record.get("budgets") or []):
            idx, _ = self.window(b)
            for kind, n in ((b"t", tokens), (b"u", micro_usd)):
                name = kind + f":{i}:{idx}".encode()
                keep.add(name)
                if n:
                    current += [name, n]
        stale = [f for f in self.fields if f != b"rec" and f not in keep]
        return (len(stale), *stale, *current)

    def public(self) -> dict[str, Any]:
        """The record and the spend of each budget's current window (the admin API's view)."""
        out = dict(self.record)
        budgets = []
        for i, b in enumerate(self.record.get("budgets") or []):
            tokens, usd = self.spent(i, b)
            _, reset = self.window(b)
            budgets.append({**b, "spentTokens": tokens, "spentUsd": round(usd, 6), "resetsInSeconds": reset // 1000})
        out["budgets"] = budgets
        return out


def new_key() -> str:
    return "fgw-" + secrets.token_urlsafe(32)


def new_record(body: Any) -> dict[str, Any]:
    """A record from an admin POST body; BadKeyRequest names what is wrong."""
    if not isinstance(body, dict):
        raise BadKeyRequest("expected a JSON object")
    unknown = set(body) - {"name", "metadata", "budgets"}
    if "allowedModels" in unknown:
        raise BadKeyRequest("allowedModels: not supported yet")
    if unknown:
        raise BadKeyRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
    name = body.get("name")
    if not isinstance(name, str) or not name or len(name) > 200:
        raise BadKeyRequest("name: a string of 1 to 200 characters is required")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadKeyRequest("metadata: expected an object")
    budgets = [_budget(b, i) for i, b in enumerate(body.get("budgets") or [])]
    if len({b["name"] for b in budgets}) != len(budgets):
        raise BadKeyRequest("budgets: names must differ")
    return {
        "name": name,
        "metadata": metadata,
        "budgets": budgets,
        "disabled": False,
        "created": int(time.time()),
    }


def _budget(b: Any, i: int) -> dict[str, Any]:
    where = f"budgets[{i}]"
    if not isinstance(b, dict) or set(b) - {"name", "window", "tokens", "usd"}:
        raise BadKeyRequest(f"{where}: expected {{name, window, tokens and/or usd}}")
    window = b.get("window", "total")
    if window not in WINDOWS:
        raise BadKeyRequest(f"{where}.window: one of {', '.join(WINDOWS)}")
    tokens, usd = b.get("tokens"), b.get("usd")
    if tokens is None and usd is None:
        raise BadKeyRequest(f"{where}: give tokens and/or usd")
    if tokens is not None and (type(tokens) is not int or tokens < 1):
        raise BadKeyRequest(f"{where}.tokens: a positive integer")
    if usd is not None and (not isinstance(usd, int | float) or isinstance(usd, bool) or usd <= 0):
        raise BadKeyRequest(f"{where}.usd: a positive number")
    return {"name": str(b.get("name") or window), "window": window, "tokens": tokens, "usd": usd}
