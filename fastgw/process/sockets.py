"""Listening sockets, created by the supervisor and inherited by workers.

Every (address, worker slot) pair gets its own SO_REUSEPORT socket, so the kernel spreads new
connections across the slots. The supervisor keeps all of them open for as long as the address
is configured: a worker that exits (crash, reload, scale) only closes its copy, and connections
queued on its slot's socket wait for the slot's next worker instead of being reset. A reload
therefore never closes a listening socket that stays in the config.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


class BindError(Exception):
    """An address cannot be listened on (in use, permission, bad address)."""


def parse_addr(text: str) -> tuple[str, int]:
    """'host:port', '[v6]:port' or ':port' -> (host, port). 'localhost' means 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"invalid address {text!r}: expected host:port")
    host = host.strip("[]") or "0.0.0.0"
    if host == "localhost":
        host = "127.0.0.1"
    return host, int(port)


def listen_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
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
        raise BindError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@dataclass
class SocketSet:
    """Sockets per listening address, one per worker slot."""

    slots: int
    by_addr: dict[tuple[str, int], list[socket.socket]] = field(default_factory=dict)

    def ensure(self, addrs: list[tuple[str, int]]) -> None:
        """Open sockets for new addresses. Raises BindError; opens nothing if any fails."""
        created: dict[tuple[str, int], list[socket.socket]] = {}
        try:
            for addr in addrs:
                if addr in self.by_addr or addr in created:
                    continue
                created[addr] = [listen_socket(*addr) for _ in range(self.slots)]
                if addr[1] == 0:
                    raise BindError("port 0 is not supported: workers need a fixed port to share")
        except BindError:
            for socks in created.values():
                for s in socks:
                    s.close()
            raise
        self.by_addr.update(created)

    def release(self, keep: list[tuple[str, int]]) -> None:
        """Close the sockets of addresses no longer configured."""
        for addr in [a for a in self.by_addr if a not in keep]:
            for s in self.by_addr.pop(addr):
                s.close()

    def for_slot(self, slot: int) -> dict[tuple[str, int], socket.socket]:
        return {addr: socks[slot] for addr, socks in self.by_addr.items()}

    def all_fds(self) -> set[int]:
        return {s.fileno() for socks in self.by_addr.values() for s in socks}

    def close(self) -> None:
        self.release([])
