"""How a worker stops serving: stop accepting, answer every connection it accepted, cut what is
left at the deadline, and let the cut requests be recorded before the process exits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from fastgw.http.connection import ServerState

#: how long requests cut at the deadline get to run their cancellation and be recorded
CUT_GRACE = 1.0
_POLL = 0.05


async def drain(
    listeners: Iterable[asyncio.AbstractServer],
    states: Iterable[ServerState],
    timeout: float,
    on_cut: Callable[[], None],
) -> int:
    """Close `listeners`, then serve the connections of `states` until they are done or `timeout`
    passes; abort those left (after calling `on_cut`). Returns how many were cut."""
    loop = asyncio.get_running_loop()
    states = list(states)
    for srv in listeners:
        srv.close()
    # A connection accepted in the loop's last poll has its protocol made by a callback queued
    # behind this task's step: until it runs, the connection is in no ServerState. Yield once so
    # it is made (closing the listeners stopped further accepts), or it would be dropped unanswered.
    await asyncio.sleep(0)
    for st in states:
        st.start_draining()
    deadline = loop.time() + timeout
    while any(st.connections for st in states) and loop.time() < deadline:
        await asyncio.sleep(_POLL)
    cut = [conn for st in states for conn in st.connections]
    if not cut:
        return 0
    on_cut()
    for conn in cut:
        if conn.transport is not None:
            conn.transport.abort()
    # connection_lost runs on the next iteration: it cancels each request's task (or stops its
    # upstream callbacks), whose end records the request; wait for those tasks, briefly
    await asyncio.sleep(0)
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    if tasks:
        await asyncio.wait(tasks, timeout=CUT_GRACE)
    return len(cut)
