"""The ``llm:`` block's backend: the client's model picks a configured model entry (and its provider).

``/v1/models`` (and ``/models``, ``/v1/models/<id>``) is answered locally from the configured names
that are models: a pattern (``claude-*``) routes every model it matches but names none, so it is not
listed. Router errors use the OpenAI envelope whatever the path, as agentgateway's model router does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import orjson

from fastgw.backends.llm.backend import read_view, serve_target
from fastgw.backends.llm.routes import RouteTable, llm_mode_routes
from fastgw.backends.llm.target import Target
from fastgw.context import RequestContext
from fastgw.errors import Dialect, GatewayError

_JSON: Final = (b"content-type", b"application/json")


# a client picks the model it names: the echo in the error message is bounded
_MODEL_ECHO_CHARS: Final = 256


class ModelNotFound(GatewayError):
    status = 404
    reason = "model_not_found"
    metric_reason = "NotFound"
    api_type = "invalid_request_error"
    text = "Model not found"

    @classmethod
    def of(cls, model: str) -> ModelNotFound:
        """Naming the model, in OpenAI's words; control characters escaped, long names cut."""
        if len(model) > _MODEL_ECHO_CHARS:
            model = model[:_MODEL_ECHO_CHARS] + "..."
        if not model.isprintable():
            model = "".join(c if c.isprintable() else repr(c)[1:-1] for c in model)
        return cls(f"The model `{model}` does not exist or you do not have access to it.")


class ModelPattern:
    """``name`` of an ``llm.models[]`` entry: exact, ``prefix*``, ``*suffix`` or ``*``."""

    __slots__ = ("exact", "prefix", "suffix")

    def __init__(self, name: str) -> None:
        if "*" in name:
            self.exact: str | None = None
            self.prefix, _, self.suffix = name.partition("*")
        else:
            self.exact, self.prefix, self.suffix = name, "", ""

    def matches(self, model: str) -> bool:
        if self.exact is not None:
            return model == self.exact
        return (
            len(model) >= len(self.prefix) + len(self.suffix)
            and model.startswith(self.prefix)
            and model.endswith(self.suffix)
        )


class LlmRouter:
    """Serves every path of the ``llm:`` port; models are tried in config order."""

    __slots__ = ("_list", "_models", "_objects", "_routes")

    name = "llm"

    def __init__(self, models: Sequence[tuple[str, Target]], created: int) -> None:
        self._models = tuple((ModelPattern(name), target) for name, target in models)
        objects = {
            name: {"id": name, "object": "model", "created": created, "owned_by": target.spec.telemetry_name}
            for name, target in models
            if "*" not in name
        }
        self._objects = {name: orjson.dumps(obj) for name, obj in objects.items()}
        self._list = orjson.dumps({"object": "list", "data": list(objects.values())})
        self._routes: RouteTable = llm_mode_routes()

    def find(self, model: str) -> Target | None:
        for pattern, target in self._models:
            if pattern.matches(model):
                return target
        return None

    def start_fast(self, ctx: RequestContext) -> bool:
        return False  # the model is in the body: it must be read first

    async def serve(self, ctx: RequestContext) -> None:
        ctx.dialect = Dialect.OPENAI
        path = ctx.path.decode("latin-1")
        if path in ("/v1/models", "/models"):
            ctx.respond(200, [_JSON], self._list)
            return
        if path.startswith(("/v1/models/", "/models/")):
            model = path.split("/models/", 1)[1]
            found = self._objects.get(model)
            if found is None:
                raise ModelNotFound.of(model)
            ctx.respond(200, [_JSON], found)
            return
        body = await ctx.request.body.read_all()
        view = read_view(body)
        model = view.model or ""
        target = self.find(model)
        if target is None:
            raise ModelNotFound.of(model)
        await serve_target(ctx, target, self._routes.resolve(path), body, view)
