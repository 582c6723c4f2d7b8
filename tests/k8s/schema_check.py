"""Validating Kubernetes objects: Kubernetes' own kinds with kubernetes-validate (the OpenAPI
schemas of each Kubernetes release), custom resources with the CRD schemas vendored in schemas/."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

SCHEMAS = Path(__file__).resolve().parent / "schemas"
K8S_VERSIONS = ("1.29", "1.37")  # the chart's lowest supported release (native sidecars) and the newest known


@cache
def crd_schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in sorted(SCHEMAS.glob("*.json")):
        out.update({k: _closed(v) for k, v in json.loads(f.read_text()).items()})
    return out


def _closed(schema: Any) -> Any:
    """Unknown fields are errors, as `kubectl apply --validate=strict` makes them (the API server
    would prune them), except where the CRD keeps unknown fields."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if (
        "properties" in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
        and "additionalProperties" not in out
    ):
        out["additionalProperties"] = False
    return out


def validate(obj: dict[str, Any], k8s_version: str = K8S_VERSIONS[-1]) -> None:
    """Raises on an invalid object; returns None when it is valid (and checked)."""
    obj = {k: v for k, v in copy.deepcopy(obj).items() if k != "__source__"}
    key = f"{obj.get('apiVersion')}/{obj.get('kind')}"
    schema = crd_schemas().get(key)
    if schema is not None:
        # metadata is the API server's ObjectMeta; the CRD schemas leave it open
        jsonschema.validate(obj, schema, cls=jsonschema.Draft7Validator)
        return
    kubernetes_validate.validate(obj, k8s_version, strict=True)
