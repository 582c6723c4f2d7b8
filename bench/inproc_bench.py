"""In-process benchmark of the gateway's Python cost per request, without sockets.

    python bench/inproc_bench.py [--case plain|llm-pass|llm-trans|sse-pass|sse-trans|all] [--n 20000] [--profile]
                                 [--tracing RATIO]

`--tracing RATIO` turns tracing on (`randomSampling: RATIO`), exporting over OTLP/HTTP to a sink
process that answers 200 to every export (the export thread's CPU counts: it shares the GIL).

One worker's whole request path runs on a uvloop loop: the downstream `HttpConnection` is fed the
bytes wrk sends, the pipeline picks the route and backend, the upstream `UpstreamConnection` (an
idle pooled connection on a fake transport) is fed the canned upstream answer the bench's nginx
returns, and the answer written to the client is checked. Kernel time is not in these figures:
they are the user-space CPU per request that bench/run.py's req/s rows pay on top of the four
socket syscalls. `--profile` prints the cProfile top entries instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

CANNED = Path(__file__).resolve().parent / "nginx" / "canned"
BODY_HEAD = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"'
BODY_TAIL = b'"}]}'
STREAM_HEAD = b'{"stream":true,"stream_options":{"include_usage":true},"model"'


def request_bytes(stream: bool = False) -> bytes:
    """wrk's 1 KiB POST (bench/wrk/post_1k.lua), asking for a stream (with its usage) or not."""
    filler = b"lorem ipsum dolor sit amet " * 64
    head = BODY_HEAD.replace(b'{"model"', STREAM_HEAD) if stream else BODY_HEAD
    body = head + filler[: 1024 - len(head) - len(BODY_TAIL)] + BODY_TAIL
    assert len(body) == 1024
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1024\r\n\r\n" + body
    )


def upstream_answer(canned: str) -> bytes:
    """What the bench's nginx answers, byte for byte apart from the dates: JSON from memory
    (`return 200 '<body>'`), an SSE transcript as a static file."""
    body = (CANNED / canned).read_bytes()
    if canned.endswith(".sse"):
        return (
            b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 00:00:00 GMT\r\n"
            b"Content-Type: text/event-stream\r\nContent-Length: %d\r\n"
            b"Last-Modified: Thu, 26 Nov 2026 00:00:00 GMT\r\nConnection: keep-alive\r\n"
            b"Accept-Ranges: bytes\r\n\r\n" % len(body)
        ) + body
    return (
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 00:00:00 GMT\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(body)
    ) + body


class Transport:
    __slots__ = ("closed", "out")

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def close(self) -> None:
        self.closed = True

    abort = close

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


CASES = {
    "plain": ("host: 127.0.0.1:9", "openai_chat.json"),
    "llm-pass": ('ai: {name: b, provider: {openAI: {}}, hostOverride: "127.0.0.1:9"}', "openai_chat.json"),
    "llm-trans": ('ai: {name: b, provider: {anthropic: {}}, hostOverride: "127.0.0.1:9"}', "anthropic_messages.json"),
    "sse-pass": ('ai: {name: b, provider: {openAI: {}}, hostOverride: "127.0.0.1:9"}', "openai_chat.sse"),
    "sse-trans": ('ai: {name: b, provider: {anthropic: {}}, hostOverride: "127.0.0.1:9"}', "anthropic_messages.sse"),
}


_SINK = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


