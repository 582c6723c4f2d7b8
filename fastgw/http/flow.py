"""Write-side flow control for one transport (used by both the client and the upstream side).

asyncio calls the protocol's pause_writing()/resume_writing() when the transport's buffer
crosses its high/low water marks; producers either await `drain()` or register a one-shot
callback (used to pause and resume reading another socket without a task).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class WriteFlow:
    __slots__ = ("_callbacks", "_waiters", "paused")

    def __init__(self) -> None:
        self.paused = False
        self._waiters: list[asyncio.Future[None]] = []
        self._callbacks: list[Callable[[], object]] = []

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        for w in self._waiters:
            if not w.done():
                w.set_result(None)
        self._waiters.clear()
        self._run_callbacks()

    def fail(self, exc: BaseException) -> None:
        """The transport is gone: waiters get `exc`, callbacks run (so nothing stays paused)."""
        for w in self._waiters:
            if not w.done():
                w.set_exception(exc)
        self._waiters.clear()
        self._run_callbacks()

    async def drain(self) -> None:
        if not self.paused:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        await fut

    def on_resume(self, cb: Callable[[], object]) -> None:
        """Call `cb` once, when writing may continue or the transport is lost."""
        self._callbacks.append(cb)

    def _run_callbacks(self) -> None:
        cbs = self._callbacks
        if cbs:
            self._callbacks = []
            for cb in cbs:
                cb()


class FlowControlled:
    """The write-side half of asyncio.Protocol for a protocol that owns a `flow`."""

    __slots__ = ()
    flow: WriteFlow

    def pause_writing(self) -> None:
        self.flow.pause()

    def resume_writing(self) -> None:
        self.flow.resume()

    @property
    def write_paused(self) -> bool:
        return self.flow.paused
