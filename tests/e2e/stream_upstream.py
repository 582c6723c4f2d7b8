"""A provider for end-to-end tests of slow and vanishing clients, run in a thread of the test: it
records how much it managed to send on each connection and when the gateway closed it.

What it answers depends on the request:
- a body containing `quick`: a small answer at once (the connection stays for the next request);
- `"stream":true`: an SSE stream (Anthropic events on `/v1/messages`, OpenAI chunks otherwise),
  as fast as the socket takes it with `flood` in the body, else a delta every 20 ms;
- `flood` in the body otherwise: a 1 GB JSON answer as fast as the socket takes it;
- anything else: no answer until the gateway hangs up (a slow non-streamed answer).
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time

OPENAI_CHUNK = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,'
    b'"delta":{"content":" hello there"},"finish_reason":null}]}\n\n'
)
ANTHROPIC_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":'
    b'"assistant","model":"claude-x","content":[],"stop_reason":null,"usage":{"input_tokens":42,"output_tokens":1}}}'
    b'\n\nevent: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text",'
    b'"text":""}}\n\n'
)
ANTHROPIC_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
    b'"text":" hello there"}}\n\n'
)
QUICK_OPENAI = (
    b'{"id":"c1","object":"chat.completion","created":1,"model":"gpt-x","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}'
)
QUICK_ANTHROPIC = (
    b'{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text",'
    b'"text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}'
)
FLOOD_SIZE = 1 << 30


class _Handler(socketserver.BaseRequestHandler):
    server: StreamUpstream

    def handle(self) -> None:
        sock: socket.socket = self.request
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                got = sock.recv(65536)
                if not got:
                    return
                data += got
            head, _, rest = data.partition(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            while len(rest) < length:
                rest += sock.recv(65536)
            body, data = rest[:length], rest[length:]
            if b"quick" in body:
                answer = QUICK_ANTHROPIC if path.endswith(b"/messages") else QUICK_OPENAI
                sock.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(answer)
                    + answer
                )
                continue
            self.server.connections_answering += 1
            key = len(self.server.sent)
            self.server.sent.append(0)
            try:
                self._answer(sock, path, body, key)
            except OSError:
                pass
            self.server.closed_at.append(time.monotonic())
            return

    def _answer(self, sock: socket.socket, path: bytes, body: bytes, key: int) -> None:
        flood = b"flood" in body
        if b'"stream":true' in body or b'"stream": true' in body:
            anthropic = path.endswith(b"/messages")
            sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            if anthropic:
                sock.sendall(b"%x\r\n%s\r\n" % (len(ANTHROPIC_START), ANTHROPIC_START))
            chunk = ANTHROPIC_DELTA if anthropic else OPENAI_CHUNK
            piece = b"%x\r\n%s\r\n" % (len(chunk) * (400 if flood else 1), chunk * (400 if flood else 1))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                sock.sendall(piece)
                self.server.sent[key] += len(piece)
                if not flood:
                    time.sleep(0.02)
            return
        if flood:
            sock.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % FLOOD_SIZE
            )
            block = b'{"pad":"' + b"x" * 65500 + b'"}'
            while self.server.sent[key] < FLOOD_SIZE:
                sock.sendall(block)
                self.server.sent[key] += len(block)
            return
        sock.settimeout(30)
        while sock.recv(65536):  # no answer: wait for the gateway to hang up
            pass


class StreamUpstream(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.sent: list[int] = []
        self.closed_at: list[float] = []
        self.connections_answering = 0
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
