"""LLM path throughput with wrk: plain proxy vs OpenAI->OpenAI passthrough vs OpenAI->Anthropic translation,
JSON and streaming.

    python bench/llm_wrk.py [--duration 5] [--connections 64]

One gateway worker pinned to core 0; wrk and a canned upstream (answers instantly, so the gateway is the
bottleneck) share core 1. Prints one line per scenario with req/s and the ratio to the plain proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

_OPENAI_JSON = (
    b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"Hello there, how can I help?"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}'
)
_ANTHROPIC_JSON = (
    b'{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku","content":[{"type":"text",'
    b'"text":"Hello there, how can I help?"}],"stop_reason":"end_turn","stop_sequence":null,'
    b'"usage":{"input_tokens":9,"output_tokens":7}}'
)
_OPENAI_SSE = b"".join(
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":'
    + delta
    + b',"finish_reason":null}]}\n\n'
    for delta in (b'{"role":"assistant","content":""}', b'{"content":"Hello"}', b'{"content":" there"}')
) + (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],'
    b'"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}\n\ndata: [DONE]\n\n'
)
_ANTHROPIC_SSE = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
    b'"role":"assistant","model":"claude","content":[],"usage":{"input_tokens":9,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":'
    b'{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
    b'"text":"Hello"}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
    b'"text":" there"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":2}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def _response(ctype: bytes, body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s" % (ctype, len(body), body)


_CANNED = {
    (b"/v1/chat/completions", False): _response(b"application/json", _OPENAI_JSON),
    (b"/v1/chat/completions", True): _response(b"text/event-stream", _OPENAI_SSE),
    (b"/v1/messages", False): _response(b"application/json", _ANTHROPIC_JSON),
    (b"/v1/messages", True): _response(b"text/event-stream", _ANTHROPIC_SSE),
}


class Canned(asyncio.Protocol):
    """Answers every request at once (keep-alive), by path and by whether the body asks to stream."""

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            m = re.search(rb"content-length: *(\d+)", head)
            length = int(m.group(1)) if m else 0
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            path = head.split(b" ", 2)[1]
            path = b"/v1/messages" if path.endswith(b"/v1/messages") else b"/v1/chat/completions"
            assert self.transport is not None
            self.transport.write(_CANNED[(path, b'"stream":true' in body)])


def serve_canned(port: int) -> None:
    import uvloop

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Canned, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(main())


_LUA = """wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer sk-client"
wrk.body = '%s'
"""


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def run_wrk(url: str, body: str, duration: int, connections: int, tmp: Path, worker: int) -> tuple[float, float]:
    """(req/s, worker CPU microseconds per request): the second is robust when the machine is shared."""
    script = tmp / "post.lua"
    script.write_text(_LUA % body)
    before = _cpu_ticks(worker)
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} failed responses\n{out}")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    assert m is not None and n is not None, out
    cpu_us = (_cpu_ticks(worker) - before) * 1_000_000 / os.sysconf("SC_CLK_TCK") / int(n.group(1))
    return float(m.group(1)), cpu_us


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        sys.exit("wrk and taskset are required")
    sys.path.insert(0, str(ROOT))
    from tests.e2e.procs import free_port, port_open, wait_until

    tmp = Path(tempfile.mkdtemp(prefix="llm-wrk-"))
    up_port, gw_port = free_port(), free_port()
    upstream = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, __file__, "--canned", str(up_port)],
    )
    wait_until(lambda: port_open(up_port), what="canned upstream")
    host = f"127.0.0.1:{up_port}"

    def ai(name: str, provider: str) -> dict[str, object]:
        return {
            "name": name,
            "matches": [{"path": {"pathPrefix": f"/{name}"}}],
            "policies": {"backendAuth": {"key": "sk-upstream"}},
            "backends": [{"ai": {"name": name, "provider": {provider: {}}, "hostOverride": host}}],
        }

    routes = [
        {"name": "plain", "matches": [{"path": {"pathPrefix": "/plain"}}], "backends": [{"host": host}]},
        ai("pass", "openAI"),
        ai("trans", "anthropic"),
    ]
    cfg = {
        "config": {"adminAddr": "off", "statsAddr": "off", "readinessAddr": f"127.0.0.1:{free_port()}"},
        "binds": [{"port": gw_port, "listeners": [{"routes": routes}]}],
    }
    cfg_path = tmp / "gw.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    gw = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "fastgw", "serve", "-w", "1", "-f", str(cfg_path)],
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ},
    )
    try:
        wait_until(lambda: port_open(gw_port), what="gateway")
        time.sleep(0.5)
        worker = int(subprocess.run(["pgrep", "-P", str(gw.pid)], capture_output=True, text=True).stdout.split()[0])
        chat = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello, how are you today?"}]}'
        stream = chat[:-1] + ',"stream":true}'
        base = f"http://127.0.0.1:{gw_port}"
        scenarios = [
            ("plain proxy (JSON)", "/plain/v1/chat/completions", chat),
            ("LLM passthrough OpenAI->OpenAI (JSON)", "/pass/v1/chat/completions", chat),
            ("LLM translation OpenAI->Anthropic (JSON)", "/trans/v1/chat/completions", chat),
            ("plain proxy (SSE)", "/plain/v1/chat/completions", stream),
            ("LLM passthrough OpenAI->OpenAI (SSE)", "/pass/v1/chat/completions", stream),
            ("LLM translation OpenAI->Anthropic (SSE)", "/trans/v1/chat/completions", stream),
        ]
        results: dict[str, tuple[float, float]] = {}
        for name, path, body in scenarios:
            rps, cpu = results[name] = run_wrk(base + path, body, args.duration, args.connections, tmp, worker)
            plain = results[f"plain proxy ({'SSE' if 'SSE' in name else 'JSON'})"]
            print(
                f"{name:42s} {rps:8.0f} req/s ({rps / plain[0]:6.1%})  {cpu:6.1f} us CPU/req"
                f" ({plain[1] / cpu:6.1%} of plain-proxy efficiency)",
                flush=True,
            )
    finally:
        gw.terminate()
        upstream.terminate()
        gw.wait(20)
        upstream.wait(5)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--canned":
        serve_canned(int(sys.argv[2]))
    else:
        main()
