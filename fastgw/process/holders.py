"""Who listens on a TCP port: for the message of an address that cannot be taken.

Read from /proc (Linux): the listening sockets on the port in /proc/net/tcp and tcp6, then the
processes holding them. Only processes of this user (or every one, as root) are visible; an
address held by one we cannot see is reported without a name. Runs only on that error path.
"""

from __future__ import annotations

import os
import socket

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's state column
WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def overlaps(a: tuple[str, int], b: tuple[str, int]) -> bool:
    """Whether a listener on `a` and one on `b` compete for the same connections (a wildcard
    address covers every address of its port; fastgw's IPv6 sockets also take IPv4)."""
    return a[1] == b[1] and (a[0] == b[0] or a[0] in WILDCARDS or b[0] in WILDCARDS)


def describe(addr: tuple[str, int]) -> str:
    """' by pid N (command line)' for the process listening on an address overlapping `addr`,
    or '' when none is visible."""
    inodes = _listening_inodes(addr)
    if not inodes:
        return ""
    pids = _holders(inodes)
    if not pids:
        return ""
    # the supervisor and its workers all hold the socket: name the one whose parent does not
    roots = [pid for pid in pids if _ppid(pid) not in pids] or sorted(pids)
    pid = min(roots)
    if pid == os.getpid():
        return " by this gateway"
    return f" by pid {pid} ({_cmdline(pid)})"


def _listening_inodes(addr: tuple[str, int]) -> set[str]:
    found: set[str] = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            with open(table) as f:
                next(f, None)  # the header line
                for line in f:
                    cols = line.split()
                    if len(cols) < 10 or cols[3] != _LISTEN:
                        continue
                    host_hex, _, port_hex = cols[1].partition(":")
                    if int(port_hex, 16) != addr[1]:
                        continue
                    host = _host(host_hex, family)
                    if host is None or overlaps(addr, (host, addr[1])):
                        found.add(cols[9])
        except OSError:
            continue
    return found


def _host(hex_addr: str, family: int) -> str | None:
    """The kernel prints addresses as 32-bit words in host byte order (little-endian here)."""
    try:
        raw = bytes.fromhex(hex_addr)
    except ValueError:
        return None
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    host = socket.inet_ntop(family, words)
    if host.startswith("::ffff:") and "." in host:
        return host[7:]
    return host


def _holders(inodes: set[str]) -> set[int]:
    targets = {f"socket:[{inode}]" for inode in inodes}
    pids: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fd_dir = f"/proc/{entry}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") in targets:
                    pids.add(int(entry))
                    break
            except OSError:
                continue
    return pids


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses
            return int(f.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            text = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
    return text if len(text) <= 200 else text[:197] + "..."
