"""A worker process: runs after fork, owns one uvloop event loop, serves every bind on its slot's
sockets until told to stop, then drains in-flight requests."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from functools import partial

import uvloop

from fastgw import pipeline
from fastgw.http.capacity import ConnectionCap
from fastgw.http.connection import Dispatcher, Handler, ServerState, protocol_factory
from fastgw.http.request import Request
from fastgw.http.response import ResponseWriter
from fastgw.process.sockets import parse_addr
from fastgw.process.status import StatusRegion
from fastgw.runtime import BindRuntime, Runtime
from fastgw.telemetry import admin
from fastgw.telemetry.access_log import AccessLog
from fastgw.worker_state import WorkerState

log = logging.getLogger("fastgw.worker")

EXIT_OK = 0
EXIT_BOOT_ERROR = 3  # the supervisor must not respawn: the same boot would fail again


@dataclass
class WorkerSpec:
    slot: int
    generation: int
    runtime: Runtime
    sockets: dict[tuple[str, int], socket.socket]
    status: StatusRegion
    ready_fd: int  # write end of a pipe: one byte when serving


def run(spec: WorkerSpec, inherited_fds: set[int]) -> None:
    """Entry point in the child after fork. Never returns."""
    code = EXIT_OK
    try:
        own = {s.fileno() for s in spec.sockets.values()} | {spec.ready_fd}
        for fd in inherited_fds - own:
            try:
                os.close(fd)
            except OSError:
                pass
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor turns Ctrl-C into SIGTERM
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        profile_dir = os.environ.get("FASTGW_PROFILE_DIR")  # developer aid: cProfile each worker
        profiler = None
        if profile_dir:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        try:
            code = loop.run_until_complete(_serve(spec))
        finally:
            loop.close()
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(os.path.join(profile_dir or ".", f"worker-{os.getpid()}.prof"))
    except BaseException:
        log.exception("worker %d failed to boot", spec.slot)
        code = EXIT_BOOT_ERROR
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


async def _serve(spec: WorkerSpec) -> int:
    loop = asyncio.get_running_loop()
    runtime = spec.runtime
    access = AccessLog(runtime.log.access_log, runtime.log.format)
    worker = WorkerState(runtime, spec.slot, access)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGQUIT, stop.set)

    states: list[ServerState] = []
    servers: list[asyncio.Server] = []  # traffic listeners; management ones stay open while draining
    binds = {b.port: b for b in runtime.binds}
    mgmt = _management(runtime, spec.status, worker)
    # one connection limit for all the worker's traffic listeners: the descriptors are the worker's
    cap = ConnectionCap(runtime.limits.max_connections, worker.metrics.connections_shed)
    for (host, port), sock in spec.sockets.items():
        handler = mgmt.get((host, port))
        if handler is None:
            bind = binds.get(port)
            if bind is None:
                continue
            handler = _bind_handler(worker, bind)
            state = ServerState(handler, admin.api_error, runtime.limits, _bind_dispatch(worker, bind), cap)
            states.append(state)
            servers.append(await loop.create_server(protocol_factory(state), sock=sock, backlog=2048))
            continue
        # readiness keeps answering (503) during the drain, so probes see "not ready", not refused
        await loop.create_server(protocol_factory(ServerState(handler, admin.plain_error, runtime.limits)), sock=sock)

    _heartbeat(loop, spec)
    os.write(spec.ready_fd, b"R")
    os.close(spec.ready_fd)
    await stop.wait()

    # drain: stop accepting, finish in-flight requests (streams included), then exit
    for srv in servers:
        srv.close()
    for st in states:
        st.start_draining()
    deadline = loop.time() + runtime.drain_timeout
    while any(st.connections for st in states) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    for st in states:
        for conn in list(st.connections):
            if conn.transport is not None:
                conn.transport.abort()
    access.flush()
    worker.close()
    return EXIT_OK


def _bind_dispatch(worker: WorkerState, bind: BindRuntime) -> Dispatcher:
    # a partial, not a closure: one Python frame less on every request
    return partial(pipeline.dispatch, worker, bind)


def _bind_handler(worker: WorkerState, bind: BindRuntime) -> Handler:
    async def handle(req: Request, writer: ResponseWriter) -> None:
        await pipeline.handle(worker, bind, req, writer)

    return handle


def _management(runtime: Runtime, status: StatusRegion, worker: WorkerState) -> dict[tuple[str, int], Handler]:
    out: dict[tuple[str, int], Handler] = {}
    a = runtime.addresses
    if a.readiness:
        out[parse_addr(a.readiness)] = admin.readiness_handler(status)
    if a.stats:
        out[parse_addr(a.stats)] = admin.stats_handler(worker.metrics)
    if a.admin:
        out[parse_addr(a.admin)] = admin.admin_handler(runtime, status)
    return out


def _heartbeat(loop: asyncio.AbstractEventLoop, spec: WorkerSpec) -> None:
    pid = os.getpid()

    def beat() -> None:
        spec.status.beat(spec.slot, time.monotonic(), pid)
        loop.call_later(1.0, beat)

    beat()
