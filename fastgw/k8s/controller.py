"""Controller mode: keep a running gateway in step with the cluster's Gateway API resources.

One thread per watched kind (and namespace) lists, then watches, and feeds one queue; the main
thread owns the object store. After a burst of changes settles it renders the Gateway of its
GatewayClass (`controllerName: fastgw.dev/gateway-controller`), checks the result with the same
compiler `fastgw validate` uses, writes the secrets (0600 files) and then the config (atomically,
by rename) where the gateway reads it, and writes status.

The gateway reloads the file itself: it runs `fastgw serve --watch` on it (the supervisor notices
the new file within a quarter second and performs the same zero-loss reload as SIGHUP); with
`--pid-file` the controller also sends SIGHUP. The controller therefore runs as a sidecar in the
gateway's pod, sharing the config directory: every replica renders its own copy, so a replica
never depends on another pod to get its config, and a dead controller leaves the gateway serving
the last good config. An invalid render is never written: the gateway keeps the previous config
and the Gateway's Programmed condition says why.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from fastgw.k8s import CONTROLLER_NAME, status
from fastgw.k8s.gateway import Condition
from fastgw.k8s.kubeapi import BY_KIND, WATCHED, ApiError, Kind, KubeApi
from fastgw.k8s.manifests import ManifestSet, Resource
from fastgw.k8s.output import to_yaml, validation_errors
from fastgw.k8s.render import Rendered, RenderOptions, render
from fastgw.k8s.secrets import write_files

log = logging.getLogger("fastgw.k8s.controller")
_Key = tuple[str, str, str]  # kind, namespace, name


@dataclass(frozen=True)
class ControllerOptions:
    config_out: str
    secrets_dir: str
    gateway: str | None = None  # NAMESPACE/NAME
    controller_name: str = CONTROLLER_NAME
    namespaces: tuple[str, ...] = ()
    kubeconfig: str | None = None
    health_addr: str | None = None
    pid_file: str | None = None
    base_config: str | None = None  # a fastgw config whose top-level keys other than binds are kept
    provider_hosts: dict[str, str] = field(default_factory=dict)
    port_map: dict[int, int] = field(default_factory=dict)
    debounce: float = 0.2
    watch_timeout: int = 300


class Controller:
    def __init__(self, api: KubeApi, opts: ControllerOptions) -> None:
        self.api = api
        self.opts = opts
        self.objects: dict[_Key, dict[str, Any]] = {}
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.stop = threading.Event()
        self.synced: set[tuple[str, str | None]] = set()
        self.written = threading.Event()  # a config has been written (readiness)
        self._digest = ""
        self._last_report: list[str] = []

    @classmethod
    def from_options(cls, opts: ControllerOptions) -> Controller:
        return cls(KubeApi.connect(opts.kubeconfig), opts)

    # -- running ------------------------------------------------------------------------------------
    def watches(self) -> list[tuple[Kind, str | None]]:
        out: list[tuple[Kind, str | None]] = []
        for kind in WATCHED:
            if kind.namespaced and self.opts.namespaces:
                out.extend((kind, ns) for ns in self.opts.namespaces)
            else:
                out.append((kind, None))
        return out

    def run(self, once: bool = False) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            if threading.current_thread() is threading.main_thread():
                signal.signal(sig, lambda *_: self.stop.set())
        server = self._health_server()
        watches = self.watches()
        for kind, ns in watches:
            threading.Thread(target=self._watch, args=(kind, ns), name=f"watch-{kind.plural}", daemon=True).start()
        dirty = False
        try:
            while not self.stop.is_set():
                try:
                    item = self.events.get(timeout=self.opts.debounce)
                except queue.Empty:
                    if dirty and len(self.synced) == len(watches):
                        dirty = False
                        self.reconcile()
                        if once:
                            return 0 if self.written.is_set() else 1
                    continue
                self._apply(item)
                dirty = True
        finally:
            self.stop.set()
            if server is not None:
                server.shutdown()
        return 0

    def _apply(self, item: tuple[Any, ...]) -> None:
        what = item[0]
        if what == "sync":
            _, kind, ns, items = item
            for key in [k for k in self.objects if k[0] == kind.kind and (ns is None or k[1] == ns)]:
                del self.objects[key]
            for obj in items:
                self.objects[_key(kind, obj)] = obj
            self.synced.add((kind.kind, ns))
        elif what == "absent":  # the kind is not installed in this cluster (no CRD)
            _, kind, ns = item
            self.synced.add((kind.kind, ns))
        else:
            _, kind, etype, obj = item
            if etype == "DELETED":
                self.objects.pop(_key(kind, obj), None)
            else:
                self.objects[_key(kind, obj)] = obj

    def _watch(self, kind: Kind, ns: str | None) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                items, rv = self.api.list(kind, ns)
                self.events.put(("sync", kind, ns, items))
                backoff = 1.0
                while not self.stop.is_set():
                    for etype, obj in self.api.watch(kind, ns, rv, self.opts.watch_timeout):
                        rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                        if etype != "BOOKMARK":
                            self.events.put(("event", kind, etype, obj))
                        if self.stop.is_set():
                            return
            except ApiError as exc:
                if exc.status == 410:  # our resourceVersion is too old: list again
                    continue
                if exc.status == 404:
                    log.info("%s: not served by this cluster (CRD not installed); checking again in 60s", kind.plural)
                    self.events.put(("absent", kind, ns))
                    self.stop.wait(60)
                    continue
                log.warning("%s: %s; retrying in %.0fs", kind.plural, exc, backoff)
            except Exception as exc:  # connection refused, reset, timeouts: the API server may be restarting
                log.warning("%s: %s; retrying in %.0fs", kind.plural, type(exc).__name__, backoff)
            self.stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)

    # -- one reconcile ----------------------------------------------------------------------------
    def manifests(self) -> ManifestSet:
        m = ManifestSet()
        for obj in self.objects.values():
            m.add_object(obj, "")
        return m

    def reconcile(self) -> None:
        manifests = self.manifests()
        classes = [
            c
            for c in manifests.of_kind("GatewayClass")
            if (c.spec.get("controllerName") or "") == self.opts.controller_name
        ]
        gw = self._pick_gateway(manifests, {c.name for c in classes})
        rendered: Rendered | None = None
        programmed: Condition = (True, "Programmed", "")
        if gw is None:
            config: dict[str, Any] | None = {"binds": []}
            uses = []
        else:
            options = RenderOptions(provider_hosts=self.opts.provider_hosts, port_map=self.opts.port_map)
            rendered = render(manifests, options, gateway=gw)
            self._log_diagnostics(rendered)
            config, uses = rendered.config, rendered.secrets
            problems = validation_errors(config) if config is not None else ["not rendered"]
            if problems:
                programmed = (False, "Invalid", f"the rendered config does not validate: {problems[0]}")
                log.error("%s: not programmed: %s", gw.ref, "; ".join(problems))
                config = None
        if config is not None:
            self._write(config, uses)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for cls in classes:
            self._patch(cls, status.class_status(cls, now))
        if gw is not None and rendered is not None:
            self._patch(gw, status.gateway_status(gw, rendered, programmed, now))
            reports = {(r.route.namespace, r.route.name): r for r in rendered.routes}
            for route in manifests.of_kind("HTTPRoute"):
                parents = status.route_parents(
                    route, reports.get((route.namespace, route.name)), self.opts.controller_name, now
                )
                if parents != ((route.obj.get("status") or {}).get("parents") or []):
                    self._patch(route, {"parents": parents}, whole=False)

    def _pick_gateway(self, manifests: ManifestSet, classes: set[str]) -> Resource | None:
        mine = [g for g in manifests.of_kind("Gateway") if g.spec.get("gatewayClassName") in classes]
        if self.opts.gateway:
            ns, _, name = self.opts.gateway.rpartition("/")
            found = [g for g in mine if g.name == name and (not ns or g.namespace == ns)]
            if not found:
                log.warning(
                    "Gateway %s: not found, or not of a GatewayClass of %s",
                    self.opts.gateway,
                    self.opts.controller_name,
                )
            return found[0] if found else None
        mine.sort(key=lambda g: (str(g.metadata.get("creationTimestamp") or ""), g.namespace, g.name))
        if len(mine) > 1:
            log.warning("several Gateways of this class; serving %s (pick one with --gateway)", mine[0].ref)
        return mine[0] if mine else None

    def _log_diagnostics(self, rendered: Rendered) -> None:
        lines = [str(d) for d in rendered.diagnostics.items]
        if lines != self._last_report:  # each reconcile would repeat them
            for d in rendered.diagnostics.items:
                (log.error if d.level == "error" else log.warning)("%s", d.text(with_level=False))
            self._last_report = lines

    def _write(self, config: Mapping[str, Any], uses: list[Any]) -> None:
        secrets_dir = os.path.abspath(self.opts.secrets_dir)
        base = ""
        if self.opts.base_config:
            data = yaml.safe_load(Path(self.opts.base_config).read_text()) or {}
            base = yaml.safe_dump({k: v for k, v in data.items() if k != "binds"}, sort_keys=False) if data else ""
        body = base + to_yaml(config, "files", secrets_dir)
        values = "\0".join(f"{'/'.join(u.file_parts)}={u.resolved({}, shell_refs=False)}" for u in uses)
        digest = hashlib.sha256((body + "\0" + values).encode()).hexdigest()
        if digest == self._digest:
            self.written.set()
            return
        problems = write_files(uses, secrets_dir, {}, shell_refs=False)
        for p in problems:
            log.error("%s", p)
        self._remove_stale_secrets(secrets_dir, {u.file_path(secrets_dir) for u in uses})
        # the digest line makes a secret-only change a new file too, so the gateway reloads it
        text = f"# written by fastgw k8s controller; digest {digest[:16]}\n{body}"
        out = Path(self.opts.config_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, out)
        self._digest = digest
        self.written.set()
        log.info("config written to %s (%d secret file(s))", out, len(uses))
        self._signal_gateway()

    def _remove_stale_secrets(self, secrets_dir: str, keep: set[str]) -> None:
        root = Path(secrets_dir)
        if not root.is_dir():
            return
        for path in root.rglob("*"):
            if path.is_file() and str(path) not in keep:
                path.unlink(missing_ok=True)

    def _signal_gateway(self) -> None:
        if not self.opts.pid_file:
            return
        try:
            pid = int(Path(self.opts.pid_file).read_text().strip())
            os.kill(pid, signal.SIGHUP)
        except (OSError, ValueError) as exc:
            log.warning("cannot signal the gateway (pid file %s): %s", self.opts.pid_file, exc)

    def _patch(self, res: Resource, desired: dict[str, Any], whole: bool = True) -> None:
        current = res.obj.get("status") or {}
        if whole and current == desired:
            return
        kind = BY_KIND[res.kind]
        rv = str(res.metadata.get("resourceVersion") or "")
        try:
            self.api.patch_status(kind, res.namespace, res.name, desired, rv)
        except ApiError as exc:
            # 409: changed since we read it; its watch event brings the new version and another pass
            level = logging.DEBUG if exc.status == 409 else logging.WARNING
            log.log(level, "%s: status not written: %s", res.ref, exc)
        except Exception as exc:
            log.warning("%s: status not written: %s", res.ref, type(exc).__name__)

    # -- health -----------------------------------------------------------------------------------
    def _health_server(self) -> ThreadingHTTPServer | None:
        if not self.opts.health_addr:
            return None
        host, _, port = self.opts.health_addr.rpartition(":")
        written = self.written

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    code = 200
                elif self.path == "/healthz/ready":
                    code = 200 if written.is_set() else 503
                else:
                    code = 404
                body = {200: b"ok\n", 503: b"no config written yet\n", 404: b"not found\n"}[code]
                self.send_response(code)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)
        threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
        return server


def _key(kind: Kind, obj: dict[str, Any]) -> _Key:
    meta = obj.get("metadata") or {}
    return kind.kind, str(meta.get("namespace") or ""), str(meta.get("name") or "")
