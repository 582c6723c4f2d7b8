"""Listening sockets, created by the supervisor and inherited by workers.

Every (address, worker slot) pair gets its own SO_REUSEPORT socket, so the kernel spreads new
connections across the slots. The supervisor keeps all of them open for as long as the address
is configured: a worker that exits (crash, reload, scale) only closes its copy, and connections
queued on its slot's socket wait for the slot's next worker instead of being reset. A reload
therefore never closes a listening socket that stays in the config.

SO_REUSEPORT is an internal detail of one instance: the kernel would let a second process of the
same user join the group and take a share of the connections. So an address is opened only if
nothing listens on it yet (a probe bind without SO_REUSEPORT fails on any listener of an
overlapping address, fastgw or not), and the probe and the opening happen under a per-port lock
(an abstract unix socket, released by the kernel when its holder exits, even SIGKILLed) so two
instances starting at the same moment cannot both pass the probe before either listens.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from fastgw.process.holders import describe, overlaps

Addr = tuple[str, int]

#: how long to wait for another instance's check-and-open of the same port (milliseconds of work)
LOCK_TIMEOUT = 5.0


class BindError(Exception):
    """An address cannot be listened on (in use, permission, bad address)."""


def parse_addr(text: str) -> Addr:
    """'host:port', '[v6]:port' or ':port' -> (host, port). 'localhost' means 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"invalid address {text!r}: expected host:port")
    host = host.strip("[]") or "0.0.0.0"
    if host == "localhost":
        host = "127.0.0.1"
    return host, int(port)


def format_addr(addr: Addr) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listen_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    family = _family(host)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
        sock.set_inheritable(True)
    except OSError as exc:
        sock.close()
        raise _bind_error((host, port), exc) from None
    return sock


def probe(addr: Addr) -> None:
    """Raise BindError if anything listens on `addr` (or an address overlapping it).

    Without SO_REUSEPORT the bind conflicts with every listener of an overlapping address;
    SO_REUSEADDR keeps connections of an earlier run lingering in TIME_WAIT from counting."""
    family = _family(addr[0])
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(addr)
        except OSError as exc:
            raise _bind_error(addr, exc) from None


def _bind_error(addr: Addr, exc: OSError) -> BindError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        reason = "address already in use" + describe(addr)
    return BindError(f"cannot listen on {format_addr(addr)}: {reason}")


class PortLock:
    """Held while one port's addresses are checked and opened: one instance (of this user) at a
    time. Instances of different users cannot share a SO_REUSEPORT group, so they need no lock."""

    def __init__(self, port: int) -> None:
        self.name = f"\0fastgw/{os.getuid()}/port/{port}"
        self.port = port
        self._sock: socket.socket | None = None

    def __enter__(self) -> PortLock:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                sock.bind(self.name)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    sock.close()
                    raise BindError(f"cannot open port {self.port}: another fastgw kept it locked") from None
                time.sleep(0.002)
        self._sock = sock
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


@dataclass
class SocketSet:
    """Sockets per listening address, one per worker slot."""

    slots: int
    by_addr: dict[Addr, list[socket.socket]] = field(default_factory=dict)

    def ensure(self, addrs: Iterable[Addr]) -> list[Addr]:
        """Open sockets for new addresses and return them. Raises BindError; opens nothing if
        any fails."""
        created: dict[Addr, list[socket.socket]] = {}
        try:
            for addr in addrs:
                if addr in self.by_addr or addr in created:
                    continue
                if addr[1] == 0:
                    raise BindError("port 0 is not supported: workers need a fixed port to share")
                with PortLock(addr[1]):
                    # an address overlapping one of ours (0.0.0.0:3000 -> 127.0.0.1:3000 on a
                    # reload) fails the probe on our own listener: nothing else can be there
                    if not any(overlaps(addr, own) for own in (*self.by_addr, *created)):
                        probe(addr)
                    socks: list[socket.socket] = []
                    created[addr] = socks
                    for _ in range(self.slots):
                        socks.append(listen_socket(*addr))
        except BindError:
            for socks in created.values():
                for s in socks:
                    s.close()
            raise
        self.by_addr.update(created)
        return list(created)

    def release(self, keep: Iterable[Addr]) -> list[Addr]:
        """Close the sockets of addresses not in `keep`; return those addresses."""
        kept = set(keep)
        gone = [a for a in self.by_addr if a not in kept]
        for addr in gone:
            for s in self.by_addr.pop(addr):
                s.close()
        return gone

    def for_slot(self, slot: int, addrs: Iterable[Addr]) -> dict[Addr, socket.socket]:
        """The slot's sockets of `addrs` (a generation's config): never another address's."""
        return {addr: self.by_addr[addr][slot] for addr in addrs}

    def all_fds(self) -> set[int]:
        return {s.fileno() for socks in self.by_addr.values() for s in socks}

    def close(self) -> None:
        self.release(())
