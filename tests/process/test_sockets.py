"""Listening sockets: an address another process listens on is refused (fastgw or not, even two
instances opening it at the same moment), with a message naming the holder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fastgw.process.sockets import BindError, SocketSet
from tests.e2e.procs import free_port


def _race(port: int, contenders: int) -> list[bool]:
    """Fork `contenders` processes that open the same address at once; which of them got it."""
    go_r, go_w = os.pipe()
    results = []
    pids = []
    for _ in range(contenders):
        res_r, res_w = os.pipe()
        hold_r, hold_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: wait for the start, try, report, hold the sockets until told
            code = 0
            try:
                os.read(go_r, 1)
                sockets = SocketSet(2)
                try:
                    sockets.ensure([("127.0.0.1", port)])
                    os.write(res_w, b"1")
                except BindError:
                    os.write(res_w, b"0")
                os.read(hold_r, 1)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(res_w)
        os.close(hold_r)
        results.append(res_r)
        pids.append((pid, hold_w))
    os.write(go_w, b"x" * contenders)  # every child wakes on one byte
    won = [os.read(r, 1) == b"1" for r in results]
    for (pid, hold_w), r in zip(pids, results, strict=True):
        os.write(hold_w, b"x")
        os.close(hold_w)
        os.close(r)
        os.waitpid(pid, 0)
    os.close(go_r)
    os.close(go_w)
    return won


def test_instances_opening_one_address_at_the_same_moment_get_it_once() -> None:
    """Issue 10: SO_REUSEPORT let a second instance join the first one's sockets, and the
    kernel split the traffic between two configs. The check and the opening are one step under
    a per-port lock, so of processes racing for a port exactly one gets it."""
    for _ in range(30):
        won = _race(free_port(), 3)
        assert won.count(True) == 1, won


def test_an_address_held_by_another_reuseport_listener_is_refused_naming_it() -> None:
    port = free_port()
    # what another fastgw's socket looks like to the kernel: SO_REUSEPORT, same user
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(port)], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "listening\n"
        sockets = SocketSet(2)
        with pytest.raises(BindError) as err:
            sockets.ensure([("127.0.0.1", free_port()), ("127.0.0.1", port)])
        message = str(err.value)
        assert message.startswith(f"cannot listen on 127.0.0.1:{port}: address already in use by pid {holder.pid} (")
        assert "HOLDER" in message, message
        assert sockets.by_addr == {}, "nothing stays open when one address fails"
    finally:
        holder.kill()
        holder.wait()


HOLDER = """# HOLDER
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
print("listening", flush=True)
sys.stdin.read()
"""


def test_own_overlapping_address_is_not_a_conflict() -> None:
    """A reload moving a bind from every interface to loopback on the same port."""
    port = free_port()
    sockets = SocketSet(2)
    try:
        sockets.ensure([("0.0.0.0", port)])
        assert sockets.ensure([("127.0.0.1", port)]) == [("127.0.0.1", port)]
        sockets.release([("127.0.0.1", port)])
        assert list(sockets.by_addr) == [("127.0.0.1", port)]
    finally:
        sockets.close()