async def run_case(case: str, n: int, profile: bool, tracing: str | None = None) -> float:
    from fastgw.config.compile import load_runtime
    from fastgw.http.connection import ServerState, protocol_factory
    from fastgw.http.errors import api_error
    from fastgw.pipeline import dispatcher
    from fastgw.telemetry.access_log import AccessLog
    from fastgw.upstream.connection import UpstreamConnection
    from fastgw.worker_state import WorkerState

    backend, canned = CASES[case]
    text = f"binds:\n- port: 8080\n  listeners:\n  - routes:\n    - backends:\n      - {backend}\n"
    if tracing is not None:
        ratio, sink = tracing.split("@")
        text = (
            f"config:\n  tracing: {{otlpEndpoint: 'http://127.0.0.1:{sink}', otlpProtocol: http, "
            f"randomSampling: {ratio}}}\n" + text
        )
    runtime = load_runtime("bench.yaml", text)
    bind = runtime.binds[0]
    log_fd = os.open(os.devnull, os.O_WRONLY)
    access = AccessLog(runtime.log.access_log, runtime.log.format, fd=log_fd, settings=runtime.log)
    worker = WorkerState(runtime, 0, access)

    # the worker's own wiring (fastgw/process/worker.py)
    state = ServerState(dispatcher(worker, bind), api_error, runtime.limits)
    conn = protocol_factory(state)()
    client = Transport()
    conn.connection_made(client)  # type: ignore[arg-type]

    up_transport = Transport()
    pool = worker.pool
    request = request_bytes(stream=canned.endswith(".sse"))
    answer = upstream_answer(canned)

    backend_obj: Any = bind.routes.listeners[0].entries[0].route.backends[0]
    # the backend's own Origin object, as the pool sees it in a worker (an equal but distinct
    # object would cost a dataclass __eq__ per lookup that production never pays)
    origin = backend_obj.origin if hasattr(backend_obj, "origin") else backend_obj.target.origin
    upstream = UpstreamConnection(pool, origin)
    upstream.connection_made(up_transport)  # type: ignore[arg-type]
    pool.adopt(upstream)

    async def one() -> bytes:
        up_transport.out.clear()
        client.out.clear()
        conn.data_received(request)
        # a plain request reaches the upstream synchronously; the LLM paths run as a task
        while not up_transport.out:
            await asyncio.sleep(0)
        upstream.data_received(answer)
        while not client.out:
            await asyncio.sleep(0)
        return client.out[0]

    for _ in range(200):  # warm up, and check the answer
        got = await one()
        assert got.startswith(b"HTTP/1.1 200") and b"usage" in got and b"error" not in got, got[:300]

    prof = cProfile.Profile() if profile else None
    if prof is not None:
        prof.enable()
    t0 = time.perf_counter()
    for i in range(n):
        await one()
        if i & 63 == 0:
            await asyncio.sleep(0)  # let timers and the loop run, as a real loop would
    elapsed = time.perf_counter() - t0
    if prof is not None:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    access.flush()
    worker.close()
    os.close(log_fd)
    return elapsed / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", default="all", choices=[*CASES, "all"])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--tracing", help="sample this ratio of requests (0, 0.01, 1)")
    ap.add_argument("--sink", help=argparse.SUPPRESS)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="fastgw-bench-metrics-"))
    if args.one or args.profile:
        # one measurement per process: the metrics register process-wide collectors
        tracing = f"{args.tracing}@{args.sink}" if args.tracing is not None else None
        print(uvloop.run(run_case(args.case, args.n, args.profile, tracing)))
        return
    sink = None
    extra: list[str] = []
    if args.tracing is not None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        sink = subprocess.Popen([sys.executable, "-c", _SINK, str(port)])
        extra = ["--tracing", args.tracing, "--sink", str(port)]
    try:
        _run_all(args, extra)
    finally:
        if sink is not None:
            sink.kill()
            sink.wait()


def _run_all(args: argparse.Namespace, extra: list[str]) -> None:
    cases = list(CASES) if args.case == "all" else [args.case]
    for case in cases:
        runs = []
        for _ in range(args.repeat):
            cmd = [sys.executable, __file__, "--one", "--case", case, "--n", str(args.n), *extra]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            runs.append(float(out.split()[-1]))
        runs.sort()
        print(f"{case:10s} median {runs[len(runs) // 2]:6.2f} us/request  (min {runs[0]:.2f}, n={args.n})")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
