"""The admin API's operations on virtual keys (`/keys` on adminAddr): create, list, read,
delete, rotate, disable/enable. Rare calls: plain redis-py commands on the admin listener's own
client, bounded by the store's timeouts (connect + command, times a few round trips)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from fastgw.redis_limits.vkeys import READ, KeyView, VirtualKeyStore, new_key, new_record


class KeyNotFound(LookupError):
    pass


class KeyAdmin:
    __slots__ = ("_client", "_deadline", "store")

    def __init__(self, store: VirtualKeyStore) -> None:
        self.store = store
        spec = store.redis
        self._client: Redis = Redis.from_url(
            spec.url,
            socket_connect_timeout=spec.connect_timeout,
            socket_timeout=max(spec.command_timeout, 1.0),
            retry=Retry(NoBackoff(), 0),
            lib_name=None,
            lib_version=None,
        )
        self._deadline = spec.connect_timeout + 4 * max(spec.command_timeout, 1.0)

    async def create(self, body: Any) -> dict[str, Any]:
        record = new_record(body)
        key = new_key()
        digest = hashlib.sha256(key.encode()).hexdigest()
        record["id"] = digest[:12]
        async with asyncio.timeout(self._deadline):
            await self._client.hset(self.store.record_key(digest), "rec", orjson.dumps(record))
            await self._client.hset(self.store.index, record["id"], digest)
        return {**record, "key": key}

    async def list(self) -> list[dict[str, Any]]:
        async with asyncio.timeout(self._deadline):
            index = await self._client.hgetall(self.store.index)
            views = [await self._view(_text(digest)) for digest in index.values()]
        return sorted((v.public() for v in views if v is not None), key=lambda r: (r["created"], r["id"]))

    async def get(self, key_id: str) -> dict[str, Any]:
        async with asyncio.timeout(self._deadline):
            view = await self._view(await self._digest(key_id))
        if view is None:
            raise KeyNotFound(key_id)
        return view.public()

    async def delete(self, key_id: str) -> None:
        async with asyncio.timeout(self._deadline):
            digest = await self._digest(key_id)
            await self._client.delete(self.store.record_key(digest))
            await self._client.hdel(self.store.index, key_id)

    async def rotate(self, key_id: str) -> dict[str, Any]:
        """A new key for the same record and spend; the old key stops working at once."""
        key = new_key()
        digest = hashlib.sha256(key.encode()).hexdigest()
        async with asyncio.timeout(self._deadline):
            old = await self._digest(key_id)
            await self._client.rename(self.store.record_key(old), self.store.record_key(digest))
            await self._client.hset(self.store.index, key_id, digest)
        return {**(await self.get(key_id)), "key": key}

    async def set_disabled(self, key_id: str, disabled: bool) -> dict[str, Any]:
        async with asyncio.timeout(self._deadline):
            digest = await self._digest(key_id)
            view = await self._view(digest)
            if view is None:
                raise KeyNotFound(key_id)
            record = {**view.record, "disabled": disabled}
            await self._client.hset(self.store.record_key(digest), "rec", orjson.dumps(record))
        return await self.get(key_id)

    async def _digest(self, key_id: str) -> str:
        digest = await self._client.hget(self.store.index, key_id)
        if digest is None:
            raise KeyNotFound(key_id)
        return _text(digest)

    async def _view(self, digest: str) -> KeyView | None:
        reply = await self._client.eval(READ.source, 1, self.store.record_key(digest))
        return KeyView.of(reply)

    async def close(self) -> None:
        await self._client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
