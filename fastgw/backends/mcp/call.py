"""What one MCP request was, for the access log and the metrics (agentgateway's field names)."""

from __future__ import annotations

import hashlib

#: method -> the metric's resource_type label
RESOURCE_TYPES = {
    "tools/call": "tool",
    "tools/list": "tool",
    "prompts/get": "prompt",
    "prompts/list": "prompt",
    "resources/read": "resource",
    "resources/list": "resource",
    "resources/subscribe": "resource",
    "resources/unsubscribe": "resource",
    "resources/templates/list": "templates",
}


class McpCall:
    __slots__ = ("error_code", "error_message", "method", "resource", "session", "target")

    def __init__(self, method: str) -> None:
        self.method = method
        self.target: str | None = None
        #: the tool's or prompt's name (the target's own), or the resource's URI
        self.resource: str | None = None
        #: a digest of the session id: the id itself lets its holder act in the session
        self.session: str | None = None
        self.error_code: int | None = None
        self.error_message: str | None = None

    def set_session(self, session_id: str) -> None:
        self.session = hashlib.sha256(session_id.encode()).hexdigest()[:16]

    @property
    def resource_type(self) -> str | None:
        return RESOURCE_TYPES.get(self.method)

    def log_fields(self) -> dict[str, object]:
        """In agentgateway's order: mcp.method.name, mcp.target, mcp.resource.type,
        mcp.resource.uri, gen_ai.tool.name, gen_ai.prompt.name, mcp.session.id, mcp.error.*."""
        f: dict[str, object] = {"mcp.method.name": self.method}
        if self.target is not None:
            f["mcp.target"] = self.target
        kind = self.resource_type
        if kind is not None:
            f["mcp.resource.type"] = kind
        if self.resource is not None:
            if kind == "resource":
                f["mcp.resource.uri"] = self.resource
            elif kind == "tool":
                f["gen_ai.tool.name"] = self.resource
            elif kind == "prompt":
                f["gen_ai.prompt.name"] = self.resource
        if self.session is not None:
            f["mcp.session.id"] = self.session
        if self.error_code is not None:
            f["mcp.error.code"] = self.error_code
            f["mcp.error.message"] = self.error_message or ""
        return f
