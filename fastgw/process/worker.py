"""A worker process: runs after fork, owns one uvloop event loop, serves every bind on its slot's
sockets until told to stop, then drains in-flight requests (`process/drain.py`).

A worker outlives its supervisor only briefly: the kernel sends it SIGTERM when the supervisor
dies (PR_SET_PDEATHSIG), and a worker that finds itself orphaned drains with every listener
closed (the readiness port too: nobody is left to restart it) and exits."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import uvloop

from fastgw import pipeline
from fastgw.http.capacity import ConnectionCap
from fastgw.http.connection import Handler, ServerState, protocol_factory
from fastgw.http.errors import api_error, plain_error
from fastgw.process.drain import drain
from fastgw.process.exits import EXIT_BOOT, EXIT_OK
from fastgw.process.sockets import Addr, parse_addr
from fastgw.process.status import StatusRegion
from fastgw.runtime import Runtime
from fastgw.telemetry import admin
from fastgw.telemetry.access_log import AccessLog
from fastgw.worker_state import WorkerState

log = logging.getLogger("fastgw.worker")

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
#: the signals the supervisor handles; blocked around fork, so the child never runs the
#: supervisor's handlers (see `run`)
FORK_BLOCKED = frozenset({signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGCHLD})


@dataclass
class WorkerSpec:
    slot: int
    generation: int
    runtime: Runtime
    #: the slot's sockets of this generation's addresses, and no other
    sockets: dict[Addr, socket.socket]
    status: StatusRegion
    ready_fd: int  # write end of a pipe: one byte when serving
    supervisor: int  # the supervisor's pid: a different parent means it is gone


def run(spec: WorkerSpec, inherited_fds: set[int], sigmask: Iterable[int]) -> None:
    """Entry point in the child after fork, with FORK_BLOCKED blocked (`sigmask` is the mask to
    restore). Never returns."""
    code = EXIT_OK
    try:
        # the supervisor's Python handlers were inherited: reset them before a signal can reach
        # them (a SIGTERM then ends a worker that has not accepted anything yet, as it should)
        for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, signal.SIG_DFL)
        # the supervisor turns Ctrl-C into SIGTERM and owns reloads
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.set_wakeup_fd(-1)
        signal.pthread_sigmask(signal.SIG_SETMASK, sigmask)
        if not _follow_supervisor(spec.supervisor):
            os._exit(EXIT_OK)  # the supervisor died while this worker was being forked
        own = {s.fileno() for s in spec.sockets.values()} | {spec.ready_fd}
        for fd in inherited_fds - own:
            try:
                os.close(fd)
            except OSError:
                pass
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
        code = EXIT_BOOT
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _follow_supervisor(supervisor: int) -> bool:
    """Ask for SIGTERM when the supervisor dies; False if it already has.

    PR_SET_PDEATHSIG fires when the thread that forked us exits (the supervisor is one thread).
    A parent that died before the prctl call sends nothing, so the parent is checked after it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    except (OSError, AttributeError) as exc:  # not Linux: orphans are found when they stop
        log.warning("cannot follow the supervisor's death: %s", exc)
    return os.getppid() == supervisor


async def _serve(spec: WorkerSpec) -> int:
    loop = asyncio.get_running_loop()
    runtime = spec.runtime
    access = AccessLog(runtime.log.access_log, runtime.log.format, settings=runtime.log)
    worker = WorkerState(runtime, spec.slot, access)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGQUIT, stop.set)

    states: list[ServerState] = []
    traffic: list[asyncio.Server] = []  # closed first when draining
    management: list[asyncio.Server] = []  # kept while draining: readiness answers 503
    binds = {(b.host, b.port): b for b in runtime.binds}
    mgmt = _management(runtime, spec.status, worker)
    # one connection limit for all the worker's traffic listeners: the descriptors are the worker's
    cap = ConnectionCap(runtime.limits.max_connections, worker.metrics.connections_shed)
    for addr, sock in spec.sockets.items():
        handler = mgmt.get(addr)
        if handler is None:
            bind = binds[addr]  # the supervisor hands over this config's addresses only
            state = ServerState(pipeline.dispatcher(worker, bind), api_error, runtime.limits, cap)
            states.append(state)
            factory = _counted(protocol_factory(state), worker, bind.name)
            traffic.append(await loop.create_server(factory, sock=sock, backlog=2048))
            continue
        state = ServerState(handler, plain_error, runtime.limits)
        management.append(await loop.create_server(protocol_factory(state), sock=sock))

    _heartbeat(loop, spec)
    os.write(spec.ready_fd, b"R")
    os.close(spec.ready_fd)
    await stop.wait()

    if os.getppid() != spec.supervisor:
        # orphaned (the supervisor was killed): no one will restart or retire this worker, and
        # a new instance must be able to take every address at once
        log.warning("worker %d: the supervisor (pid %d) is gone; draining and exiting", spec.slot, spec.supervisor)
        traffic += management
    cut = await drain(traffic, states, runtime.drain_timeout, worker.cut_by_drain)
    if cut:
        log.warning("worker %d: drain timeout: %d connection(s) cut", spec.slot, cut)
    access.flush()
    worker.close()
    return EXIT_OK


def _counted(factory: Callable[[], asyncio.Protocol], worker: WorkerState, name: str) -> Callable[[], asyncio.Protocol]:
    """The protocol factory, counting each accepted connection
    (`agentgateway_downstream_connections_total`)."""
    accepted = worker.metrics.connection_accepted

    def make() -> asyncio.Protocol:
        accepted(name)
        return factory()

    return make


def _management(runtime: Runtime, status: StatusRegion, worker: WorkerState) -> dict[Addr, Handler]:
    out: dict[Addr, Handler] = {}
    a = runtime.addresses
    if a.readiness:
        out[parse_addr(a.readiness)] = admin.readiness_handler(status)
    if a.stats:
        out[parse_addr(a.stats)] = admin.stats_handler(worker.metrics)
    if a.admin:
        out[parse_addr(a.admin)] = admin.admin_handler(runtime, status, worker.log_control)
    return out


def _heartbeat(loop: asyncio.AbstractEventLoop, spec: WorkerSpec) -> None:
    pid = os.getpid()

    def beat() -> None:
        spec.status.beat(spec.slot, time.monotonic(), pid)
        loop.call_later(1.0, beat)

    beat()
