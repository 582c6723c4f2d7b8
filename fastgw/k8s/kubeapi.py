"""The Kubernetes API calls controller mode makes, through the official `kubernetes` client.

Why that client: it is the one the Kubernetes project maintains and releases with each API server
version, and it brings what a controller must get right and we should not rewrite: in-cluster
service-account config (and token rotation), kubeconfig loading with every auth plugin, TLS to the
API server. The controller needs only list, watch and status patches, on raw JSON (Gateway API and
agentgateway/kgateway objects are custom resources; generated models would drop fields), so it
calls the client's generic request path and keeps the objects as plain dicts. It runs in its own
process, off the gateway's hot path, so the client being synchronous costs nothing: one thread
per watch feeds one queue.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if sub:
            base += f"/{sub}"
        return base


WATCHED: tuple[Kind, ...] = (
    Kind("gateway.networking.k8s.io", "v1", "gatewayclasses", "GatewayClass", namespaced=False),
    Kind("gateway.networking.k8s.io", "v1", "gateways", "Gateway"),
    Kind("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute"),
    Kind("gateway.networking.k8s.io", "v1beta1", "referencegrants", "ReferenceGrant"),
    Kind("", "v1", "secrets", "Secret"),
    Kind("", "v1", "namespaces", "Namespace", namespaced=False),
    Kind("agentgateway.dev", "v1alpha1", "agentgatewaybackends", "AgentgatewayBackend"),
    Kind("gateway.kgateway.dev", "v1alpha1", "backends", "Backend"),
    Kind("gateway.kgateway.dev", "v1alpha1", "trafficpolicies", "TrafficPolicy"),
)
BY_KIND = {k.kind: k for k in WATCHED}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class KubeApi:
    def __init__(self, client: Any) -> None:
        self.client = client  # kubernetes.client.ApiClient

    @classmethod
    def connect(cls, kubeconfig: str | None) -> KubeApi:
        """In-cluster service account, else the kubeconfig (`--kubeconfig`, $KUBECONFIG, ~/.kube/config)."""
        from kubernetes import client, config

        configuration = client.Configuration()
        if kubeconfig is None:
            try:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
                return cls(client.ApiClient(configuration))
            except config.ConfigException:
                pass
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(client.ApiClient(configuration))

    def _request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | tuple[float, float] | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        params = self.client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        resp = self.client.call_api(*params, _request_timeout=timeout)
        if not 200 <= resp.status < 300:
            text = resp.read()
            raise ApiError(resp.status, _status_message(text))
        return resp

    def list(self, kind: Kind, namespace: str | None = None) -> tuple[list[dict[str, Any]], str]:
        """Every object of `kind` (in `namespace`, or all) and the list's resourceVersion."""
        items: list[dict[str, Any]] = []
        query = {"limit": "500"}
        while True:
            data = json.loads(self._request("GET", kind.path(namespace), query, timeout=(10, 60)).read())
            for item in data.get("items") or []:
                # list items carry no kind/apiVersion; the renderer needs them
                item.setdefault("kind", kind.kind)
                item.setdefault("apiVersion", f"{kind.group}/{kind.version}" if kind.group else kind.version)
                items.append(item)
            meta = data.get("metadata") or {}
            if not meta.get("continue"):
                return items, str(meta.get("resourceVersion") or "")
            query = {"limit": "500", "continue": meta["continue"]}

    def watch(
        self, kind: Kind, namespace: str | None, resource_version: str, timeout_seconds: int = 300
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(type, object) events after `resource_version`; ends when the server closes the watch.
        An ERROR event is raised as ApiError (410: the version is too old, list again)."""
        from kubernetes.watch.watch import iter_resp_lines

        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        resp = self._request("GET", kind.path(namespace), query, timeout=(10, timeout_seconds + 30))
        try:
            for line in iter_resp_lines(resp.response):  # type: ignore[no-untyped-call]
                if not line:
                    continue
                event = json.loads(line)
                etype, obj = event.get("type"), event.get("object") or {}
                if etype == "ERROR":
                    raise ApiError(int(obj.get("code") or 500), str(obj.get("message") or "watch error"))
                if isinstance(obj, dict):
                    obj.setdefault("kind", kind.kind)
                    obj.setdefault("apiVersion", f"{kind.group}/{kind.version}" if kind.group else kind.version)
                    yield str(etype), obj
        finally:
            resp.response.release_conn()

    def patch_status(
        self, kind: Kind, namespace: str, name: str, status: dict[str, Any], resource_version: str
    ) -> None:
        """A JSON merge patch of `status` (RFC 7386); the resourceVersion makes a concurrent
        writer's change a 409 instead of being overwritten."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": status}
        self._request(
            "PATCH",
            kind.path(namespace or None, name, "status"),
            body=body,
            content_type="application/merge-patch+json",
            timeout=(10, 30),
        ).read()


def _status_message(raw: bytes | str | None) -> str:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return "unexpected response"
    return str(data.get("message") or data.get("reason") or "request failed") if isinstance(data, dict) else "?"
