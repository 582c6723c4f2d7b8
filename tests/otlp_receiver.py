"""A real OTLP trace receiver for the tests, in-process: gRPC (grpcio with the collector's
service definition from opentelemetry-proto) or HTTP (protobuf body on /v1/traces). It decodes
every export and keeps the spans; it can answer with errors or slowly."""

from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.e2e.procs import free_port


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int  # 2 server, 3 client (OTLP numbering)
    attributes: dict[str, Any]
    start: int
    end: int
    status: int
    resource: dict[str, Any] = field(default_factory=dict)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def decode(request: trace_service_pb2.ExportTraceServiceRequest) -> list[Span]:
    out = []
    for rs in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    Span(
                        name=s.name,
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex(),
                        kind=s.kind,
                        attributes={kv.key: _value(kv.value) for kv in s.attributes},
                        start=s.start_time_unix_nano,
                        end=s.end_time_unix_nano,
                        status=s.status.code,
                        resource=resource,
                    )
                )
    return out


class Receiver:
    """mode: "ok", "error" (gRPC UNAVAILABLE / HTTP 500) or "slow" (answers after `delay`)."""

    def __init__(self, protocol: str = "grpc", mode: str = "ok", delay: float = 0.0) -> None:
        self.protocol = protocol
        self.mode = mode
        self.delay = delay
        self.port = free_port()
        self.spans: list[Span] = []
        self.exports = 0
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        if protocol == "grpc":
            self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Servicer(self), self._grpc)
            self._grpc.add_insecure_port(f"127.0.0.1:{self.port}")
            self._grpc.start()
        else:
            self._http = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
            threading.Thread(target=self._http.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def accept(self, request: trace_service_pb2.ExportTraceServiceRequest, headers: dict[str, str]) -> bool:
        """Record an export; False when the mode says to fail it."""
        if self.mode == "slow":
            time.sleep(self.delay)
        with self._lock:
            self.exports += 1
            self.headers.append(headers)
            if self.mode == "error":
                return False
            self.spans.extend(decode(request))
        return True

    def stop(self) -> None:
        if self.protocol == "grpc":
            self._grpc.stop(grace=None)
        else:
            self._http.shutdown()
            self._http.server_close()


class _Servicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:
        headers = {k: v for k, v in context.invocation_metadata()}
        if not self.receiver.accept(request, headers):
            context.abort(grpc.StatusCode.UNAVAILABLE, "collector failing on purpose")
        return trace_service_pb2.ExportTraceServiceResponse()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path != "/v1/traces" or self.headers.get("content-type") != "application/x-protobuf":
                self.send_response(404)
                self.end_headers()
                return
            request = trace_service_pb2.ExportTraceServiceRequest()
            request.ParseFromString(body)
            ok = receiver.accept(request, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(200 if ok else 500)
            self.send_header("content-type", "application/x-protobuf")
            data = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
