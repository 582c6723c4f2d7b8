"""The supervisor: forks worker processes, replaces dead ones, reloads and drains.

Shape (gunicorn's arbiter): signal handlers only enqueue and wake the loop; the loop handles
signals, reaps children, kills hung workers, converges the worker count, and waits on a
self-pipe plus the workers' readiness pipes. A reload builds the new Runtime first (an invalid
config changes nothing), starts a whole new generation of workers on the same listening
sockets, and retires the old generation only once every new worker is serving. Reloads are
coalesced: one generation starts at a time, a reload asked for meanwhile runs (on the file as it
is then) once that one is done, and at most MAX_GENERATIONS generations are alive at once.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from fastgw.process import worker as worker_mod
from fastgw.process.exits import EXIT_BOOT, EXIT_OK
from fastgw.process.sockets import Addr, BindError, SocketSet, format_addr, parse_addr
from fastgw.process.status import DRAINING, READY, StatusRegion
from fastgw.runtime import Runtime
from fastgw.telemetry import metrics

log = logging.getLogger("fastgw.supervisor")

HEARTBEAT_TIMEOUT = 30.0
KILL_MARGIN = 5.0
READY_TIMEOUT = 30.0
CRASH_WINDOW = 10.0
CRASH_LIMIT = 5
#: generations alive at once (serving, starting, draining): bounds the processes a burst of
#: reloads can leave behind while earlier generations finish their in-flight requests
MAX_GENERATIONS = 4


@dataclass
class Proc:
    pid: int
    slot: int
    generation: int
    ready_fd: int
    started: float
    ready: bool = False
    #: when a retiring worker still alive gets SIGKILL: past its own drain timeout (it cuts its
    #: connections itself then), plus a margin
    kill_at: float = 0.0


@dataclass
class Generation:
    number: int
    runtime: Runtime
    #: what its workers listen on: address -> what it serves (a bind's name, "admin", ...)
    addresses: dict[Addr, str]
    procs: dict[int, Proc] = field(default_factory=dict)  # slot -> proc
    crashes: dict[int, deque[float]] = field(default_factory=dict)
    respawn_at: dict[int, float] = field(default_factory=dict)
    promoted: bool = False
    was_ready: bool = False
    started: float = 0.0

    def all_ready(self, slots: int) -> bool:
        return len(self.procs) == slots and all(p.ready for p in self.procs.values())


def listen_addresses(runtime: Runtime) -> dict[Addr, str]:
    """Every address a config listens on, with what it serves."""
    out = {(b.host, b.port): b.name for b in runtime.binds}
    a = runtime.addresses
    for label, text in (("readiness", a.readiness), ("stats", a.stats), ("admin", a.admin)):
        if text:
            addr = parse_addr(text)
            out[addr] = f"{out[addr]}, {label}" if addr in out else label
    return out


def _shown(source: str) -> str:
    """The config's path as an operator finds it from anywhere (or `<stdin>`)."""
    return source if source.startswith("<") else os.path.abspath(source)


