"""A small Kubernetes API server for the controller tests: list, watch (chunked JSON lines, 410 for
a compacted resourceVersion), and JSON merge patches of `/status` with resourceVersion checks,
behind a bearer token. It is seeded with list responses recorded in the API server's format
(tests/k8s/fakeapi/), and a test changes objects through apply()/delete() as kubectl would."""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

# plural -> (group/version, kind, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "gatewayclasses": ("gateway.networking.k8s.io/v1", "GatewayClass", False),
    "gateways": ("gateway.networking.k8s.io/v1", "Gateway", True),
    "httproutes": ("gateway.networking.k8s.io/v1", "HTTPRoute", True),
    "referencegrants": ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant", True),
    "secrets": ("v1", "Secret", True),
    "namespaces": ("v1", "Namespace", False),
    "agentgatewaybackends": ("agentgateway.dev/v1alpha1", "AgentgatewayBackend", True),
    "backends": ("gateway.kgateway.dev/v1alpha1", "Backend", True),
    "trafficpolicies": ("gateway.kgateway.dev/v1alpha1", "TrafficPolicy", True),
}
PLURALS = {kind: plural for plural, (_, kind, _) in RESOURCES.items()}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class FakeApiServer:
    def __init__(self, token: str = "fake-token") -> None:
        self.token = token
        self.cond = threading.Condition()
        self.rv = 1000
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, ns, name)
        self.events: list[tuple[int, str, str, str, dict[str, Any]]] = []  # rv, plural, ns, type, object
        self.compacted = 0
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.requests: list[tuple[str, str]] = []
        self.closing = False
        self.watch_generation = 0  # bumping it ends every open watch (as an API server restart would)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
                    "users": [{"name": "fake", "user": {"token": self.token}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                    "current-context": "fake",
                }
            )
        )
        return path

    # -- state, as kubectl and the API server change it ------------------------------------------
    def load_recorded(self, directory: Path) -> None:
        """List responses as recorded (`kubectl get --raw /apis/.../httproutes`)."""
        for f in sorted(directory.glob("*.json")):
            data = json.loads(f.read_text())
            plural = PLURALS[data["kind"].removesuffix("List")]
            version = data["apiVersion"]
            for item in data["items"]:
                item = {"apiVersion": version, "kind": data["kind"].removesuffix("List"), **item}
                meta = item["metadata"]
                self.rv = max(self.rv, int(meta["resourceVersion"]))
                self.objects[(plural, meta.get("namespace", ""), meta["name"])] = item

    def apply(self, obj: dict[str, Any]) -> None:
        obj = copy.deepcopy(obj)
        plural = PLURALS[obj["kind"]]
        meta = obj.setdefault("metadata", {})
        key = (plural, meta.get("namespace", "") if RESOURCES[plural][2] else "", meta["name"])
        with self.cond:
            old = self.objects.get(key)
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            if obj["kind"] == "Secret" and "stringData" in obj:  # the API server stores data only
                import base64

                data = obj.setdefault("data", {})
                for k, v in obj.pop("stringData").items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
            if old is None:
                meta.update(uid=str(uuid.uuid4()), generation=1, creationTimestamp=_now())
                etype = "ADDED"
            else:
                meta.update(uid=old["metadata"]["uid"], creationTimestamp=old["metadata"]["creationTimestamp"])
                changed = old.get("spec") != obj.get("spec")
                meta["generation"] = old["metadata"].get("generation", 1) + (1 if changed else 0)
                obj["status"] = old.get("status", {})
                etype = "MODIFIED"
            self.objects[key] = obj
            self.events.append((self.rv, plural, key[1], etype, copy.deepcopy(obj)))
            self.cond.notify_all()

    def delete(self, kind: str, namespace: str, name: str) -> None:
        plural = PLURALS[kind]
        with self.cond:
            obj = self.objects.pop((plural, namespace if RESOURCES[plural][2] else "", name))
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.events.append((self.rv, plural, namespace, "DELETED", obj))
            self.cond.notify_all()

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        plural = PLURALS[kind]
        with self.cond:
            return copy.deepcopy(self.objects[(plural, namespace if RESOURCES[plural][2] else "", name)])

    def compact(self) -> None:
        """Forget history (etcd compaction): a watch from an older resourceVersion gets 410 Gone."""
        with self.cond:
            self.compacted = self.rv + 1
            self.events.clear()
            self.watch_generation += 1
            self.cond.notify_all()

    # -- HTTP -------------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code: int, reason: str, message: str) -> None:
                self._send(
                    code,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": reason,
                        "message": message,
                        "code": code,
                    },
                )

            def _route(self) -> tuple[str, str, str | None, str | None, dict[str, list[str]]] | None:
                url = urlsplit(self.path)
                parts = [p for p in url.path.split("/") if p]
                query = parse_qs(url.query)
                if parts[:2] == ["api", "v1"]:
                    rest = parts[2:]
                elif parts[:1] == ["apis"] and len(parts) >= 3:
                    rest = parts[3:]
                else:
                    return None
                ns = ""
                if len(rest) >= 3 and rest[0] == "namespaces":
                    ns, rest = rest[1], rest[2:]
                if not rest or rest[0] not in RESOURCES:
                    return None
                name = rest[1] if len(rest) > 1 else None
                sub = rest[2] if len(rest) > 2 else None
                return rest[0], ns, name, sub, query

            def _authorized(self) -> bool:
                if self.headers.get("authorization") == f"Bearer {api.token}":
                    return True
                self._status(401, "Unauthorized", "Unauthorized")
                return False

            def do_GET(self) -> None:
                api.requests.append(("GET", self.path))
                if not self._authorized():
                    return
                route = self._route()
                if route is None:
                    self._status(404, "NotFound", "the server could not find the requested resource")
                    return
                plural, ns, _, _, query = route
                if query.get("watch", [""])[0] in ("true", "1"):
                    self._watch(plural, ns, int(query.get("resourceVersion", ["0"])[0] or 0), query)
                    return
                version, kind, _ = RESOURCES[plural]
                with api.cond:
                    items = [
                        copy.deepcopy(o)
                        for (p, n, _), o in sorted(api.objects.items())
                        if p == plural and (not ns or n == ns)
                    ]
                    rv = api.rv
                for item in items:  # as the API server lists core objects: no kind/apiVersion per item
                    if "/" not in version:
                        item.pop("kind", None)
                        item.pop("apiVersion", None)
                self._send(
                    200,
                    {
                        "apiVersion": version,
                        "kind": f"{kind}List",
                        "metadata": {"resourceVersion": str(rv)},
                        "items": items,
                    },
                )

            def _watch(self, plural: str, ns: str, since: int, query: dict[str, list[str]]) -> None:
                timeout = float(query.get("timeoutSeconds", ["300"])[0])
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()

                def chunk(obj: dict[str, Any]) -> None:
                    line = json.dumps(obj).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()

                try:
                    with api.cond:
                        if since < api.compacted:
                            gone = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired"}
                            chunk(
                                {
                                    "type": "ERROR",
                                    "object": {**gone, "message": "too old resource version", "code": 410},
                                }
                            )
                            self.wfile.write(b"0\r\n\r\n")
                            return
                        generation = api.watch_generation
                    deadline = time.monotonic() + timeout
                    sent = since
                    while True:
                        with api.cond:
                            if api.closing or api.watch_generation != generation:
                                break
                            todo = [e for e in api.events if e[0] > sent and e[1] == plural and (not ns or e[2] == ns)]
                            if not todo:
                                left = deadline - time.monotonic()
                                if left <= 0:
                                    break
                                api.cond.wait(min(left, 0.5))
                                continue
                        for rv, _, _, etype, obj in todo:
                            chunk({"type": etype, "object": obj})
                            sent = rv
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_PATCH(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                api.requests.append(("PATCH", self.path))
                if not self._authorized():
                    return
                route = self._route()
                if route is None or route[2] is None or route[3] != "status":
                    self._status(404, "NotFound", "only /status patches are served")
                    return
                if self.headers.get("content-type") != "application/merge-patch+json":
                    self._status(415, "UnsupportedMediaType", "expected application/merge-patch+json")
                    return
                plural, ns, name, _, _ = route
                with api.cond:
                    obj = api.objects.get((plural, ns, name))
                    if obj is None:
                        self._status(404, "NotFound", f"{plural} {name} not found")
                        return
                    want = (body.get("metadata") or {}).get("resourceVersion")
                    if want and want != obj["metadata"]["resourceVersion"]:
                        self._status(
                            409,
                            "Conflict",
                            "the object has been modified; please apply your changes to the latest version",
                        )
                        return
                    obj["status"] = merge_patch(obj.get("status") or {}, body.get("status") or {})
                    api.rv += 1
                    obj["metadata"]["resourceVersion"] = str(api.rv)
                    api.patches.append((self.path, body))
                    api.events.append((api.rv, plural, ns, "MODIFIED", copy.deepcopy(obj)))
                    api.cond.notify_all()
                    out = copy.deepcopy(obj)
                self._send(200, out)

        return Handler


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