class Supervisor:
    def __init__(
        self,
        load: Callable[[], Runtime],
        workers: int,
        *,
        watch: str | None = None,
    ) -> None:
        self.load = load
        self.slots = workers
        self.watch = watch
        self.status = StatusRegion()
        self.sockets = SocketSet(workers)
        self.current: Generation | None = None
        self.pending: Generation | None = None  # a reload waiting for its workers
        self.retiring: list[Proc] = []
        self._reload_queued = False
        self._signals: deque[int] = deque()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._gen_counter = 0
        self._stopping = False
        self._stop_deadline = 0.0
        self._exit_code = EXIT_OK
        self._watch_mtime = self._mtime()

    # -- signals (handlers only enqueue) -------------------------------------------------------
    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals.append(signum)
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass

    def _install_signals(self) -> None:
        for sig in worker_mod.FORK_BLOCKED:
            signal.signal(sig, self._on_signal)

    # -- main loop -------------------------------------------------------------------------------
    def run(self) -> int:
        runtime = self.load()  # ConfigError propagates to the CLI (exit 2)
        addresses = listen_addresses(runtime)
        try:
            self.sockets.ensure(addresses)
        except BindError as exc:
            log.error("%s", exc)
            return EXIT_BOOT
        self._install_signals()
        log.info("fastgw starting: config %s, %d worker(s)", _shown(runtime.source), self.slots)
        self._log_listening(addresses, addresses)
        self.current = self._spawn_generation(runtime, addresses)
        while True:
            self._handle_signals()
            self._reap()
            if self._stopping:
                if not self._live_procs():
                    break
                if time.monotonic() > self._stop_deadline:
                    self._kill_all(signal.SIGKILL)
            else:
                self._converge()
                self._check_heartbeats()
                self._check_watch()
                self._check_pending()
                if self._reload_queued and self.pending is None:
                    self.reload()
            self._retire_stragglers()
            self._wait(0.25)
        self.sockets.close()
        log.info("fastgw stopped")
        return self._exit_code

    def _wait(self, timeout: float) -> None:
        fds = [self._wake_r]
        owners: dict[int, Proc] = {}
        for gen in (self.current, self.pending):
            if gen is None:
                continue
            for p in gen.procs.values():
                if not p.ready and p.ready_fd >= 0:
                    fds.append(p.ready_fd)
                    owners[p.ready_fd] = p
        try:
            readable, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            return
        for fd in readable:
            if fd == self._wake_r:
                try:
                    while os.read(self._wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
                continue
            p = owners[fd]
            try:
                data = os.read(fd, 1)
            except OSError:
                data = b""
            if data == b"R":
                p.ready = True
            os.close(fd)
            p.ready_fd = -1
        self._update_ready_flag()

    def _update_ready_flag(self) -> None:
        cur = self.current
        ready = cur is not None and cur.all_ready(self.slots) and not self._stopping
        if ready and cur is not None:
            cur.was_ready = True
        flags = (READY if ready else 0) | (DRAINING if self._stopping else 0)
        if self.status.flags != flags:
            self.status.set_flags(flags)

    def _handle_signals(self) -> None:
        while self._signals:
            sig = self._signals.popleft()
            if sig == signal.SIGCHLD:
                continue  # reaped below
            if sig == signal.SIGHUP:
                self.reload()
            elif sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                if self._stopping and sig == signal.SIGINT:
                    log.warning("second interrupt: stopping now")
                    self._kill_all(signal.SIGKILL)
                else:
                    self.stop()

    # -- workers ---------------------------------------------------------------------------------
    def _spawn_generation(self, runtime: Runtime, addresses: dict[Addr, str]) -> Generation:
        self._gen_counter += 1
        gen = Generation(self._gen_counter, runtime, addresses, started=time.monotonic())
        for slot in range(self.slots):
            self._spawn(gen, slot)
        return gen

    def _spawn(self, gen: Generation, slot: int) -> None:
        r, w = os.pipe2(os.O_CLOEXEC)
        spec = worker_mod.WorkerSpec(
            slot=slot,
            generation=gen.number,
            runtime=gen.runtime,
            sockets=self.sockets.for_slot(slot, gen.addresses),
            status=self.status,
            ready_fd=w,
            supervisor=os.getpid(),
        )
        # the worker closes every one of these it does not own: sockets of addresses outside
        # its config would stay listening, unanswered, in a process that never accepts on them
        inherited = self.sockets.all_fds() | {self._wake_r, self._wake_w, r}
        for g in (self.current, self.pending):
            if g is not None:
                inherited |= {p.ready_fd for p in g.procs.values() if p.ready_fd >= 0}
        # no supervisor signal handler may run in the child: they are reset there, then unblocked
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, worker_mod.FORK_BLOCKED)
        try:
            pid = os.fork()
            if pid == 0:  # child
                worker_mod.run(spec, inherited, mask)
        except BaseException:
            os.close(r)
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(w)
        gen.procs[slot] = Proc(pid=pid, slot=slot, generation=gen.number, ready_fd=r, started=time.monotonic())
        self.status.beat(slot, time.monotonic(), pid)

    def _live_procs(self) -> list[Proc]:
        out = list(self.retiring)
        for gen in (self.current, self.pending):
            if gen is not None:
                out += gen.procs.values()
        return out

    def _live_generations(self) -> int:
        numbers = {p.generation for p in self.retiring}
        numbers |= {g.number for g in (self.current, self.pending) if g is not None}
        return len(numbers)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            self._on_exit(pid, code)

    def _on_exit(self, pid: int, code: int) -> None:
        metrics.worker_exited(pid)
        for p in self.retiring:
            if p.pid == pid:
                self.retiring.remove(p)
                return
        for gen in (self.current, self.pending):
            if gen is None:
                continue
            for slot, p in list(gen.procs.items()):
                if p.pid != pid:
                    continue
                del gen.procs[slot]
                if p.ready_fd >= 0:
                    os.close(p.ready_fd)
                if self._stopping:
                    return
                if code == EXIT_BOOT:
                    self._boot_failure(gen, slot)
                    return
                log.warning("worker %d (pid %d) exited with %s; replacing it", slot, pid, code)
                self._schedule_respawn(gen, slot)
                self._update_ready_flag()
                return

    def _boot_failure(self, gen: Generation, slot: int) -> None:
        if gen is self.pending:
            log.error("reload aborted: a new worker failed to boot; the old config keeps serving")
            self._abort_pending()
        elif not gen.was_ready:
            log.error("worker %d failed to boot; halting", slot)
            self._exit_code = EXIT_BOOT
            self.stop()
        else:
            self._schedule_respawn(gen, slot)

    def _schedule_respawn(self, gen: Generation, slot: int) -> None:
        now = time.monotonic()
        hist = gen.crashes.setdefault(slot, deque(maxlen=CRASH_LIMIT * 2))
        hist.append(now)
        recent = [t for t in hist if now - t < CRASH_WINDOW]
        # a crash loop backs off exponentially (up to 10 s) instead of fork-storming
        delay = 0.0 if len(recent) < 3 else min(0.25 * 2 ** (len(recent) - 3), 10.0)
        if delay:
            log.warning("worker %d is crash-looping; next start in %.1fs", slot, delay)
        gen.respawn_at[slot] = now + delay

    def _converge(self) -> None:
        now = time.monotonic()
        for gen in (self.current, self.pending):
            if gen is None:
                continue
            for slot, at in list(gen.respawn_at.items()):
                if at <= now and slot not in gen.procs:
                    del gen.respawn_at[slot]
                    self._spawn(gen, slot)

    def _check_heartbeats(self) -> None:
        now = time.monotonic()
        cur = self.current
        if cur is None:
            return
        for p in cur.procs.values():
            if not p.ready:
                continue
            beat, pid = self.status.heartbeat(p.slot)
            if pid == p.pid and now - beat > HEARTBEAT_TIMEOUT:
                log.error("worker %d (pid %d) is unresponsive; killing it", p.slot, p.pid)
                self._signal(p.pid, signal.SIGKILL)

    # -- reload ----------------------------------------------------------------------------------
    def reload(self) -> None:
        if self._stopping:
            return
        if self.pending is not None or self._live_generations() >= MAX_GENERATIONS:
            # coalesce: starting a generation per signal would fork faster than workers boot
            # and drain; the queued reload reads the file once the one starting is done
            if not self._reload_queued:
                why = "new workers are starting" if self.pending is not None else "old workers are draining"
                log.info("reload requested while %s: it runs once they are done", why)
            self._reload_queued = True
            return
        self._reload_queued = False
        try:
            runtime = self.load()
        except Exception as exc:
            log.error("reload failed, keeping the running config:\n%s", exc)
            return
        addresses = listen_addresses(runtime)
        try:
            opened = self.sockets.ensure(addresses)
        except BindError as exc:
            log.error("reload failed, keeping the running config: %s", exc)
            return
        log.info("reloading config %s: starting %d new worker(s)", _shown(runtime.source), self.slots)
        self._log_listening(opened, addresses)
        cur = self.current
        if cur is not None and runtime.workers != cur.runtime.workers:
            log.warning("config.workerThreads changed: the worker count (%d) is read at start only", self.slots)
        self.pending = self._spawn_generation(runtime, addresses)

    def _check_pending(self) -> None:
        gen = self.pending
        if gen is None:
            return
        if gen.all_ready(self.slots):
            old = self.current
            self.current = gen
            self.pending = None
            gen.promoted = True
            if old is not None:
                self._retire(old)
            # the old workers close their copies as they start draining: then these addresses
            # refuse connections
            for addr in self.sockets.release(gen.addresses):
                log.info("stopped listening on %s", format_addr(addr))
            self._update_ready_flag()
            log.info("reload complete: generation %d serving", gen.number)
        elif time.monotonic() - gen.started > READY_TIMEOUT:
            log.error("reload aborted: new workers not ready after %.0fs", READY_TIMEOUT)
            self._abort_pending()

    def _abort_pending(self) -> None:
        gen = self.pending
        self.pending = None
        if gen is None:
            return
        # its ready workers may already hold accepted connections: they drain like any other
        self._retire(gen)
        if self.current is not None:
            for addr in self.sockets.release(self.current.addresses):
                log.info("stopped listening on %s", format_addr(addr))

    def _retire(self, gen: Generation) -> None:
        kill_at = time.monotonic() + gen.runtime.drain_timeout + KILL_MARGIN
        for p in gen.procs.values():
            p.kill_at = kill_at
            self._signal(p.pid, signal.SIGTERM)
            if p.ready_fd >= 0:
                os.close(p.ready_fd)
                p.ready_fd = -1
            self.retiring.append(p)

    def _retire_stragglers(self) -> None:
        now = time.monotonic()
        for p in self.retiring:
            if now > p.kill_at:
                self._signal(p.pid, signal.SIGKILL)

    # -- stop ------------------------------------------------------------------------------------
    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._reload_queued = False
        self._update_ready_flag()  # readiness fails at once
        self._stop_deadline = time.monotonic() + self._drain_timeout() + KILL_MARGIN
        log.info("stopping: draining in-flight requests (up to %.0fs)", self._drain_timeout())
        self._abort_pending()
        # Stop listening first, so new clients are refused (and retry elsewhere) instead of
        # waiting in an accept queue nobody serves: the workers hold the only copies left and
        # close their traffic ones as they start draining. Each keeps its management listeners
        # until it exits (readiness answers 503 meanwhile); a slot's socket then closes with its
        # worker, and the kernel sends new connections to the slots still serving.
        self.sockets.close()
        for p in self._live_procs():
            self._signal(p.pid, signal.SIGTERM)

    def _drain_timeout(self) -> float:
        return self.current.runtime.drain_timeout if self.current is not None else 30.0

    def _kill_all(self, sig: int) -> None:
        for p in self._live_procs():
            self._signal(p.pid, sig)

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except OSError as exc:
            if exc.errno != errno.ESRCH:
                raise

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _log_listening(opened: Iterable[Addr], labels: dict[Addr, str]) -> None:
        for addr in opened:
            log.info("listening on %s (%s)", format_addr(addr), labels[addr])

    def _mtime(self) -> float:
        if not self.watch:
            return 0.0
        try:
            return os.stat(self.watch).st_mtime
        except OSError:
            return 0.0

    def _check_watch(self) -> None:
        if not self.watch:
            return
        m = self._mtime()
        if m and m != self._watch_mtime:
            self._watch_mtime = m
            log.info("config file changed: reloading")
            self.reload()
